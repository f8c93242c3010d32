//! Data guarded by a process-shared lock: the building block of `shm::Value` and `shm::Array`.
//!
//! # Shared state
//!
//! | word | meaning |
//! |---|---|
//! | `lock` | a robust pthread mutex (see [`raw`](super::raw)) |
//! | `value` / the items | the data, read and written only by the holder of `lock` |
//!
//! The data itself is plain memory, not atomics: the mutex orders every access, since
//! locking it synchronises with (acquires) the previous holder's unlock (a release), as for
//! `std::sync::Mutex`. A holder that dies may leave the data half-written; the next holder
//! is told ([`MutexGuard::previous_holder_died`]).

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::SyncError;
use super::lock::LockGuard;
use super::raw::RawLock;
use super::robust::{HasLock, RobustBox};
use crate::shm::{ShmSafe, ShmSlice};
use crate::time::deadline_after;

fn mmap_error(source: std::io::Error) -> SyncError {
    SyncError::Os {
        call: "mmap",
        source,
    }
}

/// A lock and the value it guards, side by side in one shared mapping.
struct Inner<T> {
    lock: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: a robust mutex (ShmSafe: no pointer another process follows; the handle keeps the
// mapping mapped while a thread of its process holds it) next to a ShmSafe value; valid when
// zeroed; no destructor.
unsafe impl<T: ShmSafe> ShmSafe for Inner<T> {}

impl<T: ShmSafe> HasLock for Inner<T> {
    fn lock(&self) -> &RawLock {
        &self.lock
    }
}

// SAFETY: the value is only reached through a guard, which holds the lock.
unsafe impl<T: ShmSafe + Send> Sync for Inner<T> {}

/// A value of type `T` in shared memory that only one process at a time may use: a
/// process-shared `std::sync::Mutex`. Lock it to read or change the value.
///
/// Like [`Lock`](super::Lock), it is robust: if a holder dies, the next
/// [`lock`](Mutex::lock) gets it and [`MutexGuard::previous_holder_died`] tells so.
///
/// # Example
///
/// ```
/// use ipc_common::{Mutex, Process};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let total = Mutex::new(0u64)?;
/// let kids: Vec<Process> = (0..2)
///     .map(|_| Process::start("adder", || {
///         for _ in 0..1000 {
///             *total.lock().unwrap() += 1;
///         }
///     }))
///     .collect::<Result<_, _>>()?;
/// for k in &kids {
///     k.join()?;
/// }
/// assert_eq!(*total.lock()?, 2000);
/// # Ok(()) }
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(transparent, bound = "")]
pub struct Mutex<T: ShmSafe> {
    shared: Arc<RobustBox<Inner<T>>>,
}

impl<T: ShmSafe> Clone for Mutex<T> {
    /// Another handle to the same value and lock.
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: ShmSafe> Mutex<T> {
    /// Places `value` and a new lock in a new shared mapping.
    ///
    /// # Errors
    ///
    /// Fails if the mapping or the lock cannot be made.
    pub fn new(value: T) -> Result<Self, SyncError> {
        let shared = RobustBox::<Inner<T>>::zeroed()?;
        shared.lock.init()?;
        // SAFETY: nobody else can see the fresh mapping yet; the write replaces the zeroed
        // value, which needs no drop (ShmSafe).
        unsafe { shared.value.get().write(value) };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// Waits for the lock and returns a guard through which the value can be used.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn lock(&self) -> Result<MutexGuard<'_, T>, SyncError> {
        self.lock_until(None)
            .map(|g| g.expect("an untimed lock always locks"))
    }

    /// Waits at most `timeout` for the lock; `Ok(None)` if it stayed taken. The wait is
    /// exact, on the monotonic clock; `Duration::MAX` waits forever.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<Option<MutexGuard<'_, T>>, SyncError> {
        self.lock_until(deadline_after(timeout))
    }

    fn lock_until(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Option<MutexGuard<'_, T>>, SyncError> {
        let inner = &*self.shared;
        Ok(inner.lock.lock(deadline)?.map(|died| MutexGuard {
            lock: LockGuard::new(&inner.lock, died),
            // SAFETY: `UnsafeCell::get` is never null.
            value: unsafe { NonNull::new_unchecked(inner.value.get()) },
            _value: std::marker::PhantomData,
        }))
    }
}

impl<T: ShmSafe> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mutex { .. }")
    }
}

/// A slice of `T` in shared memory guarded by one process-shared lock (Python's
/// `multiprocessing.Array`, whose `get_lock()` guards all its items).
///
/// # Example
///
/// ```
/// use ipc_common::{MutexSlice, Process};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let items = MutexSlice::<i32>::zeroed(5)?;
/// let child = Process::start("filler", || {
///     items.lock().unwrap().fill(5);
/// })?;
/// child.join()?;
/// assert_eq!(&items.lock()?[..], &[5, 5, 5, 5, 5]);
/// # Ok(()) }
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct MutexSlice<T: ShmSafe> {
    lock: Arc<RobustBox<RawLock>>,
    items: Arc<ShmSlice<T>>,
}

impl<T: ShmSafe> Clone for MutexSlice<T> {
    /// Another handle to the same items and lock.
    fn clone(&self) -> Self {
        Self {
            lock: Arc::clone(&self.lock),
            items: Arc::clone(&self.items),
        }
    }
}

impl<T: ShmSafe> MutexSlice<T> {
    /// `len` zeroed items and a new lock, in shared memory.
    ///
    /// # Errors
    ///
    /// Fails if the mappings or the lock cannot be made.
    pub fn zeroed(len: usize) -> Result<Self, SyncError> {
        let lock = RobustBox::<RawLock>::zeroed()?;
        lock.init()?;
        let items = ShmSlice::zeroed(len).map_err(mmap_error)?;
        Ok(Self {
            lock: Arc::new(lock),
            items: Arc::new(items),
        })
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Waits for the lock and returns a guard that dereferences to the items.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn lock(&self) -> Result<MutexGuard<'_, [T]>, SyncError> {
        let died = self.lock.lock(None)?.expect("an untimed lock always locks");
        let slice = std::ptr::slice_from_raw_parts_mut(self.items.as_mut_ptr(), self.len());
        Ok(MutexGuard {
            lock: LockGuard::new(&self.lock, died),
            // SAFETY: the pointer of a live mapping is never null.
            value: unsafe { NonNull::new_unchecked(slice) },
            _value: std::marker::PhantomData,
        })
    }
}

impl<T: ShmSafe> fmt::Debug for MutexSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexSlice")
            .field("len", &self.len())
            .finish()
    }
}

/// Access to the data of a [`Mutex`] or [`MutexSlice`] while its lock is held; dropping the
/// guard releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: LockGuard<'a>,
    value: NonNull<T>,
    _value: std::marker::PhantomData<&'a mut T>,
}

impl<T: ?Sized> MutexGuard<'_, T> {
    /// `true` if the previous holder died while holding the lock: the value may be
    /// half-updated.
    pub fn previous_holder_died(&self) -> bool {
        self.lock.previous_holder_died()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held for the guard's whole life, so no other process or thread
        // touches the value; the mapping outlives the borrow `'a`.
        unsafe { self.value.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow in this process.
        unsafe { self.value.as_mut() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MutexGuard").field(&&**self).finish()
    }
}
