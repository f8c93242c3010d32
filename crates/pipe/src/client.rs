//! [`Client`]: Python's `multiprocessing.connection.Client`, a connection to a
//! [`Listener`](crate::Listener) (ours or Python's).

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ipc_common::auth::AuthKey;
use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};

use crate::handshake::{Deadline, Side, handshake};
use crate::transport::Socket;
use crate::{Address, ConnectError, Connection};

/// Connects to a [`Listener`](crate::Listener) (Python's
/// `multiprocessing.connection.Client(address, authkey=authkey)`, a function; here a type with
/// no values, whose functions connect). The listener may be a Python program's, and a Python
/// `Client` may connect to our listener: both speak Python's wire format and handshake.
///
/// # Example
///
/// ```
/// use pipe::{Address, Client, Family, Listener};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = Listener::bind(Address::arbitrary(Family::Abstract)?, None)?;
/// let mut client = Client::connect::<Vec<u8>>(listener.address(), None)?;
/// let mut server = listener.accept::<Vec<u8>>()?;
/// client.send_bytes(b"raw bytes, as Python's send_bytes", 0, None)?;
/// assert_eq!(server.recv_bytes(None)?, b"raw bytes, as Python's send_bytes");
/// # Ok(()) }
/// ```
pub enum Client {}

impl Client {
    /// Connects to the listener at `address` and, with `Some(key)`, proves that this side
    /// knows the key and checks that the listener does (Python's `Client(address,
    /// authkey=key)`). Waits as long as it takes, as Python's does: see
    /// [`connect_timeout`](Client::connect_timeout).
    ///
    /// # Errors
    ///
    /// [`ConnectError::Connect`] if nothing listens there; [`ConnectError::Auth`] if the
    /// listener refuses the key ([`AuthError::Refused`](ipc_common::auth::AuthError::Refused))
    /// or does not know it ([`AuthError::WrongAnswer`](ipc_common::auth::AuthError::WrongAnswer):
    /// an impostor).
    pub fn connect<T>(
        address: impl Into<Address>,
        authkey: Option<AuthKey>,
    ) -> Result<Connection<T>, ConnectError> {
        connect(&address.into(), authkey.as_ref(), None)
    }

    /// As [`connect`](Client::connect), but gives up after `timeout`: the connection must be
    /// made (a Unix listener's queue may be full: Python's holds one client) and the handshake
    /// finished by then. Python has no such function.
    ///
    /// # Errors
    ///
    /// [`ConnectError::TimedOut`] once `timeout` has passed; otherwise as for
    /// [`connect`](Client::connect).
    pub fn connect_timeout<T>(
        address: impl Into<Address>,
        authkey: Option<AuthKey>,
        timeout: Duration,
    ) -> Result<Connection<T>, ConnectError> {
        connect(&address.into(), authkey.as_ref(), Deadline::after(timeout))
    }
}

/// Connects to `address`, then proves the key, all by `deadline` if there is one.
fn connect<T>(
    address: &Address,
    authkey: Option<&AuthKey>,
    deadline: Option<Deadline>,
) -> Result<Connection<T>, ConnectError> {
    let fail = |source: io::Error| match (source.kind(), deadline) {
        (io::ErrorKind::TimedOut, Some(deadline)) => ConnectError::TimedOut(deadline.timeout),
        _ => ConnectError::Connect {
            address: address.clone(),
            source,
        },
    };
    let socket = match address {
        Address::Unix(path) => {
            let addr = UnixAddr::new(path.as_path()).map_err(|e| fail(e.into()))?;
            Socket::Unix(connect_unix(&addr, deadline).map_err(fail)?)
        }
        Address::Abstract(name) => {
            let addr = UnixAddr::new_abstract(name).map_err(|e| fail(e.into()))?;
            Socket::Unix(connect_unix(&addr, deadline).map_err(fail)?)
        }
        Address::Tcp(addr) => {
            let stream = match deadline {
                None => TcpStream::connect(addr),
                Some(deadline) => deadline
                    .left()
                    .and_then(|left| TcpStream::connect_timeout(addr, left)),
            };
            Socket::tcp(stream.map_err(fail)?).map_err(fail)?
        }
        Address::Unnamed => {
            return Err(fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an unnamed address cannot be connected to",
            )));
        }
    };
    if let Some(key) = authkey {
        handshake(&socket, key, Side::Client, deadline)?;
    }
    Ok(Connection::from_socket(socket))
}

/// Connects a new Unix stream socket to `addr`. A listener's queue may be full (its program
/// does not accept): `connect` then waits for room, up to the socket's send timeout
/// (`SO_SNDTIMEO`), set to what is left until `deadline`, and fails with `EAGAIN` past it.
fn connect_unix(addr: &UnixAddr, deadline: Option<Deadline>) -> io::Result<UnixStream> {
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let stream = UnixStream::from(fd);
    loop {
        if let Some(deadline) = deadline {
            stream.set_write_timeout(Some(deadline.left()?))?;
        }
        match socket::connect(stream.as_raw_fd(), addr) {
            Ok(()) => break,
            // A signal ended the wait for room: nothing was connected, try again.
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) if deadline.is_some() => {
                return Err(io::ErrorKind::TimedOut.into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    if deadline.is_some() {
        stream.set_write_timeout(None)?;
    }
    Ok(stream)
}
