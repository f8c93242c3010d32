//! Process-shared synchronisation: [`Lock`], [`Mutex`], [`Semaphore`], [`BoundedSemaphore`]
//! and [`Event`].
//!
//! Each lives in its own anonymous shared mapping, made before the children are started and
//! inherited by them (Python passes its locks to `Process(args=...)`; here the child's closure
//! borrows them). All waits can have a timeout, and timeouts are exact: a deadline is turned
//! into an absolute time with the nanoseconds carried into the seconds, so a wait never ends
//! early with `EINVAL` (the bug measured in raw_sync 0.1.5).
//!
//! | primitive | built on | when a holder dies |
//! |---|---|---|
//! | [`Lock`], [`Mutex`], [`MutexSlice`] | robust, process-shared pthread mutex | the next holder gets it, and is told |
//! | [`Semaphore`], [`BoundedSemaphore`] | futex | its permit stays taken (as in Python) |
//! | [`Event`] | futex | nothing is held, nothing is lost |

mod event;
pub mod futex;
mod lock;
mod mutex;
mod semaphore;

pub use event::Event;
pub(crate) use lock::RawLock;
pub use lock::{Lock, LockGuard};
pub use mutex::{Mutex, MutexGuard, MutexSlice};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};

/// Why a synchronisation call failed. Timeouts are not errors: timed calls return `None` or
/// `false`, as Python returns `False`.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A system call failed.
    #[error("{call} failed: {source}")]
    Os {
        /// The call that failed.
        call: &'static str,
        /// The error it gave.
        #[source]
        source: std::io::Error,
    },
    /// A release would take the count of free permits above its bound (Python's
    /// `ValueError` for a [`BoundedSemaphore`]).
    #[error("semaphore released too many times (it has {limit} permits)")]
    TooManyReleases {
        /// The most free permits the semaphore may have.
        limit: u32,
    },
}
