//! What can go wrong in a pool, as one clonable error type.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ipc_common::ProcessError;
use ipc_common::codec::CodecError;
use ipc_common::remote::RemoteError;
use ipc_common::ring::RingError;
use ipc_common::sync::SyncError;
use nix::sys::signal::Signal;

/// Why a pool call, or one of its tasks, failed.
///
/// The error of a task is kept until its result is asked for, and may be asked for more than
/// once ([`AsyncResult::get_timeout`](crate::AsyncResult::get_timeout)), so the type is
/// [`Clone`]: errors from the layers below are shared behind an [`Arc`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    /// [`Pool::new`](crate::Pool::new) was asked for zero workers.
    #[error("a pool needs at least one worker process")]
    NoWorkers,
    /// The task panicked in its worker (Python: the task raised). The worker goes on.
    #[error("task panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
        /// Where the panic happened (`file:line:column`), if known.
        location: Option<String>,
    },
    /// The worker process running the task died before it returned a result (killed by a
    /// signal, or it called `exit`). The pool starts a replacement; other tasks are not lost.
    #[error(
        "worker process {name} (pid {pid}) died while running this task ({})",
        Death(*signal, *exitcode)
    )]
    WorkerDied {
        /// The dead worker's name (`PoolWorker-3`: the third worker the pool started), which
        /// is also its command name in `ps`.
        name: String,
        /// The dead worker's pid.
        pid: i32,
        /// The signal that killed it, if a signal did.
        signal: Option<Signal>,
        /// Its exit code in Python's meaning: minus the signal number when killed.
        exitcode: i32,
    },
    /// The worker could not call the function (its arguments did not decode, say).
    #[error("the worker could not run the task: {0}")]
    Remote(String),
    /// [`AsyncResult::get_timeout`](crate::AsyncResult::get_timeout) ran out of time; the
    /// task goes on, and its result can still be asked for.
    #[error("no result within {0:?}")]
    Timeout(Duration),
    /// A task was submitted after [`close`](crate::Pool::close) or
    /// [`terminate`](crate::Pool::terminate).
    #[error("the pool is closed: it takes no new tasks")]
    Closed,
    /// The task was cancelled before it started
    /// ([`Future::cancel`](crate::Future::cancel),
    /// [`Executor::shutdown`](crate::Executor::shutdown) with `cancel_futures`).
    #[error("the task was cancelled before it started")]
    Cancelled,
    /// The pool was terminated before the task finished.
    #[error("the pool was terminated before the task finished")]
    Terminated,
    /// [`join`](crate::Pool::join) was called on a pool still taking tasks.
    #[error("join() needs close() or terminate() first")]
    NotClosed,
    /// The arguments could not be encoded.
    #[error("cannot encode the task's arguments: {0}")]
    Encode(#[source] Arc<CodecError>),
    /// The results could not be decoded as the function's result type (a corrupt or
    /// mismatched result): the task's error, never a hang.
    #[error("cannot decode the task's results: {0}")]
    Decode(#[source] Arc<CodecError>),
    /// Starting, signalling or reaping a worker failed.
    #[error(transparent)]
    Process(Arc<ProcessError>),
    /// The task or result ring failed.
    #[error(transparent)]
    Ring(Arc<RingError>),
    /// The function table failed (full, say).
    #[error(transparent)]
    Registry(Arc<RemoteError>),
    /// Shared memory or a lock could not be made.
    #[error(transparent)]
    Sync(Arc<SyncError>),
}

impl PoolError {
    pub(crate) fn encode(e: CodecError) -> PoolError {
        PoolError::Encode(Arc::new(e))
    }
}

/// How a worker ended, for [`PoolError::WorkerDied`]'s message.
struct Death(Option<Signal>, i32);

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(signal) => write!(f, "killed by {signal}"),
            None => write!(f, "exit code {}", self.1),
        }
    }
}

macro_rules! shared_from {
    ($($source:ty => $variant:ident),* $(,)?) => { $(
        impl From<$source> for PoolError {
            fn from(e: $source) -> Self {
                PoolError::$variant(Arc::new(e))
            }
        }
    )* };
}
shared_from!(
    ProcessError => Process,
    RingError => Ring,
    RemoteError => Registry,
    SyncError => Sync,
);
