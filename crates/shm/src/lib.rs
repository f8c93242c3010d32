//! Python's shared memory objects in Rust: `multiprocessing.Value` and `Array` (numbers in
//! shared memory with a lock), `sharedctypes.RawValue` and `RawArray` (without), and, re-
//! exported from `ipc_common`, `shared_memory.SharedMemory` and `ShareableList` (named
//! segments, compatible with Python's).
//!
//! Make a [`Value`] or an [`Array`] *before* starting the children: a child started by fork
//! sees the very same memory, whether its closure borrows the value or the value is one of its
//! arguments. [`Value::get_lock`] and [`Array::get_lock`] return a guard: the lock is held while
//! the guard lives, as inside Python's `with v.get_lock():` block.
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
//!     let guard = items.get_lock()?;
//!     for i in 0..guard.len() {
//!         guard.set(i, guard.get(i) + 2);
//!     }
//!     Ok(())
//! })?;
//! assert_eq!(child.join()?, 0);
//! assert_eq!(counter.value()?, 1);
//! assert_eq!(items.to_vec()?, [2, 2, 2, 2, 2]);
//! # Ok(()) }
//! ```
//!
//! # Python ↔ Rust
//!
//! | Python | Rust |
//! |---|---|
//! | `Value('i', 0)` (`lock=True`) | [`Value::new(0i32)`](Value::new) |
//! | `Value('i', 0, lock=False)` | [`RawValue::new(0i32)`](RawValue::new): Python returns the raw value too |
//! | `Value('i', 0, lock=lock)` | [`Value::with_lock(0i32, lock)`](Value::with_lock) (an `ipc_common::Lock` or a [`SharedLock`]) |
//! | `RawValue('i', 0)` | [`RawValue::new(0i32)`](RawValue::new) |
//! | `v.value`, `v.value = x` | [`value()`](Value::value), [`set_value(x)`](Value::set_value) (each takes the lock) |
//! | `with v.get_lock(): v.value += 1` | `*v.`[`get_lock()`](Value::get_lock)`? += 1` |
//! | `v.get_lock().acquire(timeout=t)` | [`get_lock_timeout(t)`](Value::get_lock_timeout) |
//! | `v.get_lock()` (the lock object) | [`shared_lock()`](Value::shared_lock) |
//! | `v.get_obj()` | [`get_obj()`](Value::get_obj) (a [`RawValue`]) |
//! | `sharedctypes.synchronized(raw, lock)` | [`Value::synchronized(raw, lock)`](Value::synchronized), [`Array::synchronized`] |
//! | `Array('i', 5)`, `Array('i', [1, 2])` | [`Array::new(5)`](Array::new), [`Array::from_slice(&[1, 2])`](Array::from_slice) |
//! | `Array('i', 5, lock=False)`, `RawArray('i', 5)` | [`RawArray::new(5)`](RawArray::new) |
//! | `Array('i', items, lock=lock)` | `Array::synchronized(RawArray::from_slice(items)?, lock)` |
//! | `a[i]`, `a[i] = x`, `len(a)` | [`get(i)`](Array::get), [`set(i, x)`](Array::set), [`len()`](Array::len) |
//! | `a[:]`, `a[:] = items` | [`to_vec()`](Array::to_vec), [`copy_from_slice(items)`](Array::copy_from_slice) |
//! | `with a.get_lock(): a[i] += 1` | `let g = a.`[`get_lock()`](Array::get_lock)`?; g.set(i, g.get(i) + 1)` |
//! | `Process(target=f, args=(v,))` | `Process::new(f, v.clone())`: a clone is another handle to the same memory |
//! | `multiprocessing.shared_memory` | [`shared_memory`]: `SharedMemory`, `ShareableList` (see its own table) |
//!
//! # Python's type codes
//!
//! The element type is a Rust number type ([`Number`]) instead of a type code:
//!
//! | Python | Rust |
//! |---|---|
//! | `'b'` / `'B'`, `'h'` / `'H'` | `i8` / `u8`, `i16` / `u16` |
//! | `'i'` / `'I'` | `i32` / `u32` |
//! | `'l'` / `'L'`, `'q'` / `'Q'` | `i64` / `u64` (a C `long` is 64 bits on 64-bit Linux) |
//! | `'f'`, `'d'` | `f32`, `f64` |
//! | `'?'` | `bool` |
//!
//! # Sound sharing
//!
//! Other processes may write the numbers at any moment, so nothing here lends out a plain
//! `&T` or `&mut T` to shared memory: every number is an atomic of its size, read and written
//! by single atomic operations (see [`Number`]). A [`ValueGuard`] dereferences to a *copy*
//! made when the lock was taken and written back when it is dropped; an [`ArrayGuard`] reads
//! and writes items one at a time.
//!
//! # The lock, and what it does not do
//!
//! As in Python, [`Value::value`] and [`Value::set_value`] each take the lock once, so
//! `v.set_value(v.value()? + 1)` is two locked steps and **loses updates** when several
//! processes do it at once; hold one guard across the read and the write instead.
//!
//! The lock is an [`ipc_common::Lock`], which is not reentrant: inside a guard, use the guard,
//! not `value()` (Python's default lock is an `RLock`, so its `with v.get_lock(): v.value +=
//! 1` works; here it would wait for itself).
//!
//! The locks are robust: if a process dies while holding one, the next locker gets it and
//! [`ValueGuard::previous_holder_died`] (or [`ArrayGuard::previous_holder_died`]) says so.
//! Python's lock stays held forever in that case.
//!
//! # Start methods
//!
//! [`RawValue`] and [`RawArray`] (and [`shared_memory`]'s objects) are arguments of children
//! started by any method: their memory is a memfd, whose descriptor travels with the
//! arguments. A [`Value`] or an [`Array`] travels under fork only, for now: its lock cannot go
//! to a spawned child yet (see [`SharedLock`](SharedLock#spawned-children)).

mod lock;
mod number;
mod raw;
mod synchronized;

pub use ipc_common::shared_memory;
pub use lock::{SharedLock, SharedLockGuard};
pub use number::Number;
pub use raw::{RawArray, RawValue};
pub use synchronized::{Array, ArrayGuard, Value, ValueGuard};
