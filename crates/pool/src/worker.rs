//! The worker's side: take a task frame from its own ring, call the function, send the
//! result frame back on the pool's shared result ring.
//!
//! Frames (all integers little-endian):
//!
//! - task: `seq: u64`, `kind: u8` (task or stop), `function: u32`, then the chunk of
//!   arguments ([`ipc_common::remote::push_item`]'s layout: binary, any size);
//! - result: the chunk of results (or a UTF-8 message), then `status: u8` and `seq: u64` at
//!   the *end*, so that the worker can append them to the function's output without a copy.
//!
//! A frame of any size travels: the rings stream a message larger than themselves in pieces.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use ipc_common::ShmBox;
use ipc_common::remote::{FnId, FnTable};
use ipc_common::ring::{Ring, RingError};
use serde::{Deserialize, Serialize};

/// Bytes before the arguments of a task frame.
pub(crate) const TASK_HEADER: usize = 13;
/// Bytes after the payload of a result frame.
pub(crate) const RESULT_TRAILER: usize = 9;

/// Task frame kinds.
pub(crate) const KIND_TASK: u8 = 0;
pub(crate) const KIND_STOP: u8 = 1;

/// Result statuses.
pub(crate) const STATUS_OK: u8 = 0;
pub(crate) const STATUS_PANICKED: u8 = 1;
pub(crate) const STATUS_REMOTE: u8 = 2;

/// What a worker is started with: under spawn and forkserver these travel to the new
/// program as arguments (the rings' and tables' memory as descriptors).
#[derive(Serialize, Deserialize)]
pub(crate) struct WorkerArgs {
    /// This worker's own task ring: only the parent pushes, only this worker pops.
    pub(crate) tasks: Ring,
    /// The pool's result ring, shared by every worker.
    pub(crate) results: Ring,
    /// The functions tasks name.
    pub(crate) table: FnTable,
    /// `seq + 1` of the task this worker holds, 0 when it holds none; set in the ring's
    /// `on_take` hook, before the pop commits.
    pub(crate) slot: ShmBox<AtomicU64>,
    /// Python's `initializer(*initargs)`: a function and its encoded argument chunk.
    pub(crate) initializer: Option<(FnId, Vec<u8>)>,
    /// Python's `maxtasksperchild`: the worker exits after this many tasks.
    pub(crate) maxtasks: Option<usize>,
}

/// A task frame without its sequence number (written when it is pushed).
pub(crate) fn task_frame(kind: u8, function: FnId) -> Vec<u8> {
    let mut frame = Vec::with_capacity(64);
    frame.extend_from_slice(&0u64.to_le_bytes());
    frame.push(kind);
    frame.extend_from_slice(&function.0.to_le_bytes());
    frame
}

/// Writes the sequence number at the start of a task frame.
pub(crate) fn set_seq(frame: &mut [u8], seq: u64) {
    frame[..8].copy_from_slice(&seq.to_le_bytes());
}

/// The sequence number at the start of a task frame.
fn task_seq(frame: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(frame.get(..8)?.try_into().ok()?))
}

/// Splits a result frame into (payload, status, seq).
pub(crate) fn split_result(frame: &[u8]) -> Option<(&[u8], u8, u64)> {
    let at = frame.len().checked_sub(RESULT_TRAILER)?;
    let (payload, trailer) = frame.split_at(at);
    let seq = u64::from_le_bytes(trailer[1..].try_into().ok()?);
    Some((payload, trailer[0], seq))
}

thread_local! {
    /// Where the last panic of a task happened, recorded by the worker's panic hook.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The worker process: runs the initializer, then tasks until a stop frame (or
/// `maxtasks` tasks).
pub(crate) fn main(w: WorkerArgs) -> Result<(), RingError> {
    if let Some((f, args)) = &w.initializer {
        let mut out = Vec::new();
        if let Err(e) = w.table.call(*f, args, &mut out) {
            panic!("the pool's initializer could not run: {e}");
        }
    }
    // A task's panic is reported to the parent, not printed here (as Python's pool does).
    panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| l.to_string());
        PANIC_AT.with(|p| *p.borrow_mut() = at);
    }));
    let mine = &*w.slot;
    let (mut task, mut out) = (Vec::new(), Vec::new());
    let mut done = 0;
    while w.maxtasks.is_none_or(|n| done < n) {
        w.tasks.pop(&mut task, None, |frame| {
            if let Some(seq) = task_seq(frame) {
                mine.store(seq + 1, SeqCst);
            }
        })?;
        let (Some(seq), Some(&kind), Some(function)) = (
            task_seq(&task),
            task.get(8),
            task.get(9..TASK_HEADER).and_then(|b| b.try_into().ok()),
        ) else {
            mine.store(0, SeqCst);
            continue; // not a frame of ours: nobody waits for it
        };
        if kind == KIND_STOP {
            mine.store(0, SeqCst);
            return Ok(());
        }
        let status = run_task(
            &w.table,
            FnId(u32::from_le_bytes(function)),
            &task,
            &mut out,
        );
        out.push(status);
        out.extend_from_slice(&seq.to_le_bytes());
        w.results.push(&out, None)?;
        // Cleared only once the result is in: a worker that dies before this line has either
        // sent its result (the parent finds it) or not (the parent blames its death).
        mine.store(0, SeqCst);
        done += 1;
    }
    Ok(())
}

/// Runs one task frame, leaving its results (or its failure's message) in `out`; returns the
/// status. The task is a span "pool"/"task" of this worker in the trace, if one is recorded.
fn run_task(table: &FnTable, function: FnId, task: &[u8], out: &mut Vec<u8>) -> u8 {
    let _span = ipc_common::trace::span("pool", "task");
    out.clear();
    let args = &task[TASK_HEADER..];
    let call = panic::catch_unwind(AssertUnwindSafe(|| table.call(function, args, out)));
    let message = match call {
        Ok(Ok(())) => return STATUS_OK,
        Ok(Err(e)) => (STATUS_REMOTE, e.to_string()),
        Err(payload) => {
            let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
            let text = format!("{}\n{at}", panic_message(&*payload));
            (STATUS_PANICKED, text)
        }
    };
    out.clear();
    out.extend_from_slice(message.1.as_bytes());
    message.0
}

/// The message of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_string())
}
