//! Python's `multiprocessing.Manager()` in Rust: a server process that owns shared dicts and
//! lists, and proxies that reach them from any process.
//!
//! [`Manager::start`] forks the server. It listens on a Unix socket in Linux's *abstract*
//! namespace (a name with no file behind it, so nothing is left to clean up), named after the
//! starting process's pid and a counter. [`Manager::dict`] and [`Manager::list`] create
//! objects on the server and return [`DictProxy`] and [`ListProxy`] handles; every operation
//! on a proxy is one request and one reply, as in Python. The server answers each connection
//! on a thread of its own, as Python's does, and applies one request at a time, so every
//! operation is atomic; a client that stops reading holds up only its own thread.
//!
//! Values travel as JSON: keys, values and items are any serde types, stored on the server as
//! [`serde_json::Value`]. Two keys are the same when their JSON is the same (so `1` and `1.0`
//! are different keys, unlike Python).
//!
//! # Proxies across `fork`
//!
//! A child made by [`Process::start`](ipc_common::Process::start) may use the parent's proxies
//! directly (borrow them in the closure). Each process opens its own connection on its first
//! request: a proxy notices that it runs in a new process (its pid changed) and never shares
//! the parent's socket, whose replies would otherwise go to whichever process reads first.
//!
//! # When the server is gone
//!
//! Dropping the [`Manager`] (the end of Python's `with` block) stops the server and reaps it.
//! A request to a server that has ended, however it ended, fails at once with
//! [`ManagerError::ServerGone`]: the kernel closes a dead server's sockets, and the listening
//! socket exists only in the server process, so nobody else can accept in its place.
//!
//! # Example
//!
//! ```
//! use ipc_common::Process;
//! use manager::Manager;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = Manager::start()?;
//! let squares = manager.dict::<u32, u64>()?;
//! let log = manager.list::<String>()?;
//! let child = Process::start("worker", || -> Result<(), manager::ManagerError> {
//!     squares.set(&3, &9)?;
//!     log.append(&"set 3".to_string())
//! })?;
//! assert_eq!(child.join()?, 0);
//! assert_eq!(squares.get(&3)?, Some(9));
//! assert_eq!(squares.items()?, vec![(3, 9)]);
//! assert_eq!(log.to_vec()?, ["set 3"]);
//! # Ok(()) }
//! ```

use std::cell::RefCell;
use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipc_common::{Process, ProcessError};
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, send};
use pipe::{PipeError, frame};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod server;

/// The largest request or reply, in bytes.
const MAX_FRAME: usize = 256 << 20;

/// How long dropping a [`Manager`] waits for the server to stop by itself.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Why a manager operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// The server process has ended (stopped, killed or crashed): no request can be answered.
    #[error("the manager's server process is gone")]
    ServerGone,
    /// The server could not be started.
    #[error("cannot start the manager's server: {0}")]
    Start(#[from] ProcessError),
    /// The server refused the request (for example a proxy of a foreign object).
    #[error("the manager refused the request: {0}")]
    Refused(String),
    /// A key, value or item could not be encoded as JSON.
    #[error("cannot encode a request: {0}")]
    Encode(#[source] serde_json::Error),
    /// A reply did not decode as the proxy's type (a dict or list shared under another type).
    #[error("cannot decode a reply: {0}")]
    Decode(#[source] serde_json::Error),
    /// Another I/O error.
    #[error("manager I/O failed: {0}")]
    Io(#[from] io::Error),
}

/// The operations of the protocol; a request frame is `[op][object id, 4 bytes][JSON body]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    NewDict = 1,
    NewList,
    DictSet,
    DictGet,
    DictLen,
    DictItems,
    ListAppend,
    ListLen,
    ListItems,
    Shutdown,
}

impl Op {
    fn from_byte(b: u8) -> Option<Op> {
        use Op::*;
        [
            NewDict, NewList, DictSet, DictGet, DictLen, DictItems, ListAppend, ListLen, ListItems,
            Shutdown,
        ]
        .into_iter()
        .find(|op| *op as u8 == b)
    }
}

/// A per-process connection to the server, opened on first use (see the crate docs).
struct Client {
    name: String,
    conn: RefCell<Option<Conn>>,
}

/// An open connection: the process that opened it, the socket, a reusable frame buffer.
struct Conn {
    pid: u32,
    reader: BufReader<UnixStream>,
    frame: Vec<u8>,
}

impl Client {
    fn new(name: &str) -> Client {
        Client {
            name: name.to_owned(),
            conn: RefCell::new(None),
        }
    }

    /// Sends one request and decodes its reply.
    fn call<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        op: Op,
        id: u32,
        body: Option<&B>,
    ) -> Result<R, ManagerError> {
        let mut slot = self.conn.borrow_mut();
        let pid = std::process::id();
        let conn = match &mut *slot {
            Some(conn) if conn.pid == pid => conn,
            // None, or a copy inherited from the parent: dropping it closes only our fd.
            other => other.insert(Conn::connect(&self.name, pid)?),
        };
        let result = conn.call(op, id, body);
        if matches!(result, Err(ManagerError::ServerGone)) {
            *slot = None;
        }
        result
    }
}

impl Conn {
    fn connect(name: &str, pid: u32) -> Result<Conn, ManagerError> {
        let addr = SocketAddr::from_abstract_name(name)?;
        let stream = UnixStream::connect_addr(&addr).map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => ManagerError::ServerGone,
            _ => ManagerError::Io(e),
        })?;
        Ok(Conn {
            pid,
            reader: BufReader::with_capacity(64 * 1024, stream),
            frame: Vec::with_capacity(256),
        })
    }

    fn call<B: Serialize + ?Sized, R: DeserializeOwned>(
        &mut self,
        op: Op,
        id: u32,
        body: Option<&B>,
    ) -> Result<R, ManagerError> {
        frame::begin(&mut self.frame);
        self.frame.push(op as u8);
        self.frame.extend_from_slice(&id.to_be_bytes());
        if let Some(body) = body {
            serde_json::to_writer(&mut self.frame, body).map_err(ManagerError::Encode)?;
        }
        frame::finish(&mut self.frame, MAX_FRAME).map_err(pipe_error)?;
        self.send_frame()?;
        frame::read(&mut self.reader, &mut self.frame, MAX_FRAME).map_err(pipe_error)?;
        match self.frame.split_first() {
            Some((0, result)) => serde_json::from_slice(result).map_err(ManagerError::Decode),
            Some((_, message)) => Err(ManagerError::Refused(
                String::from_utf8_lossy(message).into_owned(),
            )),
            None => Err(ManagerError::ServerGone),
        }
    }

    /// Writes the frame; `MSG_NOSIGNAL` turns a dead server into `EPIPE`, not `SIGPIPE`.
    fn send_frame(&self) -> Result<(), ManagerError> {
        let fd = self.reader.get_ref().as_raw_fd();
        let mut sent = 0;
        while sent < self.frame.len() {
            match send(fd, &self.frame[sent..], MsgFlags::MSG_NOSIGNAL) {
                Ok(n) => sent += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EPIPE | Errno::ECONNRESET) => return Err(ManagerError::ServerGone),
                Err(e) => return Err(ManagerError::Io(e.into())),
            }
        }
        Ok(())
    }
}

/// End-of-stream or a reset while waiting for a reply means the server is gone.
fn pipe_error(e: PipeError) -> ManagerError {
    match e {
        PipeError::Closed | PipeError::Truncated { .. } => ManagerError::ServerGone,
        PipeError::Io(e) if e.kind() == io::ErrorKind::ConnectionReset => ManagerError::ServerGone,
        PipeError::Io(e) => ManagerError::Io(e),
        other => ManagerError::Io(io::Error::other(other)),
    }
}

/// A running manager server (Python's `multiprocessing.Manager()`).
///
/// Dropping it stops the server: it is asked to shut down, given a second, then terminated,
/// and always reaped. Proxies outlive it only as handles: their requests then fail with
/// [`ManagerError::ServerGone`].
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let shared_dict = manager.dict::<i32, String>()?;
/// shared_dict.set(&0, &"数据来自进程0".to_string())?;
/// assert_eq!(shared_dict.len()?, 1);
/// drop(manager); // the end of Python's `with multiprocessing.Manager() as manager:`
/// assert!(matches!(shared_dict.len(), Err(manager::ManagerError::ServerGone)));
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct Manager {
    owner: u32,
    server: Process,
    client: Client,
}

impl Manager {
    /// Forks the server process and waits until it listens.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Start`] if the fork is refused (for example while other threads
    /// exist), [`ManagerError::ServerGone`] if the server ended before listening.
    pub fn start() -> Result<Manager, ManagerError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ipc-manager-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let (mut ready, ready_writer) = io::pipe()?;
        let listen_as = name.clone();
        // The listener is made in the server only: a child forked later must not hold a copy
        // of it, or connections would still be accepted (and never answered) after the server
        // died. `ready_writer` moves into the closure, so the parent's copy is closed after
        // the fork and `read` below returns 0 bytes if the server dies before listening.
        let server = Process::start("Manager", move || -> io::Result<()> {
            let listener = UnixListener::bind_addr(&SocketAddr::from_abstract_name(&listen_as)?)?;
            let mut ready_writer = ready_writer;
            ready_writer.write_all(&[1])?;
            drop(ready_writer);
            server::serve(listener)
        })?;
        let mut byte = [0u8; 1];
        if ready.read(&mut byte)? != 1 {
            return Err(ManagerError::ServerGone);
        }
        Ok(Manager {
            owner: std::process::id(),
            server,
            client: Client::new(&name),
        })
    }

    /// The server process's pid.
    pub fn pid(&self) -> i32 {
        self.server.pid()
    }

    /// Creates an empty shared dict on the server (Python's `manager.dict()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>, ManagerError> {
        let id = self.client.call::<(), u32>(Op::NewDict, 0, None)?;
        Ok(DictProxy {
            client: Client::new(&self.client.name),
            id,
            _types: PhantomData,
        })
    }

    /// Creates an empty shared list on the server (Python's `manager.list()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn list<T>(&self) -> Result<ListProxy<T>, ManagerError> {
        let id = self.client.call::<(), u32>(Op::NewList, 0, None)?;
        Ok(ListProxy {
            client: Client::new(&self.client.name),
            id,
            _types: PhantomData,
        })
    }

    /// Stops the server and reaps it; returns its exit code (Python's `shutdown()`).
    ///
    /// # Errors
    ///
    /// Fails only if the server cannot be waited for.
    pub fn shutdown(self) -> Result<i32, ManagerError> {
        self.stop()
    }

    fn stop(&self) -> Result<i32, ManagerError> {
        // Ask politely; a server that is already gone needs no asking.
        let _ = self.client.call::<(), ()>(Op::Shutdown, 0, None);
        if let Some(code) = self.server.join_timeout(STOP_GRACE)? {
            return Ok(code);
        }
        self.server.terminate()?;
        if let Some(code) = self.server.join_timeout(STOP_GRACE)? {
            return Ok(code);
        }
        self.server.kill()?;
        Ok(self.server.join()?)
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        // Only the process that started the server stops it (a child may hold a copy).
        if std::process::id() == self.owner {
            let _ = self.stop();
        }
    }
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("address", &self.client.name)
            .field("server", &self.server)
            .finish()
    }
}

/// A proxy of a dict that lives in the manager's server (Python's `DictProxy`).
///
/// Usable from any process that inherited it; each operation is one round trip to the server
/// and is atomic there. The dict keeps insertion order, as Python's does.
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let d = manager.dict::<String, i64>()?;
/// d.set(&"b".into(), &2)?;
/// d.set(&"a".into(), &1)?;
/// d.set(&"b".into(), &3)?; // replaces the value, keeps the position
/// assert_eq!(d.items()?, vec![("b".to_string(), 3), ("a".to_string(), 1)]);
/// assert_eq!(d.get(&"zzz".into())?, None);
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct DictProxy<K, V> {
    client: Client,
    id: u32,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// Sets `key` to `value` (Python's `d[key] = value`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended, [`ManagerError::Encode`] if the
    /// key or value cannot be encoded.
    pub fn set(&self, key: &K, value: &V) -> Result<(), ManagerError> {
        self.client.call(Op::DictSet, self.id, Some(&(key, value)))
    }

    /// The value of `key`, or `None` if it is absent (Python's `d.get(key)`).
    ///
    /// # Errors
    ///
    /// As for [`set`](DictProxy::set), and [`ManagerError::Decode`] for a value of another type.
    pub fn get(&self, key: &K) -> Result<Option<V>, ManagerError> {
        let found: Vec<V> = self.client.call(Op::DictGet, self.id, Some(key))?;
        Ok(found.into_iter().next())
    }

    /// The number of entries (Python's `len(d)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.client.call::<(), _>(Op::DictLen, self.id, None)
    }

    /// Whether the dict is empty.
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// A snapshot of the entries in insertion order (Python's `dict(d)` or `d.items()`).
    ///
    /// # Errors
    ///
    /// As for [`get`](DictProxy::get).
    pub fn items(&self) -> Result<Vec<(K, V)>, ManagerError> {
        self.client.call::<(), _>(Op::DictItems, self.id, None)
    }
}

impl<K, V> Clone for DictProxy<K, V> {
    fn clone(&self) -> Self {
        DictProxy {
            client: Client::new(&self.client.name),
            id: self.id,
            _types: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for DictProxy<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DictProxy")
            .field("address", &self.client.name)
            .field("id", &self.id)
            .finish()
    }
}

/// A proxy of a list that lives in the manager's server (Python's `ListProxy`).
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let l = manager.list::<(u8, String)>()?;
/// l.append(&(0, "进程0_项目0".into()))?;
/// assert_eq!(l.len()?, 1);
/// assert_eq!(l.to_vec()?, vec![(0, "进程0_项目0".to_string())]);
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct ListProxy<T> {
    client: Client,
    id: u32,
    _types: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// Appends `item` (Python's `l.append(item)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended, [`ManagerError::Encode`] if the
    /// item cannot be encoded.
    pub fn append(&self, item: &T) -> Result<(), ManagerError> {
        self.client.call(Op::ListAppend, self.id, Some(item))
    }

    /// The number of items (Python's `len(l)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.client.call::<(), _>(Op::ListLen, self.id, None)
    }

    /// Whether the list is empty.
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// A snapshot of the items, in order (Python's `list(l)`).
    ///
    /// # Errors
    ///
    /// As for [`len`](ListProxy::len), and [`ManagerError::Decode`] for items of another type.
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        self.client.call::<(), _>(Op::ListItems, self.id, None)
    }
}

impl<T> Clone for ListProxy<T> {
    fn clone(&self) -> Self {
        ListProxy {
            client: Client::new(&self.client.name),
            id: self.id,
            _types: PhantomData,
        }
    }
}

impl<T> fmt::Debug for ListProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListProxy")
            .field("address", &self.client.name)
            .field("id", &self.id)
            .finish()
    }
}
