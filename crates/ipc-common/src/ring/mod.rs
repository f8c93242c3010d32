//! A ring of byte messages in shared memory: the transport under `queue::Queue` and the pool.
//!
//! Any number of processes push and pop whole messages of any size. A message is never torn,
//! never mixed with another, taken exactly once, and messages come out in the order they went
//! in. A push waits while the ring is full, a pop while it is empty, each with an optional
//! deadline that holds whatever the other processes do (run, stop or die). When nobody
//! sleeps, a push or a pop makes no system call at all: its cost is a lock, a copy and a
//! store.
//!
//! # How it works
//!
//! The ring is a byte stream of *chunks* in a shared mapping of a power-of-two size: a 4-byte
//! header (the payload's length and two flags, `LAST` and `ABORT`), then the payload, rounded
//! up to 4 bytes. Two robust process-shared locks split the work: a **write lock**, held by
//! one writer for a whole message, and a **read lock**, held by one reader for a whole
//! message, so one writer and one reader copy at the same time. Each side *commits* with one
//! 64-bit store: the writer's `head` once per chunk, the reader's `tail` once per message (or
//! per chunk, below). A commit word also carries the side's count of whole messages and a
//! flag "inside a message", so that one store says both where the side is and whether it is
//! between messages. Nothing in the shared memory is a pointer: the mapping may sit at
//! different addresses in different processes.
//!
//! A message is cut by a plan that writer and reader compute alike from its length:
//!
//! | message | chunks | moves |
//! |---|---|---|
//! | up to a quarter of the ring (at most 128 KiB) | one | all or nothing |
//! | larger, but fits in the ring | pieces, the first carrying the total length | all or nothing: the writer waits for room for every piece before the first; the reader commits only after the last, and starts copying the first while the writer copies the next |
//! | larger than the ring | pieces, streamed | each piece waits for its own room; the reader gives each piece's room back once copied |
//!
//! # What a dead, stopped or slow process does to the others
//!
//! - **A writer dies** (or its thread ends) in the middle of a message: the next holder of the
//!   write lock finds the message open (`EOWNERDEAD` or not) and appends an `ABORT` chunk, and
//!   so does a reader that waits for the rest of the message: between its sleeps it tries the
//!   write lock, and taking it means the writer is gone. Readers drop what they have of an
//!   aborted message; it is never delivered, and nothing else is lost. The 4 bytes an
//!   `ABORT` needs are kept free behind every chunk that leaves a message open, so it always
//!   fits.
//! - **A reader dies** in the middle of a message: a message that fits in the ring was not
//!   committed, and the next reader reads it again from its start. A streamed message was
//!   committed piece by piece: the next reader skips its rest, and it is lost with the reader
//!   (the only one).
//! - **A process dies between a commit and the wake-up** that announces it, or **after being
//!   woken and before acting**: every sleep lasts at most one
//!   [`LIVENESS_SLICE`](crate::time::LIVENESS_SLICE), after which the sleeper looks for itself,
//!   and a robust lock hands itself on when its holder dies. A message that is there is taken
//!   within a slice, whoever died.
//! - **A process is stopped** (`SIGSTOP`) in the middle of a copy: it keeps its side's lock,
//!   so the other processes of that side wait; every wait has the caller's deadline, and the
//!   other side is not held up at all.
//!
//! # Timeouts in the middle of a message
//!
//! A push whose deadline passes in the middle of a message larger than the ring withdraws it
//! ([`RingError::Abandoned`]): it is never delivered. A pop whose deadline passes in the
//! middle of a message that fits in the ring leaves it in the ring, untouched. A pop whose
//! deadline passes in the middle of a message larger than the ring returns
//! [`RingError::Empty`] and keeps what it has: **the calling thread keeps the read lock**,
//! and its next pop continues the message. Until then other readers wait (each until its own
//! deadline). Dropping the ring on that thread, or the thread's or the process's end, gives
//! the read side back and the message is dropped; dropping the ring on another thread cannot
//! unlock a lock that thread holds, so the read side stays held until that thread ends.
//!
//! # Fault points
//!
//! Tests stop or kill a process at these windows with [`fault::arm`](crate::fault::arm):
//! `ring.push.copy` (a chunk copied, not committed), `ring.push.chunk` (a piece committed, the
//! message still open), `ring.push.committed` (a message committed, its reader not yet woken),
//! `ring.push.woken` (a writer woken with room), `ring.pop.woken` (a reader woken with a chunk
//! to read), `ring.pop.chunk` (a piece read, not the last), `ring.pop.committed` (a message
//! taken, its writer not yet woken).
//!
//! # Example
//!
//! ```
//! use ipc_common::{Process, ring::Ring};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ring = Ring::new(4096, 0)?;
//! let child = Process::start("producer", || {
//!     ring.push(b"hello", None).unwrap();
//!     ring.push(&vec![7; 100_000], None).unwrap(); // 24 times the ring: streamed
//! })?;
//! let mut message = Vec::new();
//! ring.pop(&mut message, None, |_| {})?;
//! assert_eq!(message, b"hello");
//! ring.pop(&mut message, None, |_| {})?;
//! assert_eq!(message, vec![7; 100_000]);
//! child.join()?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::shm::{RawMapping, ShmBox};
use crate::sync::{RawLock, SyncError};

mod bytes;
mod error;
mod layout;
mod read;
mod wait;
mod write;

pub use error::RingError;
use layout::{Committed, Plan, State};

/// The largest capacity a ring may have (offsets are 32-bit and wrap).
pub const MAX_CAPACITY: usize = 1 << 30;

/// The smallest capacity: one page.
pub const MIN_CAPACITY: usize = 4096;

/// The largest message a ring takes unless told otherwise: 1 GiB (the
/// [`frame`](crate::frame) limit). See [`Ring::with_max_message`].
pub const DEFAULT_MAX_MESSAGE: usize = crate::frame::DEFAULT_MAX_MESSAGE;

/// A ring of messages shared by this process and every child started after it was made.
///
/// See the [module documentation](self) for how it works and an example.
pub struct Ring {
    /// Shared by the clones of this handle.
    state: Arc<StateBox>,
    bytes: Arc<bytes::Bytes>,
    /// The largest message this process sends or accepts (process-local, so that another
    /// process cannot raise it).
    max_message: usize,
    /// A message larger than the ring, part-read when a deadline passed, with the thread that
    /// holds the read lock for it (see the module documentation).
    partial: Mutex<Option<Partial>>,
    /// Whether `partial` is set: the one look a pop takes at it, most of the time.
    has_partial: AtomicBool,
}

/// What a reader had of a message larger than the ring when its deadline passed.
struct Partial {
    /// The thread that holds the read lock (see [`this_thread`]).
    thread: (u32, u64),
    plan: Plan,
    /// Data bytes read so far.
    got: usize,
    /// The bytes read so far, split as the destination split them.
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Ring {
    /// A ring of at least `capacity` bytes (rounded up to a power of two, at least
    /// [`MIN_CAPACITY`]), holding at most `max_messages` whole messages at once (0: as many
    /// as fit). Memory is committed only as it is first written.
    ///
    /// # Errors
    ///
    /// [`RingError::CapacityTooLarge`] above [`MAX_CAPACITY`]; [`RingError::Sync`] if the
    /// memory or the locks cannot be made.
    pub fn new(capacity: usize, max_messages: u32) -> Result<Self, RingError> {
        if capacity > MAX_CAPACITY {
            return Err(RingError::CapacityTooLarge {
                requested: capacity,
                max: MAX_CAPACITY,
            });
        }
        let capacity = capacity.max(MIN_CAPACITY).next_power_of_two();
        let os = |source| SyncError::Os {
            call: "mmap",
            source,
        };
        let state = ShmBox::<State>::zeroed().map_err(os)?;
        state.w.lock.init()?;
        state.r.lock.init()?;
        state.max_messages.store(max_messages, Relaxed);
        let bytes = bytes::Bytes::new(capacity as u32).map_err(os)?;
        Ok(Self::from_parts(
            StateBox::new(state),
            bytes,
            DEFAULT_MAX_MESSAGE,
        ))
    }

    /// A handle of its own (no part-read message) over shared parts.
    fn from_parts(state: StateBox, bytes: bytes::Bytes, max_message: usize) -> Self {
        Self {
            state: Arc::new(state),
            bytes: Arc::new(bytes),
            max_message,
            partial: Mutex::new(None),
            has_partial: AtomicBool::new(false),
        }
    }

    /// The same ring with another limit on the size of a message (1 GiB by default): a push
    /// of a larger message fails at once, and a pop drops one. Set it before starting the
    /// processes that use the ring, so that they all have the same limit.
    #[must_use]
    pub fn with_max_message(mut self, limit: usize) -> Self {
        self.max_message = limit;
        self
    }

    /// The largest message this ring takes (see [`with_max_message`](Ring::with_max_message)).
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// The capacity in bytes. Each chunk takes 4 bytes of header, so the largest message that
    /// goes in one piece is 4 bytes shorter; any size goes through in pieces.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity() as usize
    }

    /// The number of whole messages in the ring right now (it may change at once): messages
    /// whose last chunk is committed, minus messages taken.
    pub fn len(&self) -> usize {
        // The tail first: messages taken never outnumber messages pushed, and the head's count
        // read after the tail's is at least the number pushed when the tail was read, so the
        // difference cannot go below zero (read the other way round, it could).
        let tail = Committed::from_word(self.state.r.tail.load(SeqCst));
        let head = Committed::from_word(self.state.w.head.load(SeqCst));
        head.count.wrapping_sub(tail.count) as usize
    }

    /// Whether the ring holds no whole message right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many whole messages have been pushed since the ring was made, modulo 2^32: each
    /// counts once its last chunk is committed, in the same store. Differences of two counts
    /// (wrapping) are exact.
    pub fn pushed(&self) -> u32 {
        Committed::from_word(self.state.w.head.load(SeqCst)).count
    }
}

/// Locks `lock`, first trying a few times without sleeping (a message takes a few hundred
/// nanoseconds, far less than a sleep and a wake-up), then waiting until `deadline`.
/// `Ok(None)` at the deadline.
fn lock_soon(lock: &RawLock, deadline: Option<Instant>) -> Result<Option<bool>, SyncError> {
    for _ in 0..LOCK_TRIES {
        if let Some(died) = lock.try_lock()? {
            return Ok(Some(died));
        }
        for _ in 0..8 {
            std::hint::spin_loop();
        }
    }
    lock.lock(deadline)
}

/// How many times [`lock_soon`] tries before it sleeps.
const LOCK_TRIES: u32 = 32;

/// Who keeps a part-read message: this process and a number given to this thread, never
/// given again in this process (a kernel thread id may be reused once its thread has ended,
/// and a forked child copies its parent's thread-locals, hence the pid).
fn this_thread() -> (u32, u64) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static NUMBER: u64 = NEXT.fetch_add(1, Relaxed);
    }
    (std::process::id(), NUMBER.with(|n| *n))
}

impl Drop for Ring {
    /// Gives back the read side if this thread kept it for a part-read message (which is
    /// then dropped; the next reader skips its rest).
    fn drop(&mut self) {
        let slot = self.partial.get_mut().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|p| p.thread == this_thread()) {
            self.state.r.lock.unlock();
        }
    }
}

impl Ring {
    /// Records message number `count` of this ring in the trace, if one is recorded: the
    /// ring is named by its memory's inode, the same in every process that holds it.
    fn trace(&self, end: crate::trace::End, count: u32) {
        if crate::trace::enabled() {
            let channel = nix::sys::stat::fstat(self.state.map().fd()).map_or(0, |st| st.st_ino);
            crate::trace::message("queue", end, channel, u64::from(count), 0);
        }
    }
}

impl Clone for Ring {
    /// Another handle to the same ring (with the same size limit), sharing its memory: give
    /// one to a child as an argument and keep this one. A part-read message stays with the
    /// handle that read it.
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            bytes: Arc::clone(&self.bytes),
            max_message: self.max_message,
            partial: Mutex::new(None),
            has_partial: AtomicBool::new(false),
        }
    }
}

/// A ring as it travels to a child: its two mappings (as descriptors) and its size limit.
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    state: RawMapping,
    bytes: RawMapping,
    max_message: u64,
}

impl serde::Serialize for Ring {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let dup = |m: &RawMapping| m.try_clone().map_err(serde::ser::Error::custom);
        Wire {
            state: dup(self.state.map())?,
            bytes: dup(self.bytes.map())?,
            max_message: self.max_message as u64,
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Ring {
    /// The ring a parent passed: its mappings, checked (a capacity that is a power of two,
    /// a state of the right size).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = Wire::deserialize(deserializer)?;
        let state = ShmBox::<State>::from_mapping(wire.state).map_err(D::Error::custom)?;
        let bytes = bytes::Bytes::from_mapping(wire.bytes).map_err(D::Error::custom)?;
        let max = usize::try_from(wire.max_message).map_err(D::Error::custom)?;
        Ok(Self::from_parts(StateBox::new(state), bytes, max))
    }
}

/// The ring's shared state, never unmapped while a thread of this process holds one of its
/// robust locks: a held robust mutex is linked into its holder's robust list, and unmapping
/// it would leave that thread a dangling link (see `sync::robust`). That happens when another
/// thread keeps the read lock for a part-read message; the state then stays mapped for good
/// (a page of address space).
struct StateBox(std::mem::ManuallyDrop<ShmBox<State>>);

impl StateBox {
    fn new(state: ShmBox<State>) -> Self {
        Self(std::mem::ManuallyDrop::new(state))
    }

    fn map(&self) -> &RawMapping {
        self.0.mapping()
    }
}

impl std::ops::Deref for StateBox {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}

impl Drop for StateBox {
    fn drop(&mut self) {
        if !self.r.lock.held_in_this_process() && !self.w.lock.held_in_this_process() {
            // SAFETY: dropped once, here, and the field is never used again.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.0) };
        }
    }
}

// SAFETY: the ring's bytes are only touched by the holder of the side's process-shared lock,
// which also orders the threads of one process; the shared words are atomics; the part-read
// message is behind a `Mutex`.
unsafe impl Send for Ring {}
// SAFETY: as above: every method takes the side's lock before it touches the shared bytes.
unsafe impl Sync for Ring {}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("max_message", &self.max_message)
            .finish()
    }
}

#[cfg(test)]
mod tests;
