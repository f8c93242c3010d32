//! Python's `multiprocessing.Queue`, `JoinableQueue` and `SimpleQueue` in Rust: typed,
//! process-shared FIFO queues of serde messages of any size.
//!
//! A [`Queue`] is a typed wrapper over [`ipc_common::ring::Ring`], a ring of bytes in shared
//! memory. A message is encoded with [`ipc_common::codec`] (postcard, with the bytes of a
//! `Vec<u8>`, a `String` or a vector of numbers copied as they are) and copied into the ring;
//! `get` copies the oldest message out and decodes it. So, across any number of processes:
//!
//! - every message put is got **exactly once**, never torn or mixed with another;
//! - messages come out in the order they went in (FIFO);
//! - a message may have **any size** up to the queue's limit (1 GiB by default,
//!   [`Queue::with_max_message`]): one larger than the ring is streamed through it in pieces
//!   while a consumer takes them out;
//! - `put` waits while the queue is full (`maxsize` messages, or no room in its bytes), `get`
//!   while it is empty, with timeouts that hold whatever the other processes do;
//! - a process killed at any instruction loses at most the message it was putting (which
//!   nobody then gets) or getting; every other process goes on, and a waiting one takes an
//!   available message within 50 ms.
//!
//! Unlike Python's queue, there is no feeder thread: `put` has finished copying the message
//! when it returns, so a process may exit right after its last `put` without losing it.
//!
//! # Python and Rust
//!
//! | Python | here |
//! |---|---|
//! | `q = Queue(maxsize)` | [`Queue::new(maxsize)`](Queue::new), made before the processes that share it |
//! | `q.put(obj)`, `q.put(obj, timeout=t)`, `q.put_nowait(obj)` | [`put(&obj)`](Queue::put), [`put_timeout(&obj, t)`](Queue::put_timeout), [`put_nowait(&obj)`](Queue::put_nowait) |
//! | `q.get()`, `q.get(timeout=t)`, `q.get_nowait()` | [`get()`](Queue::get), [`get_timeout(t)`](Queue::get_timeout), [`get_nowait()`](Queue::get_nowait) |
//! | `queue.Empty`, `queue.Full` | [`QueueError::Empty`], [`QueueError::Full`] (and [`QueueError::Abandoned`] for a timed put that ran out in the middle of a huge message) |
//! | `q.qsize()`, `q.empty()`, `q.full()`, `q._maxsize` | [`qsize()`](Queue::qsize), [`empty()`](Queue::empty), [`full()`](Queue::full), [`maxsize()`](Queue::maxsize) |
//! | `q.close()` | [`close()`](Queue::close): this process puts no more; unlike Python, it may still get |
//! | `q.join_thread()`, `q.cancel_join_thread()` | not needed: there is no feeder thread |
//! | `JoinableQueue(maxsize)`, `task_done()`, `join()` | [`JoinableQueue`], [`task_done()`](JoinableQueue::task_done), [`join()`](JoinableQueue::join) |
//! | `SimpleQueue()`, `put`, `get`, `empty`, `close` | [`SimpleQueue`] |
//! | objects pickled | serde values encoded with postcard; a message that is not the receiver's type is [`QueueError::Decode`] |
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
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use ipc_common::ring::{MAX_CAPACITY, Ring};
use ipc_common::time::deadline_after;
use serde::Serialize;
use serde::de::DeserializeOwned;

mod error;
mod joinable;
mod simple;
mod wire;

pub use error::QueueError;
pub use ipc_common::ring::DEFAULT_MAX_MESSAGE;
pub use joinable::JoinableQueue;
pub use simple::SimpleQueue;
pub use wire::KEEP_BUFFER;

/// The byte capacity of the ring of a queue made with [`Queue::new`]: 1 MiB. Messages of any
/// size go through it; memory is committed only as it is first written. Measured with
/// `cargo run --release -p queue --example bandwidth -- RING_BYTES`, messages of 64 KiB to
/// 8 MiB went through fastest with a 1 MiB ring, of 256 KiB, 1 MiB and 4 MiB.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// A process-shared FIFO queue of `T` messages: Python's `multiprocessing.Queue`.
///
/// Any number of processes started after the queue was made may [`put`](Queue::put) and
/// [`get`](Queue::get) at once. `maxsize` bounds the number of messages (0: no bound but the
/// bytes); the ring's capacity ([`DEFAULT_CAPACITY`], or
/// [`with_capacity`](Queue::with_capacity)) bounds the memory the queue holds, not the size
/// of a message.
///
/// Timeouts are errors, as Python's are exceptions: [`QueueError::Empty`] and
/// [`QueueError::Full`]. A timeout of [`Duration::MAX`] waits forever.
///
/// # Message types
///
/// Any `T: Serialize + DeserializeOwned + 'static` travels, encoded with postcard, which is
/// compact and fast because it is not self-describing: the receiver's type says how to read
/// the bytes. So serde features that need the data to describe itself cannot be decoded:
/// `#[serde(untagged)]` enums, `#[serde(flatten)]`, `serde_json::Value` and other
/// `deserialize_any` types. Their gets fail with [`QueueError::Decode`]; use an ordinary
/// (tagged) enum instead.
///
/// # Messages larger than the ring
///
/// A message that fits in the ring is put whole or not at all. A larger one is streamed: it
/// needs a consumer taking it out while it goes in.
///
/// - A **put** whose timeout passes in its middle withdraws it: [`QueueError::Abandoned`],
///   and no consumer gets any of it. `put_nowait` of such a message is [`QueueError::Full`].
/// - A **get** whose timeout passes in its middle returns [`QueueError::Empty`] and keeps
///   what it has, and the calling **thread** keeps the queue's reading side: its next get
///   continues the message (other consumers wait meanwhile, each until its own timeout).
///   Dropping the queue on that thread, or the end of the thread or of the process, gives
///   the reading side back, and that message is lost.
/// - A process **killed** while putting one: consumers drop what they have of it, and take
///   the next message. Killed while getting one: that message is lost, no other.
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
///     Blob(Vec<u8>),
///     Stop,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let jobs = Queue::<Job>::new(2)?; // at most 2 jobs waiting
/// let results = Queue::<u64>::new(0)?; // no limit but the bytes
/// let worker = Process::start("worker", || -> Result<(), QueueError> {
///     loop {
///         match jobs.get()? {
///             Job::Square(n) => results.put(&(n * n))?,
///             Job::Blob(bytes) => results.put(&(bytes.len() as u64))?,
///             Job::Stop => return Ok(()),
///         }
///     }
/// })?;
/// for n in 1..=3 {
///     jobs.put(&Job::Square(n))?; // waits while 2 jobs are queued
/// }
/// jobs.put(&Job::Blob(vec![1; 3 << 20]))?; // 3 MiB, three times the ring
/// jobs.put(&Job::Stop)?;
/// let got: Vec<u64> = (0..4).map(|_| results.get()).collect::<Result<_, _>>()?;
/// assert_eq!(got, [1, 4, 9, 3 << 20]);
/// worker.join_ok()?;
/// assert!(matches!(
///     results.get_timeout(Duration::from_millis(10)),
///     Err(QueueError::Empty)
/// ));
/// # Ok(()) }
/// ```
pub struct Queue<T> {
    pub(crate) ring: Ring,
    maxsize: usize,
    /// Set by [`close`](Queue::close), in this process only (each process has its own copy).
    closed: AtomicBool,
    /// Reused for encoding (put) and decoding (get): no allocation per message. A thread that
    /// finds one in use by another thread of its process takes a fresh buffer instead.
    encode_buf: Mutex<Vec<u8>>,
    decode_buf: Mutex<Vec<u8>>,
    _message: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    /// Another handle to the same queue: give one to a child as an argument
    /// (`Process::new(worker, queue.clone())`, Python's `Process(args=(q,))`) and keep this one.
    /// Whether it is [closed](Queue::close) is copied; a part-read message stays with the
    /// handle that read it.
    fn clone(&self) -> Self {
        Queue {
            ring: self.ring.clone(),
            maxsize: self.maxsize,
            closed: AtomicBool::new(self.closed.load(Relaxed)),
            encode_buf: Mutex::new(Vec::new()),
            decode_buf: Mutex::new(Vec::new()),
            _message: PhantomData,
        }
    }
}

impl<T> Serialize for Queue<T> {
    /// Passes the queue to a child started by spawn or forkserver: its shared memory travels
    /// as descriptors. Anywhere else (into another queue, say) it fails, as pickling a
    /// `multiprocessing.Queue` does outside a process start.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.ring, self.maxsize as u64).serialize(serializer)
    }
}

impl<'de, T> serde::Deserialize<'de> for Queue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (ring, maxsize) = <(Ring, u64)>::deserialize(deserializer)?;
        Ok(Queue {
            ring,
            maxsize: usize::try_from(maxsize).map_err(serde::de::Error::custom)?,
            closed: AtomicBool::new(false),
            encode_buf: Mutex::new(Vec::new()),
            decode_buf: Mutex::new(Vec::new()),
            _message: PhantomData,
        })
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Queue<T> {
    /// A queue of at most `maxsize` messages (0: no limit but the bytes) over a ring of
    /// [`DEFAULT_CAPACITY`] bytes (Python's `Queue(maxsize)`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Ring`] if the shared memory or its locks cannot be made.
    pub fn new(maxsize: usize) -> Result<Self, QueueError> {
        Self::with_capacity(maxsize, DEFAULT_CAPACITY)
    }

    /// A queue of at most `maxsize` messages (0: no limit but the bytes) over a ring of at
    /// least `bytes` bytes (rounded up to a power of two, at least 4 KiB). The ring bounds the
    /// memory the queue holds, not the size of a message: a larger message is streamed.
    ///
    /// # Errors
    ///
    /// [`QueueError::CapacityTooLarge`] above [`MAX_CAPACITY`]; [`QueueError::Ring`] if the
    /// shared memory or its locks cannot be made.
    pub fn with_capacity(maxsize: usize, bytes: usize) -> Result<Self, QueueError> {
        if bytes > MAX_CAPACITY {
            return Err(QueueError::CapacityTooLarge {
                requested: bytes,
                max: MAX_CAPACITY,
            });
        }
        // A ring holds at most MAX_CAPACITY / 4 messages, so a larger maxsize is no limit.
        let max_messages = u32::try_from(maxsize).unwrap_or(u32::MAX);
        Ok(Queue {
            ring: Ring::new(bytes, max_messages)?,
            maxsize,
            closed: AtomicBool::new(false),
            encode_buf: Mutex::new(Vec::new()),
            decode_buf: Mutex::new(Vec::new()),
            _message: PhantomData,
        })
    }

    /// The same queue with another limit on the encoded size of a message
    /// ([`DEFAULT_MAX_MESSAGE`], 1 GiB, by default). A put of a larger message fails at once
    /// with [`QueueError::TooLarge`]; a get drops one. Set it before starting the processes
    /// that share the queue.
    #[must_use]
    pub fn with_max_message(mut self, limit: usize) -> Self {
        self.ring = self.ring.with_max_message(limit);
        self
    }

    /// Puts `item` at the end of the queue, waiting as long as it is full.
    ///
    /// # Errors
    ///
    /// [`QueueError::Closed`] after [`close`](Queue::close); [`QueueError::TooLarge`] for a
    /// message above the limit; [`QueueError::Encode`] if it cannot be encoded;
    /// [`QueueError::Ring`] if the ring fails.
    pub fn put(&self, item: &T) -> Result<(), QueueError> {
        self.put_until(item, None)
    }

    /// Puts `item`, waiting at most `timeout` for room (Python's `put(item, timeout=...)`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Full`] if the queue stayed full (nothing was put);
    /// [`QueueError::Abandoned`] if the timeout passed in the middle of a message larger than
    /// the ring (it was withdrawn); otherwise as for [`put`](Queue::put).
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<(), QueueError> {
        self.put_until(item, deadline_after(timeout))
    }

    /// Puts `item` only if there is room for all of it right now (Python's `put_nowait`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Full`] if the queue is full, or the message is larger than the ring
    /// (it cannot go in without waiting); otherwise as for [`put`](Queue::put).
    pub fn put_nowait(&self, item: &T) -> Result<(), QueueError> {
        self.put_until(item, Some(Instant::now()))
    }

    /// Takes the oldest message, waiting as long as the queue is empty.
    ///
    /// # Errors
    ///
    /// [`QueueError::Decode`] if the message is not a `T` (it is consumed all the same);
    /// [`QueueError::TooLarge`] for a message above the limit (dropped); [`QueueError::Ring`]
    /// if the ring fails.
    pub fn get(&self) -> Result<T, QueueError> {
        self.get_until(None)
    }

    /// Takes the oldest message, waiting at most `timeout` for one (Python's
    /// `get(timeout=...)`).
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`] if no whole message came in time (see
    /// [above](Queue#messages-larger-than-the-ring) for one that was coming in); otherwise as
    /// for [`get`](Queue::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, QueueError> {
        self.get_until(deadline_after(timeout))
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
        if self.closed.load(Relaxed) {
            return Err(QueueError::Closed);
        }
        wire::put(&self.ring, &self.encode_buf, item, deadline)
    }

    /// Takes a message, waiting for one until `deadline` (forever if `None`).
    fn get_until(&self, deadline: Option<Instant>) -> Result<T, QueueError> {
        wire::get(&self.ring, &self.decode_buf, deadline)
    }
}

impl<T> Queue<T> {
    /// The number of messages in the queue right now (it may change at once; Python's
    /// `qsize()`). A message counts once it is wholly in.
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

    /// The most messages the queue holds at once; 0 for no limit but the bytes (Python's
    /// `_maxsize`).
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// The capacity of the queue's ring in bytes: the memory it holds at most, not a limit
    /// on a message's size.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The largest encoded message the queue takes ([`Queue::with_max_message`]).
    pub fn max_message(&self) -> usize {
        self.ring.max_message()
    }

    /// Says that this process will put no more messages (Python's `close()`): later puts in
    /// this process fail with [`QueueError::Closed`]. Messages already put stay in the queue,
    /// and every process, this one included, can still get them (Python also refuses gets
    /// in the process that closed). Other processes are not affected.
    pub fn close(&self) {
        self.closed.store(true, Relaxed);
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("qsize", &self.qsize())
            .field("capacity", &self.capacity())
            .field("max_message", &self.max_message())
            .finish()
    }
}
