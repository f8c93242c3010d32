//! [`Number`]: the plain numbers a shared value or array holds, and the atomic each one lives
//! in.

use std::fmt;
use std::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16, AtomicU32,
    AtomicU64, AtomicUsize, Ordering,
};

use ipc_common::ShmShared;

/// The plain number types a [`RawValue`](crate::RawValue), [`Value`](crate::Value),
/// [`RawArray`](crate::RawArray) or [`Array`](crate::Array) can hold: Python's type codes (see
/// the [crate docs](crate#pythons-type-codes)).
///
/// In shared memory each number lives in an atomic of its size ([`Number::Cell`]: `AtomicI32`
/// for `i32`, `AtomicU64` holding the bits of an `f64`, `AtomicU8` for a `bool`), and every
/// read and write is one atomic load or store. Another process may change the number at any
/// moment, so nothing here ever holds a plain `&T` or `&mut T` to shared memory: that would
/// let the compiler assume the number does not change under it.
///
/// It is implemented for the integer types up to 64 bits, `f32`, `f64` and `bool`, and cannot
/// be implemented outside this crate.
pub trait Number:
    Copy + Send + Sync + Default + PartialEq + fmt::Debug + 'static + sealed::Sealed
{
    /// The atomic that holds the number in shared memory.
    type Cell: ShmShared + Send + Sync + 'static;

    /// Reads the number (one atomic load).
    fn load(cell: &Self::Cell, order: Ordering) -> Self;

    /// Writes the number (one atomic store).
    fn store(cell: &Self::Cell, value: Self, order: Ordering);
}

mod sealed {
    /// Keeps [`Number`](super::Number) to the types of this module.
    pub trait Sealed {}
}

macro_rules! integers {
    ($($t:ty => $cell:ty),* $(,)?) => { $(
        impl sealed::Sealed for $t {}
        impl Number for $t {
            type Cell = $cell;
            fn load(cell: &$cell, order: Ordering) -> Self {
                cell.load(order)
            }
            fn store(cell: &$cell, value: Self, order: Ordering) {
                cell.store(value, order)
            }
        }
    )* };
}
integers!(
    i8 => AtomicI8, u8 => AtomicU8, i16 => AtomicI16, u16 => AtomicU16,
    i32 => AtomicI32, u32 => AtomicU32, i64 => AtomicI64, u64 => AtomicU64,
    isize => AtomicIsize, usize => AtomicUsize,
);

macro_rules! floats {
    ($($t:ty => $cell:ty),* $(,)?) => { $(
        impl sealed::Sealed for $t {}
        impl Number for $t {
            /// The float's bits: every bit pattern is some float (or a NaN).
            type Cell = $cell;
            fn load(cell: &$cell, order: Ordering) -> Self {
                <$t>::from_bits(cell.load(order))
            }
            fn store(cell: &$cell, value: Self, order: Ordering) {
                cell.store(value.to_bits(), order)
            }
        }
    )* };
}
floats!(f32 => AtomicU32, f64 => AtomicU64);

impl sealed::Sealed for bool {}
impl Number for bool {
    /// A byte, not an `AtomicBool`: another process may leave any byte there, and only 0 and
    /// 1 are valid `bool`s. Any other byte reads as `true`, as C's `_Bool` conversion does.
    type Cell = AtomicU8;
    fn load(cell: &AtomicU8, order: Ordering) -> Self {
        cell.load(order) != 0
    }
    fn store(cell: &AtomicU8, value: Self, order: Ordering) {
        cell.store(u8::from(value), order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn floats_and_bools_round_trip_through_their_cells() {
        let cell = AtomicU64::new(0);
        f64::store(&cell, -2.5, Relaxed);
        assert_eq!(f64::load(&cell, Relaxed), -2.5);
        let byte = AtomicU8::new(7); // a byte another process may have left
        assert!(bool::load(&byte, Relaxed));
        bool::store(&byte, false, Relaxed);
        assert_eq!(byte.load(Relaxed), 0);
    }
}
