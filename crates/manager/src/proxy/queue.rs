//! A proxy of Python's `queue.Queue` in the manager (`manager.Queue()` and
//! `manager.JoinableQueue()`, which in Python are the same class).

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Handle, Proxy, proxy_impls};
use crate::ManagerError;
use crate::client::no_body;
use crate::protocol::{Kind, Op};

/// A proxy of a queue that lives in the manager's server (Python's `manager.Queue(maxsize)`
/// and `manager.JoinableQueue(maxsize)`, made by [`Factory::queue`](crate::Factory::queue) and
/// [`Factory::joinable_queue`](crate::Factory::joinable_queue)).
///
/// Unlike `multiprocessing.Queue`, it needs no inheritance: any process that can reach the
/// manager (its address and authkey) can use it. A blocking call waits in the server, holding
/// only this thread's connection; a timed one gives up after its timeout with Python's
/// `queue.Empty` or `queue.Full` ([`ManagerError::Empty`], [`ManagerError::Full`]). An item
/// taken for a client that went away before getting it goes back to the head of the queue.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use manager::ManagerError;
///
/// let manager = manager::Manager::start()?;
/// let q = manager.joinable_queue::<String>(1)?;
/// q.put(&"job".into())?;
/// assert!(q.full()?);
/// assert!(matches!(q.put_timeout(&"more".into(), Duration::from_millis(10)), Err(ManagerError::Full)));
/// assert_eq!(q.get()?, "job");
/// q.task_done()?;
/// q.join()?; // every item put was marked done
/// assert!(matches!(q.get_nowait(), Err(ManagerError::Empty)));
/// # Ok::<(), ManagerError>(())
/// ```
pub struct QueueProxy<T> {
    handle: Handle,
    _types: PhantomData<fn() -> T>,
}

impl<T> Proxy for QueueProxy<T> {
    const KINDS: &'static [Kind] = &[Kind::Queue, Kind::JoinableQueue];

    fn handle(&self) -> &Handle {
        &self.handle
    }

    fn from_handle(handle: Handle) -> Self {
        QueueProxy {
            handle,
            _types: PhantomData,
        }
    }
}

proxy_impls!(QueueProxy<T>);

impl<T: Serialize + DeserializeOwned + 'static> QueueProxy<T> {
    /// Puts `item` at the tail, waiting for room as long as it takes (Python's `q.put(item)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`]; [`ManagerError::Encode`] or [`ManagerError::TooLarge`]
    /// (nothing is sent then).
    pub fn put(&self, item: &T) -> Result<(), ManagerError> {
        self.put_within(item, None)
    }

    /// Puts `item`, waiting for room up to `timeout` (Python's `q.put(item, timeout=t)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Full`] if there was no room in time; otherwise as for
    /// [`put`](QueueProxy::put).
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<(), ManagerError> {
        self.put_within(item, Some(timeout))
    }

    /// Puts `item` if there is room now (Python's `q.put_nowait(item)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Full`]; otherwise as for [`put`](QueueProxy::put).
    pub fn put_nowait(&self, item: &T) -> Result<(), ManagerError> {
        self.put_within(item, Some(Duration::ZERO))
    }

    fn put_within(&self, item: &T, timeout: Option<Duration>) -> Result<(), ManagerError> {
        self.handle.call_waiting(
            Op::QueuePut,
            timeout,
            |body| {
                body.timeout(timeout)?;
                body.value("item", item)
            },
            |reply| reply.done(),
        )
    }

    /// Takes the item at the head, waiting for one as long as it takes (Python's `q.get()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`]; [`ManagerError::Decode`] for an item of another type
    /// (it is then lost, as an item Python cannot unpickle).
    pub fn get(&self) -> Result<T, ManagerError> {
        self.get_within(None)
    }

    /// Takes the item at the head, waiting up to `timeout` (Python's `q.get(timeout=t)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Empty`] if none came in time; otherwise as for [`get`](QueueProxy::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, ManagerError> {
        self.get_within(Some(timeout))
    }

    /// Takes the item at the head if there is one now (Python's `q.get_nowait()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Empty`]; otherwise as for [`get`](QueueProxy::get).
    pub fn get_nowait(&self) -> Result<T, ManagerError> {
        self.get_within(Some(Duration::ZERO))
    }

    fn get_within(&self, timeout: Option<Duration>) -> Result<T, ManagerError> {
        let found = self.handle.call_waiting(
            Op::QueueGet,
            timeout,
            |body| body.timeout(timeout),
            |reply| reply.found(),
        )?;
        found.ok_or_else(|| ManagerError::BadReply("get without an item".into()))
    }

    /// The number of items now (Python's `q.qsize()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn qsize(&self) -> Result<usize, ManagerError> {
        self.handle
            .call(Op::QueueSize, no_body, |reply| reply.length())
    }

    /// Whether the queue is empty now (Python's `q.empty()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn empty(&self) -> Result<bool, ManagerError> {
        Ok(self.qsize()? == 0)
    }

    /// Whether the queue holds `maxsize` items now (Python's `q.full()`; never for a queue
    /// without a limit).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn full(&self) -> Result<bool, ManagerError> {
        self.handle
            .call(Op::QueueFull, no_body, |reply| reply.flag())
    }

    /// Marks one item taken as done (Python's `q.task_done()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::TooManyReleases`] if called more times than items were put (Python's
    /// `ValueError`); [`ManagerError::ServerGone`].
    pub fn task_done(&self) -> Result<(), ManagerError> {
        self.handle
            .call(Op::QueueTaskDone, no_body, |reply| reply.done())
    }

    /// Waits until every item put has been marked done (Python's `q.join()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn join(&self) -> Result<(), ManagerError> {
        self.join_within(None).map(|_| ())
    }

    /// Waits up to `timeout` until every item put has been marked done; whether they were
    /// (Python's `join` has no timeout).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.join_within(Some(timeout))
    }

    fn join_within(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
        self.handle.wait_flag(Op::QueueJoin, timeout)
    }
}
