//! Calling a function in another process by number: how a pool sends "run `f` on these
//! arguments" to workers that were forked before `f` was chosen.
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
//! Arguments and results travel in chunks: a call decodes a JSON array of arguments, applies
//! the function to each, and encodes the JSON array of results (Python's `map` chunks).

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};

use serde::Serialize;
use serde::de::DeserializeOwned;

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
    #[error("arguments or results of {0:?} are not valid JSON for its types: {1}")]
    Json(FnId, #[source] serde_json::Error),
    /// The table's memory or lock failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// Decodes a chunk of arguments, calls the function stored at `func` on each, encodes the
/// results. One instance exists per argument and result type.
type Trampoline = fn(usize, &[u8], &mut Vec<u8>) -> Result<(), serde_json::Error>;

fn trampoline<T: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    // SAFETY: `func` was stored by `FnTable::register::<T, R>` as the offset of a `fn(T) -> R`
    // of this program image (the table is written nowhere else), together with this very
    // instantiation of `trampoline::<T, R>`; every worker runs the same executable, where the
    // offset names the same function (crate::image). So `func` is a valid `fn(T) -> R`.
    let f: fn(T) -> R = unsafe { std::mem::transmute::<usize, fn(T) -> R>(func) };
    let args: Vec<T> = serde_json::from_slice(args)?;
    let results: Vec<R> = args.into_iter().map(f).collect();
    out.clear();
    serde_json::to_writer(out, &results)
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
/// use ipc_common::remote::FnTable;
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
///     let mut out = Vec::new();
///     table.call(ipc_common::remote::FnId(0), b"[1,2,3]", &mut out).unwrap();
///     assert_eq!(out, b"[1,4,9]");
/// })?;
/// let id = table.register(square)?;
/// assert_eq!(id.0, 0);
/// assert_eq!(worker.join()?, 0);
/// # Ok(()) }
/// ```
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
    pub fn register<T: DeserializeOwned, R: Serialize>(
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

    /// Calls function `id` on each argument of the JSON array `args`, writing the JSON
    /// array of results into `out`. A panic of the function unwinds out of this call.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Unknown`] for an id never registered, [`RemoteError::Json`] when `args`
    /// is not an array of the function's argument type.
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
        call(func, args, out).map_err(|e| RemoteError::Json(id, e))
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
