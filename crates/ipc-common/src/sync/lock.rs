//! A process-shared, robust mutex: Python's `multiprocessing.Lock`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use super::SyncError;
use super::futex::{add_to_timespec, clock_now};
use crate::shm::{ShmBox, ShmSafe};
use crate::time::{expired, next_wake};

/// The pthread mutex itself, placed in shared memory and initialised there (a process-shared
/// mutex must not move after `pthread_mutex_init`).
///
/// It is `PTHREAD_PROCESS_SHARED` and `PTHREAD_MUTEX_ROBUST`: when a process dies holding it,
/// the next locker gets `EOWNERDEAD` instead of waiting forever.
pub(crate) struct RawLock {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: a pthread mutex holds no pointers (glibc's robust-list links are kept by the
// kernel per thread, and are relative to the mutex itself); the all-zero bytes are a valid
// *uninitialised* state that `init` turns into a mutex; it needs no destructor in shared
// memory (`pthread_mutex_destroy` is a no-op on Linux).
unsafe impl ShmSafe for RawLock {}
// SAFETY: the mutex is designed to be used from many threads and processes at once; every
// access goes through the pthread calls.
unsafe impl Sync for RawLock {}
// SAFETY: as above.
unsafe impl Send for RawLock {}

impl RawLock {
    /// Initialises the mutex in place (process-shared, robust). Call once, before any process
    /// other than the caller can see it.
    pub(crate) fn init(&self) -> Result<(), SyncError> {
        // SAFETY: `attr` is a local, initialised by pthread_mutexattr_init before any use and
        // destroyed after; `self.mutex` is at its final shared address and not yet in use.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            check(
                "pthread_mutexattr_init",
                libc::pthread_mutexattr_init(&mut attr),
            )?;
            let rc = libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            let rc = if rc == 0 {
                libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST)
            } else {
                rc
            };
            let rc = if rc == 0 {
                libc::pthread_mutex_init(self.mutex.get(), &attr)
            } else {
                rc
            };
            libc::pthread_mutexattr_destroy(&mut attr);
            check("pthread_mutex_init", rc)
        }
    }

    /// Locks, waiting until `deadline` if one is given. Returns `Ok(None)` on timeout,
    /// `Ok(Some(owner_died))` once locked, where `owner_died` says that the previous holder
    /// died while holding the lock (the lock was made consistent again).
    ///
    /// The wait is measured on the monotonic clock (`pthread_mutex_clocklock`), so a step of
    /// the wall clock neither stretches nor cuts it, and it is made of sleeps of at most
    /// [`LIVENESS_SLICE`](crate::time::LIVENESS_SLICE): the wake-up an unlock sends goes to one waiter, and if that waiter
    /// dies before it takes the lock, the others would otherwise sleep on with the lock free.
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> Result<Option<bool>, SyncError> {
        loop {
            let until = next_wake(deadline);
            let left = until.saturating_duration_since(Instant::now());
            let abs = add_to_timespec(clock_now(libc::CLOCK_MONOTONIC), left);
            // SAFETY: the mutex was initialised by `init` and lives in a mapping that outlives
            // `self`; `abs` is a normalised timespec living across the call.
            let rc =
                unsafe { pthread_mutex_clocklock(self.mutex.get(), libc::CLOCK_MONOTONIC, &abs) };
            match rc {
                libc::ETIMEDOUT if expired(deadline) => return Ok(None),
                libc::ETIMEDOUT => continue,
                rc => return self.locked(rc, "pthread_mutex_clocklock").map(Some),
            }
        }
    }

    /// Turns the result of a successful lock call into "the previous holder died".
    fn locked(&self, rc: i32, call: &'static str) -> Result<bool, SyncError> {
        match rc {
            0 => Ok(false),
            libc::EOWNERDEAD => {
                // SAFETY: we hold the mutex (EOWNERDEAD hands it to us); marking it consistent
                // keeps it usable after our unlock.
                check("pthread_mutex_consistent", unsafe {
                    libc::pthread_mutex_consistent(self.mutex.get())
                })?;
                Ok(true)
            }
            rc => check(call, rc).map(|()| false),
        }
    }

    /// Locks if free, at once. `Ok(None)` if another holder has it.
    pub(crate) fn try_lock(&self) -> Result<Option<bool>, SyncError> {
        // SAFETY: the mutex was initialised by `init`.
        match unsafe { libc::pthread_mutex_trylock(self.mutex.get()) } {
            libc::EBUSY => Ok(None),
            rc => self.locked(rc, "pthread_mutex_trylock").map(Some),
        }
    }

    /// Unlocks. Only the thread that holds the lock may call it.
    pub(crate) fn unlock(&self) {
        // SAFETY: called only by the holder (through a guard's drop); an error here (EPERM for
        // a non-holder) cannot happen through the guards and leaves the mutex unchanged.
        unsafe { libc::pthread_mutex_unlock(self.mutex.get()) };
    }
}

unsafe extern "C" {
    /// glibc 2.30's `pthread_mutex_clocklock`: `pthread_mutex_timedlock` on a chosen clock
    /// (the `libc` crate does not declare it).
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

fn check(call: &'static str, rc: i32) -> Result<(), SyncError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(SyncError::Os {
            call,
            source: std::io::Error::from_raw_os_error(rc),
        })
    }
}

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
pub struct Lock {
    raw: ShmBox<RawLock>,
}

impl Lock {
    /// A new, unlocked lock in its own shared mapping.
    ///
    /// # Errors
    ///
    /// Fails if the mapping or the mutex cannot be made.
    pub fn new() -> Result<Self, SyncError> {
        let raw = ShmBox::<RawLock>::zeroed().map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        raw.init()?;
        Ok(Self { raw })
    }

    /// Waits until the lock is free and takes it.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error (never for an ordinary wait).
    pub fn acquire(&self) -> Result<LockGuard<'_>, SyncError> {
        self.lock_until(None)
            .map(|g| g.expect("an untimed lock always locks"))
    }

    /// Waits at most `timeout` for the lock; `Ok(None)` if it stayed taken (Python's
    /// `acquire(timeout=...)` returning `False`). The wait is exact: it ends neither early nor
    /// later than the scheduler makes it.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<LockGuard<'_>>, SyncError> {
        self.lock_until(Some(Instant::now() + timeout))
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

    fn lock_until(&self, deadline: Option<Instant>) -> Result<Option<LockGuard<'_>>, SyncError> {
        Ok(self
            .raw
            .lock(deadline)?
            .map(|died| LockGuard::new(&self.raw, died)))
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lock")
    }
}

/// Proof that this process holds a [`Lock`]; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    raw: &'a RawLock,
    previous_holder_died: bool,
    // A pthread mutex must be unlocked by the thread that locked it.
    _not_send: PhantomData<*const ()>,
}

impl<'a> LockGuard<'a> {
    /// A guard for `raw`, which the caller has just locked.
    pub(crate) fn new(raw: &'a RawLock, previous_holder_died: bool) -> Self {
        Self {
            raw,
            previous_holder_died,
            _not_send: PhantomData,
        }
    }

    /// `true` if the previous holder died while holding the lock (`EOWNERDEAD`): what it was
    /// changing may be half-done.
    pub fn previous_holder_died(&self) -> bool {
        self.previous_holder_died
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
