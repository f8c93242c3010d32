//! Python's `multiprocessing.Manager()` in Rust: a server process that owns shared dicts and
//! lists, and proxies that reach them from any process.
//!
//! [`Manager::start`] forks the server. It listens on a Unix socket in Linux's *abstract*
//! namespace (a name with no file behind it, so nothing is left to clean up), named with 128
//! random bits so that nobody can guess it and take it first. [`Manager::dict`] and
//! [`Manager::list`] create objects on the server and return [`DictProxy`] and [`ListProxy`]
//! handles; every operation on a proxy is one request and one reply, as in Python. The server
//! answers each connection on a thread of its own, as Python's does, and applies one request
//! at a time, so every operation is atomic; a client that stops reading holds up only its own
//! thread.
//!
//! # Who may connect
//!
//! As in Python, a connection is served only after both ends have proved that they know the
//! manager's *authkey* ([`ipc_common::auth`], Python's HMAC challenge). By default that is
//! the authkey of the process that starts the manager ([`auth::authkey`]), which its children
//! inherit; only processes of the server's own user may then try it at all. A key set
//! explicitly ([`Manager::with_authkey`], Python's `BaseManager(authkey=...)`) is meant to be
//! shared: whoever knows it may connect, whatever their user. A refused client gets nothing;
//! the server reports it on its stderr (at most once a second, counting the others) and goes
//! on. Since the client challenges the server too, a proxy never takes the answers of an
//! impostor that took the address of a dead server. Nothing is encrypted, as in Python.
//!
//! # Values
//!
//! Keys, values and items are any serde types with `'static` lifetime, encoded with
//! [`ipc_common::codec`] (postcard, with raw fast paths for bytes, strings and numeric
//! vectors). The server keeps the encoded bytes without decoding them, so two keys are the
//! same key when their encodings are the same bytes (`0.0` and `-0.0` are different keys,
//! unlike Python). Each key, value or item may be up to a limit, 1 GiB by default
//! ([`frame::DEFAULT_MAX_MESSAGE`]) and set with [`ManagerBuilder::max_message`]: a larger
//! one is refused whole by the sending proxy, with nothing sent. Snapshots
//! ([`DictProxy::items`], [`ListProxy::to_vec`]) stream item by item and may be of any size.
//!
//! # Proxies across `fork`
//!
//! A child made by [`Process::start`] may use the parent's proxies directly (borrow them in
//! the closure). Each process opens its own connection on its first request: a proxy notices
//! that it runs in a new process (its pid changed) and never shares the parent's socket, whose
//! replies would otherwise go to whichever process reads first.
//!
//! # When the server is gone
//!
//! Dropping the [`Manager`] (the end of Python's `with` block) stops the server and reaps it.
//! A request to a server that has ended, however it ended, fails at once with
//! [`ManagerError::ServerGone`]: the kernel closes a dead server's sockets, and the listening
//! socket exists only in the server process, so nobody else can accept in its place unless
//! they bind its name again, and then they cannot pass the handshake.
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

use std::fmt;
use std::io::{self, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::sync::Arc;
use std::time::Duration;

use ipc_common::auth::{self, AuthError};
use ipc_common::codec::CodecError;
use ipc_common::frame;
use ipc_common::share::SharedFd;
use ipc_common::{Process, ProcessError, StartMethod};
use serde::{Deserialize, Serialize};

mod client;
mod protocol;
mod proxy;
mod server;

pub use ipc_common::auth::AuthKey;
pub use proxy::{DictProxy, ListProxy};

use client::{Client, Target, no_body};
use protocol::Op;

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
    /// The handshake failed: the server does not admit this process (another authkey, another
    /// user), or the process at the manager's address does not know the authkey.
    #[error("cannot authenticate with the manager: {0}")]
    Auth(#[from] AuthError),
    /// A key, value or item could not be encoded.
    #[error("cannot encode a request: {0}")]
    Encode(#[source] CodecError),
    /// A reply did not decode as the proxy's type.
    #[error("cannot decode a reply: {0}")]
    Decode(#[source] CodecError),
    /// A key, value, item or reply larger than the manager's limit
    /// ([`ManagerBuilder::max_message`]). A request is refused before anything is sent.
    #[error("a {what} of {len} bytes is larger than the manager's limit of {max} bytes")]
    TooLarge {
        /// What was too large: "key", "value", "item", "request" or "reply".
        what: &'static str,
        /// Its encoded length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A reply that does not follow the protocol.
    #[error("the manager's reply does not follow the protocol: {0}")]
    BadReply(String),
    /// Another I/O error.
    #[error("manager I/O failed: {0}")]
    Io(#[from] io::Error),
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

/// How to start a [`Manager`]: its authkey and its limit on values (Python's
/// `BaseManager(address, authkey)`, then `start()`).
///
/// # Example
///
/// ```
/// use manager::{AuthKey, Manager, ManagerError};
///
/// let manager = Manager::builder()
///     .authkey(AuthKey::new(b"shared on purpose".to_vec()))
///     .max_message(1 << 20)
///     .start()?;
/// let list = manager.list::<Vec<u8>>()?;
/// list.append(&vec![0; 1000])?;
/// let refused = list.append(&vec![0; 2 << 20]);
/// assert!(matches!(refused, Err(ManagerError::TooLarge { what: "item", .. })));
/// assert_eq!(list.len()?, 1);
/// # Ok::<(), ManagerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManagerBuilder {
    authkey: Option<AuthKey>,
    max_message: usize,
    method: Option<StartMethod>,
}

impl ManagerBuilder {
    /// Sets the authkey explicitly (Python's `BaseManager(authkey=...)`). The key is then
    /// meant to be shared: any process that knows it may connect, whatever its user.
    /// Without it, the manager uses the process's key ([`auth::authkey`]) and admits only
    /// processes of its own user.
    pub fn authkey(mut self, key: AuthKey) -> Self {
        self.authkey = Some(key);
        self
    }

    /// Sets the largest key, value or item, encoded, in bytes; 1 GiB by default
    /// ([`frame::DEFAULT_MAX_MESSAGE`]). Snapshots are not limited: they stream item by item.
    pub fn max_message(mut self, max: usize) -> Self {
        self.max_message = max;
        self
    }

    /// Starts the server with `method` rather than the process's default (Python's
    /// `ctx.Manager()` for a context `ctx`).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Starts the server process and waits until it listens.
    ///
    /// The server holds no copy of its parent's descriptors (under fork they are pointed at
    /// `/dev/null`, see [`Builder::isolated`](ipc_common::process::Builder::isolated)): a pipe
    /// made before the manager still ends when its other holders close it.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Start`] if the server cannot be started (for example under fork while
    /// other threads exist), [`ManagerError::ServerGone`] if the server ended before
    /// listening, [`ManagerError::Auth`] if no key was set and the process's key cannot be
    /// made.
    pub fn start(self) -> Result<Manager, ManagerError> {
        let (key, any_user) = match self.authkey {
            Some(key) => (key, true),
            None => (auth::authkey()?, false),
        };
        let name = random_name()?;
        let (mut ready, ready_writer) = io::pipe()?;
        let args = ServerArgs {
            name: name.clone(),
            key: key.as_bytes().to_vec(),
            any_user,
            max: self.max_message as u64,
            ready: SharedFd(ready_writer.into()),
        };
        let max = self.max_message;
        let builder = Process::new(run_server, args).name("Manager").isolated();
        let builder = match self.method {
            Some(method) => builder.start_method(method),
            None => builder,
        };
        // `ready`'s write end moved into the arguments: once the server has it, ours is closed,
        // so `read` below returns 0 bytes if the server dies before listening.
        let server = builder.start()?;
        let mut byte = [0u8; 1];
        if ready.read(&mut byte)? != 1 {
            return Err(ManagerError::ServerGone);
        }
        Ok(Manager {
            owner: std::process::id(),
            server,
            client: Client::new(Arc::new(Target { name, key, max })),
        })
    }
}

/// What the server process is started with.
#[derive(Serialize, Deserialize)]
struct ServerArgs {
    /// The abstract socket name to listen on.
    name: String,
    /// The authkey.
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
    /// Whether peers of another user may connect (the key was set on purpose).
    any_user: bool,
    /// The largest key, value or item.
    max: u64,
    /// Written once the server listens.
    ready: SharedFd,
}

/// The server process: listens, says so on `ready`, and serves until asked to stop.
///
/// The listener is made in the server only: a child started later must not hold a copy of
/// it, or connections would still be accepted (and never answered) after the server died.
fn run_server(args: ServerArgs) -> io::Result<()> {
    let listener = UnixListener::bind_addr(&SocketAddr::from_abstract_name(&args.name)?)?;
    let mut ready = std::fs::File::from(args.ready.0);
    ready.write_all(&[1])?;
    drop(ready);
    let admission = server::Admission {
        key: AuthKey::new(args.key),
        any_user: args.any_user,
    };
    server::serve(
        listener,
        admission,
        usize::try_from(args.max).unwrap_or(usize::MAX),
    )
}

/// `ipc-manager-` and 128 random bits in hex: a name nobody can guess, so nobody can take it
/// before the server or after it.
fn random_name() -> Result<String, ManagerError> {
    let mut bits = [0u8; 16];
    auth::random_bytes(&mut bits)?;
    let hex: String = bits.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("ipc-manager-{hex}"))
}

impl Manager {
    /// Forks the server process with the process's authkey and the default limit, and waits
    /// until it listens (Python's `multiprocessing.Manager()`). See [`ManagerBuilder::start`].
    ///
    /// # Errors
    ///
    /// As for [`ManagerBuilder::start`].
    pub fn start() -> Result<Manager, ManagerError> {
        Manager::builder().start()
    }

    /// Forks the server process with an explicit authkey (Python's
    /// `BaseManager(authkey=key).start()`): any process that knows the key may connect,
    /// whatever its user.
    ///
    /// # Errors
    ///
    /// As for [`ManagerBuilder::start`].
    pub fn with_authkey(key: AuthKey) -> Result<Manager, ManagerError> {
        Manager::builder().authkey(key).start()
    }

    /// The default settings: the process's authkey, values up to 1 GiB.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder {
            authkey: None,
            max_message: frame::DEFAULT_MAX_MESSAGE,
            method: None,
        }
    }

    /// The server's address, a name in the abstract socket namespace (Python's
    /// `manager.address`).
    pub fn address(&self) -> &str {
        &self.client.target().name
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
        let id = self.new_object(Op::NewDict)?;
        Ok(DictProxy::new(Arc::clone(self.client.target()), id))
    }

    /// Creates an empty shared list on the server (Python's `manager.list()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn list<T>(&self) -> Result<ListProxy<T>, ManagerError> {
        let id = self.new_object(Op::NewList)?;
        Ok(ListProxy::new(Arc::clone(self.client.target()), id))
    }

    fn new_object(&self, op: Op) -> Result<u32, ManagerError> {
        let id = self.client.call(op, 0, no_body, |reply| reply.number())?;
        u32::try_from(id).map_err(|_| ManagerError::BadReply(format!("an object id of {id}")))
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
        let _ = self
            .client
            .call(Op::Shutdown, 0, no_body, |reply| reply.done());
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
            .field("address", &self.client.target().name)
            .field("server", &self.server)
            .finish()
    }
}
