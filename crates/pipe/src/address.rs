//! Where a [`Listener`](crate::Listener) listens and a [`Client`](crate::Client) connects:
//! Python's `multiprocessing.connection` addresses.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net;
use std::path::{Path, PathBuf};

use ipc_common::auth::{self, AuthError};
use serde::{Deserialize, Serialize};

/// The address of a [`Listener`](crate::Listener) (Python's `address` argument and
/// `listener.address`), or of the client it accepted last
/// ([`last_accepted`](crate::Listener::last_accepted)).
///
/// | Python                         | Rust                                              |
/// |--------------------------------|---------------------------------------------------|
/// | `'/tmp/sock'` (a `str`)        | `Address::Unix("/tmp/sock".into())`, or `"/tmp/sock".into()` |
/// | `'\0name'` (Linux's abstract namespace) | `Address::Abstract(b"name".to_vec())`, or `"\0name".into()` |
/// | `('127.0.0.1', 6000)`          | `Address::Tcp("127.0.0.1:6000".parse()?)`, or `([127, 0, 0, 1], 6000).into()` |
/// | `('localhost', 6000)`          | `Address::tcp("localhost", 6000)?` (resolved now) |
/// | `''` (`last_accepted` of an unbound Unix client) | `Address::Unnamed`              |
/// | `arbitrary_address(family)`    | `Address::arbitrary(family)?`                     |
///
/// As in Python, a string is a Unix socket's path, unless it starts with a NUL (`'\0'`),
/// which makes the rest a name in the abstract namespace: `"localhost:6000"` is a *path*.
///
/// Written out ([`Display`](fmt::Display)), a path is itself, an abstract name is `@name` (as
/// `ss` and `/proc/net/unix` show it) and a TCP address `host:port`.
///
/// ```
/// use pipe::Address;
///
/// assert_eq!(Address::from("/tmp/x.sock"), Address::Unix("/tmp/x.sock".into()));
/// assert_eq!(Address::from("\0x"), Address::Abstract(b"x".to_vec()));
/// assert_eq!(Address::from(([127, 0, 0, 1], 6000)).to_string(), "127.0.0.1:6000");
/// assert_eq!(Address::from("\0x").to_string(), "@x");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Address {
    /// A Unix socket at a path in the file system. A [`Listener`](crate::Listener) makes the
    /// file, and removes it when it is dropped.
    Unix(PathBuf),
    /// A Unix socket named in Linux's abstract namespace (the name, without Python's leading
    /// NUL): no file behind it, nothing to clean up; it goes when its listener does.
    Abstract(Vec<u8>),
    /// A TCP address: an IP address (v4 or v6) and a port. Port 0 asks a listener to pick a
    /// free one (its [`address`](crate::Listener::address) tells which).
    Tcp(SocketAddr),
    /// A Unix socket with no address: a client's, as
    /// [`last_accepted`](crate::Listener::last_accepted) shows it (Python's `''`). Nothing
    /// can listen or connect there.
    Unnamed,
}

/// The kind of an [`Address`] (Python's `family`: `'AF_UNIX'` for both kinds of Unix
/// address, `'AF_INET'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// A path in the file system (Python's `'AF_UNIX'`, its default family).
    Unix,
    /// A name in Linux's abstract namespace (Python's `'AF_UNIX'` with a `'\0'` name).
    Abstract,
    /// TCP (Python's `'AF_INET'`, here IPv6 as well).
    Tcp,
}

impl Address {
    /// A fresh address of `family` for a listener (Python's `arbitrary_address(family)`, the
    /// address of `Listener()` without one): a path `listener-<random>` in the temporary
    /// directory, a random abstract name, or `127.0.0.1` with port 0 (a free port, chosen
    /// when the listener binds).
    ///
    /// # Errors
    ///
    /// If the operating system has no random bytes to give.
    pub fn arbitrary(family: Family) -> io::Result<Address> {
        let mut random = [0u8; 12];
        if family != Family::Tcp {
            auth::random_bytes(&mut random).map_err(|e| match e {
                AuthError::Random(e) => e,
                other => io::Error::other(other),
            })?;
        }
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Ok(match family {
            Family::Unix => Address::Unix(std::env::temp_dir().join(format!("listener-{name}"))),
            Family::Abstract => Address::Abstract(format!("listener-{name}").into_bytes()),
            Family::Tcp => Address::Tcp(SocketAddr::from(([127, 0, 0, 1], 0))),
        })
    }

    /// The TCP address of `host` (a name or an IP address) and `port`, resolved now (Python's
    /// `(host, port)`, which Python resolves on `bind` or `connect`). An IPv4 address is
    /// preferred when the name has both kinds, as Python's `'AF_INET'` takes only those.
    ///
    /// # Errors
    ///
    /// If the name does not resolve.
    pub fn tcp(host: &str, port: u16) -> io::Result<Address> {
        let found: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
        found
            .iter()
            .find(|a| a.is_ipv4())
            .or(found.first())
            .map(|a| Address::Tcp(*a))
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"))
            })
    }

    /// This address's [`Family`] (Python's `address_type(address)`); `None` for
    /// [`Address::Unnamed`].
    pub fn family(&self) -> Option<Family> {
        match self {
            Address::Unix(_) => Some(Family::Unix),
            Address::Abstract(_) => Some(Family::Abstract),
            Address::Tcp(_) => Some(Family::Tcp),
            Address::Unnamed => None,
        }
    }

    /// The address of a Unix socket, as the kernel reports it (of a listener or of a peer).
    pub(crate) fn of_unix(addr: &net::SocketAddr) -> Address {
        if let Some(path) = addr.as_pathname() {
            Address::Unix(path.to_owned())
        } else if let Some(name) = addr.as_abstract_name() {
            Address::Abstract(name.to_owned())
        } else {
            Address::Unnamed
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "{}", path.display()),
            Address::Abstract(name) => write!(f, "@{}", name.escape_ascii()),
            Address::Tcp(addr) => write!(f, "{addr}"),
            Address::Unnamed => f.write_str("(unnamed)"),
        }
    }
}

/// Python's rule for a string address: a name in the abstract namespace after a leading NUL,
/// else a path.
impl From<&str> for Address {
    fn from(text: &str) -> Address {
        match text.strip_prefix('\0') {
            Some(name) => Address::Abstract(name.as_bytes().to_vec()),
            None => Address::Unix(PathBuf::from(text)),
        }
    }
}

/// As for `&str`.
impl From<String> for Address {
    fn from(text: String) -> Address {
        Address::from(text.as_str())
    }
}

impl From<&Path> for Address {
    fn from(path: &Path) -> Address {
        Address::Unix(path.to_owned())
    }
}

impl From<&PathBuf> for Address {
    fn from(path: &PathBuf) -> Address {
        Address::Unix(path.clone())
    }
}

impl From<PathBuf> for Address {
    fn from(path: PathBuf) -> Address {
        Address::Unix(path)
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::Tcp(addr)
    }
}

/// Python's `(host, port)` for an IP address: `([127, 0, 0, 1], 6000).into()`.
impl<I: Into<IpAddr>> From<(I, u16)> for Address {
    fn from((ip, port): (I, u16)) -> Address {
        Address::Tcp(SocketAddr::new(ip.into(), port))
    }
}

impl From<&Address> for Address {
    fn from(address: &Address) -> Address {
        address.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pythons_rules_for_strings() {
        assert_eq!(Address::from("sock"), Address::Unix("sock".into()));
        assert_eq!(
            Address::from("localhost:6000"),
            Address::Unix("localhost:6000".into())
        );
        assert_eq!(
            Address::from(String::from("\0a\0b")),
            Address::Abstract(b"a\0b".to_vec())
        );
        assert_eq!(Address::from("\0a\0b").to_string(), "@a\\x00b");
        assert_eq!(Address::from("\0").family(), Some(Family::Abstract));
        assert_eq!(Address::Unnamed.family(), None);
    }

    #[test]
    fn arbitrary_addresses_differ_and_tcp_resolves() {
        let a = Address::arbitrary(Family::Unix).expect("arbitrary");
        let b = Address::arbitrary(Family::Unix).expect("arbitrary");
        assert_ne!(a, b);
        assert_eq!(a.family(), Some(Family::Unix));
        assert_eq!(
            Address::arbitrary(Family::Abstract)
                .expect("arbitrary")
                .family(),
            Some(Family::Abstract)
        );
        assert_eq!(
            Address::arbitrary(Family::Tcp).expect("arbitrary"),
            Address::from(([127, 0, 0, 1], 0))
        );
        assert_eq!(
            Address::tcp("127.0.0.1", 9).expect("resolve"),
            Address::Tcp("127.0.0.1:9".parse().expect("parse"))
        );
    }
}
