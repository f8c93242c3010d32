//! [`Pool`], Python's `multiprocessing.Pool`, and its [`Builder`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use ipc_common::StartMethod;
use ipc_common::remote::{self, FnId, FnTable};
use ipc_common::ring::Ring;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::result::{self, AsyncResult, Imap, ImapUnordered, JobGuard};
use crate::scheduler::{self, ChunkRef, Config, Done, Job, Phase, Shared, State};
use crate::{PoolError, worker};

/// The default size of the result ring and of each worker's task ring. Larger arguments and
/// results travel too: they stream through the ring in pieces.
pub const DEFAULT_RING_BYTES: usize = 1 << 20;

/// How long [`Pool::terminate`] waits after `SIGTERM` before it sends `SIGKILL`.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// Python's default chunk size for `map`: `ceil(len / (4 * workers))`, at least 1.
pub fn default_chunksize(len: usize, workers: usize) -> usize {
    len.div_ceil(4 * workers.max(1)).max(1)
}

/// What a task function's argument and result must be: owned serde values (of any size).
/// A `Vec<u8>`, a `String` or a vector of plain numbers travels as its raw bytes, copied once.
pub trait Value: Serialize + DeserializeOwned + 'static {}
impl<T: Serialize + DeserializeOwned + 'static> Value for T {}

/// A pool of worker processes: Python's `multiprocessing.Pool`.
///
/// See the [crate documentation](crate) for an example and for what happens when tasks or
/// workers fail.
///
/// # Dropping a pool
///
/// Dropping a pool is Python's `with Pool(...)` exit: it calls [`terminate`](Pool::terminate),
/// which ends the workers (`SIGTERM`, then `SIGKILL` after a second) and reaps them. It never
/// waits for tasks and never hangs. To let submitted work finish first, call
/// [`close`](Pool::close) and [`join`](Pool::join) before the pool is dropped.
pub struct Pool {
    shared: Shared,
    state: RefCell<State>,
}

/// Registers an initializer and encodes its arguments, once the pool's table exists.
type Initializer = Box<dyn FnOnce(&FnTable) -> Result<(FnId, Vec<u8>), PoolError>>;

/// Python's `Pool(processes, initializer, initargs, maxtasksperchild, context)`, one
/// argument at a time: `Pool::builder().processes(4).build()?`.
#[must_use = "a pool starts only once `build` is called"]
pub struct Builder {
    processes: usize,
    method: Option<StartMethod>,
    ring_bytes: usize,
    maxtasks: Option<usize>,
    initializer: Option<Initializer>,
}

impl Builder {
    /// The number of workers (Python's `processes`; default: the number of CPUs).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = n;
        self
    }

    /// Starts the workers with `method` (Python's `context=get_context(method)`); default:
    /// the process-wide start method.
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Each worker calls `f(args)` once when it starts (Python's `initializer`, `initargs`;
    /// several arguments travel as a tuple). If it panics, the worker exits with status 1
    /// and is replaced.
    pub fn initializer<A: Value + 'static>(mut self, f: fn(A), args: A) -> Self {
        self.initializer = Some(Box::new(move |table: &FnTable| {
            let id = table.register(f)?;
            let mut chunk = Vec::new();
            remote::push_item(&args, &mut chunk).map_err(PoolError::encode)?;
            Ok((id, chunk))
        }));
        self
    }

    /// A worker exits after `n` tasks (chunks) and a new one takes its place (Python's
    /// `maxtasksperchild`); nothing submitted is lost.
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.maxtasks = Some(n.max(1));
        self
    }

    /// The size of the result ring and of each worker's task ring (default
    /// [`DEFAULT_RING_BYTES`]). Any size of argument or result travels whatever this is:
    /// larger messages stream through in pieces.
    pub fn ring_bytes(mut self, bytes: usize) -> Self {
        self.ring_bytes = bytes;
        self
    }

    /// Starts the pool.
    ///
    /// # Errors
    ///
    /// [`PoolError::NoWorkers`] for 0 processes; [`PoolError::Process`] if a worker cannot
    /// start (under fork, when this process has other threads: use spawn or forkserver);
    /// shared-memory errors.
    pub fn build(self) -> Result<Pool, PoolError> {
        if self.processes == 0 {
            return Err(PoolError::NoWorkers);
        }
        let table = FnTable::new()?;
        let initializer = self.initializer.map(|f| f(&table)).transpose()?;
        let shared = Shared {
            results: Ring::new(self.ring_bytes, 0)?,
            table,
        };
        let pool = Pool {
            shared,
            state: RefCell::new(State::new(Config {
                method: self.method,
                ring_bytes: self.ring_bytes,
                initializer,
                maxtasks: self.maxtasks,
            })),
        };
        {
            let mut st = pool.state.borrow_mut();
            for _ in 0..self.processes {
                let worker = scheduler::start_worker(&pool.shared, &mut st)?;
                st.workers.push(worker);
            }
        }
        Ok(pool)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("processes", &self.processes)
            .field("method", &self.method)
            .field("maxtasks", &self.maxtasks)
            .finish()
    }
}

impl Pool {
    /// A [`Builder`] with Python's defaults: one worker per CPU, the process-wide start
    /// method, no initializer, no `maxtasksperchild`.
    pub fn builder() -> Builder {
        Builder {
            processes: ipc_common::cpu_count(),
            method: None,
            ring_bytes: DEFAULT_RING_BYTES,
            maxtasks: None,
            initializer: None,
        }
    }

    /// Starts a pool of `processes` workers (Python's `Pool(processes)`).
    ///
    /// # Errors
    ///
    /// As for [`Builder::build`].
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Self::builder().processes(processes).build()
    }

    /// Starts a pool whose rings hold `ring_bytes` each (see [`Builder::ring_bytes`]).
    ///
    /// # Errors
    ///
    /// As for [`Builder::build`].
    pub fn with_ring_bytes(processes: usize, ring_bytes: usize) -> Result<Pool, PoolError> {
        Self::builder()
            .processes(processes)
            .ring_bytes(ring_bytes)
            .build()
    }

    /// The number of worker processes.
    pub fn processes(&self) -> usize {
        self.state.borrow().workers.len()
    }

    /// The pids of the current workers (a dead worker's replacement has a new pid).
    pub fn pids(&self) -> Vec<i32> {
        let st = self.state.borrow();
        st.workers.iter().map(|w| w.process.pid()).collect()
    }

    /// Runs `f(arg)` in a worker and waits for its result (Python's `apply(f, (arg,))`).
    ///
    /// # Errors
    ///
    /// As for [`apply_async`](Pool::apply_async) and [`AsyncResult::get`].
    pub fn apply<T: Value, R: Value>(&self, f: fn(T) -> R, arg: T) -> Result<R, PoolError> {
        self.apply_async(f, arg)?.get()
    }

    /// Submits `f(arg)` and returns at once (Python's `apply_async(f, (arg,))`). A function
    /// of several arguments takes them as one tuple.
    ///
    /// # Errors
    ///
    /// [`PoolError::Closed`] after [`close`](Pool::close) or [`terminate`](Pool::terminate);
    /// [`PoolError::Encode`] if the argument cannot be encoded.
    pub fn apply_async<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        arg: T,
    ) -> Result<AsyncResult<'_, R>, PoolError> {
        self.submit_async(f, vec![arg], 1, result::one::<R>, None)
    }

    /// [`apply_async`](Pool::apply_async) with Python's `callback` and `error_callback`:
    /// `callback(result)` or `error_callback(error)` runs once the task is done, **in the
    /// parent**, in order of completion among all callbacks, as Python's result-handler
    /// thread runs them. This pool has no such thread: callbacks run when the parent next
    /// drives the pool (any `get`, `wait`, `ready`, `map`, iterator step or `join`), with no
    /// borrow of the pool held, so a callback may use the pool. The handle still gives the
    /// result too, and dropping it does not stop the callback.
    ///
    /// # Errors
    ///
    /// As for [`apply_async`](Pool::apply_async).
    pub fn apply_async_with<T: Value, R: Value + 'static>(
        &self,
        f: fn(T) -> R,
        arg: T,
        callback: impl FnOnce(R) + 'static,
        error_callback: impl FnOnce(PoolError) + 'static,
    ) -> Result<AsyncResult<'_, R>, PoolError> {
        let call = callbacks(result::one::<R>, callback, error_callback);
        self.submit_async(f, vec![arg], 1, result::one::<R>, Some(call))
    }

    /// [`map_async`](Pool::map_async) with Python's `callback` (given every result, in
    /// input order) and `error_callback` (given the first failure); they run as for
    /// [`apply_async_with`](Pool::apply_async_with).
    ///
    /// # Errors
    ///
    /// As for [`map_async`](Pool::map_async).
    pub fn map_async_with<T: Value, R: Value + 'static>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
        callback: impl FnOnce(Vec<R>) + 'static,
        error_callback: impl FnOnce(PoolError) + 'static,
    ) -> Result<AsyncResult<'_, Vec<R>>, PoolError> {
        let items: Vec<T> = items.into_iter().collect();
        let chunksize = default_chunksize(items.len(), self.processes());
        let call = callbacks(result::all::<R>, callback, error_callback);
        self.submit_async(f, items, chunksize, result::all::<R>, Some(call))
    }

    /// Applies `f` to every item and returns the results in input order (Python's
    /// `map(f, items)`), sending the items in chunks of [`default_chunksize`].
    ///
    /// # Errors
    ///
    /// The first failed task's error, in input order (a panic, a dead worker); submission
    /// errors as for [`apply_async`](Pool::apply_async).
    pub fn map<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<R>, PoolError> {
        self.map_async(f, items)?.get()
    }

    /// [`map`](Pool::map) with an explicit chunk size (Python's `map(f, items, chunksize)`).
    ///
    /// # Errors
    ///
    /// As for [`map`](Pool::map).
    pub fn map_chunked<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> Result<Vec<R>, PoolError> {
        let items = items.into_iter().collect();
        self.submit_async(f, items, chunksize, result::all::<R>, None)?
            .get()
    }

    /// Submits a [`map`](Pool::map) and returns at once (Python's `map_async(f, items)`):
    /// its [`AsyncResult`] gives every result in input order.
    ///
    /// # Errors
    ///
    /// Submission errors as for [`apply_async`](Pool::apply_async).
    pub fn map_async<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
    ) -> Result<AsyncResult<'_, Vec<R>>, PoolError> {
        let items: Vec<T> = items.into_iter().collect();
        let chunksize = default_chunksize(items.len(), self.processes());
        self.submit_async(f, items, chunksize, result::all::<R>, None)
    }

    /// Python's `starmap(f, [(a, b), ...])`: in Rust a function of several arguments takes
    /// them as one tuple, `fn((A, B)) -> R`, so this is [`map`](Pool::map) over tuples,
    /// named for readers of Python.
    ///
    /// # Errors
    ///
    /// As for [`map`](Pool::map).
    pub fn starmap<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<R>, PoolError> {
        self.map(f, items)
    }

    /// Python's `starmap_async`: [`map_async`](Pool::map_async) over tuples (see
    /// [`starmap`](Pool::starmap)).
    ///
    /// # Errors
    ///
    /// As for [`map_async`](Pool::map_async).
    pub fn starmap_async<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
    ) -> Result<AsyncResult<'_, Vec<R>>, PoolError> {
        self.map_async(f, items)
    }

    /// Applies `f` to every item and yields the results in input order, each as soon as it
    /// is in (Python's `imap(f, items, chunksize)`). Every item yields exactly one `Ok` or
    /// `Err`.
    ///
    /// # Errors
    ///
    /// Submission errors as for [`apply_async`](Pool::apply_async); a task's own failure is
    /// an `Err` item of the iterator.
    pub fn imap<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> Result<Imap<'_, R>, PoolError> {
        let (job, chunks) = self.submit_chunks(f, items, chunksize)?;
        Ok(Imap::new(job, chunks))
    }

    /// Applies `f` to every item and yields the results as they complete, in any order
    /// (Python's `imap_unordered(f, items, chunksize)`). Every item yields exactly one
    /// `Ok(result)` or `Err(error)`.
    ///
    /// # Errors
    ///
    /// Submission errors as for [`apply_async`](Pool::apply_async); a task's own failure is
    /// an `Err` item of the iterator.
    pub fn imap_unordered<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> Result<ImapUnordered<'_, R>, PoolError> {
        let (job, chunks) = self.submit_chunks(f, items, chunksize)?;
        Ok(ImapUnordered::new(job, chunks))
    }

    /// Takes no more tasks (Python's `close()`). Submitted tasks still run; see
    /// [`join`](Pool::join).
    pub fn close(&self) {
        let mut st = self.state.borrow_mut();
        if st.phase == Phase::Running {
            st.phase = Phase::Closed;
        }
    }

    /// After [`close`](Pool::close): runs every submitted task to its end (keeping results
    /// for their handles), then lets the workers exit and reaps them (Python's `join()`).
    /// After [`terminate`](Pool::terminate): returns at once.
    ///
    /// # Errors
    ///
    /// [`PoolError::NotClosed`] if the pool still takes tasks; ring or process errors.
    pub fn join(&self) -> Result<(), PoolError> {
        let mut st = self.state.borrow_mut();
        match st.phase {
            Phase::Running => return Err(PoolError::NotClosed),
            Phase::Joined | Phase::Terminated => return Ok(()),
            Phase::Closed => {}
        }
        scheduler::pump(&self.shared, &mut st, None, |st| st.unfinished() == 0)?;
        scheduler::stop_workers(&mut st)?;
        st.phase = Phase::Joined;
        drop(st);
        self.run_callbacks();
        Ok(())
    }

    /// Stops the workers at once, finished or not (Python's `terminate()`): `SIGTERM`, then
    /// `SIGKILL` for any worker still alive a second later, and every worker is reaped.
    /// Tasks not yet finished fail with [`PoolError::Terminated`]; results already received
    /// stay available.
    pub fn terminate(&self) {
        let mut st = self.state.borrow_mut();
        if matches!(st.phase, Phase::Joined | Phase::Terminated) {
            return;
        }
        st.phase = Phase::Terminated;
        for w in &st.workers {
            let _ = w.process.terminate();
        }
        let deadline = Instant::now() + TERMINATE_GRACE;
        for w in &st.workers {
            let left = deadline.saturating_duration_since(Instant::now());
            if !matches!(w.process.join_timeout(left), Ok(Some(_))) {
                let _ = w.process.kill();
                let _ = w.process.join();
            }
        }
        st.fail_all(&PoolError::Terminated);
    }

    /// Submits a job whose handle gives `value` of its finished chunks.
    fn submit_async<T: Value, R: Value, V>(
        &self,
        f: fn(T) -> R,
        items: Vec<T>,
        chunksize: usize,
        value: fn(&[Done]) -> Result<V, PoolError>,
        callback: Option<scheduler::Callback>,
    ) -> Result<AsyncResult<'_, V>, PoolError> {
        let job = self.submit(f, items, chunksize, callback)?;
        Ok(AsyncResult {
            job: JobGuard { pool: self, job },
            value,
        })
    }

    /// Registers `f`, submits `items` in chunks of `chunksize`; the job and its chunk count.
    fn submit_chunks<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> Result<(JobGuard<'_>, usize), PoolError> {
        let items: Vec<T> = items.into_iter().collect();
        let chunks = items.len().div_ceil(chunksize.max(1));
        let job = self.submit(f, items, chunksize, None)?;
        Ok((JobGuard { pool: self, job }, chunks))
    }

    /// Registers `f`, encodes `items` in chunks and queues them; returns the job's id.
    fn submit<T: Value, R: Value>(
        &self,
        f: fn(T) -> R,
        items: Vec<T>,
        chunksize: usize,
        callback: Option<scheduler::Callback>,
    ) -> Result<u64, PoolError> {
        if self.state.borrow().phase != Phase::Running {
            return Err(PoolError::Closed);
        }
        let id = self.shared.table.register(f)?;
        let mut frames = Vec::new();
        for (index, chunk) in items.chunks(chunksize.max(1)).enumerate() {
            let mut frame = worker::task_frame(worker::KIND_TASK, id);
            for item in chunk {
                remote::push_item(item, &mut frame).map_err(PoolError::encode)?;
            }
            frames.push((frame, index, chunk.len()));
        }
        let mut st = self.state.borrow_mut();
        let job = st.next_job;
        st.next_job += 1;
        st.jobs.insert(
            job,
            Job {
                chunks_left: frames.len(),
                done: VecDeque::new(),
                abandoned: false,
                callback,
            },
        );
        for (frame, index, len) in frames {
            st.queue(frame, ChunkRef { job, index, len });
        }
        scheduler::pump(&self.shared, &mut st, Some(Instant::now()), |_| false)?;
        drop(st);
        self.run_callbacks();
        Ok(job)
    }

    /// Runs the callbacks of complete jobs, in order of completion, with the pool not
    /// borrowed (a callback may call the pool).
    fn run_callbacks(&self) {
        loop {
            let (id, callback, mut done) = {
                let mut st = self.state.borrow_mut();
                let Some(id) = st.due.pop_front() else {
                    return;
                };
                let Some(job) = st.jobs.get_mut(&id) else {
                    continue;
                };
                let Some(callback) = job.callback.take() else {
                    continue;
                };
                (id, callback, std::mem::take(&mut job.done))
            };
            callback(done.make_contiguous());
            let mut st = self.state.borrow_mut();
            match st.jobs.get_mut(&id) {
                Some(job) if job.abandoned => {
                    st.jobs.remove(&id);
                }
                Some(job) => job.done = done,
                None => {}
            }
        }
    }

    /// Drives the pool until job `job` has no chunk left, or `deadline` passes. Returns
    /// whether the job is complete.
    pub(crate) fn wait_job(&self, job: u64, deadline: Option<Instant>) -> Result<bool, PoolError> {
        let mut st = self.state.borrow_mut();
        let complete = scheduler::pump(&self.shared, &mut st, deadline, |st| {
            st.jobs.get(&job).is_none_or(|j| j.chunks_left == 0)
        });
        drop(st);
        self.run_callbacks();
        complete
    }

    /// Drives the pool until one of `jobs` is complete, or `deadline` passes. Returns
    /// whether one is.
    pub(crate) fn wait_any(
        &self,
        jobs: &[u64],
        deadline: Option<Instant>,
    ) -> Result<bool, PoolError> {
        let mut st = self.state.borrow_mut();
        let any = scheduler::pump(&self.shared, &mut st, deadline, |st| {
            jobs.iter()
                .any(|job| st.jobs.get(job).is_none_or(|j| j.chunks_left == 0))
        });
        drop(st);
        self.run_callbacks();
        any
    }

    /// Whether job `job` is complete (without driving the pool).
    pub(crate) fn job_complete(&self, job: u64) -> bool {
        let st = self.state.borrow();
        st.jobs.get(&job).is_none_or(|j| j.chunks_left == 0)
    }

    /// Cancels job `job` if no worker has it yet (see `State::cancel`).
    pub(crate) fn cancel(&self, job: u64) -> bool {
        let cancelled = self.state.borrow_mut().cancel(job);
        self.run_callbacks();
        cancelled
    }

    /// Cancels every job that no worker has started.
    pub(crate) fn cancel_unstarted(&self) {
        let jobs = self.state.borrow().unstarted_jobs();
        for job in jobs {
            self.cancel(job);
        }
    }

    /// Calls `f` with the finished chunks of job `job`.
    pub(crate) fn with_done<V>(&self, job: u64, f: impl FnOnce(&[Done]) -> V) -> V {
        let mut st = self.state.borrow_mut();
        match st.jobs.get_mut(&job) {
            Some(j) => f(j.done.make_contiguous()),
            None => f(&[]),
        }
    }

    /// Drives the pool until job `job` has a finished chunk, and takes it.
    pub(crate) fn next_done(&self, job: u64) -> Result<Option<Done>, PoolError> {
        let mut st = self.state.borrow_mut();
        scheduler::pump(&self.shared, &mut st, None, |st| {
            st.jobs.get(&job).is_none_or(|j| !j.done.is_empty())
        })?;
        let next = st.jobs.get_mut(&job).and_then(|j| j.done.pop_front());
        drop(st);
        self.run_callbacks();
        Ok(next)
    }

    /// The handle of `job` was dropped: forget its results, now and when they come.
    pub(crate) fn forget(&self, job: u64) {
        let mut st = self.state.borrow_mut();
        let finished = match st.jobs.get_mut(&job) {
            // A callback still to run keeps the job's results until it has run.
            Some(j) if j.callback.is_some() => {
                j.abandoned = true;
                false
            }
            Some(j) => {
                j.abandoned = true;
                j.done.clear();
                j.chunks_left == 0
            }
            None => false,
        };
        if finished {
            st.jobs.remove(&job);
        }
    }
}

/// A job's callback: `callback(value)` or `error_callback(error)`.
fn callbacks<V: 'static>(
    value: fn(&[Done]) -> Result<V, PoolError>,
    callback: impl FnOnce(V) + 'static,
    error_callback: impl FnOnce(PoolError) + 'static,
) -> scheduler::Callback {
    Box::new(move |done| match value(done) {
        Ok(v) => callback(v),
        Err(e) => error_callback(e),
    })
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.terminate();
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        let workers: Vec<_> = st.workers.iter().map(|w| &w.process).collect();
        f.debug_struct("Pool")
            .field("workers", &workers)
            .field("phase", &st.phase)
            .field("unfinished", &st.unfinished())
            .finish()
    }
}
