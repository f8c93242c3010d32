//! The shared core of the workspace: what every section of the notes needs, and the one place
//! with `unsafe` code.
//!
//! - [`Process`]: a child made with `fork` that runs a closure (Python's `Process`).
//! - [`ShmBox`] and [`ShmSlice`]: anonymous shared memory that children inherit.
//! - [`sync`]: process-shared [`Lock`], [`Mutex`], [`Semaphore`] and [`Event`], with exact
//!   timeouts.
//! - [`ring`]: a ring of byte frames in shared memory, the transport of queues and pools.
//! - [`remote`]: functions that forked workers call by number (the pool's tasks).
//! - [`floor`]: the bare OS mechanisms, for benchmarks to compare against.
//! - [`pyfmt`]: values printed the way Python prints them, so outputs match the notes.
//! - [`sigpipe`]: writes to a pipe nobody reads fail with `EPIPE`, whatever `SIGPIPE` does.
//!
//! Every `unsafe` block carries a `// SAFETY:` comment; the other crates forbid `unsafe`.
#![allow(unsafe_code)]

pub mod cli;
pub mod codec;
pub mod fault;
pub mod floor;
pub mod frame;
pub mod process;
pub mod pyfmt;
pub mod remote;
pub mod ring;
pub mod shm;
pub mod sigpipe;
pub mod sync;
pub mod testing;
pub mod time;

pub use process::{ChildOutcome, Process, ProcessError};
pub use shm::{ShmBox, ShmSafe, ShmSlice};
pub use sync::{
    Barrier, BoundedSemaphore, Condition, ConditionGuard, ConditionLock, Event, Lock, LockGuard,
    Mutex, MutexGuard, MutexSlice, RLock, RLockGuard, Semaphore, SemaphoreGuard, SyncError,
};
