//! The shared core of the workspace: what every section of the notes needs, and the one place
//! with `unsafe` code.
//!
//! - [`Process`]: a child made with `fork` that runs a closure (Python's `Process`).
//! - [`ShmBox`] and [`ShmSlice`]: anonymous shared memory that children inherit.
//! - [`sync`]: process-shared [`Lock`], [`Mutex`], [`Semaphore`] and [`Event`], with exact
//!   timeouts.
//! - [`ring`]: a ring of byte frames in shared memory, the transport of queues and pools.
//! - [`remote`]: functions that forked workers call by number (the pool's tasks).
//! - [`pyfmt`]: values printed the way Python prints them, so outputs match the notes.
//! - [`sigpipe`]: writes to a pipe nobody reads fail with `EPIPE`, whatever `SIGPIPE` does.
//!
//! Every `unsafe` block carries a `// SAFETY:` comment; the other crates forbid `unsafe`.
#![allow(unsafe_code)]

pub mod auth;
pub mod cli;
pub mod codec;
pub mod current;
pub mod fault;
#[cfg(feature = "floor")]
pub mod floor;
pub mod frame;
mod image;
pub mod process;
pub mod pyfmt;
pub mod remote;
pub mod ring;
pub mod share;
pub mod shared_memory;
pub mod shm;
pub mod sigpipe;
pub mod sync;
#[doc(hidden)]
pub mod testing;
pub mod time;
pub mod trace;

pub use current::{ProcessInfo, current_process, parent_process};
pub use process::{
    ChildOutcome, Context, Process, ProcessError, StartMethod, get_context, get_start_method,
    set_start_method,
};
pub use process::{active_children, cpu_count};
pub use shm::{ShmBox, ShmSafe, ShmShared, ShmSlice};
pub use sync::{
    Barrier, BoundedSemaphore, Condition, ConditionGuard, ConditionLock, Event, Lock, LockGuard,
    Mutex, MutexGuard, MutexSlice, RLock, RLockGuard, Semaphore, SemaphoreGuard, SyncError,
};
