//! Python's `JoinableQueue`: a [`Queue`] that counts unfinished tasks.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::ring::RingError;
use ipc_common::sync::futex;
use ipc_common::time::{deadline_after, expired, next_wake};
use ipc_common::{ShmBox, SyncError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Queue, QueueError};

/// The shared count of finished tasks: `[done, seq]`.
///
/// Legend: `done` counts the calls of `task_done` (wrapping, like the ring's count of
/// messages put), so `unfinished = ring.pushed() - done`. The ring counts a message in the
/// same store that commits its last byte, so a putter killed at any instruction leaves the
/// count right: its message is either in (and counted) or not. `seq` is the futex word
/// joiners sleep on, bumped when `unfinished` reaches zero.
type Tasks = [AtomicU32; 2];
const DONE: usize = 0;
const SEQ: usize = 1;

fn new_tasks() -> Result<ShmBox<Tasks>, QueueError> {
    ShmBox::new([AtomicU32::new(0), AtomicU32::new(0)]).map_err(|source| {
        QueueError::Ring(RingError::Sync(SyncError::Os {
            call: "mmap",
            source,
        }))
    })
}

/// A [`Queue`] whose consumers say when they have finished each message, so that a process
/// can wait until every message put has been processed: Python's
/// `multiprocessing.JoinableQueue`.
///
/// It dereferences to its [`Queue`], for `put`, `get` and the rest. Each message put is a task;
/// [`task_done`](JoinableQueue::task_done) marks one finished (call it once per message got,
/// even if processing it failed, as in Python); [`join`](JoinableQueue::join) waits until
/// every task put so far is finished.
///
/// A consumer killed after its get and before its `task_done` leaves its task unfinished
/// forever, as in Python: [`join_timeout`](JoinableQueue::join_timeout) lets the joiner
/// notice.
///
/// # Example
///
/// ```
/// use ipc_common::Process;
/// use queue::JoinableQueue;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tasks = JoinableQueue::<u64>::new(0)?;
/// let worker = Process::start("worker", || -> Result<(), queue::QueueError> {
///     for _ in 0..3 {
///         let n = tasks.get()?;
///         println!("processed {n}");
///         tasks.task_done()?;
///     }
///     Ok(())
/// })?;
/// for n in 0..3 {
///     tasks.put(&n)?;
/// }
/// tasks.join()?; // returns once the worker has called task_done three times
/// worker.join_ok()?;
/// assert!(tasks.task_done().is_err()); // more calls than tasks
/// # Ok(()) }
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
    tasks: std::sync::Arc<ShmBox<Tasks>>,
}

impl<T> Clone for JoinableQueue<T> {
    /// Another handle to the same queue and its count of unfinished tasks.
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
            tasks: std::sync::Arc::clone(&self.tasks),
        }
    }
}

impl<T> serde::Serialize for JoinableQueue<T> {
    /// Passes the queue to a child (see [`Queue`]'s).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.queue, &self.tasks).serialize(serializer)
    }
}

impl<'de, T> serde::Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (queue, tasks) =
            <(Queue<T>, std::sync::Arc<ShmBox<Tasks>>)>::deserialize(deserializer)?;
        Ok(JoinableQueue { queue, tasks })
    }
}

impl<T: Serialize + DeserializeOwned + 'static> JoinableQueue<T> {
    /// A joinable queue of at most `maxsize` messages (0: no limit but the bytes): Python's
    /// `JoinableQueue(maxsize)`.
    ///
    /// # Errors
    ///
    /// As for [`Queue::new`].
    pub fn new(maxsize: usize) -> Result<Self, QueueError> {
        Ok(Self {
            queue: Queue::new(maxsize)?,
            tasks: std::sync::Arc::new(new_tasks()?),
        })
    }

    /// A joinable queue over a ring of at least `bytes` bytes (see [`Queue::with_capacity`]).
    ///
    /// # Errors
    ///
    /// As for [`Queue::with_capacity`].
    pub fn with_capacity(maxsize: usize, bytes: usize) -> Result<Self, QueueError> {
        Ok(Self {
            queue: Queue::with_capacity(maxsize, bytes)?,
            tasks: std::sync::Arc::new(new_tasks()?),
        })
    }
}

impl<T> JoinableQueue<T> {
    /// Tasks put and not yet marked done, right now.
    pub fn unfinished(&self) -> u32 {
        // `done` first: it never passes `pushed`, which only grows, so the difference cannot
        // go below zero.
        let done = self.tasks[DONE].load(SeqCst);
        self.queue.ring.pushed().wrapping_sub(done)
    }

    /// Marks one task finished (Python's `task_done()`); when none is left unfinished, wakes
    /// every process in [`join`](JoinableQueue::join).
    ///
    /// # Errors
    ///
    /// [`QueueError::TaskDoneTooManyTimes`] if every task put is already done (Python's
    /// `ValueError`); the count is left as it was.
    pub fn task_done(&self) -> Result<(), QueueError> {
        let done = &self.tasks[DONE];
        let mut seen = done.load(SeqCst);
        loop {
            // `pushed` only grows, so "some task is unfinished" stays true once seen.
            if self.queue.ring.pushed().wrapping_sub(seen) == 0 {
                return Err(QueueError::TaskDoneTooManyTimes);
            }
            match done.compare_exchange(seen, seen.wrapping_add(1), SeqCst, SeqCst) {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        if self.unfinished() == 0 {
            // A joiner read `seq` before it looked at the count: the bump wakes it even if
            // it has not slept yet.
            self.tasks[SEQ].fetch_add(1, SeqCst);
            futex::wake(&self.tasks[SEQ], i32::MAX);
        }
        Ok(())
    }

    /// Waits until every task put so far is done (Python's `join()`).
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for the queue's future failures.
    pub fn join(&self) -> Result<(), QueueError> {
        self.join_until(None);
        Ok(())
    }

    /// Waits at most `timeout` until every task put so far is done; returns whether they
    /// are. [`Duration::MAX`] waits forever.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_until(deadline_after(timeout))
    }

    /// Sleeps on `seq` in slices of at most [`LIVENESS_SLICE`](ipc_common::time::LIVENESS_SLICE),
    /// so that a `task_done` killed before its wake-up costs one slice.
    fn join_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            let seq = self.tasks[SEQ].load(SeqCst);
            if self.unfinished() == 0 {
                return true;
            }
            if expired(deadline) {
                return false;
            }
            futex::wait(&self.tasks[SEQ], seq, Some(next_wake(deadline)));
        }
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.queue)
            .field("unfinished", &self.unfinished())
            .finish()
    }
}
