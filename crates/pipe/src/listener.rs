//! [`Listener`]: Python's `multiprocessing.connection.Listener`, a socket that accepts
//! connections from processes that did not fork from this one, on this host or another.

use std::fmt;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{self, UnixListener};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ipc_common::auth::AuthKey;

use crate::handshake::{Deadline, Side, handshake};
use crate::transport::Socket;
use crate::{Address, ConnectError, Connection};

/// How long an accepted client has to finish the handshake by default: a client that
/// connects and then says nothing (stopped, hostile) cannot hold `accept` for ever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A socket that listens for connections (Python's `multiprocessing.connection.Listener`): at
/// a Unix socket's path, at a name in Linux's abstract namespace, or at a TCP address. Each
/// [`accept`](Listener::accept) gives a [`Connection`] to one [`Client`](crate::Client),
/// which speaks Python's wire format, so either side may be a Python program.
///
/// With an authkey, each side proves to the other that it knows the key before `accept` and
/// [`Client::connect`](crate::Client::connect) return, with Python's HMAC challenge (see
/// [`ipc_common::auth`]). Without one (`None`), whoever can reach the address is accepted, as
/// in Python. Either way nothing is encrypted.
///
/// The socket file of a Unix path is removed when the listener is dropped (or
/// [closed](Listener::close)) by the process that made it, and only if it is still the same
/// file. An abstract name and a TCP port need nothing.
///
/// # Example
///
/// ```
/// use ipc_common::auth::AuthKey;
/// use pipe::{Address, Client, Family, Listener};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = AuthKey::new(b"secret password".to_vec());
/// let listener = Listener::bind(Address::arbitrary(Family::Tcp)?, Some(key.clone()))?;
/// let address = listener.address().clone(); // the port the system picked
/// let client = std::thread::spawn(move || -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
///     let mut conn = Client::connect::<String>(address, Some(key))?;
///     conn.send(&"hello".to_string())?;
///     Ok(conn.recv()?)
/// });
/// let mut conn = listener.accept::<String>()?;
/// let text = conn.recv()?;
/// conn.send(&text.to_uppercase())?;
/// assert_eq!(client.join().expect("client thread").map_err(|e| e.to_string())?, "HELLO");
/// # Ok(()) }
/// ```
pub struct Listener {
    socket: Bound,
    address: Address,
    authkey: Option<AuthKey>,
    handshake_timeout: Option<Duration>,
    /// The address of the client accepted last, by any thread.
    last_accepted: Mutex<Option<Address>>,
    /// The socket file to remove at the end, for a path: held for its `Drop`, which runs
    /// after the socket's (fields drop in order), as Python closes, then unlinks.
    _unlink: Option<Unlink>,
}

/// The listening socket.
enum Bound {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// The socket file a listener made, to remove when it is dropped: only by the process that
/// made it (a forked child drops a copy of the listener, not the listener), and only if the
/// path still names that file (device and inode), not one made there since.
struct Unlink {
    path: PathBuf,
    pid: u32,
    /// The file's device and inode, if they could be read.
    identity: Option<(u64, u64)>,
}

impl Unlink {
    fn new(path: PathBuf) -> Unlink {
        let identity = std::fs::symlink_metadata(&path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        Unlink {
            path,
            pid: std::process::id(),
            identity,
        }
    }
}

impl Drop for Unlink {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            return;
        }
        let same = match (self.identity, std::fs::symlink_metadata(&self.path)) {
            (Some(identity), Ok(m)) => identity == (m.dev(), m.ino()),
            (None, Ok(_)) => true,
            (_, Err(_)) => false,
        };
        if same {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Listener {
    /// Listens at `address` (Python's `Listener(address, authkey=authkey)`); with
    /// `Some(key)`, every client must prove that it knows the key, and is shown that this side
    /// does. A TCP port 0 takes a free port: [`address`](Listener::address) says which.
    ///
    /// Python's `backlog` (default 1) is not offered: std's is used, so the kernel queues up to
    /// `SOMAXCONN` Unix clients (4096 on current Linux) or 128 TCP ones until they are
    /// accepted, and clients that connect at once do not wait for each other. Python's `family` is the [`Address`]'s kind; Python's
    /// `Listener()` without an address is `Listener::bind(Address::arbitrary(family)?, key)`.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Bind`]: the address is in use (for a path: the file exists, even a
    /// socket left by a process that died), or cannot be made.
    pub fn bind(
        address: impl Into<Address>,
        authkey: Option<AuthKey>,
    ) -> Result<Listener, ConnectError> {
        let address = address.into();
        let fail = |source| ConnectError::Bind {
            address: address.clone(),
            source,
        };
        let (socket, unlink) = match &address {
            Address::Unix(path) => {
                let listener = UnixListener::bind(path).map_err(fail)?;
                (Bound::Unix(listener), Some(Unlink::new(path.clone())))
            }
            Address::Abstract(name) => {
                let addr = net::SocketAddr::from_abstract_name(name).map_err(fail)?;
                let listener = UnixListener::bind_addr(&addr).map_err(fail)?;
                (Bound::Unix(listener), None)
            }
            Address::Tcp(addr) => (Bound::Tcp(TcpListener::bind(addr).map_err(fail)?), None),
            Address::Unnamed => {
                return Err(fail(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "an unnamed address cannot be listened at",
                )));
            }
        };
        // The port the system chose for port 0 (Python's `getsockname()`).
        let address = match &socket {
            Bound::Tcp(listener) => Address::Tcp(listener.local_addr().map_err(fail)?),
            Bound::Unix(_) => address,
        };
        Ok(Listener {
            socket,
            address,
            authkey,
            handshake_timeout: Some(HANDSHAKE_TIMEOUT),
            last_accepted: Mutex::new(None),
            _unlink: unlink,
        })
    }

    /// Waits for a client, and returns a connection to it once the handshake (if there is an
    /// authkey) has succeeded (Python's `listener.accept()`). Several threads may accept at
    /// once, each getting its own clients.
    ///
    /// To wait for a client with a timeout, or for a client or something else, pass the
    /// listener to [`wait`](crate::wait): it is ready when a client is waiting to be accepted
    /// (the handshake may still take up to the [handshake timeout](Self::set_handshake_timeout)).
    ///
    /// # Errors
    ///
    /// [`ConnectError::Auth`] if the client does not know the key (it was told `#FAILURE#`)
    /// or does not speak the protocol; [`ConnectError::TimedOut`] if it did not finish the
    /// handshake within the handshake timeout; [`ConnectError::Accept`]. The listener is
    /// unaffected: the next `accept` waits for the next client.
    pub fn accept<T>(&self) -> Result<Connection<T>, ConnectError> {
        let (socket, peer) = match &self.socket {
            Bound::Unix(listener) => {
                let (stream, addr) = listener.accept().map_err(ConnectError::Accept)?;
                (Socket::Unix(stream), Address::of_unix(&addr))
            }
            Bound::Tcp(listener) => {
                let (stream, addr) = listener.accept().map_err(ConnectError::Accept)?;
                (
                    Socket::tcp(stream).map_err(ConnectError::Accept)?,
                    Address::Tcp(addr),
                )
            }
        };
        // Before the handshake, as Python's.
        *self
            .last_accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(peer);
        if let Some(key) = &self.authkey {
            let deadline = self.handshake_timeout.and_then(Deadline::after);
            handshake(&socket, key, Side::Listener, deadline)?;
        }
        Ok(Connection::from_socket(socket))
    }

    /// The address clients connect to (Python's `listener.address`): the one given, with the
    /// port the system chose for a TCP port 0.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The address of the client accepted last, by any thread (Python's
    /// `listener.last_accepted`): `None` before the first; a TCP client's address and port;
    /// [`Address::Unnamed`] for a Unix client (clients do not bind their sockets).
    pub fn last_accepted(&self) -> Option<Address> {
        self.last_accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How long an accepted client has to finish the handshake: [`HANDSHAKE_TIMEOUT`] unless
    /// set. Python has no such limit.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    /// Sets how long an accepted client has to finish the handshake; `None` waits for ever, as
    /// Python does (a client that connects and says nothing then holds `accept`). The time
    /// counts from the connection's accept, across every read and write of the handshake.
    pub fn set_handshake_timeout(&mut self, timeout: Option<Duration>) {
        self.handshake_timeout = timeout;
    }

    /// Stops listening (Python's `listener.close()`), the same as dropping the listener: the
    /// socket is closed, and its file removed for a path. Connections already accepted are
    /// not affected.
    pub fn close(self) {}
}

/// The listening socket (Python's `listener._listener._socket.fileno()`): readable when a
/// client waits to be accepted. This makes a listener something [`wait`](crate::wait) takes.
impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.socket {
            Bound::Unix(listener) => listener.as_fd(),
            Bound::Tcp(listener) => listener.as_fd(),
        }
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("fd", &self.as_fd())
            .field("authkey", &self.authkey)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}
