//! A process-shared, robust lock: Python's `multiprocessing.Lock`.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use super::SyncError;
use super::raw::RawLock;
use super::robust::RobustBox;
use crate::time::deadline_after;

/// A lock shared by this process and every child started after it was made: Python's
/// `multiprocessing.Lock`, with a guard instead of `acquire`/`release` pairs.
///
/// # Robust: a holder that dies does not freeze the others
///
/// If a process dies while holding the lock (killed, or it called `exit`), the next
/// [`acquire`](Lock::acquire) gets the lock and [`LockGuard::previous_holder_died`] returns
/// `true`: the data the lock protects may be half-updated, and the new holder decides what to
/// do about it. (Python's lock stays held forever in that case, which freezes every other
/// process; so does a plain pthread mutex.)
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use ipc_common::{Lock, Process};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let lock = Lock::new()?;
/// let guard = lock.acquire()?;
/// let child = Process::start("waiter", || {
///     // The parent holds the lock: a timed acquisition gives up after 50 ms.
///     assert!(lock.acquire_timeout(Duration::from_millis(50)).unwrap().is_none());
/// })?;
/// assert_eq!(child.join()?, 0);
/// drop(guard);
/// # Ok(()) }
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Lock {
    raw: std::sync::Arc<RobustBox<RawLock>>,
}

impl Lock {
    /// A new, unlocked lock in its own shared mapping.
    ///
    /// # Errors
    ///
    /// Fails if the mapping or the mutex cannot be made.
    pub fn new() -> Result<Self, SyncError> {
        let raw = RobustBox::<RawLock>::zeroed()?;
        raw.init()?;
        Ok(Self {
            raw: std::sync::Arc::new(raw),
        })
    }

    /// Waits until the lock is free and takes it (Python's `acquire()`).
    ///
    /// # Errors
    ///
    /// Only on an operating-system error (never for an ordinary wait).
    pub fn acquire(&self) -> Result<LockGuard<'_>, SyncError> {
        self.lock_until(None)
            .map(|g| g.expect("an untimed lock always locks"))
    }

    /// Waits at most `timeout` for the lock; `Ok(None)` if it stayed taken (Python's
    /// `acquire(timeout=...)` returning `False`). The wait is measured on the monotonic
    /// clock and is exact: it never ends early, and ends late only by the scheduler's delay.
    /// A timeout too large for the clock (`Duration::MAX`) waits forever.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<LockGuard<'_>>, SyncError> {
        self.lock_until(deadline_after(timeout))
    }

    /// Takes the lock if it is free right now (Python's `acquire(block=False)`).
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn try_acquire(&self) -> Result<Option<LockGuard<'_>>, SyncError> {
        Ok(self
            .raw
            .try_lock()?
            .map(|died| LockGuard::new(&self.raw, died)))
    }

    /// Whether some process (this one included) holds the lock right now (Python 3.14's
    /// `locked()`). A snapshot: the answer may be out of date as soon as it is returned. A
    /// lock whose holder died is not locked: the next [`acquire`](Lock::acquire) takes it.
    pub fn locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The mutex itself, for [`Condition`](super::Condition).
    pub(crate) fn raw(&self) -> &RawLock {
        &self.raw
    }

    fn lock_until(
        &self,
        deadline: Option<std::time::Instant>,
    ) -> Result<Option<LockGuard<'_>>, SyncError> {
        let _wait = crate::trace::span("lock", "wait");
        Ok(self
            .raw
            .lock(deadline)?
            .map(|died| LockGuard::new(&self.raw, died)))
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

/// Proof that this thread holds a [`Lock`] (or the lock of a [`Mutex`](super::Mutex));
/// dropping it releases the lock (Python's `release()`).
///
/// Forgetting a guard (`std::mem::forget`) keeps the lock held until this thread ends; if the
/// [`Lock`] is dropped meanwhile, its shared mapping stays mapped in this process (see
/// [`sync`](super)'s notes on the robust list).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    raw: &'a RawLock,
    previous_holder_died: bool,
    /// The time held, in a recorded trace.
    _hold: crate::trace::Span,
    // A pthread mutex must be unlocked by the thread that locked it.
    _not_send: PhantomData<*const ()>,
}

impl<'a> LockGuard<'a> {
    /// A guard for `raw`, which the calling thread has just locked.
    pub(crate) fn new(raw: &'a RawLock, previous_holder_died: bool) -> Self {
        Self {
            raw,
            previous_holder_died,
            _hold: crate::trace::span("lock", "hold"),
            _not_send: PhantomData,
        }
    }

    /// `true` if the previous holder died while holding the lock (`EOWNERDEAD`): what it was
    /// changing may be half-done.
    pub fn previous_holder_died(&self) -> bool {
        self.previous_holder_died
    }

    /// The mutex this guard holds.
    pub(crate) fn raw(&self) -> &'a RawLock {
        self.raw
    }

    /// Checks that this thread holds the lock, runs `prepare`, unlocks, runs `f` with what
    /// `prepare` returned, and waits for the lock again (no deadline, as Python's
    /// `Condition.wait` reacquires): the heart of [`Condition::wait`](super::Condition::wait).
    /// [`previous_holder_died`](LockGuard::previous_holder_died) then tells about the holders
    /// in between.
    ///
    /// [`SyncError::WrongLock`] if this thread does not hold the lock (a guard inherited by a
    /// forked child, or left by a failed wait), and `prepare`'s error, come before anything
    /// changed. After any later error the lock is not held again; dropping the guard then
    /// unlocks nothing (glibc refuses to unlock a robust mutex another thread holds, or
    /// nobody does).
    pub(crate) fn unlocked<P, R>(
        &mut self,
        prepare: impl FnOnce() -> Result<P, SyncError>,
        f: impl FnOnce(P) -> R,
    ) -> Result<R, SyncError> {
        if !self.raw.is_mine() {
            return Err(SyncError::WrongLock);
        }
        let prepared = prepare()?;
        self.raw.unlock();
        let result = f(prepared);
        let died = self.raw.lock(None)?.expect("an untimed lock always locks");
        self.previous_holder_died = died;
        Ok(result)
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.raw.unlock();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("previous_holder_died", &self.previous_holder_died)
            .finish()
    }
}
