//! Python's `multiprocessing.Value` and `multiprocessing.Array` in Rust: numbers in shared
//! memory, each guarded by its own process-shared lock.
//!
//! Make a [`Value`] or an [`Array`] *before* starting the children with
//! [`Process::start`](ipc_common::Process::start); the children's closures borrow it and see
//! the very same memory. [`Value::get_lock`] and [`Array::get_lock`] return a guard: the lock
//! is held while the guard lives, and the guard dereferences to the number (or the slice), so
//! a read-modify-write is one statement, as `with v.get_lock(): v.value += 1` is in Python:
//!
//! ```
//! use ipc_common::Process;
//! use shm::{Array, Value};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let counter = Value::new(0i32)?; // multiprocessing.Value('i', 0)
//! let items = Array::<i32>::new(5)?; // multiprocessing.Array('i', 5)
//! let child = Process::start("worker", || -> Result<(), ipc_common::SyncError> {
//!     *counter.get_lock()? += 1;
//!     for item in items.get_lock()?.iter_mut() {
//!         *item += 2;
//!     }
//!     Ok(())
//! })?;
//! assert_eq!(child.join()?, 0);
//! assert_eq!(counter.value()?, 1);
//! assert_eq!(items.to_vec()?, [2, 2, 2, 2, 2]);
//! # Ok(()) }
//! ```
//!
//! # Python's type codes
//!
//! The element type is a Rust number type ([`Number`]) instead of a type code:
//!
//! | Python | Rust |
//! |---|---|
//! | `'b'` / `'B'`, `'h'` / `'H'` | `i8` / `u8`, `i16` / `u16` |
//! | `'i'` / `'I'` | `i32` / `u32` |
//! | `'l'` / `'L'`, `'q'` / `'Q'` | `i64` / `u64` |
//! | `'f'`, `'d'` | `f32`, `f64` |
//!
//! # The lock, and what it does not do
//!
//! As in Python, [`Value::value`] and [`Value::set_value`] each take the lock once, so
//! `v.set_value(v.value()? + 1)` is two locked steps and **loses updates** when several
//! processes do it at once; hold one guard across the read and the write instead.
//!
//! The locks are robust ([`ipc_common::Mutex`]): if a process dies while holding one, the next
//! locker gets it and [`MutexGuard::previous_holder_died`] says that the number may be
//! half-updated. Python's lock stays held forever in that case.

use std::fmt;

use ipc_common::{Mutex, MutexSlice, ShmSafe, SyncError};

pub use ipc_common::MutexGuard;

/// The plain number types a [`Value`] or an [`Array`] can hold: Python's numeric type codes.
///
/// It is implemented for every integer type and for `f32` and `f64`, and cannot be
/// implemented outside this crate.
pub trait Number:
    ShmSafe + Copy + Send + Default + PartialEq + fmt::Debug + sealed::Sealed
{
}

mod sealed {
    /// Keeps [`Number`](super::Number) to the types listed here.
    pub trait Sealed {}
}

macro_rules! numbers {
    ($($t:ty),*) => { $(
        impl sealed::Sealed for $t {}
        impl Number for $t {}
    )* };
}
numbers!(
    i8, u8, i16, u16, i32, u32, i64, u64, i128, u128, isize, usize, f32, f64
);

/// One number in shared memory with its own lock: Python's `multiprocessing.Value`.
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
/// let counter = Value::new(0u64)?;
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
pub struct Value<T: Number> {
    shared: Mutex<T>,
}

impl<T: Number> Value<T> {
    /// A new shared number holding `value` (Python's `Value('i', value)`).
    ///
    /// # Errors
    ///
    /// Fails if the shared mapping or its lock cannot be made.
    pub fn new(value: T) -> Result<Self, SyncError> {
        Ok(Self {
            shared: Mutex::new(value)?,
        })
    }

    /// Waits for the lock and returns a guard that dereferences (mutably) to the number; the
    /// lock is released when the guard is dropped (Python's `with v.get_lock():`).
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn get_lock(&self) -> Result<MutexGuard<'_, T>, SyncError> {
        self.shared.lock()
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
    /// # Errors
    ///
    /// As for [`get_lock`](Value::get_lock).
    pub fn set_value(&self, value: T) -> Result<(), SyncError> {
        *self.get_lock()? = value;
        Ok(())
    }
}

impl<T: Number> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not locked: the caller may hold the guard, and locking again would wait forever.
        f.write_str("Value { .. }")
    }
}

/// A fixed number of numbers in shared memory with one lock for all of them: Python's
/// `multiprocessing.Array`.
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
/// let items = &Array::from_slice(&[10i32, 20, 30])?;
/// let workers = [1, 2]
///     .into_iter()
///     .map(|id| {
///         Process::start(format!("adder{id}"), move || -> Result<(), ipc_common::SyncError> {
///             for i in 0..items.len() {
///                 items.get_lock()?[i] += id;
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
pub struct Array<T: Number> {
    shared: MutexSlice<T>,
}

impl<T: Number> Array<T> {
    /// `len` numbers, all zero (Python's `Array('i', len)`).
    ///
    /// # Errors
    ///
    /// Fails if the shared mapping or its lock cannot be made.
    pub fn new(len: usize) -> Result<Self, SyncError> {
        Ok(Self {
            shared: MutexSlice::zeroed(len)?,
        })
    }

    /// A shared copy of `items` (Python's `Array('i', [1, 2, 3])`).
    ///
    /// # Errors
    ///
    /// As for [`new`](Array::new).
    pub fn from_slice(items: &[T]) -> Result<Self, SyncError> {
        let array = Self::new(items.len())?;
        array.get_lock()?.copy_from_slice(items);
        Ok(array)
    }

    /// The number of items (Python's `len(a)`); it never changes.
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether the array has no items.
    pub fn is_empty(&self) -> bool {
        self.shared.is_empty()
    }

    /// Waits for the lock and returns a guard that dereferences (mutably) to the items; the
    /// lock is released when the guard is dropped (Python's `with a.get_lock():`).
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn get_lock(&self) -> Result<MutexGuard<'_, [T]>, SyncError> {
        self.shared.lock()
    }

    /// A copy of the items, read under the lock (Python's `list(a)`).
    ///
    /// # Errors
    ///
    /// As for [`get_lock`](Array::get_lock).
    pub fn to_vec(&self) -> Result<Vec<T>, SyncError> {
        Ok(self.get_lock()?.to_vec())
    }
}

impl<T: Number> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not locked, as for `Value`.
        f.debug_struct("Array").field("len", &self.len()).finish()
    }
}
