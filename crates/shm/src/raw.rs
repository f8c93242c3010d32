//! [`RawValue`] and [`RawArray`]: numbers in shared memory without a lock (Python's
//! `multiprocessing.sharedctypes.RawValue` and `RawArray`).
//!
//! # The shared words
//!
//! Each number is one atomic ([`Number::Cell`]) in a memfd mapping ([`ShmBox`] for a value,
//! [`ShmSlice`] for an array), shared by every process that holds a handle.
//!
//! - Reads are `Acquire` loads and writes `Release` stores: a process that writes other shared
//!   data and then a number publishes that data to whoever reads the number, as C code on x86
//!   gets for free (on x86 both are plain moves; on ARM `ldar`/`stlr`).
//! - Nothing orders *two* numbers against a third process's read-modify-write: `v += 1` from
//!   two processes loses updates. That is what the lock of [`Value`](crate::Value) and
//!   [`Array`](crate::Array) is for, as in Python.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Release};

use ipc_common::{ShmBox, ShmSlice};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Number;

/// One number in shared memory, without a lock: Python's `RawValue` (and what
/// `Value(..., lock=False)` returns).
///
/// Reads and writes are single atomic operations, so they never tear, but a read followed by
/// a write is two steps: use [`Value`](crate::Value) for read-modify-write from several
/// processes.
///
/// A clone is another handle to the same number (Python's reference to the same object); a
/// handle given to a child started by any method (fork, spawn, forkserver) is too.
///
/// # Example
///
/// ```
/// use ipc_common::{Process, StartMethod};
/// use shm::RawValue;
///
/// fn set_done(flag: RawValue<bool>) {
///     flag.set_value(true);
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let done = RawValue::new(false)?; // RawValue('?', False)
/// let child = Process::new(set_done, done.clone())
///     .start_method(StartMethod::Spawn)
///     .start()?;
/// child.join_ok()?;
/// assert!(done.value());
/// # Ok(()) }
/// ```
pub struct RawValue<T: Number> {
    cell: Arc<ShmBox<T::Cell>>,
}

impl<T: Number> RawValue<T> {
    /// A new shared number holding `value` (Python's `RawValue('i', value)`).
    ///
    /// # Errors
    ///
    /// Fails when the kernel refuses the memory.
    pub fn new(value: T) -> io::Result<Self> {
        let this = Self {
            cell: Arc::new(ShmBox::zeroed()?),
        };
        this.set_value(value);
        Ok(this)
    }

    /// Reads the number (Python's `v.value`).
    pub fn value(&self) -> T {
        T::load(&self.cell, Acquire)
    }

    /// Writes the number (Python's `v.value = x`).
    pub fn set_value(&self, value: T) {
        T::store(&self.cell, value, Release)
    }
}

impl<T: Number> Clone for RawValue<T> {
    fn clone(&self) -> Self {
        Self {
            cell: Arc::clone(&self.cell),
        }
    }
}

impl<T: Number> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawValue").field(&self.value()).finish()
    }
}

impl<T: Number> Serialize for RawValue<T> {
    /// As an argument of a process start: the memory's descriptor travels.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.cell.serialize(serializer)
    }
}

impl<'de, T: Number> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self {
            cell: Arc::new(ShmBox::deserialize(deserializer)?),
        })
    }
}

/// A fixed number of numbers in shared memory, without a lock: Python's `RawArray` (and what
/// `Array(..., lock=False)` returns).
///
/// Each item is read and written by one atomic operation; nothing makes several of them
/// change together (use [`Array`](crate::Array) for that). A clone is another handle to the
/// same items.
///
/// # Example
///
/// ```
/// use ipc_common::Process;
/// use shm::RawArray;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let squares = RawArray::<u64>::new(4)?; // RawArray('Q', 4)
/// let child = Process::start("squares", || {
///     for i in 0..squares.len() {
///         squares.set(i, (i * i) as u64); // each process writes its own items
///     }
/// })?;
/// child.join_ok()?;
/// assert_eq!(squares.to_vec(), [0, 1, 4, 9]);
/// # Ok(()) }
/// ```
pub struct RawArray<T: Number> {
    cells: Arc<ShmSlice<T::Cell>>,
}

impl<T: Number> RawArray<T> {
    /// `len` numbers, all zero (Python's `RawArray('i', len)`).
    ///
    /// # Errors
    ///
    /// Fails when the kernel refuses the memory.
    pub fn new(len: usize) -> io::Result<Self> {
        Ok(Self {
            cells: Arc::new(ShmSlice::zeroed(len)?),
        })
    }

    /// A shared copy of `items` (Python's `RawArray('i', [1, 2, 3])`).
    ///
    /// # Errors
    ///
    /// As for [`new`](RawArray::new).
    pub fn from_slice(items: &[T]) -> io::Result<Self> {
        let array = Self::new(items.len())?;
        array.copy_from_slice(items);
        Ok(array)
    }

    /// The number of items (Python's `len(a)`); it never changes.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether the array has no items.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Item `index` (Python's `a[index]`).
    ///
    /// # Panics
    ///
    /// If `index` is out of range (Python's `IndexError`).
    pub fn get(&self, index: usize) -> T {
        T::load(self.cell(index), Acquire)
    }

    /// Writes item `index` (Python's `a[index] = value`).
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    pub fn set(&self, index: usize, value: T) {
        T::store(self.cell(index), value, Release)
    }

    /// A copy of the items, read one at a time (Python's `a[:]`).
    pub fn to_vec(&self) -> Vec<T> {
        self.cells.iter().map(|c| T::load(c, Acquire)).collect()
    }

    /// Writes every item from `items`, one at a time (Python's `a[:] = items`).
    ///
    /// # Panics
    ///
    /// If `items` is not exactly as long as the array (Python's `ValueError`).
    pub fn copy_from_slice(&self, items: &[T]) {
        assert_eq!(
            items.len(),
            self.len(),
            "a shared array of {} items cannot take {} items",
            self.len(),
            items.len()
        );
        for (cell, &item) in self.cells.iter().zip(items) {
            T::store(cell, item, Release);
        }
    }

    fn cell(&self, index: usize) -> &T::Cell {
        let len = self.len();
        self.cells
            .get(index)
            .unwrap_or_else(|| panic!("index {index} out of range for a shared array of {len}"))
    }
}

impl<T: Number> Clone for RawArray<T> {
    fn clone(&self) -> Self {
        Self {
            cells: Arc::clone(&self.cells),
        }
    }
}

impl<T: Number> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawArray").field(&self.to_vec()).finish()
    }
}

impl<T: Number> Serialize for RawArray<T> {
    /// As an argument of a process start: the memory's descriptor travels.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.cells.serialize(serializer)
    }
}

impl<'de, T: Number> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self {
            cells: Arc::new(ShmSlice::deserialize(deserializer)?),
        })
    }
}
