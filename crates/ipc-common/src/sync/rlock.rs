//! A process-shared, robust, re-entrant lock: Python's `multiprocessing.RLock`.
//!
//! # Shared state
//!
//! One *recursive* robust pthread mutex ([`RawLock`]): glibc keeps its holder (a thread,
//! so a process and a thread within it, by its system-wide thread id) and its recursion
//! count. When the holder dies the kernel clears its id, so a later thread that happens to
//! get the same id does not inherit the lock, and the next holder starts at depth 1. The
//! orderings are the mutex's (see [`raw`](super::raw)).

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use super::SyncError;
use super::raw::RawLock;
use super::robust::RobustBox;
use crate::time::deadline_after;

/// A re-entrant lock shared by this process and every child started after it was made:
/// Python's `multiprocessing.RLock`.
///
/// The thread that holds it may acquire it again; each acquisition returns a guard, and the
/// lock is free again once every guard is dropped. Any other thread, in this process or
/// another, waits. (Python raises an error when a thread that does not own the lock releases
/// it; with guards that cannot be written: a guard exists only in the thread that acquired
/// it, cannot be sent to another thread, and releases exactly one level.)
///
/// # Robust: a holder that dies does not freeze the others
///
/// If the holder dies (at any depth), the next acquirer gets the lock at depth 1 and
/// [`RLockGuard::previous_holder_died`] returns `true`. Python's `RLock` stays held forever.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use ipc_common::{Process, RLock};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let lock = RLock::new()?;
/// let outer = lock.acquire()?;
/// let inner = lock.acquire()?; // the owner may take it again
/// let child = Process::start("other", || {
///     // Another process waits, whatever the depth.
///     assert!(lock.acquire_timeout(Duration::from_millis(20)).unwrap().is_none());
/// })?;
/// assert_eq!(child.join()?, 0);
/// drop(inner);
/// assert!(lock.locked()); // still held once
/// drop(outer);
/// assert!(!lock.locked());
/// # Ok(()) }
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RLock {
    raw: std::sync::Arc<RobustBox<RawLock>>,
}

impl RLock {
    /// A new, unlocked re-entrant lock in its own shared mapping.
    ///
    /// # Errors
    ///
    /// Fails if the mapping or the mutex cannot be made.
    pub fn new() -> Result<Self, SyncError> {
        let raw = RobustBox::<RawLock>::zeroed()?;
        raw.init_recursive()?;
        Ok(Self {
            raw: std::sync::Arc::new(raw),
        })
    }

    /// Takes the lock, waiting while another thread holds it; at once if this thread holds
    /// it already (Python's `acquire()`).
    ///
    /// # Errors
    ///
    /// Only on an operating-system error (glibc refuses more than `u32::MAX` levels).
    pub fn acquire(&self) -> Result<RLockGuard<'_>, SyncError> {
        self.lock_until(None)
            .map(|g| g.expect("an untimed lock always locks"))
    }

    /// Waits at most `timeout` for the lock; `Ok(None)` if another thread kept it (Python's
    /// `acquire(timeout=...)` returning `False`). The wait is exact, on the monotonic clock;
    /// `Duration::MAX` waits forever.
    ///
    /// # Errors
    ///
    /// As for [`acquire`](RLock::acquire).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<RLockGuard<'_>>, SyncError> {
        self.lock_until(deadline_after(timeout))
    }

    /// Takes the lock if it is free or already this thread's (Python's
    /// `acquire(block=False)`).
    ///
    /// # Errors
    ///
    /// As for [`acquire`](RLock::acquire).
    pub fn try_acquire(&self) -> Result<Option<RLockGuard<'_>>, SyncError> {
        Ok(self.raw.try_lock()?.map(|died| self.guard(died)))
    }

    /// Whether some thread (this one included) holds the lock right now (Python 3.14's
    /// `locked()`). A snapshot; a lock whose holder died is not locked.
    pub fn locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The mutex itself, for [`Condition`](super::Condition).
    pub(crate) fn raw(&self) -> &RawLock {
        &self.raw
    }

    fn lock_until(&self, deadline: Option<Instant>) -> Result<Option<RLockGuard<'_>>, SyncError> {
        let _wait = crate::trace::span("lock", "wait");
        Ok(self.raw.lock(deadline)?.map(|died| self.guard(died)))
    }

    /// A guard for one more level, which the calling thread has just locked.
    fn guard(&self, previous_holder_died: bool) -> RLockGuard<'_> {
        RLockGuard {
            raw: &self.raw,
            previous_holder_died,
            _hold: crate::trace::span("lock", "hold"),
            _not_send: PhantomData,
        }
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("locked", &self.locked())
            .finish()
    }
}

/// One level of an [`RLock`] held by this thread; dropping it releases that level (Python's
/// `release()`), and the lock is free when the last level is released.
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    raw: &'a RawLock,
    previous_holder_died: bool,
    /// The time held, in a recorded trace.
    _hold: crate::trace::Span,
    // A pthread mutex must be unlocked by the thread that locked it.
    _not_send: PhantomData<*const ()>,
}

impl<'a> RLockGuard<'a> {
    /// `true` if the previous holder died while holding the lock: what it was changing may be
    /// half-done.
    pub fn previous_holder_died(&self) -> bool {
        self.previous_holder_died
    }

    /// The mutex this guard holds a level of.
    pub(crate) fn raw(&self) -> &'a RawLock {
        self.raw
    }

    /// Like [`LockGuard::unlocked`](super::LockGuard), but releases *every* level this
    /// thread holds and takes them all back: what Python's `Condition.wait` does with an
    /// `RLock`.
    pub(crate) fn unlocked<P, R>(
        &mut self,
        prepare: impl FnOnce() -> Result<P, SyncError>,
        f: impl FnOnce(P) -> R,
    ) -> Result<R, SyncError> {
        let raw = self.raw;
        // None: this thread does not hold the lock (a guard inherited by a forked child, or
        // left by a failed wait).
        let depth = raw.recursion_count().ok_or(SyncError::WrongLock)?;
        let prepared = prepare()?;
        for _ in 0..depth {
            raw.unlock();
        }
        let result = f(prepared);
        self.previous_holder_died = raw.lock(None)?.expect("an untimed lock always locks");
        // The other levels are ours at once: the mutex is recursive and we hold it.
        for _ in 1..depth {
            raw.lock(None)?;
        }
        Ok(result)
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        // Releases one level. Should a failed `unlocked` have left the lock released, glibc
        // refuses (EPERM: not the holder) and nothing changes.
        self.raw.unlock();
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard")
            .field("previous_holder_died", &self.previous_holder_died)
            .finish()
    }
}
