//! A process-shared counting semaphore: Python's `multiprocessing.Semaphore`.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use super::SyncError;
use super::futex::{self, Wake};
use crate::shm::{ShmBox, ShmSafe};

/// The semaphore's shared state: a futex word holding the free permits.
#[derive(Default)]
struct State {
    permits: AtomicU32,
    /// Processes sleeping in `acquire`; `release` only calls the kernel when there are some.
    sleepers: AtomicU32,
    /// The most permits there may be (the starting value): releasing more is an error.
    limit: AtomicU32,
}

// SAFETY: three atomics: no pointers, valid when zeroed, no destructor.
unsafe impl ShmSafe for State {}

/// A semaphore shared by this process and every child started after it was made.
///
/// It starts with `n` permits. [`acquire`](Semaphore::acquire) takes one, waiting while there
/// are none, and returns a guard that gives it back when dropped. It is *bounded* (Python's
/// `BoundedSemaphore`): giving back more permits than it started with is an error, so at most
/// `n` holders exist at any time.
///
/// A permit held by a process that dies is not given back (as in Python): keep a guard's
/// holder alive until it drops the guard, or size the semaphore for it.
///
/// # Example
///
/// ```
/// use ipc_common::{Process, Semaphore};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let slots = Semaphore::new(2)?;
/// let _first = slots.acquire()?;
/// let _second = slots.acquire()?;
/// let child = Process::start("third", || {
///     // Both permits are taken.
///     assert!(slots.try_acquire().unwrap().is_none());
/// })?;
/// assert_eq!(child.join()?, 0);
/// # Ok(()) }
/// ```
pub struct Semaphore {
    state: ShmBox<State>,
}

impl Semaphore {
    /// A semaphore with `permits` free permits (and at most that many ever).
    ///
    /// # Errors
    ///
    /// Fails if the shared mapping cannot be made.
    pub fn new(permits: u32) -> Result<Self, SyncError> {
        let state = ShmBox::new(State {
            permits: AtomicU32::new(permits),
            sleepers: AtomicU32::new(0),
            limit: AtomicU32::new(permits),
        })
        .map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        Ok(Self { state })
    }

    /// Waits for a free permit and takes it.
    ///
    /// # Errors
    ///
    /// Never fails today; the `Result` leaves room for operating-system errors.
    pub fn acquire(&self) -> Result<SemaphoreGuard<'_>, SyncError> {
        self.take(None);
        Ok(SemaphoreGuard { sem: self })
    }

    /// Waits at most `timeout` for a permit; `Ok(None)` if none came free in time.
    ///
    /// # Errors
    ///
    /// As for [`acquire`](Semaphore::acquire).
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<SemaphoreGuard<'_>>, SyncError> {
        let got = self.take(Some(Instant::now() + timeout));
        Ok(got.then(|| SemaphoreGuard { sem: self }))
    }

    /// Takes a permit if one is free right now.
    ///
    /// # Errors
    ///
    /// As for [`acquire`](Semaphore::acquire).
    pub fn try_acquire(&self) -> Result<Option<SemaphoreGuard<'_>>, SyncError> {
        Ok(self.try_take().then(|| SemaphoreGuard { sem: self }))
    }

    /// Gives back one permit without a guard: for a permit taken by another process, or one
    /// kept with [`SemaphoreGuard::forget`].
    ///
    /// # Errors
    ///
    /// [`SyncError::TooManyReleases`] if all permits are already free.
    pub fn release(&self) -> Result<(), SyncError> {
        let s = &*self.state;
        let limit = s.limit.load(SeqCst);
        s.permits
            .fetch_update(SeqCst, SeqCst, |p| (p < limit).then_some(p + 1))
            .map_err(|_| SyncError::TooManyReleases { limit })?;
        if s.sleepers.load(SeqCst) > 0 {
            futex::wake(&s.permits, 1);
        }
        Ok(())
    }

    /// The number of free permits right now (it may change at once).
    pub fn value(&self) -> u32 {
        self.state.permits.load(SeqCst)
    }

    fn try_take(&self) -> bool {
        self.state
            .permits
            .fetch_update(SeqCst, SeqCst, |p| p.checked_sub(1))
            .is_ok()
    }

    /// Takes a permit, sleeping on the futex while there is none; `false` on timeout.
    fn take(&self, deadline: Option<Instant>) -> bool {
        let s = &*self.state;
        loop {
            if self.try_take() {
                return true;
            }
            s.sleepers.fetch_add(1, SeqCst);
            let woke = futex::wait(&s.permits, 0, deadline);
            s.sleepers.fetch_sub(1, SeqCst);
            if woke == Wake::TimedOut {
                // A permit released at the very deadline is still taken.
                return self.try_take();
            }
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

/// One permit of a [`Semaphore`]; dropping the guard gives it back.
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    sem: &'a Semaphore,
}

impl SemaphoreGuard<'_> {
    /// Keeps the permit taken after the guard is gone; another process may give it back
    /// later with [`Semaphore::release`].
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // Cannot fail: this guard's permit is one of the taken ones.
        let _ = self.sem.release();
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphoreGuard")
    }
}
