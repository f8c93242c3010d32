//! Why a manager operation failed.

use std::io;
use std::time::Duration;

use ipc_common::ProcessError;
use ipc_common::auth::AuthError;
use ipc_common::codec::CodecError;

/// Why a manager operation failed.
///
/// Besides the failures of the manager itself (its server gone, a refused handshake, a value
/// too large), an operation fails the way Python's raises an exception: each such variant
/// names the exception it stands for.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// The server process has ended (stopped, killed or crashed): no request can be answered.
    #[error("the manager's server process is gone")]
    ServerGone,
    /// A timed request got no answer for this long past its timeout: the server is stopped
    /// or overloaded. The connection is dropped, and with it whatever the server would give
    /// it later: a lock is released, an item stays in its queue (unless its reply was already
    /// on the way at that very moment, as with any reply that a client stops waiting for).
    #[error("the manager's server did not answer within {0:?} past the request's timeout")]
    Unresponsive(Duration),
    /// The server could not be started.
    #[error("cannot start the manager's server: {0}")]
    Start(#[from] ProcessError),
    /// The server could not listen at its address (Python's `OSError` from `bind`).
    #[error("the manager's server cannot listen: {0}")]
    Listen(String),
    /// The server refused the request: an object that does not exist or is of another kind,
    /// a type that was not registered, an object of another manager.
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
    /// ([`ManagerBuilder::max_message`](crate::ManagerBuilder::max_message)). A request is
    /// refused before anything is sent.
    #[error("a {what} of {len} bytes is larger than the manager's limit of {max} bytes")]
    TooLarge {
        /// What was too large: "key", "value", "item", "name", "request" or "reply".
        what: &'static str,
        /// Its encoded length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// Python's `KeyError`: the dict has no such key (or `popitem` of an empty dict).
    #[error("KeyError: {0}")]
    KeyNotFound(String),
    /// Python's `IndexError`: an index out of range (or `pop` of an empty list).
    #[error("IndexError: {0}")]
    IndexOutOfRange(String),
    /// Python's `ValueError` of `list.remove(x)` and `list.index(x)`: no such item.
    #[error("ValueError: {0}")]
    NotInList(String),
    /// Python's `AttributeError`: a namespace has no such attribute, or an object of a
    /// registered type no such method.
    #[error("AttributeError: {0}")]
    NoAttribute(String),
    /// Python's `queue.Empty`: nothing to get within the timeout (or at once).
    #[error("queue.Empty: the queue is empty")]
    Empty,
    /// Python's `queue.Full`: no room to put within the timeout (or at once).
    #[error("queue.Full: the queue is full")]
    Full,
    /// Python's `RuntimeError`: releasing a lock that is not held (by this client, for an
    /// `RLock`), or waiting on or notifying a condition without holding its lock.
    #[error("RuntimeError: {0}")]
    NotHeld(String),
    /// Python's `ValueError`: a bounded semaphore released more times than acquired, or
    /// `task_done()` called more times than items were put.
    #[error("ValueError: {0}")]
    TooManyReleases(String),
    /// Python's `threading.BrokenBarrierError`: the barrier was reset or aborted, a waiter
    /// timed out, or a waiting client went away.
    #[error("BrokenBarrierError: the barrier is broken")]
    BrokenBarrier,
    /// A method of an object of a registered type failed (Python re-raises its exception in
    /// the caller).
    #[error("the shared object's method failed: {0}")]
    Method(String),
    /// Python's `MemoryError`: the server cannot hold the result (`l *= n` too large).
    #[error("MemoryError: {0}")]
    NoMemory(String),
    /// A reply that does not follow the protocol.
    #[error("the manager's reply does not follow the protocol: {0}")]
    BadReply(String),
    /// Another I/O error.
    #[error("manager I/O failed: {0}")]
    Io(#[from] io::Error),
}
