//! Process-shared counting semaphores: Python's `multiprocessing.Semaphore` and
//! `multiprocessing.BoundedSemaphore`.
//!
//! # Shared state
//!
//! | word | meaning | written by |
//! |---|---|---|
//! | `permits` | free permits; the futex takers sleep on while it is 0 | takers (−1), releasers (+1) |
//! | `sleepers` | takers between "no permit" and the end of their sleep | takers |
//! | `limit` | the most free permits there may be | the creator, before sharing |
//!
//! # Orderings
//!
//! A permit is a hand-over: what a releaser wrote before [`release`](Semaphore::release)
//! must be seen by the process that takes the permit. Every change of `permits` is a
//! read-modify-write, so a taker's RMW reads the releaser's and the two synchronise
//! (Acquire/Release would do for that alone).
//!
//! `permits` and `sleepers` are also the two halves of a store-then-load pattern: a taker
//! increments `sleepers` and then (in the kernel) reads `permits`; a releaser increments
//! `permits` and then reads `sleepers`, to skip the wake-up system call when nobody sleeps.
//! Only sequential consistency forbids both reading the old value (the taker sleeping on a
//! free permit while the releaser sees no sleeper), so all three accesses are `SeqCst`.
//! `limit` never changes after the semaphore is shared: `Relaxed`.
//!
//! # Deaths
//!
//! A process may die anywhere. A releaser killed between its increment and its wake-up, or a
//! taker killed after the kernel woke it for a permit and before it took the permit, leaves a
//! free permit and sleepers that nobody wakes: every sleep lasts at most one
//! [`LIVENESS_SLICE`](crate::time::LIVENESS_SLICE), after which the sleeper looks at
//! `permits` itself. A taker killed while asleep leaves `sleepers` one too high for good,
//! which only costs later releases a needless wake-up call. A permit held by a process that
//! dies is not given back, as in Python.

use std::fmt;
use std::sync::atomic::{
    AtomicU32,
    Ordering::{Relaxed, SeqCst},
};
use std::time::{Duration, Instant};

use super::SyncError;
use super::futex::{self, Slept};
use crate::fault;
use crate::shm::{ShmBox, ShmSafe};
use crate::time::deadline_after;

/// The semaphore's shared state (see the module docs for the legend).
struct State {
    permits: AtomicU32,
    sleepers: AtomicU32,
    limit: AtomicU32,
}

// SAFETY: three atomics: no pointers, valid when zeroed, no destructor.
unsafe impl ShmSafe for State {}

/// The counting machinery both semaphores share.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct Core {
    state: std::sync::Arc<ShmBox<State>>,
}

impl Core {
    fn new(permits: u32, limit: u32) -> Result<Self, SyncError> {
        let state = ShmBox::new(State {
            permits: AtomicU32::new(permits),
            sleepers: AtomicU32::new(0),
            limit: AtomicU32::new(limit),
        })
        .map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        Ok(Self {
            state: std::sync::Arc::new(state),
        })
    }

    fn value(&self) -> u32 {
        self.state.permits.load(SeqCst)
    }

    fn try_take(&self) -> bool {
        self.state
            .permits
            .fetch_update(SeqCst, SeqCst, |p| p.checked_sub(1))
            .is_ok()
    }

    /// Takes a permit, sleeping on the futex in slices while there is none; `false` if the
    /// deadline passed first.
    fn take(&self, deadline: Option<Instant>) -> bool {
        let s = &*self.state;
        let _wait = crate::trace::span("semaphore", "wait");
        loop {
            if self.try_take() {
                return true;
            }
            // Count in as a sleeper *before* the kernel looks at `permits` (see the module
            // docs): a release after that look sees us and wakes us.
            s.sleepers.fetch_add(1, SeqCst);
            let slept = futex::sleep(&s.permits, 0, deadline);
            if slept == Slept::Woken {
                // Woken, maybe for a permit that is now ours to take: dying here must not
                // strand it (the other sleepers look again within a slice).
                fault::point("semaphore.acquire.woken");
            }
            s.sleepers.fetch_sub(1, SeqCst);
            if slept == Slept::Deadline {
                // A permit released at the very deadline is still taken.
                return self.try_take();
            }
        }
    }

    /// Adds one free permit, up to `limit`, and wakes one sleeper if there is any.
    fn release(&self) -> Result<(), SyncError> {
        let s = &*self.state;
        let limit = s.limit.load(Relaxed);
        s.permits
            .fetch_update(SeqCst, SeqCst, |p| (p < limit).then_some(p + 1))
            .map_err(|_| SyncError::TooManyReleases { limit })?;
        // Dying here leaves the permit free and the sleepers asleep until their slice ends.
        fault::point("semaphore.release.after_increment");
        if s.sleepers.load(SeqCst) > 0 {
            futex::wake(&s.permits, 1);
        }
        Ok(())
    }

    fn guard(&self) -> SemaphoreGuard<'_> {
        SemaphoreGuard {
            core: self,
            _hold: crate::trace::span("semaphore", "hold"),
        }
    }
}

/// The methods both semaphores have, with their docs.
macro_rules! semaphore_methods {
    ($ty:ident) => {
        /// Waits for a free permit and takes it (Python's `acquire()`); the guard gives it
        /// back when dropped.
        ///
        /// # Errors
        ///
        /// Never fails today; the `Result` leaves room for operating-system errors.
        pub fn acquire(&self) -> Result<SemaphoreGuard<'_>, SyncError> {
            self.core.take(None);
            Ok(self.core.guard())
        }

        /// Waits at most `timeout` for a permit; `Ok(None)` if none came free in time
        /// (Python's `acquire(timeout=...)` returning `False`). The wait is exact: it never
        /// ends early, and ends late only by the scheduler's delay. A timeout too large for
        /// the clock (`Duration::MAX`) waits forever.
        ///
        /// # Errors
        ///
        #[doc = concat!("As for [`acquire`](", stringify!($ty), "::acquire).")]
        pub fn acquire_timeout(
            &self,
            timeout: Duration,
        ) -> Result<Option<SemaphoreGuard<'_>>, SyncError> {
            let got = self.core.take(deadline_after(timeout));
            Ok(got.then(|| self.core.guard()))
        }

        /// Takes a permit if one is free right now (Python's `acquire(block=False)`).
        ///
        /// # Errors
        ///
        #[doc = concat!("As for [`acquire`](", stringify!($ty), "::acquire).")]
        pub fn try_acquire(&self) -> Result<Option<SemaphoreGuard<'_>>, SyncError> {
            Ok(self.core.try_take().then(|| self.core.guard()))
        }

        /// The number of free permits right now (it may change at once).
        pub fn value(&self) -> u32 {
            self.core.value()
        }

        #[doc = concat!("The same as [`value`](", stringify!($ty), "::value), under Python's name.")]
        pub fn get_value(&self) -> u32 {
            self.core.value()
        }
    };
}

/// A semaphore shared by this process and every child started after it was made: Python's
/// `multiprocessing.Semaphore`.
///
/// It starts with `n` free permits. [`acquire`](Semaphore::acquire) takes one, waiting while
/// there are none, and returns a guard that gives it back when dropped.
/// [`release`](Semaphore::release) adds a permit without a guard, and, as in Python, may
/// raise the count above where it started: `Semaphore::new(0)` is a signal that one process
/// releases and another acquires. For a semaphore that refuses to go above its start, use
/// [`BoundedSemaphore`].
///
/// A permit held by a process that dies is not given back (as in Python): keep a guard's
/// holder alive until it drops the guard, or size the semaphore for it. Any other death (a
/// releaser killed before it could wake a sleeper, a sleeper killed right after it was woken)
/// delays a surviving waiter by at most [`LIVENESS_SLICE`](crate::time::LIVENESS_SLICE).
///
/// # Example
///
/// ```
/// use ipc_common::{Process, Semaphore};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let done = Semaphore::new(0)?; // a signal: nothing to take yet
/// let worker = Process::start("worker", || {
///     done.release().unwrap(); // 0 -> 1
/// })?;
/// done.acquire()?.forget(); // waits for the worker's release, keeps the count at 0
/// assert_eq!(worker.join()?, 0);
/// assert_eq!(done.get_value(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Semaphore {
    core: Core,
}

impl Semaphore {
    /// A semaphore with `permits` free permits (Python's `Semaphore(value)`).
    ///
    /// # Errors
    ///
    /// Fails if the shared mapping cannot be made.
    pub fn new(permits: u32) -> Result<Self, SyncError> {
        Ok(Self {
            core: Core::new(permits, u32::MAX)?,
        })
    }

    semaphore_methods!(Semaphore);

    /// Adds one free permit and wakes one waiting process (Python's `release()`): for a
    /// permit taken by another process, kept with [`SemaphoreGuard::forget`], or a new one.
    ///
    /// # Errors
    ///
    /// [`SyncError::TooManyReleases`] if the count is already `u32::MAX`.
    pub fn release(&self) -> Result<(), SyncError> {
        self.core.release()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

/// A semaphore that never has more free permits than it started with: Python's
/// `multiprocessing.BoundedSemaphore`.
///
/// Like [`Semaphore`], except that [`release`](BoundedSemaphore::release) beyond the starting
/// count is an error ([`SyncError::TooManyReleases`], Python's `ValueError`), so a stray
/// release cannot let one holder too many in.
///
/// # Example
///
/// ```
/// use ipc_common::{BoundedSemaphore, Process};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let slots = BoundedSemaphore::new(2)?;
/// let _first = slots.acquire()?;
/// let _second = slots.acquire()?;
/// let child = Process::start("third", || {
///     // Both permits are taken.
///     assert!(slots.try_acquire().unwrap().is_none());
/// })?;
/// assert_eq!(child.join()?, 0);
/// drop(_second);
/// drop(_first);
/// assert!(slots.release().is_err()); // both are free already
/// # Ok(()) }
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct BoundedSemaphore {
    core: Core,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` free permits, and at most that many ever (Python's
    /// `BoundedSemaphore(value)`).
    ///
    /// # Errors
    ///
    /// Fails if the shared mapping cannot be made.
    pub fn new(permits: u32) -> Result<Self, SyncError> {
        Ok(Self {
            core: Core::new(permits, permits)?,
        })
    }

    semaphore_methods!(BoundedSemaphore);

    /// Gives back one permit without a guard (Python's `release()`): for a permit taken by
    /// another process, or one kept with [`SemaphoreGuard::forget`].
    ///
    /// # Errors
    ///
    /// [`SyncError::TooManyReleases`] if every permit is already free.
    pub fn release(&self) -> Result<(), SyncError> {
        self.core.release()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.value())
            .finish()
    }
}

/// One permit of a [`Semaphore`] or [`BoundedSemaphore`]; dropping the guard gives it back
/// (Python's `release()`).
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    core: &'a Core,
    /// The time held, in a recorded trace.
    _hold: crate::trace::Span,
}

impl SemaphoreGuard<'_> {
    /// Keeps the permit taken after the guard is gone; another process may give it back
    /// later with `release`.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // Fails only if `release` calls already gave this permit back (the count is at its
        // bound): then there is nothing left to give.
        let _ = self.core.release();
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphoreGuard")
    }
}
