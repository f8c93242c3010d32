//! Calling a function in another process by number: how a pool sends "run `f` on these
//! arguments" to workers that were started (by fork, spawn or forkserver) before `f` was chosen.
//!
//! Python pickles a function by its name, and the worker looks the name up. A worker runs the
//! same program as its parent (a fork of it, or a fresh run of the same executable under
//! spawn and forkserver), and a program is loaded as one block, so a function lies at the
//! same distance from any other function of the program in every run. [`FnTable`] keeps, in
//! shared memory, each registered function's *offset* from a fixed function of this crate
//! and hands out small [`FnId`]s; a task message carries the id and the arguments, and the
//! worker calls [`FnTable::call`], which turns the offsets back into addresses of its own run.
//! The table is written only through [`FnTable::register`], so an id read from a message can
//! at worst name the wrong registered function (its arguments then fail to decode); it can
//! never make the worker jump to an address that is not a registered function.
//!
//! Arguments and results travel in chunks (Python's `map` chunks): a chunk is a sequence of
//! items, each a `u64` little-endian length and then the value's [`codec`](crate::codec) encoding
//! (postcard, or the raw bytes of a `Vec<u8>`, a `String` or a vector of plain numbers, so
//! that a large buffer is copied once, never visited value by value). [`push_item`]
//! and [`items`] write and read that layout. A call decodes the arguments, applies the function to
//! each, and encodes the results the same way.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::CodecError;
use crate::image::{address, offset};
use crate::shm::{ShmBox, ShmSafe};
use crate::sync::{RawLock, SyncError};

/// How many functions one table can hold.
pub const CAPACITY: usize = 256;

/// The number of a function registered in an [`FnTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FnId(pub u32);

/// Why a registration or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The table already holds [`CAPACITY`] functions.
    #[error("the function table is full ({CAPACITY} functions)")]
    Full,
    /// No function has this id.
    #[error("no function is registered as {0:?}")]
    Unknown(FnId),
    /// The arguments did not decode as the function's argument type, or the results did not
    /// encode.
    #[error("arguments or results of {0:?} do not fit its types: {1}")]
    Codec(FnId, #[source] CodecError),
    /// The table's memory or lock failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// Decodes a chunk of arguments, calls the function stored at `func` on each, encodes the
/// results. One instance exists per argument and result type.
type Trampoline = fn(usize, &[u8], &mut Vec<u8>) -> Result<(), CodecError>;

/// Appends one item of a chunk to `out`: its length (`u64`, little-endian), then its
/// [`codec`](crate::codec) encoding.
///
/// # Errors
///
/// [`CodecError::Encode`] if the value's `Serialize` fails.
pub fn push_item<T: Serialize + 'static>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let at = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    crate::codec::encode(value, out)?;
    let len = (out.len() - at - 8) as u64;
    out[at..at + 8].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// The items of a chunk written by [`push_item`], decoded as `T`s.
///
/// # Errors
///
/// [`CodecError::Mismatch`] for a length that runs past the end; the items' decoding errors.
pub fn items<T: DeserializeOwned + 'static>(mut chunk: &[u8]) -> Result<Vec<T>, CodecError> {
    let ty = std::any::type_name::<T>();
    let mut values = Vec::new();
    while !chunk.is_empty() {
        let short = || CodecError::Mismatch {
            ty,
            why: "a chunk item runs past the end of the chunk".to_string(),
        };
        let (len, rest) = chunk.split_first_chunk::<8>().ok_or_else(short)?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| short())?;
        let item = rest.get(..len).ok_or_else(short)?;
        values.push(crate::codec::decode::<T>(item)?);
        chunk = &rest[len..];
    }
    Ok(values)
}

fn trampoline<T: DeserializeOwned + 'static, R: Serialize + 'static>(
    func: usize,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    // SAFETY: `func` was stored by `FnTable::register::<T, R>` as the offset of a `fn(T) -> R`
    // of this program image (the table is written nowhere else), together with this very
    // instantiation of `trampoline::<T, R>`; every worker runs the same executable, where the
    // offset names the same function (crate::image). So `func` is a valid `fn(T) -> R`.
    let f: fn(T) -> R = unsafe { std::mem::transmute::<usize, fn(T) -> R>(func) };
    let args: Vec<T> = items(args)?;
    for arg in args {
        push_item(&f(arg), out)?;
    }
    Ok(())
}

struct Table {
    lock: RawLock,
    len: AtomicU32,
    /// Pairs of (trampoline, function) offsets in the program image (crate::image).
    entries: [[AtomicUsize; 2]; CAPACITY],
}

// SAFETY: a robust mutex and atomics holding offsets, not pointers; valid when zeroed; no
// destructor.
unsafe impl ShmSafe for Table {}

/// Functions that this process and its children can call by [`FnId`].
///
/// # Example
///
/// ```
/// use ipc_common::Process;
/// use ipc_common::remote::{self, FnTable};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let table = FnTable::new()?;
/// let worker = Process::start("worker", || {
///     // Registered after the fork, and still callable here: the table is shared.
///     while table.len() == 0 {
///         std::thread::yield_now();
///     }
///     let mut args = Vec::new();
///     for x in [1u64, 2, 3] {
///         remote::push_item(&x, &mut args).unwrap();
///     }
///     let mut out = Vec::new();
///     table.call(remote::FnId(0), &args, &mut out).unwrap();
///     assert_eq!(remote::items::<u64>(&out).unwrap(), [1, 4, 9]);
/// })?;
/// let id = table.register(square)?;
/// assert_eq!(id.0, 0);
/// assert_eq!(worker.join()?, 0);
/// # Ok(()) }
/// ```
///
/// A table travels to a child started by spawn or forkserver as an argument (its memory's
/// descriptor goes with it, see [`crate::share`]).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct FnTable {
    table: ShmBox<Table>,
}

impl FnTable {
    /// An empty table in a new shared mapping.
    ///
    /// # Errors
    ///
    /// Fails if the mapping or its lock cannot be made.
    pub fn new() -> Result<Self, SyncError> {
        let table = ShmBox::<Table>::zeroed().map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        table.lock.init()?;
        Ok(Self { table })
    }

    /// Adds `f` (or finds it, if it is already there) and returns its id.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Full`] when [`CAPACITY`] functions are registered.
    pub fn register<T: DeserializeOwned + 'static, R: Serialize + 'static>(
        &self,
        f: fn(T) -> R,
    ) -> Result<FnId, RemoteError> {
        let pair = [
            offset(trampoline::<T, R> as Trampoline as usize) as usize,
            offset(f as usize) as usize,
        ];
        let t = &*self.table;
        t.lock.lock(None)?;
        let len = t.len.load(SeqCst) as usize;
        let found = (0..len).find(|&i| t.entries[i].each_ref().map(|a| a.load(SeqCst)) == pair);
        let id = match found {
            Some(i) => Ok(FnId(i as u32)),
            None if len == CAPACITY => Err(RemoteError::Full),
            None => {
                t.entries[len][0].store(pair[0], SeqCst);
                t.entries[len][1].store(pair[1], SeqCst);
                // Published last: a reader that sees the new length sees the entry.
                t.len.store(len as u32 + 1, SeqCst);
                Ok(FnId(len as u32))
            }
        };
        t.lock.unlock();
        id
    }

    /// Calls function `id` on each item of the chunk `args` (see [`push_item`]), appending
    /// the chunk of results to `out`. A panic of the function unwinds out of this call.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Unknown`] for an id never registered, [`RemoteError::Codec`] when `args`
    /// are not items of the function's argument type.
    pub fn call(&self, id: FnId, args: &[u8], out: &mut Vec<u8>) -> Result<(), RemoteError> {
        let t = &*self.table;
        let index = id.0 as usize;
        if index >= t.len.load(SeqCst) as usize {
            return Err(RemoteError::Unknown(id));
        }
        let [call, func] = t.entries[index]
            .each_ref()
            .map(|a| address(a.load(SeqCst) as i64));
        // SAFETY: entries below `len` were written by `register` as the offset of a
        // `trampoline::<T, R>` instantiation of this program image, which every worker runs
        // (crate::image); `address` turned it into this run's address.
        let call: Trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(call) };
        call(func, args, out).map_err(|e| RemoteError::Codec(id, e))
    }

    /// Another handle to the same table (a second mapping of its memory), to give to a child
    /// as an argument while keeping this one.
    ///
    /// # Errors
    ///
    /// Fails when the process is out of descriptors or address space.
    pub fn try_clone(&self) -> Result<Self, SyncError> {
        let table = self.table.try_clone().map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        Ok(Self { table })
    }

    /// The number of registered functions.
    pub fn len(&self) -> usize {
        self.table.len.load(SeqCst) as usize
    }

    /// Whether no function is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for FnTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnTable").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_reject_garbage() {
        let mut chunk = Vec::new();
        push_item(&vec![1u8, 2, 3], &mut chunk).expect("encode");
        push_item(&Vec::<u8>::new(), &mut chunk).expect("encode");
        assert_eq!(
            items::<Vec<u8>>(&chunk).expect("decode"),
            [vec![1, 2, 3], vec![]]
        );
        // Cut short, a length past the end, or another type: an error, never a panic.
        assert!(items::<Vec<u8>>(&chunk[..chunk.len() - 1]).is_err());
        assert!(items::<u64>(&[255; 8]).is_err());
        assert!(items::<u64>(&[1, 2, 3]).is_err());
        let mut text = Vec::new();
        push_item(&"not a number".to_string(), &mut text).expect("encode");
        assert!(items::<(u64, u64)>(&text).is_err());
    }
}
