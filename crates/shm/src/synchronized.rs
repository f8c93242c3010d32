//! [`Value`] and [`Array`]: a raw object and the lock that guards it (Python's
//! `multiprocessing.Value` and `Array`, whose objects are `sharedctypes.Synchronized*`
//! wrappers).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use ipc_common::SyncError;
use serde::{Deserialize, Serialize};

use crate::{Number, RawArray, RawValue, SharedLock, SharedLockGuard};

fn mmap_error(source: std::io::Error) -> SyncError {
    SyncError::Os {
        call: "mmap",
        source,
    }
}

/// One number in shared memory with a lock: Python's `multiprocessing.Value`.
///
/// It is a [`RawValue`] ([`get_obj`](Value::get_obj)) and a [`SharedLock`]
/// ([`shared_lock`](Value::shared_lock)). [`get_lock`](Value::get_lock) takes the lock and
/// returns a guard that dereferences to the number, so a read-modify-write is one statement,
/// as `with v.get_lock(): v.value += 1` is in Python.
///
/// The lock is robust: if a process dies holding it, the next holder gets it and
/// [`ValueGuard::previous_holder_died`] says so, and the number is as it was before the dead
/// holder's guard (the guard writes its number back only when it is dropped). Python's lock
/// stays held forever in that case.
///
/// # Example
///
/// Four processes each add 1000 to the same counter; holding the guard across the read and
/// the write makes every increment count.
///
/// ```
/// use ipc_common::Process;
/// use shm::Value;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let counter = Value::new(0u64)?; // Value('Q', 0)
/// let workers = (0..4)
///     .map(|i| {
///         Process::start(format!("adder{i}"), || -> Result<(), ipc_common::SyncError> {
///             for _ in 0..1000 {
///                 *counter.get_lock()? += 1;
///             }
///             Ok(())
///         })
///     })
///     .collect::<Result<Vec<_>, _>>()?;
/// for w in &workers {
///     w.join()?;
/// }
/// assert_eq!(counter.value()?, 4000);
/// # Ok(()) }
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Value<T: Number> {
    // First, so that its refusal to travel to a spawned child comes before any descriptor
    // of the raw object is duplicated.
    lock: SharedLock,
    raw: RawValue<T>,
}

impl<T: Number> Value<T> {
    /// A new shared number holding `value`, with a new lock (Python's `Value('i', value)`,
    /// `lock=True`).
    ///
    /// # Errors
    ///
    /// Fails if the shared memory or the lock cannot be made.
    pub fn new(value: T) -> Result<Self, SyncError> {
        Self::with_lock(value, SharedLock::new()?)
    }

    /// A new shared number holding `value`, guarded by `lock` (Python's
    /// `Value('i', value, lock=lock)`): an [`ipc_common::Lock`] or a clone of another value's
    /// [`shared_lock`](Value::shared_lock).
    ///
    /// # Errors
    ///
    /// Fails if the shared memory cannot be made.
    pub fn with_lock(value: T, lock: impl Into<SharedLock>) -> Result<Self, SyncError> {
        let raw = RawValue::new(value).map_err(mmap_error)?;
        Ok(Self::synchronized(raw, lock.into()))
    }

    /// `raw` guarded by `lock` (Python's `sharedctypes.synchronized(raw, lock)`): the value
    /// and `raw` are the same number.
    pub fn synchronized(raw: RawValue<T>, lock: SharedLock) -> Self {
        Self { raw, lock }
    }

    /// Waits for the lock and returns a guard that dereferences (mutably) to the number
    /// (Python's `with v.get_lock():`); the lock is released when the guard is dropped.
    ///
    /// The guard works on a copy, read when the lock was taken and written back when the guard
    /// is dropped (only if it was changed). Do not call [`value`](Value::value) or
    /// [`set_value`](Value::set_value) on the same value while holding its guard: they take
    /// the lock again, and this lock is not reentrant (Python's default `RLock` is), so the
    /// thread would wait for itself. Read and write through the guard instead.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn get_lock(&self) -> Result<ValueGuard<'_, T>, SyncError> {
        Ok(ValueGuard::new(&self.raw, self.lock.acquire()?))
    }

    /// As [`get_lock`](Value::get_lock), waiting at most `timeout` (Python's
    /// `v.get_lock().acquire(timeout=...)`); `Ok(None)` if the lock stayed taken. The wait is
    /// exact.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn get_lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<ValueGuard<'_, T>>, SyncError> {
        Ok(self
            .lock
            .acquire_timeout(timeout)?
            .map(|held| ValueGuard::new(&self.raw, held)))
    }

    /// Reads the number under the lock (Python's `v.value`).
    ///
    /// # Errors
    ///
    /// As for [`get_lock`](Value::get_lock).
    pub fn value(&self) -> Result<T, SyncError> {
        Ok(*self.get_lock()?)
    }

    /// Writes the number under the lock (Python's `v.value = x`).
    ///
    /// As in Python, `v.set_value(v.value()? + 1)` is two locked steps and loses updates when
    /// several processes do it at once; hold one guard across the read and the write instead.
    ///
    /// # Errors
    ///
    /// As for [`get_lock`](Value::get_lock).
    pub fn set_value(&self, value: T) -> Result<(), SyncError> {
        *self.get_lock()? = value;
        Ok(())
    }

    /// The number without its lock (Python's `v.get_obj()`): the same memory.
    pub fn get_obj(&self) -> &RawValue<T> {
        &self.raw
    }

    /// The lock itself (the object Python's `v.get_lock()` returns), to guard other values
    /// with it or take it without reaching the number.
    pub fn shared_lock(&self) -> &SharedLock {
        &self.lock
    }
}

impl<T: Number> fmt::Debug for Value<T> {
    /// The number as read without the lock: the caller may hold the guard, and locking again
    /// would wait forever.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Value").field(&self.raw.value()).finish()
    }
}

/// The number of a [`Value`] while its lock is held; dropping it writes the number back (if
/// it was changed through `DerefMut`) and then releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T: Number> {
    raw: &'a RawValue<T>,
    current: T,
    changed: bool,
    held: SharedLockGuard<'a>,
}

impl<'a, T: Number> ValueGuard<'a, T> {
    fn new(raw: &'a RawValue<T>, held: SharedLockGuard<'a>) -> Self {
        Self {
            raw,
            current: raw.value(),
            changed: false,
            held,
        }
    }

    /// `true` if the previous holder died while holding the lock. The number is what the last
    /// guard that was dropped wrote (a dead holder's change is lost whole, never half-made).
    pub fn previous_holder_died(&self) -> bool {
        self.held.previous_holder_died()
    }
}

impl<T: Number> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.current
    }
}

impl<T: Number> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.changed = true;
        &mut self.current
    }
}

impl<T: Number> Drop for ValueGuard<'_, T> {
    fn drop(&mut self) {
        // Written while the lock is still held: `held` is dropped after this body.
        if self.changed {
            self.raw.set_value(self.current);
        }
    }
}

impl<T: Number> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValueGuard").field(&self.current).finish()
    }
}

/// A fixed number of numbers in shared memory with one lock for all of them: Python's
/// `multiprocessing.Array`.
///
/// It is a [`RawArray`] ([`get_obj`](Array::get_obj)) and a [`SharedLock`]. As in Python,
/// [`get`](Array::get), [`set`](Array::set) and [`to_vec`](Array::to_vec) each take the lock;
/// to change several items together, or to read and write one, take it once with
/// [`get_lock`](Array::get_lock) and use the guard.
///
/// # Example
///
/// Two processes add their number to every item; the lock keeps each `+=` whole.
///
/// ```
/// use ipc_common::Process;
/// use shm::Array;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let items = &Array::from_slice(&[10i32, 20, 30])?; // Array('i', [10, 20, 30])
/// let workers = [1, 2]
///     .into_iter()
///     .map(|id| {
///         Process::start(format!("adder{id}"), move || -> Result<(), ipc_common::SyncError> {
///             for i in 0..items.len() {
///                 let guard = items.get_lock()?; // with items.get_lock():
///                 guard.set(i, guard.get(i) + id); //     items[i] += id
///             }
///             Ok(())
///         })
///     })
///     .collect::<Result<Vec<_>, _>>()?;
/// for w in &workers {
///     w.join()?;
/// }
/// assert_eq!(items.to_vec()?, [13, 23, 33]);
/// # Ok(()) }
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Array<T: Number> {
    // First, so that its refusal to travel to a spawned child comes before any descriptor
    // of the raw object is duplicated.
    lock: SharedLock,
    raw: RawArray<T>,
}

impl<T: Number> Array<T> {
    /// `len` numbers, all zero, with a new lock (Python's `Array('i', len)`).
    ///
    /// # Errors
    ///
    /// Fails if the shared memory or the lock cannot be made.
    pub fn new(len: usize) -> Result<Self, SyncError> {
        let raw = RawArray::new(len).map_err(mmap_error)?;
        Ok(Self::synchronized(raw, SharedLock::new()?))
    }

    /// A shared copy of `items`, with a new lock (Python's `Array('i', [1, 2, 3])`).
    ///
    /// # Errors
    ///
    /// As for [`new`](Array::new).
    pub fn from_slice(items: &[T]) -> Result<Self, SyncError> {
        let raw = RawArray::from_slice(items).map_err(mmap_error)?;
        Ok(Self::synchronized(raw, SharedLock::new()?))
    }

    /// `raw` guarded by `lock` (Python's `sharedctypes.synchronized(raw, lock)`, and
    /// `Array('i', items, lock=lock)` with `RawArray::from_slice(items)`).
    pub fn synchronized(raw: RawArray<T>, lock: SharedLock) -> Self {
        Self { raw, lock }
    }

    /// The number of items (Python's `len(a)`); it never changes.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the array has no items.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Item `index`, read under the lock (Python's `a[index]`).
    ///
    /// # Errors
    ///
    /// As for [`get_lock`](Array::get_lock).
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    pub fn get(&self, index: usize) -> Result<T, SyncError> {
        Ok(self.get_lock()?.get(index))
    }

    /// Writes item `index` under the lock (Python's `a[index] = value`).
    ///
    /// # Errors
    ///
    /// As for [`get_lock`](Array::get_lock).
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    pub fn set(&self, index: usize, value: T) -> Result<(), SyncError> {
        self.get_lock()?.set(index, value);
        Ok(())
    }

    /// A copy of the items, read under the lock (Python's `a[:]` or `list(a)`).
    ///
    /// # Errors
    ///
    /// As for [`get_lock`](Array::get_lock).
    pub fn to_vec(&self) -> Result<Vec<T>, SyncError> {
        Ok(self.get_lock()?.to_vec())
    }

    /// Writes every item from `items` under the lock (Python's `a[:] = items`).
    ///
    /// # Errors
    ///
    /// As for [`get_lock`](Array::get_lock).
    ///
    /// # Panics
    ///
    /// If `items` is not exactly as long as the array.
    pub fn copy_from_slice(&self, items: &[T]) -> Result<(), SyncError> {
        self.get_lock()?.copy_from_slice(items);
        Ok(())
    }

    /// Waits for the lock and returns a guard through which the items are read and written
    /// (Python's `with a.get_lock():`); the lock is released when the guard is dropped. As for
    /// [`Value::get_lock`], do not call the array's own locking methods while holding it.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn get_lock(&self) -> Result<ArrayGuard<'_, T>, SyncError> {
        Ok(ArrayGuard {
            raw: &self.raw,
            held: self.lock.acquire()?,
        })
    }

    /// As [`get_lock`](Array::get_lock), waiting at most `timeout`; `Ok(None)` if the lock
    /// stayed taken. The wait is exact.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn get_lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<ArrayGuard<'_, T>>, SyncError> {
        Ok(self.lock.acquire_timeout(timeout)?.map(|held| ArrayGuard {
            raw: &self.raw,
            held,
        }))
    }

    /// The items without their lock (Python's `a.get_obj()`): the same memory.
    pub fn get_obj(&self) -> &RawArray<T> {
        &self.raw
    }

    /// The lock itself (the object Python's `a.get_lock()` returns).
    pub fn shared_lock(&self) -> &SharedLock {
        &self.lock
    }
}

impl<T: Number> fmt::Debug for Array<T> {
    /// The items as read without the lock, as for [`Value`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Array").field(&self.raw.to_vec()).finish()
    }
}

/// The items of an [`Array`] while its lock is held; dropping it releases the lock.
///
/// Each read and write goes straight to shared memory (one atomic operation per item), so a
/// holder that dies half-way leaves the items it had written; the next holder's
/// [`previous_holder_died`](ArrayGuard::previous_holder_died) says so.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T: Number> {
    raw: &'a RawArray<T>,
    held: SharedLockGuard<'a>,
}

impl<T: Number> ArrayGuard<'_, T> {
    /// The number of items.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the array has no items.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Item `index`.
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    pub fn get(&self, index: usize) -> T {
        self.raw.get(index)
    }

    /// Writes item `index`.
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    pub fn set(&self, index: usize, value: T) {
        self.raw.set(index, value)
    }

    /// A copy of the items.
    pub fn to_vec(&self) -> Vec<T> {
        self.raw.to_vec()
    }

    /// Writes every item from `items`.
    ///
    /// # Panics
    ///
    /// If `items` is not exactly as long as the array.
    pub fn copy_from_slice(&self, items: &[T]) {
        self.raw.copy_from_slice(items)
    }

    /// `true` if the previous holder died while holding the lock: the items may be
    /// half-updated.
    pub fn previous_holder_died(&self) -> bool {
        self.held.previous_holder_died()
    }
}

impl<T: Number> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArrayGuard").field(&self.to_vec()).finish()
    }
}
