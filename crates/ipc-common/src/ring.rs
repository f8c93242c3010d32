//! A ring of byte frames in shared memory: the transport under `queue::Queue` and the pool.
//!
//! Any number of processes push and pop whole frames (`&[u8]`) at once. A frame is copied in
//! and out under a process-shared robust lock, so it is never torn or interleaved,
//! whatever its size (up to the ring's capacity). A push waits while the ring is full, a pop
//! while it is empty, each with an optional deadline, sleeping on a futex. When nobody sleeps,
//! a push or pop makes no system call at all: the cost is a lock and a copy.
//!
//! # What a killed process does to the ring
//!
//! A push or pop *commits* with one 64-bit store at the end, while holding the lock. A process
//! killed in the middle has either committed (the frame is in, or out) or not (nothing
//! changed), and the robust lock hands itself on to the next process. The ring stays
//! consistent; the frame a killed popper took out is gone with it.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Instant;

use crate::shm::{RawMapping, ShmBox, ShmSafe};
use crate::sync::futex::{self, Wake};
use crate::sync::{RawLock, SyncError};

/// The largest capacity a ring may have (offsets are 32-bit and wrap).
pub const MAX_CAPACITY: usize = 1 << 30;
/// Each frame is stored after a 4-byte length.
const LEN_BYTES: usize = 4;

/// Why a ring operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// A pop found no frame before its deadline.
    #[error("the ring stayed empty until the deadline")]
    Empty,
    /// A push found no room before its deadline.
    #[error("the ring stayed full until the deadline")]
    Full,
    /// The frame can never fit: it is larger than the whole ring.
    #[error("a frame of {len} bytes does not fit in a ring of {capacity} bytes")]
    TooLarge {
        /// The frame's length, with its 4-byte header.
        len: usize,
        /// The ring's capacity in bytes.
        capacity: usize,
    },
    /// The ring's memory holds an impossible frame length: another process wrote outside
    /// the ring's protocol.
    #[error("the ring is corrupt: a frame claims {len} bytes with {used} bytes in use")]
    Corrupt {
        /// The length found.
        len: usize,
        /// The bytes in use.
        used: usize,
    },
    /// The lock or the mapping failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// The shared bookkeeping of a ring.
struct State {
    lock: RawLock,
    /// Committed write side: `head` offset (high 32 bits, wrapping) and frames pushed (low).
    write: AtomicU64,
    /// Committed read side: `tail` offset (high 32 bits, wrapping) and frames popped (low).
    read: AtomicU64,
    /// Bumped (under the lock) whenever a frame is pushed; poppers sleep on it.
    pushed: AtomicU32,
    /// Bumped (under the lock) whenever a frame is popped; pushers sleep on it.
    popped: AtomicU32,
    /// Processes sleeping in `pop` and in `push`.
    pop_sleepers: AtomicU32,
    push_sleepers: AtomicU32,
    /// The most frames the ring holds at once; 0 for no limit but the bytes.
    max_frames: AtomicU32,
}

// SAFETY: a robust mutex and atomics: no pointers, valid when zeroed (the lock is initialised
// in place before use), no destructor needed.
unsafe impl ShmSafe for State {}

fn pack(offset: u32, count: u32) -> u64 {
    (u64::from(offset) << 32) | u64::from(count)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// A ring of frames shared by this process and every child started after it was made.
///
/// # Example
///
/// ```
/// use ipc_common::{Process, ring::Ring};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ring = Ring::new(4096, 0)?;
/// let child = Process::start("producer", || {
///     ring.push(b"hello", None).unwrap();
/// })?;
/// let mut frame = Vec::new();
/// ring.pop(&mut frame, None, |_| {})?;
/// assert_eq!(frame, b"hello");
/// child.join()?;
/// # Ok(()) }
/// ```
pub struct Ring {
    state: ShmBox<State>,
    data: RawMapping,
    /// Capacity in bytes, a power of two.
    capacity: u32,
}

impl Ring {
    /// A ring of at least `capacity` bytes (rounded up to a power of two, at least 4 KiB),
    /// holding at most `max_frames` frames at once (0: as many as fit).
    ///
    /// # Errors
    ///
    /// [`RingError::TooLarge`] above [`MAX_CAPACITY`]; [`RingError::Sync`] if the memory or
    /// the lock cannot be made.
    pub fn new(capacity: usize, max_frames: u32) -> Result<Self, RingError> {
        if capacity > MAX_CAPACITY {
            return Err(RingError::TooLarge {
                len: capacity,
                capacity: MAX_CAPACITY,
            });
        }
        let capacity = capacity.max(4096).next_power_of_two();
        let os = |source| SyncError::Os {
            call: "mmap",
            source,
        };
        let state = ShmBox::<State>::zeroed().map_err(os)?;
        state.lock.init()?;
        state.max_frames.store(max_frames, SeqCst);
        let data = RawMapping::new(capacity).map_err(os)?;
        Ok(Self {
            state,
            data,
            capacity: capacity as u32,
        })
    }

    /// The capacity in bytes (each frame also takes 4 bytes for its length).
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// The number of frames in the ring right now (it may change at once).
    pub fn len(&self) -> usize {
        let (_, pushed) = unpack(self.state.write.load(SeqCst));
        let (_, popped) = unpack(self.state.read.load(SeqCst));
        pushed.wrapping_sub(popped) as usize
    }

    /// Whether the ring holds no frame right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `frame` into the ring, waiting for room until `deadline` (forever if `None`).
    ///
    /// # Errors
    ///
    /// [`RingError::Full`] at the deadline, [`RingError::TooLarge`] for a frame that can never
    /// fit, [`RingError::Sync`] if the lock fails.
    pub fn push(&self, frame: &[u8], deadline: Option<Instant>) -> Result<(), RingError> {
        let need = frame.len() + LEN_BYTES;
        if need > self.capacity() {
            return Err(RingError::TooLarge {
                len: need,
                capacity: self.capacity(),
            });
        }
        let s = &*self.state;
        let mut expired = false;
        loop {
            self.lock()?;
            let (head, pushed) = unpack(s.write.load(SeqCst));
            let (tail, popped) = unpack(s.read.load(SeqCst));
            let used = head.wrapping_sub(tail) as usize;
            let frames = pushed.wrapping_sub(popped);
            let max = s.max_frames.load(SeqCst);
            if self.capacity() - used >= need && (max == 0 || frames < max) {
                self.write_at(head, &(frame.len() as u32).to_le_bytes());
                self.write_at(head.wrapping_add(LEN_BYTES as u32), frame);
                s.write.store(
                    pack(head.wrapping_add(need as u32), pushed.wrapping_add(1)),
                    SeqCst,
                );
                s.pushed.fetch_add(1, SeqCst);
                let wake = s.pop_sleepers.load(SeqCst) > 0;
                s.lock.unlock();
                if wake {
                    futex::wake(&s.pushed, 1);
                }
                return Ok(());
            }
            if expired {
                s.lock.unlock();
                return Err(RingError::Full);
            }
            expired = self.sleep(&s.popped, &s.push_sleepers, deadline);
        }
    }

    /// Takes the oldest frame into `out` (replacing its contents), waiting for one until
    /// `deadline` (forever if `None`).
    ///
    /// `on_take` runs while the frame is still in the ring and the ring is locked, just before
    /// it is taken out: a process killed after `on_take` but before the frame is committed
    /// as taken leaves the frame in the ring. The pool uses it to record which task a worker
    /// holds, so that a killed worker's task is known.
    ///
    /// # Errors
    ///
    /// [`RingError::Empty`] at the deadline, [`RingError::Corrupt`] if the ring's memory was
    /// overwritten, [`RingError::Sync`] if the lock fails.
    pub fn pop(
        &self,
        out: &mut Vec<u8>,
        deadline: Option<Instant>,
        on_take: impl FnOnce(&[u8]),
    ) -> Result<(), RingError> {
        let s = &*self.state;
        let mut expired = false;
        loop {
            self.lock()?;
            let (tail, popped) = unpack(s.read.load(SeqCst));
            let (head, pushed) = unpack(s.write.load(SeqCst));
            if pushed != popped {
                let used = head.wrapping_sub(tail) as usize;
                let mut len = [0u8; LEN_BYTES];
                self.read_at(tail, &mut len);
                let len = u32::from_le_bytes(len) as usize;
                if len + LEN_BYTES > used {
                    s.lock.unlock();
                    return Err(RingError::Corrupt { len, used });
                }
                out.resize(len, 0);
                self.read_at(tail.wrapping_add(LEN_BYTES as u32), out);
                on_take(out);
                let tail = tail.wrapping_add((len + LEN_BYTES) as u32);
                s.read.store(pack(tail, popped.wrapping_add(1)), SeqCst);
                s.popped.fetch_add(1, SeqCst);
                let more = pushed.wrapping_sub(popped) > 1 && s.pop_sleepers.load(SeqCst) > 0;
                let pushers = s.push_sleepers.load(SeqCst) > 0;
                s.lock.unlock();
                if more {
                    // Pass the news on, in case the popper that was woken for it is gone.
                    futex::wake(&s.pushed, 1);
                }
                if pushers {
                    // Every pusher: one waiting for a large frame may not fit yet, another may.
                    futex::wake(&s.popped, i32::MAX);
                }
                return Ok(());
            }
            if expired {
                s.lock.unlock();
                return Err(RingError::Empty);
            }
            expired = self.sleep(&s.pushed, &s.pop_sleepers, deadline);
        }
    }

    /// Locks the ring. A previous holder's death needs no repair: see the module docs.
    fn lock(&self) -> Result<(), RingError> {
        self.state.lock.lock(None)?;
        Ok(())
    }

    /// Called with the lock held: registers as a sleeper on `word`, unlocks, sleeps until
    /// `word` changes or the deadline passes. Returns whether the deadline passed.
    fn sleep(&self, word: &AtomicU32, sleepers: &AtomicU32, deadline: Option<Instant>) -> bool {
        let seen = word.load(SeqCst);
        sleepers.fetch_add(1, SeqCst);
        self.state.lock.unlock();
        let woke = futex::wait(word, seen, deadline);
        sleepers.fetch_sub(1, SeqCst);
        woke == Wake::TimedOut
    }

    /// Copies `bytes` into the ring at offset `at` (wrapping). Called with the lock held.
    fn write_at(&self, at: u32, bytes: &[u8]) {
        let start = (at & (self.capacity - 1)) as usize;
        let first = bytes.len().min(self.capacity() - start);
        let base = self.data.as_ptr();
        debug_assert!(bytes.len() <= self.data.len());
        // SAFETY: `start + first <= capacity` and `bytes.len() - first <= start`, so both
        // copies stay inside the mapping of `capacity` bytes; the source is a distinct local
        // slice; the lock keeps every other process off these bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(start), first);
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(first), base, bytes.len() - first);
        }
    }

    /// Copies bytes out of the ring at offset `at` (wrapping) into `out`. Lock held.
    fn read_at(&self, at: u32, out: &mut [u8]) {
        let start = (at & (self.capacity - 1)) as usize;
        let first = out.len().min(self.capacity() - start);
        let base = self.data.as_ptr();
        // SAFETY: as in `write_at`, both copies stay inside the mapping; `out` is a distinct
        // local buffer; the lock keeps writers off these bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(base.add(start), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(base, out.as_mut_ptr().add(first), out.len() - first);
        }
    }
}

// SAFETY: the ring's bytes are only touched under its process-shared lock, which also orders
// threads of one process; the bookkeeping is atomics.
unsafe impl Send for Ring {}
// SAFETY: as above: every method takes the lock before it touches the shared bytes.
unsafe impl Sync for Ring {}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}
