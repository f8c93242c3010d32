//! The handles of submitted work: [`AsyncResult`] and the iterators [`Imap`] and
//! [`ImapUnordered`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use ipc_common::remote;
use serde::de::DeserializeOwned;

use crate::scheduler::Done;
use crate::{Pool, PoolError};

/// Decodes one chunk's results.
pub(crate) fn decode<R: DeserializeOwned + 'static>(chunk: &[u8]) -> Result<Vec<R>, PoolError> {
    remote::items(chunk).map_err(|e| PoolError::Decode(std::sync::Arc::new(e)))
}

/// The value of an `apply_async` job: its one chunk's one result.
pub(crate) fn one<R: DeserializeOwned + 'static>(done: &[Done]) -> Result<R, PoolError> {
    let d = done.first().ok_or(PoolError::Terminated)?;
    match &d.outcome {
        Ok(bytes) => decode::<R>(bytes)?
            .pop()
            .ok_or_else(|| PoolError::Remote("the worker returned no result".to_string())),
        Err(e) => Err(e.clone()),
    }
}

/// The value of a `map_async` job: every chunk's results in input order; the first failure
/// in input order if any failed.
pub(crate) fn all<T: DeserializeOwned + 'static>(done: &[Done]) -> Result<Vec<T>, PoolError> {
    let mut chunks: Vec<&Done> = done.iter().collect();
    chunks.sort_by_key(|d| d.index);
    let mut out = Vec::with_capacity(chunks.iter().map(|d| d.len).sum());
    for d in chunks {
        match &d.outcome {
            Ok(bytes) => out.extend(decode::<T>(bytes)?),
            Err(e) => return Err(e.clone()),
        }
    }
    Ok(out)
}

/// Forgets its job when dropped (a handle that was never asked for its result).
pub(crate) struct JobGuard<'p> {
    pub(crate) pool: &'p Pool,
    pub(crate) job: u64,
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        self.pool.forget(self.job);
    }
}

/// The result of [`Pool::apply_async`] or [`Pool::map_async`], to be fetched later
/// (Python's `AsyncResult` / `MapResult`).
///
/// Fetching or waiting drives the pool (see the [crate docs](crate#how-it-works)). Dropping
/// it without fetching is fine: the task still runs, and its result is thrown away.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use pool::{Pool, PoolError};
///
/// fn nap(ms: u64) -> u64 {
///     std::thread::sleep(Duration::from_millis(ms));
///     ms
/// }
///
/// # fn main() -> Result<(), PoolError> {
/// let pool = Pool::new(1)?;
/// let result = pool.apply_async(nap, 300)?;
/// assert!(matches!(result.get_timeout(Duration::from_millis(10)), Err(PoolError::Timeout(_))));
/// assert_eq!(result.successful(), None); // not ready: Python raises ValueError
/// assert_eq!(result.get()?, 300); // still there, and now finished
/// # Ok(()) }
/// ```
pub struct AsyncResult<'p, R> {
    pub(crate) job: JobGuard<'p>,
    pub(crate) value: fn(&[Done]) -> Result<R, PoolError>,
}

impl<R> AsyncResult<'_, R> {
    /// Waits for the result (Python's `get()`).
    ///
    /// # Errors
    ///
    /// The task's failure ([`PoolError::Panicked`], [`PoolError::WorkerDied`], ...), a
    /// result that does not decode ([`PoolError::Decode`]), or a ring or process error of
    /// the pool.
    pub fn get(self) -> Result<R, PoolError> {
        self.fetch(None)
    }

    /// Waits at most `timeout` for the result (Python's `get(timeout)`). It may be called
    /// again: a result is kept until its handle is dropped.
    ///
    /// # Errors
    ///
    /// [`PoolError::Timeout`] if the task has not finished in time; otherwise as
    /// [`get`](AsyncResult::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, PoolError> {
        self.fetch(Some(Instant::now() + timeout))
            .map_err(|e| match e {
                PoolError::Timeout(_) => PoolError::Timeout(timeout),
                other => other,
            })
    }

    /// Waits until the result is ready (Python's `wait()`).
    ///
    /// # Errors
    ///
    /// A ring or process error of the pool (not the task's own failure).
    pub fn wait(&self) -> Result<(), PoolError> {
        self.job.pool.wait_job(self.job.job, None).map(drop)
    }

    /// Waits at most `timeout` (Python's `wait(timeout)`); returns whether it is ready.
    ///
    /// # Errors
    ///
    /// As for [`wait`](AsyncResult::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, PoolError> {
        self.job
            .pool
            .wait_job(self.job.job, Some(Instant::now() + timeout))
    }

    /// Whether the task has finished (Python's `ready()`); never blocks for long.
    pub fn ready(&self) -> bool {
        matches!(self.wait_timeout(Duration::ZERO), Ok(true))
    }

    /// Whether the task finished without failing (Python's `successful()`); `None` while it
    /// is not ready, where Python raises `ValueError`.
    pub fn successful(&self) -> Option<bool> {
        if !self.ready() {
            return None;
        }
        Some(
            self.job
                .pool
                .with_done(self.job.job, |done| done.iter().all(|d| d.outcome.is_ok())),
        )
    }

    pub(crate) fn fetch(&self, deadline: Option<Instant>) -> Result<R, PoolError> {
        if !self.job.pool.wait_job(self.job.job, deadline)? {
            return Err(PoolError::Timeout(Duration::ZERO));
        }
        self.job.pool.with_done(self.job.job, self.value)
    }
}

impl<R> fmt::Debug for AsyncResult<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("job", &self.job.job)
            .finish()
    }
}

/// Chunks of one job, taken as they finish: what both iterators are made of.
struct Chunks<'p> {
    job: JobGuard<'p>,
    left: usize,
}

impl Chunks<'_> {
    /// The next finished chunk, or the pool's own failure (after which nothing more comes).
    fn next(&mut self) -> Option<Result<Done, PoolError>> {
        if self.left == 0 {
            return None;
        }
        let got = self.job.pool.next_done(self.job.job);
        match got {
            Ok(Some(done)) => {
                self.left -= 1;
                Some(Ok(done))
            }
            Ok(None) => {
                self.left = 0;
                Some(Err(PoolError::Terminated))
            }
            Err(e) => {
                self.left = 0;
                Some(Err(e))
            }
        }
    }
}

/// A finished chunk as items: its results, or its error once per item.
fn items_of<R: DeserializeOwned + 'static>(done: Done) -> Vec<Result<R, PoolError>> {
    match done.outcome.and_then(|bytes| decode::<R>(&bytes)) {
        Ok(results) => results.into_iter().map(Ok).collect(),
        Err(e) => (0..done.len).map(|_| Err(e.clone())).collect(),
    }
}

/// The iterator of [`Pool::imap_unordered`]: results in completion order.
///
/// Each item is `Ok(result)` or the task's `Err`; every submitted item yields exactly once.
/// Dropping it early is fine: the remaining tasks still run, and their results are thrown
/// away.
///
/// # Example
///
/// ```
/// use pool::Pool;
///
/// fn double(x: i32) -> i32 {
///     x * 2
/// }
///
/// # fn main() -> Result<(), pool::PoolError> {
/// let pool = Pool::new(2)?;
/// let mut total = 0;
/// for result in pool.imap_unordered(double, 0..100, 1)? {
///     total += result?;
/// }
/// assert_eq!(total, 9900);
/// # Ok(()) }
/// ```
pub struct ImapUnordered<'p, R> {
    chunks: Chunks<'p>,
    ready: VecDeque<Result<R, PoolError>>,
}

impl<'p, R> ImapUnordered<'p, R> {
    pub(crate) fn new(job: JobGuard<'p>, chunks: usize) -> Self {
        ImapUnordered {
            chunks: Chunks { job, left: chunks },
            ready: VecDeque::new(),
        }
    }
}

impl<R: DeserializeOwned + 'static> Iterator for ImapUnordered<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            match self.chunks.next()? {
                Ok(done) => self.ready.extend(items_of(done)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<R> fmt::Debug for ImapUnordered<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapUnordered")
            .field("job", &self.chunks.job.job)
            .field("chunks_left", &self.chunks.left)
            .finish()
    }
}

/// The iterator of [`Pool::imap`]: results in input order, each as soon as it and every
/// result before it are in (chunks that finish early wait here).
///
/// Each item is `Ok(result)` or the task's `Err`; every submitted item yields exactly once.
pub struct Imap<'p, R> {
    chunks: Chunks<'p>,
    /// Finished chunks that came before their turn, by chunk index.
    early: BTreeMap<usize, Done>,
    next_chunk: usize,
    ready: VecDeque<Result<R, PoolError>>,
}

impl<'p, R> Imap<'p, R> {
    pub(crate) fn new(job: JobGuard<'p>, chunks: usize) -> Self {
        Imap {
            chunks: Chunks { job, left: chunks },
            early: BTreeMap::new(),
            next_chunk: 0,
            ready: VecDeque::new(),
        }
    }
}

impl<R: DeserializeOwned + 'static> Iterator for Imap<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if let Some(done) = self.early.remove(&self.next_chunk) {
                self.next_chunk += 1;
                self.ready.extend(items_of(done));
                continue;
            }
            match self.chunks.next()? {
                Ok(done) => {
                    self.early.insert(done.index, done);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<R> fmt::Debug for Imap<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap")
            .field("job", &self.chunks.job.job)
            .field("next_chunk", &self.next_chunk)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undecodable_result_is_a_typed_error() {
        let garbage = [Done {
            index: 0,
            len: 1,
            outcome: Ok(vec![3, 0, 0]),
        }];
        assert!(matches!(one::<u64>(&garbage), Err(PoolError::Decode(_))));
        assert!(matches!(all::<String>(&garbage), Err(PoolError::Decode(_))));
        let cut = [Done {
            index: 0,
            len: 1,
            outcome: Ok(vec![9, 0, 0, 0, 0, 0, 0, 0, 1]),
        }];
        assert!(matches!(one::<u8>(&cut), Err(PoolError::Decode(_))));
    }
}
