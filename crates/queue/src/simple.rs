//! Python's `SimpleQueue`: an unbounded queue with just `put`, `get`, `empty` and `close`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{DEFAULT_CAPACITY, Queue, QueueError};

/// An unbounded process-shared FIFO queue with the smallest API: Python's
/// `multiprocessing.SimpleQueue`.
///
/// `put` waits only while the ring's bytes are full (there is no `maxsize`), `get` while the
/// queue is empty; neither has a timeout. Messages have any size, as in [`Queue`], with the
/// same guarantees.
///
/// # Example
///
/// ```
/// use ipc_common::Process;
/// use queue::SimpleQueue;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let q = SimpleQueue::<String>::new()?;
/// let child = Process::start("child", || q.put(&"hello".to_string()))?;
/// assert_eq!(q.get()?, "hello");
/// child.join_ok()?;
/// assert!(q.empty());
/// q.close();
/// assert!(q.get().is_err()); // closed in this process
/// # Ok(()) }
/// ```
pub struct SimpleQueue<T> {
    queue: Queue<T>,
    /// Set by [`close`](SimpleQueue::close), in this process only.
    closed: AtomicBool,
}

impl<T> Clone for SimpleQueue<T> {
    /// Another handle to the same queue (its closed state copied).
    fn clone(&self) -> Self {
        SimpleQueue {
            queue: self.queue.clone(),
            closed: AtomicBool::new(self.closed.load(std::sync::atomic::Ordering::Relaxed)),
        }
    }
}

impl<T> serde::Serialize for SimpleQueue<T> {
    /// Passes the queue to a child (see [`Queue`]'s).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(serializer)
    }
}

impl<'de, T> serde::Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(SimpleQueue {
            queue: Queue::deserialize(deserializer)?,
            closed: AtomicBool::new(false),
        })
    }
}

impl<T: Serialize + DeserializeOwned + 'static> SimpleQueue<T> {
    /// An empty queue over a ring of [`DEFAULT_CAPACITY`] bytes (Python's `SimpleQueue()`).
    ///
    /// # Errors
    ///
    /// As for [`Queue::new`].
    pub fn new() -> Result<Self, QueueError> {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty queue over a ring of at least `bytes` bytes (see [`Queue::with_capacity`]).
    ///
    /// # Errors
    ///
    /// As for [`Queue::with_capacity`].
    pub fn with_capacity(bytes: usize) -> Result<Self, QueueError> {
        Ok(Self {
            queue: Queue::with_capacity(0, bytes)?,
            closed: AtomicBool::new(false),
        })
    }

    /// Puts `item` at the end of the queue (Python's `put(obj)`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Closed`] after [`close`](SimpleQueue::close) in this process; otherwise
    /// as for [`Queue::put`].
    pub fn put(&self, item: &T) -> Result<(), QueueError> {
        self.check_open()?;
        self.queue.put(item)
    }

    /// Takes the oldest message, waiting as long as the queue is empty (Python's `get()`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Closed`] after [`close`](SimpleQueue::close) in this process; otherwise
    /// as for [`Queue::get`].
    pub fn get(&self) -> Result<T, QueueError> {
        self.check_open()?;
        self.queue.get()
    }

    fn check_open(&self) -> Result<(), QueueError> {
        if self.closed.load(Relaxed) {
            return Err(QueueError::Closed);
        }
        Ok(())
    }
}

impl<T> SimpleQueue<T> {
    /// Whether the queue holds no message right now (Python's `empty()`).
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// Closes the queue in this process (Python's `close()`): later puts and gets here fail
    /// with [`QueueError::Closed`]. Other processes are not affected, and messages in the
    /// queue stay there for them.
    pub fn close(&self) {
        self.closed.store(true, Relaxed);
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("empty", &self.empty())
            .field("closed", &self.closed.load(Relaxed))
            .finish()
    }
}
