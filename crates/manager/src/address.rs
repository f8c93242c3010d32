//! Where a manager listens, and the connections to it: a Unix socket in Linux's abstract
//! namespace (one host), or TCP (across hosts).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{self, UnixListener, UnixStream};
use std::str::FromStr;
use std::time::Duration;

use nix::sys::socket::{MsgFlags, recv, sendmsg, setsockopt, sockopt};
use serde::{Deserialize, Serialize};

/// A manager's address (Python's `manager.address`): a name in Linux's abstract Unix-socket
/// namespace, or a TCP address (Python's `(host, port)`).
///
/// On a Unix socket the server also checks who connects (its user, unless the authkey was set
/// on purpose); on TCP the peer has no user the server could check, and the authkey alone
/// guards the manager, as in Python. Nothing is encrypted either way.
///
/// Written as text, a Unix address is `@name` (as `ss` and `/proc/net/unix` show it) and a
/// TCP one `host:port`; [`FromStr`] reads both.
///
/// ```
/// use manager::Address;
///
/// let tcp: Address = "127.0.0.1:50000".parse()?;
/// assert_eq!(tcp, Address::Tcp("127.0.0.1:50000".parse()?));
/// let unix: Address = "@my-manager".parse()?;
/// assert_eq!(unix, Address::Unix("my-manager".into()));
/// assert_eq!(unix.to_string(), "@my-manager");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Address {
    /// A name in the abstract namespace: no file behind it, nothing to clean up.
    Unix(String),
    /// An IP address and a port.
    Tcp(SocketAddr),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(name) => write!(f, "@{name}"),
            Address::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::Tcp(addr)
    }
}

/// Why a text is not an [`Address`].
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is neither @name nor host:port")]
pub struct BadAddress(String);

impl FromStr for Address {
    type Err = BadAddress;

    fn from_str(s: &str) -> Result<Address, BadAddress> {
        match s.strip_prefix('@') {
            Some(name) if !name.is_empty() => Ok(Address::Unix(name.to_owned())),
            Some(_) => Err(BadAddress(s.to_owned())),
            None => s
                .parse()
                .map(Address::Tcp)
                .map_err(|_| BadAddress(s.to_owned())),
        }
    }
}

/// A TCP connection that has seen no traffic for this long is probed, so that a peer whose
/// host vanished is noticed (after [`KEEPALIVE_PROBES`] unanswered probes).
const KEEPALIVE_IDLE: u32 = 60;
/// Seconds between two probes.
const KEEPALIVE_INTERVAL: u32 = 10;
/// Unanswered probes before the connection counts as broken.
const KEEPALIVE_PROBES: u32 = 6;

/// A connection between a client and the server.
#[derive(Debug)]
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    /// Connects to `address`. TCP connections send each write at once (a request or a reply
    /// is one write) and are probed when idle.
    pub(crate) fn connect(address: &Address) -> io::Result<Stream> {
        match address {
            Address::Unix(name) => {
                let addr = net::SocketAddr::from_abstract_name(name)?;
                Ok(Stream::Unix(UnixStream::connect_addr(&addr)?))
            }
            Address::Tcp(addr) => Stream::tcp(TcpStream::connect(addr)?),
        }
    }

    fn tcp(stream: TcpStream) -> io::Result<Stream> {
        stream.set_nodelay(true)?;
        setsockopt(&stream, sockopt::KeepAlive, &true)?;
        setsockopt(&stream, sockopt::TcpKeepIdle, &KEEPALIVE_IDLE)?;
        setsockopt(&stream, sockopt::TcpKeepInterval, &KEEPALIVE_INTERVAL)?;
        setsockopt(&stream, sockopt::TcpKeepCount, &KEEPALIVE_PROBES)?;
        Ok(Stream::Tcp(stream))
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(timeout),
            Stream::Tcp(s) => s.set_read_timeout(timeout),
        }
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_write_timeout(timeout),
            Stream::Tcp(s) => s.set_write_timeout(timeout),
        }
    }

    pub(crate) fn shutdown(&self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
        }
    }

    pub(crate) fn as_unix(&self) -> Option<&UnixStream> {
        match self {
            Stream::Unix(s) => Some(s),
            Stream::Tcp(_) => None,
        }
    }

    /// Whether the other end has closed the connection (or it broke): a peek that finds the
    /// end of the stream, or an error other than "nothing to read yet". Pending bytes mean
    /// that the peer is still there (our clients send a request only after the previous
    /// reply, so a waiting client sends none).
    pub(crate) fn peer_gone(&self) -> bool {
        let mut byte = [0u8; 1];
        match recv(
            self.as_fd().as_raw_fd(),
            &mut byte,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => true,
            Ok(_) => false,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => false,
            Err(_) => true,
        }
    }

    /// The peer, for reports: its address on TCP (a Unix peer is named by its credentials).
    pub(crate) fn tcp_peer(&self) -> Option<SocketAddr> {
        match self {
            Stream::Unix(_) => None,
            Stream::Tcp(s) => s.peer_addr().ok(),
        }
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => (&*s).read(buf),
            Stream::Tcp(s) => (&*s).read(buf),
        }
    }
}

/// Every write is a `send` or `sendmsg` with `MSG_NOSIGNAL`: a closed peer is `EPIPE`, never
/// `SIGPIPE`, whatever `SIGPIPE`'s action is (the section binaries restore the default one,
/// which ends the process).
impl Write for &Stream {
    // std's `write` on a socket is a `send` with `MSG_NOSIGNAL`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => (&*s).write(buf),
            Stream::Tcp(s) => (&*s).write(buf),
        }
    }

    // std's `write_vectored` on a socket is a plain `writev`, which raises `SIGPIPE`: the
    // frames of the handshake and of large items go out with `sendmsg` instead.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let fd = self.as_fd().as_raw_fd();
        Ok(sendmsg::<()>(fd, bufs, &[], MsgFlags::MSG_NOSIGNAL, None)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The server's listening socket.
#[derive(Debug)]
pub(crate) enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    /// Listens at `address` (a TCP port 0 takes a free port: see [`address`](Self::address)).
    pub(crate) fn bind(address: &Address) -> io::Result<Listener> {
        match address {
            Address::Unix(name) => {
                let addr = net::SocketAddr::from_abstract_name(name)?;
                Ok(Listener::Unix(UnixListener::bind_addr(&addr)?))
            }
            Address::Tcp(addr) => Ok(Listener::Tcp(TcpListener::bind(addr)?)),
        }
    }

    /// The address clients connect to.
    pub(crate) fn address(&self) -> io::Result<Address> {
        match self {
            Listener::Unix(l) => {
                let addr = l.local_addr()?;
                let name = addr
                    .as_abstract_name()
                    .ok_or_else(|| io::Error::other("not an abstract socket"))?;
                Ok(Address::Unix(String::from_utf8_lossy(name).into_owned()))
            }
            Listener::Tcp(l) => Ok(Address::Tcp(l.local_addr()?)),
        }
    }

    pub(crate) fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Unix(l) => Ok(Stream::Unix(l.accept()?.0)),
            Listener::Tcp(l) => Stream::tcp(l.accept()?.0),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Unix(l) => l.as_fd(),
            Listener::Tcp(l) => l.as_fd(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_and_print_both_ways() {
        for text in ["@a-name", "127.0.0.1:8080", "[::1]:9"] {
            let address: Address = text.parse().expect("parse");
            assert_eq!(address.to_string(), text);
        }
        assert!("@".parse::<Address>().is_err());
        assert!("no-port".parse::<Address>().is_err());
    }

    #[test]
    fn a_closed_peer_is_seen_gone_and_pending_bytes_are_not() {
        let (a, b) = UnixStream::pair().expect("pair");
        let (a, mut b) = (Stream::Unix(a), Stream::Unix(b));
        assert!(!a.peer_gone());
        b.write_all(b"x").expect("write");
        assert!(!a.peer_gone());
        drop(b);
        let mut byte = [0u8; 1];
        (&a).read_exact(&mut byte).expect("read");
        assert!(a.peer_gone());
    }
}
