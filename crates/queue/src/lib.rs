//! Python's `multiprocessing.Queue` in Rust: a typed, process-shared FIFO queue of serde
//! messages, with the same API (`put`, `get`, `put_nowait`, `get_nowait`, timeouts, `qsize`,
//! `empty`, `full`).
//!
//! A [`Queue`] is a typed wrapper over [`ipc_common::ring::Ring`], a ring of byte frames in
//! shared memory. A message is encoded as JSON (serde_json) into a buffer that the handle
//! reuses, and copied into the ring as one frame under the ring's process-shared lock; `get`
//! copies the oldest frame out and decodes it. So, across any number of processes:
//!
//! - every message put is got **exactly once**, never torn or mixed with another;
//! - messages come out in the order they went in (FIFO);
//! - `put` waits while the queue is full (`maxsize` messages, or no room left in its bytes),
//!   `get` while it is empty, both sleeping on a futex (no polling), with exact timeouts;
//! - a message that can never fit is refused with [`QueueError::TooLarge`], never split.
//!
//! Unlike Python's queue, there is no feeder thread: `put` has finished copying the message
//! when it returns, so a process may exit right after its last `put` without losing it.
//!
//! # Sharing a queue
//!
//! Make the queue **before** starting the processes that use it; each child's closure borrows
//! it (the child runs on a copy of the parent's memory, and the ring's memory is shared).
//!
//! ```
//! use ipc_common::Process;
//! use queue::Queue;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let queue = Queue::<Option<String>>::new(10)?;
//! let producer = Process::start("producer", || -> Result<(), queue::QueueError> {
//!     for i in 0..3 {
//!         queue.put(&Some(format!("item {i}")))?;
//!     }
//!     queue.put(&None) // the stop sentinel
//! })?;
//! let mut got = Vec::new();
//! while let Some(item) = queue.get()? {
//!     got.push(item);
//! }
//! assert_eq!(got, ["item 0", "item 1", "item 2"]);
//! producer.join_ok()?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Mutex, TryLockError};
use std::time::{Duration, Instant};

use ipc_common::ring::{MAX_CAPACITY, Ring, RingError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The byte capacity of a queue made with [`Queue::new`]: 1 MiB.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// The bytes the ring adds to every message (its length).
const FRAME_HEADER: usize = 4;

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue stayed empty until the timeout (Python's `queue.Empty`).
    #[error("the queue is empty")]
    Empty,
    /// The queue stayed full until the timeout (Python's `queue.Full`).
    #[error("the queue is full")]
    Full,
    /// The message can never fit: its encoding is larger than the queue's bytes allow.
    #[error("a message of {len} bytes does not fit in the queue (at most {capacity} bytes)")]
    TooLarge {
        /// The message's encoded (JSON) length in bytes.
        len: usize,
        /// The largest encoded message the queue takes ([`Queue::max_message_len`]).
        capacity: usize,
    },
    /// The requested byte capacity is above the ring's limit.
    #[error("a queue of {requested} bytes is too large (at most {max} bytes)")]
    CapacityTooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The largest possible capacity ([`MAX_CAPACITY`]).
        max: usize,
    },
    /// The message could not be encoded as JSON (a map with non-string keys, say).
    #[error("cannot encode message: {0}")]
    Encode(#[source] serde_json::Error),
    /// The message taken out is not the JSON of `T`. The message is consumed.
    #[error("cannot decode message: {0}")]
    Decode(#[source] serde_json::Error),
    /// The ring under the queue failed: its lock or memory, or another process wrote into
    /// its memory outside its protocol.
    #[error("the queue's ring failed: {0}")]
    Ring(#[source] RingError),
}

impl From<RingError> for QueueError {
    fn from(e: RingError) -> Self {
        match e {
            RingError::Empty => QueueError::Empty,
            RingError::Full => QueueError::Full,
            RingError::TooLarge { len, limit } => QueueError::TooLarge {
                len,
                capacity: limit,
            },
            other => QueueError::Ring(other),
        }
    }
}

/// A process-shared FIFO queue of `T` messages: Python's `multiprocessing.Queue`.
///
/// Any number of processes started after the queue was made may [`put`](Queue::put) and
/// [`get`](Queue::get) at once. `maxsize` bounds the number of messages (0: no bound but the
/// bytes); the byte capacity ([`DEFAULT_CAPACITY`], or [`with_capacity`](Queue::with_capacity))
/// bounds the memory, and with it the largest message.
///
/// Timeouts are errors, as Python's are exceptions: [`QueueError::Empty`] and
/// [`QueueError::Full`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use ipc_common::Process;
/// use queue::{Queue, QueueError};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// enum Job {
///     Square(u64),
///     Stop,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let jobs = Queue::<Job>::new(2)?; // at most 2 jobs waiting
/// let results = Queue::<u64>::new(0)?; // unbounded (but for its 1 MiB)
/// let worker = Process::start("worker", || -> Result<(), QueueError> {
///     while let Job::Square(n) = jobs.get()? {
///         results.put(&(n * n))?;
///     }
///     Ok(())
/// })?;
/// for n in 1..=3 {
///     jobs.put(&Job::Square(n))?; // waits while 2 jobs are queued
/// }
/// jobs.put(&Job::Stop)?;
/// let squares: Vec<u64> = (0..3).map(|_| results.get()).collect::<Result<_, _>>()?;
/// assert_eq!(squares, [1, 4, 9]);
/// worker.join_ok()?;
/// assert!(matches!(
///     results.get_timeout(Duration::from_millis(10)),
///     Err(QueueError::Empty)
/// ));
/// # Ok(()) }
/// ```
pub struct Queue<T> {
    ring: Ring,
    maxsize: usize,
    /// Reused for encoding (put) and decoding (get): no allocation per message. A thread that
    /// finds one in use by another thread of its process takes a fresh buffer instead.
    encode_buf: Mutex<Vec<u8>>,
    decode_buf: Mutex<Vec<u8>>,
    _message: PhantomData<fn(T) -> T>,
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue of at most `maxsize` messages (0: no limit but the bytes) and
    /// [`DEFAULT_CAPACITY`] bytes (Python's `Queue(maxsize)`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Ring`] if the shared memory or its lock cannot be made.
    pub fn new(maxsize: usize) -> Result<Self, QueueError> {
        Self::with_capacity(maxsize, DEFAULT_CAPACITY)
    }

    /// A queue of at most `maxsize` messages (0: no limit but the bytes) in a ring of at least
    /// `bytes` bytes (rounded up to a power of two, at least 4 KiB). Each message takes its
    /// JSON length plus 4 bytes.
    ///
    /// # Errors
    ///
    /// [`QueueError::CapacityTooLarge`] above [`MAX_CAPACITY`]; [`QueueError::Ring`] if the
    /// shared memory or its lock cannot be made.
    pub fn with_capacity(maxsize: usize, bytes: usize) -> Result<Self, QueueError> {
        if bytes > MAX_CAPACITY {
            return Err(QueueError::CapacityTooLarge {
                requested: bytes,
                max: MAX_CAPACITY,
            });
        }
        // A ring holds at most MAX_CAPACITY / 5 frames, so a larger maxsize is no limit.
        let max_frames = u32::try_from(maxsize).unwrap_or(u32::MAX);
        let ring = Ring::new(bytes, max_frames).map_err(QueueError::Ring)?;
        Ok(Queue {
            ring,
            maxsize,
            encode_buf: Mutex::new(Vec::with_capacity(256)),
            decode_buf: Mutex::new(Vec::with_capacity(256)),
            _message: PhantomData,
        })
    }

    /// Puts `item` at the end of the queue, waiting as long as it is full.
    ///
    /// # Errors
    ///
    /// [`QueueError::TooLarge`] for a message that can never fit, [`QueueError::Encode`] if
    /// it cannot be encoded, [`QueueError::Ring`] if the ring fails.
    pub fn put(&self, item: &T) -> Result<(), QueueError> {
        self.put_until(item, None)
    }

    /// Puts `item`, waiting at most `timeout` for room (Python's `put(item, timeout=...)`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Full`] if the queue stayed full; otherwise as for [`put`](Queue::put).
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<(), QueueError> {
        self.put_until(item, Instant::now().checked_add(timeout))
    }

    /// Puts `item` only if there is room right now (Python's `put_nowait`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Full`] if the queue is full; otherwise as for [`put`](Queue::put).
    pub fn put_nowait(&self, item: &T) -> Result<(), QueueError> {
        self.put_until(item, Some(Instant::now()))
    }

    /// Takes the oldest message, waiting as long as the queue is empty.
    ///
    /// # Errors
    ///
    /// [`QueueError::Decode`] if the message is not a `T` (it is consumed all the same),
    /// [`QueueError::Ring`] if the ring fails.
    pub fn get(&self) -> Result<T, QueueError> {
        self.get_until(None)
    }

    /// Takes the oldest message, waiting at most `timeout` for one (Python's
    /// `get(timeout=...)`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`] if no message came in time; otherwise as for
    /// [`get`](Queue::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, QueueError> {
        self.get_until(Instant::now().checked_add(timeout))
    }

    /// Takes the oldest message if there is one right now (Python's `get_nowait`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`] if the queue is empty; otherwise as for [`get`](Queue::get).
    pub fn get_nowait(&self) -> Result<T, QueueError> {
        self.get_until(Some(Instant::now()))
    }

    /// Puts `item`, waiting for room until `deadline` (forever if `None`).
    fn put_until(&self, item: &T, deadline: Option<Instant>) -> Result<(), QueueError> {
        with_buffer(&self.encode_buf, |buf| {
            serde_json::to_writer(&mut *buf, item).map_err(QueueError::Encode)?;
            if buf.len() > self.max_message_len() {
                return Err(QueueError::TooLarge {
                    len: buf.len(),
                    capacity: self.max_message_len(),
                });
            }
            Ok(self.ring.push(buf, deadline)?)
        })
    }

    /// Takes a message, waiting for one until `deadline` (forever if `None`).
    fn get_until(&self, deadline: Option<Instant>) -> Result<T, QueueError> {
        with_buffer(&self.decode_buf, |buf| {
            self.ring.pop(buf, deadline, |_| {})?;
            serde_json::from_slice(buf).map_err(QueueError::Decode)
        })
    }
}

impl<T> Queue<T> {
    /// The number of messages in the queue right now (it may change at once; Python's
    /// `qsize()`).
    pub fn qsize(&self) -> usize {
        self.ring.len()
    }

    /// Whether the queue holds no message right now (Python's `empty()`).
    pub fn empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Whether the queue holds `maxsize` messages right now (Python's `full()`). A queue
    /// without `maxsize` is never full by this count, though a `put` may still wait for bytes.
    pub fn full(&self) -> bool {
        self.maxsize > 0 && self.qsize() >= self.maxsize
    }

    /// The most messages the queue holds at once; 0 for no limit but the bytes.
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// The queue's capacity in bytes (each message takes its JSON length plus 4 bytes).
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The largest encoded (JSON) message the queue takes; a larger one is refused with
    /// [`QueueError::TooLarge`].
    pub fn max_message_len(&self) -> usize {
        self.ring.capacity() - FRAME_HEADER
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("qsize", &self.qsize())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// Runs `f` with the cleared buffer in `slot`, or with a fresh one if another thread of this
/// process is using it.
fn with_buffer<R>(slot: &Mutex<Vec<u8>>, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let run = |buf: &mut Vec<u8>| {
        buf.clear();
        f(buf)
    };
    match slot.try_lock() {
        Ok(mut buf) => run(&mut buf),
        // A panic in a `Serialize` impl poisons the lock; the buffer itself is still fine.
        Err(TryLockError::Poisoned(poisoned)) => run(&mut poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => run(&mut Vec::new()),
    }
}
