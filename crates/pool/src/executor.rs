//! [`Executor`]: Python's `concurrent.futures.ProcessPoolExecutor`, on a [`Pool`].

use std::fmt;
use std::time::{Duration, Instant};

use crate::pool::Value;
use crate::result::{AsyncResult, Imap};
use crate::{Pool, PoolError};

/// A process pool with the shape of Python's `concurrent.futures.ProcessPoolExecutor`:
/// [`submit`](Executor::submit) gives a [`Future`], [`as_completed`] yields futures as they
/// finish, [`shutdown`](Executor::shutdown) ends it. It is a [`Pool`] underneath (see
/// [`pool`](Executor::pool)).
///
/// One difference is deliberate: when a worker dies (killed, say), Python marks the whole
/// executor broken (`BrokenProcessPool`) and fails every pending future. Here only the task
/// that worker was running fails ([`PoolError::WorkerDied`]); a replacement starts and every
/// other future completes.
///
/// Dropping the executor is Python's `with` exit, `shutdown(wait=True)`: it waits for every
/// submitted task.
///
/// # Example
///
/// ```
/// use pool::{Executor, as_completed};
///
/// fn cube(x: u64) -> u64 {
///     x * x * x
/// }
///
/// # fn main() -> Result<(), pool::PoolError> {
/// let executor = Executor::new(2)?;
/// let futures: Vec<_> = (1..=4).map(|x| executor.submit(cube, x)).collect::<Result<_, _>>()?;
/// let mut total = 0;
/// for future in as_completed(&futures, None) {
///     total += future?.result(None)?;
/// }
/// assert_eq!(total, 1 + 8 + 27 + 64);
/// # Ok(()) }
/// ```
pub struct Executor {
    pool: Pool,
}

impl Executor {
    /// An executor of `max_workers` processes (Python's
    /// `ProcessPoolExecutor(max_workers)`).
    ///
    /// # Errors
    ///
    /// As for [`Pool::new`].
    pub fn new(max_workers: usize) -> Result<Executor, PoolError> {
        Ok(Executor::from_pool(Pool::new(max_workers)?))
    }

    /// An executor on a pool built as wished ([`Pool::builder`]: `initializer`,
    /// `max_tasks_per_child`, `mp_context`).
    pub fn from_pool(pool: Pool) -> Executor {
        Executor { pool }
    }

    /// The pool underneath.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Schedules `f(arg)` (Python's `submit(f, arg)`; several arguments as one tuple).
    ///
    /// # Errors
    ///
    /// [`PoolError::Closed`] after [`shutdown`](Executor::shutdown); encoding errors.
    pub fn submit<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        arg: T,
    ) -> Result<Future<'_, R>, PoolError> {
        Ok(Future {
            result: self.pool.apply_async(f, arg)?,
        })
    }

    /// Python's `Executor.map(f, items, chunksize=...)`: results in input order, lazily.
    /// (Python's `timeout` is left out: each result can be waited for as long as needed.)
    ///
    /// # Errors
    ///
    /// As for [`Pool::imap`].
    pub fn map<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> Result<Imap<'_, R>, PoolError> {
        self.pool.imap(f, items, chunksize)
    }

    /// Python's `shutdown(wait, cancel_futures)`: takes no more tasks; with `cancel_futures`
    /// cancels every task no worker has started; with `wait`, runs the rest and ends the
    /// workers before it returns. Without `wait` the workers end when the executor is
    /// dropped, after the remaining tasks.
    ///
    /// # Errors
    ///
    /// As for [`Pool::join`].
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) -> Result<(), PoolError> {
        if cancel_futures {
            self.pool.cancel_unstarted();
        }
        self.pool.close();
        if wait { self.pool.join() } else { Ok(()) }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        let _ = self.shutdown(true, false);
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("pool", &self.pool)
            .finish()
    }
}

/// A task submitted to an [`Executor`]: Python's `concurrent.futures.Future`.
pub struct Future<'e, R> {
    result: AsyncResult<'e, R>,
}

impl<R> Future<'_, R> {
    /// Waits for the result, at most `timeout` if given (Python's `result(timeout)`).
    ///
    /// # Errors
    ///
    /// [`PoolError::Timeout`]; [`PoolError::Cancelled`] after a successful
    /// [`cancel`](Future::cancel); the task's own failure.
    pub fn result(&self, timeout: Option<Duration>) -> Result<R, PoolError> {
        match timeout {
            Some(t) => self.result.get_timeout(t),
            None => self.result.fetch(None),
        }
    }

    /// Whether it finished, failed or was cancelled (Python's `done()`).
    pub fn done(&self) -> bool {
        self.result.ready()
    }

    /// Cancels the task if no worker has taken it yet (Python's `cancel()`): `true` then,
    /// and `false` if it is running or done. Python counts a task as running once it is in
    /// the executor's call queue; here, once it was given to a worker (each worker has at
    /// most two).
    pub fn cancel(&self) -> bool {
        self.result.job.pool.cancel(self.result.job.job)
    }

    /// Whether it was cancelled (Python's `cancelled()`).
    pub fn cancelled(&self) -> bool {
        self.done()
            && matches!(
                self.result.job.pool.with_done(self.result.job.job, |d| {
                    d.first()
                        .map(|d| matches!(d.outcome, Err(PoolError::Cancelled)))
                }),
                Some(true)
            )
    }
}

impl<R> fmt::Debug for Future<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Future")
            .field("job", &self.result.job.job)
            .finish()
    }
}

/// Python's `concurrent.futures.as_completed(futures, timeout)`: yields each future once it
/// is done, in order of completion; with a `timeout` (counted from this call), an
/// `Err(PoolError::Timeout)` ends the iteration if some are still not done then.
pub fn as_completed<'f, 'e, R>(
    futures: &'f [Future<'e, R>],
    timeout: Option<Duration>,
) -> AsCompleted<'f, 'e, R> {
    AsCompleted {
        left: futures.iter().collect(),
        deadline: timeout.map(|t| Instant::now() + t),
        timeout,
    }
}

/// The iterator of [`as_completed`].
pub struct AsCompleted<'f, 'e, R> {
    left: Vec<&'f Future<'e, R>>,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
}

impl<'f, 'e, R> Iterator for AsCompleted<'f, 'e, R> {
    type Item = Result<&'f Future<'e, R>, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        let pool = self.left.first()?.result.job.pool;
        let jobs: Vec<u64> = self.left.iter().map(|f| f.result.job.job).collect();
        match pool.wait_any(&jobs, self.deadline) {
            Ok(true) => {}
            Ok(false) => {
                self.left.clear();
                return Some(Err(PoolError::Timeout(self.timeout.unwrap_or_default())));
            }
            Err(e) => {
                self.left.clear();
                return Some(Err(e));
            }
        }
        let at = self
            .left
            .iter()
            .position(|f| pool.job_complete(f.result.job.job))?;
        Some(Ok(self.left.remove(at)))
    }
}

impl<R> fmt::Debug for AsCompleted<'_, '_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("left", &self.left.len())
            .finish()
    }
}
