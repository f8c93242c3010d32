//! [`SharedLock`]: the lock a [`Value`](crate::Value) or [`Array`](crate::Array) is guarded
//! by (Python's `lock=` argument).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ipc_common::{Lock, LockGuard, RLock, RLockGuard, SyncError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The lock that guards a [`Value`](crate::Value) or an [`Array`](crate::Array): what
/// Python's `lock=` argument takes.
///
/// An [`ipc_common::RLock`] (the default, as in Python) or an [`ipc_common::Lock`], made with
/// `From`; both are robust: a holder's death hands the lock on, and the next holder is told. A
/// clone is another handle to the same lock, so one lock can guard several values, as in
/// Python:
///
/// ```
/// use shm::{SharedLock, Value};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let lock = SharedLock::from(ipc_common::Lock::new()?); // lock = multiprocessing.Lock()
/// let a = Value::with_lock(0i32, lock.clone())?; // Value('i', 0, lock=lock)
/// let b = Value::with_lock(0i32, lock.clone())?;
/// let held = a.get_lock()?;
/// // b is guarded by the same lock, now held:
/// assert!(b.get_lock_timeout(std::time::Duration::from_millis(10))?.is_none());
/// drop(held);
/// # Ok(()) }
/// ```
///
/// It travels to a child with its value, under every start method.
#[derive(Clone)]
pub struct SharedLock {
    kind: Kind,
}

/// The kinds of lock a [`SharedLock`] can be.
#[derive(Clone, Serialize, Deserialize)]
enum Kind {
    Lock(Lock),
    RLock(RLock),
}

impl SharedLock {
    /// A new lock (Python's `lock=True`, the default): a reentrant [`ipc_common::RLock`], as
    /// Python's, so that the holder of a guard may still call [`Value::value`](crate::Value::value).
    ///
    /// # Errors
    ///
    /// Fails if the lock's shared memory or mutex cannot be made.
    pub fn new() -> Result<Self, SyncError> {
        Ok(RLock::new()?.into())
    }

    /// Waits for the lock (Python's `acquire()`); dropping the guard releases it.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn acquire(&self) -> Result<SharedLockGuard<'_>, SyncError> {
        Ok(match &self.kind {
            Kind::Lock(lock) => SharedLockGuard::lock(lock.acquire()?),
            Kind::RLock(lock) => SharedLockGuard::rlock(lock.acquire()?),
        })
    }

    /// Waits at most `timeout` for the lock (Python's `acquire(timeout=...)`); `Ok(None)` if
    /// it stayed taken. The wait is exact: never shorter, and longer only by the scheduler's
    /// delay.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<SharedLockGuard<'_>>, SyncError> {
        Ok(match &self.kind {
            Kind::Lock(lock) => lock.acquire_timeout(timeout)?.map(SharedLockGuard::lock),
            Kind::RLock(lock) => lock.acquire_timeout(timeout)?.map(SharedLockGuard::rlock),
        })
    }

    /// Takes the lock if it is free now (Python's `acquire(block=False)`).
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn try_acquire(&self) -> Result<Option<SharedLockGuard<'_>>, SyncError> {
        Ok(match &self.kind {
            Kind::Lock(lock) => lock.try_acquire()?.map(SharedLockGuard::lock),
            Kind::RLock(lock) => lock.try_acquire()?.map(SharedLockGuard::rlock),
        })
    }

    /// The [`Lock`] this is, if it is one.
    pub fn as_lock(&self) -> Option<&Lock> {
        match &self.kind {
            Kind::Lock(lock) => Some(lock),
            Kind::RLock(_) => None,
        }
    }

    /// The [`RLock`] this is, if it is one.
    pub fn as_rlock(&self) -> Option<&RLock> {
        match &self.kind {
            Kind::RLock(lock) => Some(lock),
            Kind::Lock(_) => None,
        }
    }
}

impl From<Lock> for SharedLock {
    /// The lock (or a clone of a lock also used elsewhere).
    fn from(lock: Lock) -> Self {
        Self {
            kind: Kind::Lock(lock),
        }
    }
}

impl From<Arc<Lock>> for SharedLock {
    /// A lock also used elsewhere in this process.
    fn from(lock: Arc<Lock>) -> Self {
        Lock::clone(&lock).into()
    }
}

impl From<RLock> for SharedLock {
    /// The reentrant lock (or a clone of one also used elsewhere).
    fn from(lock: RLock) -> Self {
        Self {
            kind: Kind::RLock(lock),
        }
    }
}

impl fmt::Debug for SharedLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Lock(_) => f.write_str("SharedLock(Lock)"),
            Kind::RLock(_) => f.write_str("SharedLock(RLock)"),
        }
    }
}

impl Serialize for SharedLock {
    /// Passes the lock to a child (with the value it guards).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.kind.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedLock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self {
            kind: Kind::deserialize(deserializer)?,
        })
    }
}

/// Proof that this thread holds a [`SharedLock`]; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SharedLockGuard<'a> {
    held: Held<'a>,
}

enum Held<'a> {
    Lock(LockGuard<'a>),
    RLock(RLockGuard<'a>),
}

impl<'a> SharedLockGuard<'a> {
    fn lock(guard: LockGuard<'a>) -> Self {
        Self {
            held: Held::Lock(guard),
        }
    }

    fn rlock(guard: RLockGuard<'a>) -> Self {
        Self {
            held: Held::RLock(guard),
        }
    }

    /// `true` if the previous holder died while holding the lock: what it guards may be
    /// half-updated. (Python's lock would have stayed held forever.)
    pub fn previous_holder_died(&self) -> bool {
        match &self.held {
            Held::Lock(guard) => guard.previous_holder_died(),
            Held::RLock(guard) => guard.previous_holder_died(),
        }
    }
}

impl fmt::Debug for SharedLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedLockGuard")
            .field("previous_holder_died", &self.previous_holder_died())
            .finish()
    }
}
