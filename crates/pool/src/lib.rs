//! A process pool: Python's `multiprocessing.Pool`, with worker processes made by `fork`.
//!
//! [`Pool::new`] starts N workers once and reuses them. Tasks are plain functions
//! `fn(T) -> R` whose argument and result travel as JSON (`T` and `R` are serde types); the
//! function itself travels as a number in an [`FnTable`] shared with the workers, so a
//! function first used after the workers were forked works too.
//!
//! | Python | here |
//! |---|---|
//! | `pool.apply_async(f, (x,))` → `.get()` / `.get(timeout)` | [`Pool::apply_async`] → [`AsyncResult::get`] / [`AsyncResult::get_timeout`] |
//! | `pool.map(f, xs)` / `pool.map(f, xs, chunksize)` | [`Pool::map`] / [`Pool::map_chunked`] |
//! | `pool.imap_unordered(f, xs, chunksize)` | [`Pool::imap_unordered`] |
//! | `close()`, `join()`, `terminate()`, `with Pool(...)` | [`Pool::close`], [`Pool::join`], [`Pool::terminate`], [`Drop`](Pool#dropping-a-pool) |
//!
//! # How it works
//!
//! Tasks go to the workers through one shared-memory [`Ring`] of frames and results come back
//! through another. The parent has **no helper thread** (Python has three): it stays
//! single-threaded, so it can always fork a replacement worker. Tasks that do not fit in the
//! task ring wait in the parent, and everything else (moving tasks in, taking results out,
//! noticing dead workers) happens while the caller waits for a result: in
//! [`AsyncResult::get`], [`Pool::map`], the [`ImapUnordered`] iterator and [`Pool::join`].
//!
//! Small tasks are sent in chunks (one frame holds many arguments), as Python's `map` does:
//! its default chunk size is `ceil(len / (4 * workers))`.
//!
//! # Failures
//!
//! - A task that **panics** gives [`PoolError::Panicked`] with the panic message; the worker
//!   goes on with the next task. A function may also return a `Result` of its own: that is
//!   just its result (`R = Result<u64, String>`).
//! - A worker **killed in the middle of a task** (`SIGKILL`, say) gives that task
//!   [`PoolError::WorkerDied`] naming the worker and the signal; the pool starts a
//!   replacement and every other task completes. (Python's pool hangs forever here, and
//!   `concurrent.futures` marks the whole pool broken.)
//! - With chunks, a panic or a death fails the whole chunk it happened in, as in Python.
//!
//! Which task a dead worker held is known exactly: each worker has a slot in shared memory
//! that it sets inside the ring's `on_take` hook, under the ring's lock, before its pop
//! commits. Frames are numbered in the order the parent pushes them, so "was this frame
//! taken out of the ring?" is a comparison with the number of frames taken. See
//! `check_workers` in the source for the whole argument.
//!
//! # Example
//!
//! ```
//! use pool::Pool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! # fn main() -> Result<(), pool::PoolError> {
//! let pool = Pool::new(2)?;
//! assert_eq!(pool.map(square, 1..=4)?, vec![1, 4, 9, 16]);
//! assert_eq!(pool.apply_async(square, 7)?.get()?, 49);
//! let mut unordered: Vec<u64> = pool.imap_unordered(square, vec![1, 2, 3], 1)?
//!     .collect::<Result<_, _>>()?;
//! unordered.sort();
//! assert_eq!(unordered, vec![1, 4, 9]);
//! pool.close();
//! pool.join()?;
//! # Ok(()) }
//! ```

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use ipc_common::remote::{FnId, FnTable};
use ipc_common::ring::{Ring, RingError};
use ipc_common::{Process, ShmSlice};
use nix::sys::signal::Signal;
use serde::Serialize;
use serde::de::DeserializeOwned;

mod error;
mod worker;

pub use error::PoolError;
use worker::Shared;

/// The default size of each of the two rings (task frames, result frames).
pub const DEFAULT_RING_BYTES: usize = 4 << 20;

/// How long the parent sleeps on the result ring before it looks at its workers' health.
const POLL: Duration = Duration::from_millis(10);

/// How long [`Pool::terminate`] waits after `SIGTERM` before it sends `SIGKILL`.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// Python's default chunk size for `map`: `ceil(len / (4 * workers))`, at least 1.
pub fn default_chunksize(len: usize, workers: usize) -> usize {
    len.div_ceil(4 * workers.max(1)).max(1)
}

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

/// Which part of the pool's life it is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Running,
    Closed,
    Joined,
    Terminated,
}

/// Where one chunk of a job belongs.
#[derive(Clone, Copy, Debug)]
struct ChunkRef {
    job: u64,
    index: usize,
    len: usize,
}

/// A finished chunk: its JSON array of results, or why it has none.
struct Done {
    index: usize,
    len: usize,
    outcome: Result<Vec<u8>, PoolError>,
}

/// One submission (`apply_async`, `map`, `imap_unordered`).
struct Job {
    chunks_left: usize,
    done: VecDeque<Done>,
    /// Its handle was dropped: results are thrown away as they come.
    abandoned: bool,
}

/// The parent's private bookkeeping.
struct State {
    workers: Vec<Process>,
    started: usize,
    phase: Phase,
    /// Task frames not yet in the ring (it was full).
    pending: VecDeque<(Vec<u8>, ChunkRef)>,
    /// The last push found the ring full: wait for results before trying again.
    stalled: bool,
    /// Frames pushed into the task ring so far; the next frame's sequence number.
    pushed: u64,
    /// Chunks pushed and not yet answered, by sequence number.
    in_flight: HashMap<u64, ChunkRef>,
    jobs: HashMap<u64, Job>,
    next_job: u64,
    buf: Vec<u8>,
}

impl Pool {
    /// Starts a pool of `processes` workers, with rings of [`DEFAULT_RING_BYTES`].
    ///
    /// # Errors
    ///
    /// [`PoolError::NoWorkers`] for 0; [`PoolError::Process`] if a worker cannot be forked
    /// (for one, when this process has other threads); shared-memory errors.
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Self::with_ring_bytes(processes, DEFAULT_RING_BYTES)
    }

    /// Starts a pool whose task and result rings hold `ring_bytes` each: the largest chunk of
    /// encoded arguments, or of results, that can travel.
    ///
    /// # Errors
    ///
    /// As for [`new`](Pool::new).
    pub fn with_ring_bytes(processes: usize, ring_bytes: usize) -> Result<Pool, PoolError> {
        if processes == 0 {
            return Err(PoolError::NoWorkers);
        }
        let shm = |e: std::io::Error| PoolError::Sync(Arc::new(shm_error(e)));
        let shared = Shared {
            tasks: Ring::new(ring_bytes, 0)?,
            results: Ring::new(ring_bytes, 0)?,
            table: FnTable::new()?,
            slots: ShmSlice::zeroed(processes).map_err(shm)?,
        };
        let pool = Pool {
            shared,
            state: RefCell::new(State {
                workers: Vec::with_capacity(processes),
                started: 0,
                phase: Phase::Running,
                pending: VecDeque::new(),
                stalled: false,
                pushed: 0,
                in_flight: HashMap::new(),
                jobs: HashMap::new(),
                next_job: 0,
                buf: Vec::new(),
            }),
        };
        {
            let mut st = pool.state.borrow_mut();
            for slot in 0..processes {
                let worker = start_worker(&pool.shared, &mut st, slot)?;
                st.workers.push(worker);
            }
        }
        Ok(pool)
    }

    /// The number of worker processes.
    pub fn processes(&self) -> usize {
        self.state.borrow().workers.len()
    }

    /// The pids of the current workers (a dead worker's replacement has a new pid).
    pub fn pids(&self) -> Vec<i32> {
        self.state
            .borrow()
            .workers
            .iter()
            .map(Process::pid)
            .collect()
    }

    /// Submits `f(arg)` and returns at once (Python's `apply_async(f, (arg,))`).
    ///
    /// # Errors
    ///
    /// [`PoolError::Closed`] after [`close`](Pool::close) or [`terminate`](Pool::terminate);
    /// [`PoolError::Encode`] or [`PoolError::TooLarge`] if the argument cannot travel.
    pub fn apply_async<T, R>(&self, f: fn(T) -> R, arg: T) -> Result<AsyncResult<'_, R>, PoolError>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let job = self.submit(f, vec![arg], 1)?;
        Ok(AsyncResult {
            pool: self,
            job,
            _result: PhantomData,
        })
    }

    /// Applies `f` to every item and returns the results in input order (Python's
    /// `map(f, items)`), sending the items in chunks of [`default_chunksize`].
    ///
    /// # Errors
    ///
    /// The first failed task's error, in input order (a panic, a dead worker); submission
    /// errors as for [`apply_async`](Pool::apply_async).
    pub fn map<T, R>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<R>, PoolError>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<T> = items.into_iter().collect();
        let chunksize = default_chunksize(items.len(), self.processes());
        self.map_chunked(f, items, chunksize)
    }

    /// [`map`](Pool::map) with an explicit chunk size (Python's `map(f, items, chunksize)`).
    ///
    /// # Errors
    ///
    /// As for [`map`](Pool::map).
    pub fn map_chunked<T, R>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> Result<Vec<R>, PoolError>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<T> = items.into_iter().collect();
        let total = items.len();
        let job = JobGuard {
            pool: self,
            job: self.submit(f, items, chunksize)?,
        };
        self.wait_job(job.job, None)?;
        let mut chunks: Vec<Done> = {
            let mut st = self.state.borrow_mut();
            let done = st
                .jobs
                .get_mut(&job.job)
                .map(|j| std::mem::take(&mut j.done));
            done.unwrap_or_default().into()
        };
        chunks.sort_by_key(|d| d.index);
        let mut results = Vec::with_capacity(total);
        for chunk in chunks {
            results.extend(decode::<R>(&chunk.outcome?)?);
        }
        Ok(results)
    }

    /// Applies `f` to every item and yields the results as they complete, in any order
    /// (Python's `imap_unordered(f, items, chunksize)`). Every item yields exactly one
    /// `Ok(result)` or `Err(error)`.
    ///
    /// # Errors
    ///
    /// Submission errors as for [`apply_async`](Pool::apply_async); a task's own failure is
    /// an `Err` item of the iterator.
    pub fn imap_unordered<T, R>(
        &self,
        f: fn(T) -> R,
        items: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> Result<ImapUnordered<'_, R>, PoolError>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let items: Vec<T> = items.into_iter().collect();
        let chunks = items.len().div_ceil(chunksize.max(1));
        let job = self.submit(f, items, chunksize)?;
        Ok(ImapUnordered {
            job: JobGuard { pool: self, job },
            chunks_left: chunks,
            ready: VecDeque::new(),
            _result: PhantomData,
        })
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
    /// for their handles), then lets the workers exit and reaps them. After
    /// [`terminate`](Pool::terminate): returns at once.
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
        pump(&self.shared, &mut st, None, |st| {
            st.in_flight.is_empty() && st.pending.is_empty()
        })?;
        for _ in 0..st.workers.len() {
            let mut stop = worker::task_frame(worker::KIND_STOP, FnId(0));
            stop[..8].copy_from_slice(&st.pushed.to_le_bytes());
            self.shared.tasks.push(&stop, None)?;
            st.pushed += 1;
        }
        for w in &st.workers {
            w.join()?;
        }
        st.phase = Phase::Joined;
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
            let _ = w.terminate();
        }
        let deadline = Instant::now() + TERMINATE_GRACE;
        for w in &st.workers {
            let left = deadline.saturating_duration_since(Instant::now());
            if !matches!(w.join_timeout(left), Ok(Some(_))) {
                let _ = w.kill();
                let _ = w.join();
            }
        }
        let st = &mut *st;
        let unfinished: Vec<ChunkRef> = st
            .in_flight
            .drain()
            .map(|(_, c)| c)
            .chain(st.pending.drain(..).map(|(_, c)| c))
            .collect();
        for chunk in unfinished {
            st.finish(chunk, Err(PoolError::Terminated));
        }
    }

    /// Registers `f`, encodes `items` in chunks and queues them; returns the job's id.
    fn submit<T, R>(&self, f: fn(T) -> R, items: Vec<T>, chunksize: usize) -> Result<u64, PoolError>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let mut st = self.state.borrow_mut();
        if st.phase != Phase::Running {
            return Err(PoolError::Closed);
        }
        let function = self.shared.table.register(f)?;
        let capacity = self.shared.tasks.capacity();
        let mut frames = Vec::new();
        for (index, chunk) in items.chunks(chunksize.max(1)).enumerate() {
            let mut frame = worker::task_frame(worker::KIND_TASK, function);
            serde_json::to_writer(&mut frame, chunk).map_err(|e| PoolError::Encode(Arc::new(e)))?;
            if frame.len() + 4 > capacity {
                let (what, len) = ("arguments", frame.len() + 4);
                return Err(PoolError::TooLarge {
                    what,
                    len,
                    capacity,
                });
            }
            frames.push((frame, index, chunk.len()));
        }
        let job = st.next_job;
        st.next_job += 1;
        st.jobs.insert(
            job,
            Job {
                chunks_left: frames.len(),
                done: VecDeque::new(),
                abandoned: false,
            },
        );
        for (frame, index, len) in frames {
            st.pending.push_back((frame, ChunkRef { job, index, len }));
        }
        st.stalled = false;
        feed(&self.shared, &mut st)?;
        Ok(job)
    }

    /// Drives the pool until job `job` has no chunk left, or `deadline` passes. Returns
    /// whether the job is complete.
    fn wait_job(&self, job: u64, deadline: Option<Instant>) -> Result<bool, PoolError> {
        let mut st = self.state.borrow_mut();
        pump(&self.shared, &mut st, deadline, |st| {
            st.jobs.get(&job).is_none_or(|j| j.chunks_left == 0)
        })
    }

    /// Drives the pool until job `job` has a finished chunk, and takes it.
    fn next_done(&self, job: u64) -> Result<Option<Done>, PoolError> {
        let mut st = self.state.borrow_mut();
        pump(&self.shared, &mut st, None, |st| {
            st.jobs.get(&job).is_none_or(|j| !j.done.is_empty())
        })?;
        Ok(st.jobs.get_mut(&job).and_then(|j| j.done.pop_front()))
    }

    /// The handle of `job` was dropped: forget its results, now and when they come.
    fn forget(&self, job: u64) {
        let mut st = self.state.borrow_mut();
        let finished = match st.jobs.get_mut(&job) {
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

impl Drop for Pool {
    fn drop(&mut self) {
        self.terminate();
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Pool")
            .field("workers", &st.workers)
            .field("phase", &st.phase)
            .field("in_flight", &st.in_flight.len())
            .field("pending", &st.pending.len())
            .finish()
    }
}

impl State {
    /// Records a finished chunk with its job.
    fn finish(&mut self, chunk: ChunkRef, outcome: Result<Vec<u8>, PoolError>) {
        let Some(job) = self.jobs.get_mut(&chunk.job) else {
            return;
        };
        job.chunks_left -= 1;
        if job.abandoned {
            if job.chunks_left == 0 {
                self.jobs.remove(&chunk.job);
            }
        } else {
            job.done.push_back(Done {
                index: chunk.index,
                len: chunk.len,
                outcome,
            });
        }
    }

    /// Takes in one result frame (the frame in `self.buf`).
    fn accept(&mut self) {
        let frame = std::mem::take(&mut self.buf);
        let Some((payload, status, seq)) = worker::split_result(&frame) else {
            return;
        };
        // A chunk already blamed on a dead worker that turns out to have finished would
        // show up here unknown; it cannot happen (see `check_workers`), and is ignored.
        let Some(chunk) = self.in_flight.remove(&seq) else {
            return;
        };
        let text = || String::from_utf8_lossy(payload).into_owned();
        let outcome = match status {
            worker::STATUS_OK => {
                let len = payload.len();
                let mut frame = frame;
                frame.truncate(len);
                Ok(frame)
            }
            worker::STATUS_PANICKED => {
                let text = text();
                let (message, at) = text.rsplit_once('\n').unwrap_or((&text, ""));
                Err(PoolError::Panicked {
                    message: message.to_string(),
                    location: Some(at.to_string()).filter(|a| !a.is_empty()),
                })
            }
            worker::STATUS_TOO_LARGE => Err(PoolError::TooLarge {
                what: "results",
                len: text().parse().unwrap_or(0),
                capacity: 0,
            }),
            _ => Err(PoolError::Remote(text())),
        };
        self.finish(chunk, outcome);
    }
}

/// Forks worker number `slot`.
fn start_worker(shared: &Shared, st: &mut State, slot: usize) -> Result<Process, PoolError> {
    st.started += 1;
    let name = format!("PoolWorker-{}", st.started);
    Ok(Process::start(name, || worker::run(shared, slot))?)
}

/// Moves waiting task frames into the task ring while it has room.
fn feed(shared: &Shared, st: &mut State) -> Result<(), PoolError> {
    while !st.stalled {
        let seq = st.pushed;
        let Some((frame, _)) = st.pending.front_mut() else {
            break;
        };
        frame[..8].copy_from_slice(&seq.to_le_bytes());
        match shared.tasks.push(frame, Some(Instant::now())) {
            Ok(()) => {
                if let Some((_, chunk)) = st.pending.pop_front() {
                    st.in_flight.insert(seq, chunk);
                }
                st.pushed += 1;
            }
            Err(RingError::Full) => st.stalled = true,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The parent's whole engine: feeds tasks, takes results, replaces dead workers, until
/// `done(state)` or `deadline`. Returns whether `done` became true.
fn pump(
    shared: &Shared,
    st: &mut State,
    deadline: Option<Instant>,
    done: impl Fn(&State) -> bool,
) -> Result<bool, PoolError> {
    loop {
        if done(st) {
            return Ok(true);
        }
        if st.phase == Phase::Terminated || st.phase == Phase::Joined {
            // Nothing can finish any more (terminate failed every unfinished chunk).
            return Ok(done(st));
        }
        feed(shared, st)?;
        let slice = Instant::now() + POLL;
        let until = deadline.map_or(slice, |d| d.min(slice));
        match shared.results.pop(&mut st.buf, Some(until), |_| {}) {
            Ok(()) => {
                st.accept();
                st.stalled = false;
            }
            Err(RingError::Empty) => {
                st.stalled = false;
                check_workers(shared, st)?;
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(done(st));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Finds dead workers, fails the chunk each one died holding, and starts replacements.
///
/// A dead worker's slot holds `seq + 1` of the last frame its `on_take` hook saw, or 0.
/// The frame it names is lost with the worker exactly when all of these hold:
///
/// 1. the frame was taken out of the ring: frames leave the ring in push order, so frame
///    `seq` is out iff `seq < pushed - ring.len()` (the hook runs *before* the pop commits,
///    so a worker killed in between leaves the frame in the ring for another worker);
/// 2. no live worker's slot names it (if the frame stayed in the ring and another worker
///    took it since, that worker set its slot before its pop committed);
/// 3. its result has not arrived: the result ring is drained first, and a worker clears its
///    slot only after its result is in the ring.
fn check_workers(shared: &Shared, st: &mut State) -> Result<(), PoolError> {
    let dead: Vec<usize> = (0..st.workers.len())
        .filter(|&i| !st.workers[i].is_alive())
        .collect();
    if dead.is_empty() {
        return Ok(());
    }
    let taken = st.pushed - shared.tasks.len() as u64;
    loop {
        match shared
            .results
            .pop(&mut st.buf, Some(Instant::now()), |_| {})
        {
            Ok(()) => st.accept(),
            Err(RingError::Empty) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let live_holds = |seq_plus_1: u64| {
        (0..st.workers.len())
            .filter(|i| !dead.contains(i))
            .any(|i| shared.slots[i].load(SeqCst) == seq_plus_1)
    };
    let mut lost = Vec::new();
    for &slot in &dead {
        // `held` is `seq + 1`: frame `seq` was taken out iff `seq < taken`.
        let held = shared.slots[slot].swap(0, SeqCst);
        if held == 0 || held > taken || live_holds(held) {
            continue;
        }
        if let Some(chunk) = st.in_flight.remove(&(held - 1)) {
            let w = &st.workers[slot];
            let exitcode = w.exitcode().unwrap_or(0);
            let signal = (exitcode < 0)
                .then(|| Signal::try_from(-exitcode).ok())
                .flatten();
            lost.push((
                chunk,
                PoolError::WorkerDied {
                    name: w.name().to_string(),
                    pid: w.pid(),
                    signal,
                    exitcode,
                },
            ));
        }
    }
    for (chunk, error) in lost {
        st.finish(chunk, Err(error));
    }
    for slot in dead {
        let replacement = start_worker(shared, st, slot)?;
        // The old handle is already reaped: dropping it does nothing more.
        st.workers[slot] = replacement;
    }
    Ok(())
}

/// Decodes a chunk's JSON array of results.
fn decode<R: DeserializeOwned>(json: &[u8]) -> Result<Vec<R>, PoolError> {
    serde_json::from_slice(json).map_err(|e| PoolError::Decode(Arc::new(e)))
}

/// Wraps the `io::Error` of a failed shared mapping.
fn shm_error(source: std::io::Error) -> ipc_common::SyncError {
    ipc_common::SyncError::Os {
        call: "mmap",
        source,
    }
}

/// Forgets its job when dropped (a handle that was never asked for its result).
struct JobGuard<'p> {
    pool: &'p Pool,
    job: u64,
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        self.pool.forget(self.job);
    }
}

/// The result of [`Pool::apply_async`], to be fetched later (Python's `AsyncResult`).
///
/// Fetching it drives the pool (see the [crate docs](crate#how-it-works)). Dropping it
/// without fetching is fine: the task still runs, and its result is thrown away.
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
/// assert_eq!(result.get()?, 300); // still there, and now finished
/// # Ok(()) }
/// ```
pub struct AsyncResult<'p, R> {
    pool: &'p Pool,
    job: u64,
    _result: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> AsyncResult<'_, R> {
    /// Waits for the result (Python's `get()`).
    ///
    /// # Errors
    ///
    /// The task's failure ([`PoolError::Panicked`], [`PoolError::WorkerDied`], ...), or a
    /// ring or process error of the pool.
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

    /// Whether the task has finished (Python's `ready()`); never blocks for long.
    pub fn ready(&self) -> bool {
        matches!(self.pool.wait_job(self.job, Some(Instant::now())), Ok(true))
    }

    fn fetch(&self, deadline: Option<Instant>) -> Result<R, PoolError> {
        if !self.pool.wait_job(self.job, deadline)? {
            return Err(PoolError::Timeout(Duration::ZERO));
        }
        let st = self.pool.state.borrow();
        let done = st.jobs.get(&self.job).and_then(|j| j.done.front());
        let outcome = done.map(|d| &d.outcome).ok_or(PoolError::Terminated)?;
        match outcome {
            Ok(json) => decode::<R>(json)?.pop().ok_or(PoolError::Remote(
                "the worker returned no result".to_string(),
            )),
            Err(e) => Err(e.clone()),
        }
    }
}

impl<R> Drop for AsyncResult<'_, R> {
    fn drop(&mut self) {
        self.pool.forget(self.job);
    }
}

impl<R> fmt::Debug for AsyncResult<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("job", &self.job)
            .finish()
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
    job: JobGuard<'p>,
    chunks_left: usize,
    ready: VecDeque<Result<R, PoolError>>,
    _result: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> Iterator for ImapUnordered<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.chunks_left == 0 {
                return None;
            }
            match self.job.pool.next_done(self.job.job) {
                Ok(Some(done)) => {
                    self.chunks_left -= 1;
                    match done.outcome.and_then(|json| decode::<R>(&json)) {
                        Ok(results) => self.ready.extend(results.into_iter().map(Ok)),
                        Err(e) => self.ready.extend((0..done.len).map(|_| Err(e.clone()))),
                    }
                }
                Ok(None) => {
                    self.chunks_left = 0;
                    return Some(Err(PoolError::Terminated));
                }
                Err(e) => {
                    // The pool itself failed: nothing more will come.
                    self.chunks_left = 0;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl<R> fmt::Debug for ImapUnordered<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapUnordered")
            .field("job", &self.job.job)
            .field("chunks_left", &self.chunks_left)
            .finish()
    }
}
