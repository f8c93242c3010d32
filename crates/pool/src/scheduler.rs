//! The parent's engine: which worker gets which task, taking results in, and noticing dead
//! workers. Everything here runs on the caller's thread while it waits (see the crate docs).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::remote::{FnId, FnTable};
use ipc_common::ring::{Ring, RingError};
use ipc_common::time::LIVENESS_SLICE;
use ipc_common::{Process, ShmBox, StartMethod};
use nix::sys::signal::Signal;

use crate::PoolError;
use crate::worker::{self, WorkerArgs};

/// How many task frames one worker may have been given and not answered: the one it runs and
/// the next, so that it never waits for the parent between two tasks.
const DEPTH: usize = 2;

/// How long the parent waits for results before it looks at its workers' health again.
const POLL: Duration = Duration::from_millis(10);

/// The longest a push of a task larger than a worker's ring may take: it streams while the
/// (idle) worker reads; if the worker is stopped, the push is withdrawn and tried again later.
const STREAM_BUDGET: Duration = Duration::from_secs(1);

/// Which part of the pool's life it is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    Closed,
    Joined,
    Terminated,
}

/// How workers are started: fixed when the pool is built.
pub(crate) struct Config {
    pub(crate) method: Option<StartMethod>,
    pub(crate) ring_bytes: usize,
    pub(crate) initializer: Option<(FnId, Vec<u8>)>,
    pub(crate) maxtasks: Option<usize>,
}

/// What the parent and every worker share: made before the first worker starts.
pub(crate) struct Shared {
    /// Result frames, pushed by the workers, popped by the parent.
    pub(crate) results: Ring,
    /// The functions tasks name.
    pub(crate) table: FnTable,
}

/// Where one chunk of a job belongs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkRef {
    pub(crate) job: u64,
    pub(crate) index: usize,
    pub(crate) len: usize,
}

/// A chunk not yet answered: its frame (kept to give it to another worker if its first one
/// dies before taking it) and its place.
struct Task {
    frame: Vec<u8>,
    chunk: ChunkRef,
}

/// A finished chunk: its encoded results, or why it has none.
pub(crate) struct Done {
    pub(crate) index: usize,
    pub(crate) len: usize,
    pub(crate) outcome: Result<Vec<u8>, PoolError>,
}

/// A job's `callback`/`error_callback` pair, given the job's finished chunks.
pub(crate) type Callback = Box<dyn FnOnce(&[Done])>;

/// One submission (`apply_async`, `map`, `imap_unordered`, ...).
pub(crate) struct Job {
    pub(crate) chunks_left: usize,
    pub(crate) done: VecDeque<Done>,
    /// Its handle was dropped: results are thrown away as they come (once its callback, if
    /// any, has run).
    pub(crate) abandoned: bool,
    /// Runs in the parent once the job is complete.
    pub(crate) callback: Option<Callback>,
}

/// One worker process, with its own task ring.
pub(crate) struct Worker {
    pub(crate) process: Process,
    tasks: Ring,
    /// `seq + 1` of the task frame it holds, 0 when idle: written by the worker in the ring's
    /// `on_take` hook, before the frame is committed as taken.
    slot: ShmBox<AtomicU64>,
    /// Sequence numbers of the frames pushed to it and not answered, in push order.
    given: VecDeque<u64>,
    /// Frames pushed to it in its life (for `maxtasksperchild`).
    pushed: usize,
}

/// The parent's private bookkeeping.
pub(crate) struct State {
    pub(crate) workers: Vec<Worker>,
    pub(crate) started: usize,
    pub(crate) phase: Phase,
    pub(crate) config: Config,
    /// Chunks not yet given to a worker, in order.
    pending: VecDeque<u64>,
    /// Every chunk not yet answered, by sequence number.
    tasks: HashMap<u64, Task>,
    next_seq: u64,
    pub(crate) jobs: HashMap<u64, Job>,
    pub(crate) next_job: u64,
    /// Complete jobs whose callbacks have not run yet, in order of completion.
    pub(crate) due: VecDeque<u64>,
    buf: Vec<u8>,
    last_check: Instant,
}

impl State {
    pub(crate) fn new(config: Config) -> State {
        State {
            workers: Vec::new(),
            started: 0,
            phase: Phase::Running,
            config,
            pending: VecDeque::new(),
            tasks: HashMap::new(),
            next_seq: 0,
            jobs: HashMap::new(),
            next_job: 0,
            due: VecDeque::new(),
            buf: Vec::new(),
            last_check: Instant::now(),
        }
    }

    /// Chunks submitted and not answered.
    pub(crate) fn unfinished(&self) -> usize {
        self.tasks.len()
    }

    /// Queues a task frame for chunk `chunk`.
    pub(crate) fn queue(&mut self, frame: Vec<u8>, chunk: ChunkRef) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.tasks.insert(seq, Task { frame, chunk });
        self.pending.push_back(seq);
    }

    /// Records a finished chunk with its job.
    pub(crate) fn finish(&mut self, chunk: ChunkRef, outcome: Result<Vec<u8>, PoolError>) {
        let Some(job) = self.jobs.get_mut(&chunk.job) else {
            return;
        };
        job.chunks_left -= 1;
        if !job.abandoned || job.callback.is_some() {
            job.done.push_back(Done {
                index: chunk.index,
                len: chunk.len,
                outcome,
            });
        }
        if job.chunks_left == 0 {
            if job.callback.is_some() {
                self.due.push_back(chunk.job);
            } else if job.abandoned {
                self.jobs.remove(&chunk.job);
            }
        }
    }

    /// Cancels job `job` if none of its chunks has been given to a worker yet: its chunks
    /// leave the queue and finish with [`PoolError::Cancelled`]. Returns whether it did.
    pub(crate) fn cancel(&mut self, job: u64) -> bool {
        let mine: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.chunk.job == job)
            .map(|(&seq, _)| seq)
            .collect();
        if mine.is_empty() || mine.iter().any(|seq| !self.pending.contains(seq)) {
            return false;
        }
        self.pending.retain(|seq| !mine.contains(seq));
        for seq in mine {
            let chunk = self.tasks.remove(&seq).expect("listed above").chunk;
            self.finish(chunk, Err(PoolError::Cancelled));
        }
        true
    }

    /// Jobs whose chunks are all still waiting in the queue.
    pub(crate) fn unstarted_jobs(&self) -> Vec<u64> {
        let mut jobs: Vec<u64> = self
            .pending
            .iter()
            .map(|seq| self.tasks[seq].chunk.job)
            .collect();
        jobs.sort_unstable();
        jobs.dedup();
        jobs
    }

    /// Fails every unanswered chunk (the pool was terminated).
    pub(crate) fn fail_all(&mut self, error: &PoolError) {
        self.pending.clear();
        let chunks: Vec<ChunkRef> = self.tasks.drain().map(|(_, t)| t.chunk).collect();
        for w in &mut self.workers {
            w.given.clear();
        }
        for chunk in chunks {
            self.finish(chunk, Err(error.clone()));
        }
    }

    /// Takes in one result frame (the frame in `self.buf`).
    fn accept(&mut self) {
        let frame = std::mem::take(&mut self.buf);
        let Some((payload, status, seq)) = worker::split_result(&frame) else {
            return;
        };
        // A chunk already blamed on a dead worker that turns out to have finished would show
        // up here unknown; it cannot happen (see `check_workers`), and is ignored.
        let Some(task) = self.tasks.remove(&seq) else {
            return;
        };
        for w in &mut self.workers {
            w.given.retain(|&s| s != seq);
        }
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
            _ => Err(PoolError::Remote(text())),
        };
        self.finish(task.chunk, outcome);
    }
}

/// Starts a worker with a new task ring and slot.
pub(crate) fn start_worker(shared: &Shared, st: &mut State) -> Result<Worker, PoolError> {
    st.started += 1;
    let tasks = Ring::new(st.config.ring_bytes, 0)?;
    let slot = ShmBox::new(AtomicU64::new(0)).map_err(shm_error)?;
    let args = WorkerArgs {
        tasks: tasks.clone(),
        results: shared.results.clone(),
        table: share(&shared.table)?,
        slot: slot.try_clone().map_err(shm_error)?,
        initializer: st.config.initializer.clone(),
        maxtasks: st.config.maxtasks,
    };
    let mut builder = Process::new(worker::main, args)
        .name(format!("PoolWorker-{}", st.started))
        .daemon(true)
        .isolated();
    if let Some(method) = st.config.method {
        builder = builder.start_method(method);
    }
    Ok(Worker {
        process: builder.start()?,
        tasks,
        slot,
        given: VecDeque::new(),
        pushed: 0,
    })
}

/// Another handle to the pool's function table (the same shared memory).
fn share(table: &FnTable) -> Result<FnTable, PoolError> {
    Ok(table.try_clone()?)
}

/// Wraps the `io::Error` of a failed shared mapping.
pub(crate) fn shm_error(source: std::io::Error) -> PoolError {
    PoolError::Sync(std::sync::Arc::new(ipc_common::SyncError::Os {
        call: "mmap",
        source,
    }))
}

/// Gives waiting chunks to workers, in order, while some worker can take one: a worker holds
/// at most [`DEPTH`] unanswered frames, no more than its `maxtasksperchild` allows, and a
/// frame larger than its ring goes only to a worker with nothing else (it streams while that
/// worker reads it, and must not wait behind a task whose large result waits for us).
fn feed(st: &mut State, deadline: Option<Instant>) -> Result<(), PoolError> {
    while let Some(&seq) = st.pending.front() {
        let State {
            workers,
            tasks,
            config,
            ..
        } = st;
        let frame = &mut tasks.get_mut(&seq).expect("a pending task is known").frame;
        let big = frame.len() > workers.first().map_or(0, |w| w.tasks.capacity());
        let room = |w: &Worker| {
            let depth = if big { 1 } else { DEPTH };
            w.given.len() < depth && config.maxtasks.is_none_or(|n| w.pushed < n)
        };
        let Some(w) = workers
            .iter_mut()
            .filter(|w| room(w))
            .min_by_key(|w| w.given.len())
        else {
            return Ok(());
        };
        worker::set_seq(frame, seq);
        let now = Instant::now();
        let until = if big {
            deadline.map_or(now + STREAM_BUDGET, |d| d.min(now + STREAM_BUDGET))
        } else {
            now
        };
        match w.tasks.push(frame, Some(until)) {
            Ok(()) => {
                w.given.push_back(seq);
                w.pushed += 1;
                st.pending.pop_front();
            }
            // The worker is busy or stopped: try again on the next round.
            Err(RingError::Full | RingError::Abandoned { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The parent's whole engine: feeds tasks, takes results, replaces dead workers, until
/// `done(state)` or `deadline`. Returns whether `done` became true.
pub(crate) fn pump(
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
        feed(st, deadline)?;
        let slice = Instant::now() + POLL;
        let until = deadline.map_or(slice, |d| d.min(slice));
        let got = match shared.results.pop(&mut st.buf, Some(until), |_| {}) {
            Ok(()) => {
                st.accept();
                true
            }
            Err(RingError::Empty) => false,
            Err(e) => return Err(e.into()),
        };
        // Dead workers are looked for whenever no result came, and at least once a
        // liveness slice while results flow (a worker that ended after `maxtasksperchild`).
        if !got || st.last_check.elapsed() >= LIVENESS_SLICE {
            st.last_check = Instant::now();
            check_workers(shared, st)?;
        }
        if !got && deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(done(st));
        }
    }
}

/// Finds dead workers, fails the chunk each one died holding, gives its other chunks to the
/// living, and starts replacements.
///
/// Each worker has its own task ring, so the parent knows exactly which frames it gave to
/// which worker (`given`, in push order, at most [`DEPTH`]); a worker takes them in that
/// order, one at a time, and runs each to its end before it takes the next. A dead worker's
/// slot holds `seq + 1` of the last frame its `on_take` hook saw, or 0 once that frame's
/// result was pushed. Of the frames given to a dead worker and not answered:
///
/// 1. its results are all in: the result ring is drained first, and a worker pushes a
///    result whole or not at all (a message cut by its writer's death is aborted and never
///    delivered), before it clears its slot;
/// 2. so the frame its slot names, if still unanswered, is the one it died holding
///    (running it, or sending its result): that chunk fails with
///    [`PoolError::WorkerDied`]. (If it died after `on_take` but before the pop committed,
///    the task never ran; it is still failed, never run twice: at most once, as Python.)
/// 3. every other unanswered frame was never taken (the worker takes frames in order and
///    holds one at a time), or was taken only in part (a frame larger than the ring, being
///    streamed when it died): it never ran, and it goes back to the front of the queue for
///    another worker. The dead worker's ring goes with it; its replacement gets a new one.
fn check_workers(shared: &Shared, st: &mut State) -> Result<(), PoolError> {
    let dead: Vec<usize> = (0..st.workers.len())
        .filter(|&i| !st.workers[i].process.is_alive())
        .collect();
    if dead.is_empty() {
        return Ok(());
    }
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
    for &slot in &dead {
        let held = st.workers[slot].slot.swap(0, SeqCst);
        let given: Vec<u64> = st.workers[slot].given.drain(..).collect();
        for seq in given.into_iter().rev() {
            if !st.tasks.contains_key(&seq) {
                continue;
            }
            if held == seq + 1 {
                let chunk = st.tasks.remove(&seq).expect("checked").chunk;
                let error = died(&st.workers[slot].process);
                st.finish(chunk, Err(error));
            } else {
                st.pending.push_front(seq);
            }
        }
        let replacement = start_worker(shared, st)?;
        // The old handle is already reaped: dropping it does nothing more.
        st.workers[slot] = replacement;
    }
    Ok(())
}

/// The error of a task whose worker died.
fn died(w: &Process) -> PoolError {
    let exitcode = w.exitcode().unwrap_or(0);
    let signal = (exitcode < 0)
        .then(|| Signal::try_from(-exitcode).ok())
        .flatten();
    PoolError::WorkerDied {
        name: w.name().to_string(),
        pid: w.pid(),
        signal,
        exitcode,
    }
}

/// Sends every worker a stop frame and waits for all of them to exit.
pub(crate) fn stop_workers(st: &mut State) -> Result<(), PoolError> {
    for w in &st.workers {
        let stop = worker::task_frame(worker::KIND_STOP, FnId(0));
        w.tasks.push(&stop, None)?;
    }
    for w in &st.workers {
        w.process.join()?;
    }
    Ok(())
}
