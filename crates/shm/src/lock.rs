//! [`SharedLock`]: the lock a [`Value`](crate::Value) or [`Array`](crate::Array) is guarded
//! by (Python's `lock=` argument).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ipc_common::{Lock, LockGuard, SyncError};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de, ser};

/// The lock that guards a [`Value`](crate::Value) or an [`Array`](crate::Array): what
/// Python's `lock=` argument takes.
///
/// Today it is an [`ipc_common::Lock`] (robust: a holder's death hands the lock on, and the
/// next holder is told); the lock kinds it can be made from grow with `From` conversions, so
/// code that passes a `Lock` keeps compiling when others (a reentrant lock) are added. A clone
/// is another handle to the same lock, so one lock can guard several values, as in Python:
///
/// ```
/// use shm::{SharedLock, Value};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let lock = SharedLock::new()?; // lock = multiprocessing.Lock()
/// let a = Value::with_lock(0i32, lock.clone())?; // Value('i', 0, lock=lock)
/// let b = Value::with_lock(0i32, lock.clone())?;
/// let held = a.get_lock()?;
/// // b is guarded by the same lock, now held:
/// assert!(b.get_lock_timeout(std::time::Duration::from_millis(10))?.is_none());
/// drop(held);
/// # Ok(()) }
/// ```
///
/// # Spawned children
///
/// An `ipc_common::Lock` cannot yet be passed to a child started by spawn or forkserver (it
/// has no `Serialize`), so neither can a `Value` or an `Array`: serializing one fails with an
/// error saying so, and starting such a child fails with
/// [`ProcessError::Arguments`](ipc_common::ProcessError::Arguments). Under fork they work as
/// arguments and in closures alike; a [`RawValue`](crate::RawValue) or
/// [`RawArray`](crate::RawArray) travels with every start method.
#[derive(Clone)]
pub struct SharedLock {
    kind: Kind,
}

/// The kinds of lock a [`SharedLock`] can be.
#[derive(Clone)]
enum Kind {
    Lock(Arc<Lock>),
}

impl SharedLock {
    /// A new lock (Python's `lock=True`, the default): an [`ipc_common::Lock`].
    ///
    /// Python's default is a reentrant lock (`RLock`), so that `with v.get_lock(): v.value
    /// += 1` works; this one is not reentrant: read and write through the guard instead (see
    /// [`Value::get_lock`](crate::Value::get_lock)).
    ///
    /// # Errors
    ///
    /// Fails if the lock's shared memory or mutex cannot be made.
    pub fn new() -> Result<Self, SyncError> {
        Ok(Lock::new()?.into())
    }

    /// Waits for the lock (Python's `acquire()`); dropping the guard releases it.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn acquire(&self) -> Result<SharedLockGuard<'_>, SyncError> {
        match &self.kind {
            Kind::Lock(lock) => Ok(SharedLockGuard::lock(lock.acquire()?)),
        }
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
        match &self.kind {
            Kind::Lock(lock) => Ok(lock.acquire_timeout(timeout)?.map(SharedLockGuard::lock)),
        }
    }

    /// Takes the lock if it is free now (Python's `acquire(block=False)`).
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn try_acquire(&self) -> Result<Option<SharedLockGuard<'_>>, SyncError> {
        match &self.kind {
            Kind::Lock(lock) => Ok(lock.try_acquire()?.map(SharedLockGuard::lock)),
        }
    }

    /// The [`Lock`] this is, if it is one.
    pub fn as_lock(&self) -> Option<&Lock> {
        match &self.kind {
            Kind::Lock(lock) => Some(lock),
        }
    }
}

impl From<Lock> for SharedLock {
    fn from(lock: Lock) -> Self {
        Arc::new(lock).into()
    }
}

impl From<Arc<Lock>> for SharedLock {
    /// A lock also used elsewhere in this process.
    fn from(lock: Arc<Lock>) -> Self {
        Self {
            kind: Kind::Lock(lock),
        }
    }
}

impl fmt::Debug for SharedLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Lock(_) => f.write_str("SharedLock(Lock)"),
        }
    }
}

/// Why a lock cannot travel yet; see [`SharedLock`].
const CANNOT_TRAVEL: &str = "the lock of a shm::Value or shm::Array (an ipc_common::Lock) \
    cannot be passed to a spawned or forkserver child yet: pass its raw object \
    (get_obj().clone()) instead, or start the child with fork";

impl Serialize for SharedLock {
    /// Fails: see [Spawned children](SharedLock#spawned-children).
    fn serialize<S: Serializer>(&self, _serializer: S) -> Result<S::Ok, S::Error> {
        Err(ser::Error::custom(CANNOT_TRAVEL))
    }
}

impl<'de> Deserialize<'de> for SharedLock {
    /// Fails, as serializing does.
    fn deserialize<D: Deserializer<'de>>(_deserializer: D) -> Result<Self, D::Error> {
        Err(de::Error::custom(CANNOT_TRAVEL))
    }
}

/// Proof that this thread holds a [`SharedLock`]; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SharedLockGuard<'a> {
    held: Held<'a>,
}

enum Held<'a> {
    Lock(LockGuard<'a>),
}

impl<'a> SharedLockGuard<'a> {
    fn lock(guard: LockGuard<'a>) -> Self {
        Self {
            held: Held::Lock(guard),
        }
    }

    /// `true` if the previous holder died while holding the lock: what it guards may be
    /// half-updated. (Python's lock would have stayed held forever.)
    pub fn previous_holder_died(&self) -> bool {
        match &self.held {
            Held::Lock(guard) => guard.previous_holder_died(),
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
