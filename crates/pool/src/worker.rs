//! The worker's side: take a task frame, call the function, send the result frame back.
//!
//! Frames (all integers little-endian):
//!
//! - task: `seq: u64`, `kind: u8` (task or stop), `function: u32`, then the JSON array of
//!   arguments;
//! - result: the JSON array of results (or a UTF-8 message), then `status: u8` and `seq: u64`
//!   at the *end*, so that the worker can append them to the function's output without a copy.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use ipc_common::ShmSlice;
use ipc_common::remote::{FnId, FnTable};
use ipc_common::ring::{Ring, RingError};

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
pub(crate) const STATUS_TOO_LARGE: u8 = 3;

/// What the parent and every worker share: made before the first fork.
pub(crate) struct Shared {
    /// Task frames, pushed only by the parent.
    pub(crate) tasks: Ring,
    /// Result frames, pushed by the workers.
    pub(crate) results: Ring,
    /// The functions tasks name.
    pub(crate) table: FnTable,
    /// One slot per worker: `seq + 1` of the task frame it holds, 0 when idle. Written in the
    /// ring's `on_take` hook, under the ring's lock, before the frame is taken out.
    pub(crate) slots: ShmSlice<AtomicU64>,
}

/// A task frame without its sequence number (written when it is pushed).
pub(crate) fn task_frame(kind: u8, function: FnId) -> Vec<u8> {
    let mut frame = Vec::with_capacity(64);
    frame.extend_from_slice(&0u64.to_le_bytes());
    frame.push(kind);
    frame.extend_from_slice(&function.0.to_le_bytes());
    frame
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

/// The worker's loop, run in worker number `slot` until it takes a stop frame.
pub(crate) fn run(shared: &Shared, slot: usize) -> Result<(), RingError> {
    // A task's panic is reported to the parent, not printed here (as Python's pool does).
    panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| l.to_string());
        PANIC_AT.with(|p| *p.borrow_mut() = at);
    }));
    let mine = &shared.slots[slot];
    let (mut task, mut out) = (Vec::new(), Vec::new());
    loop {
        shared.tasks.pop(&mut task, None, |frame| {
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
        let function = FnId(u32::from_le_bytes(function));
        let args = &task[TASK_HEADER..];
        let call = panic::catch_unwind(AssertUnwindSafe(|| {
            shared.table.call(function, args, &mut out)
        }));
        let status = match call {
            Ok(Ok(())) => STATUS_OK,
            Ok(Err(e)) => {
                out.clear();
                out.extend_from_slice(e.to_string().as_bytes());
                STATUS_REMOTE
            }
            Err(payload) => {
                out.clear();
                let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
                out.extend_from_slice(format!("{}\n{at}", panic_message(&*payload)).as_bytes());
                STATUS_PANICKED
            }
        };
        send(&shared.results, &mut out, status, seq)?;
        // Cleared only once the result is in: a worker that dies before this line has either
        // sent its result (the parent finds it) or not (the parent blames its death).
        mine.store(0, SeqCst);
    }
}

/// Appends the trailer to `out` and pushes it; a result too large for the ring becomes a
/// `STATUS_TOO_LARGE` frame carrying the size.
fn send(results: &Ring, out: &mut Vec<u8>, status: u8, seq: u64) -> Result<(), RingError> {
    let len = out.len();
    out.push(status);
    out.extend_from_slice(&seq.to_le_bytes());
    match results.push(out, None) {
        Err(RingError::TooLarge { .. }) => {
            out.clear();
            out.extend_from_slice(len.to_string().as_bytes());
            out.push(STATUS_TOO_LARGE);
            out.extend_from_slice(&seq.to_le_bytes());
            results.push(out, None)
        }
        other => other,
    }
}

/// The message of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_string())
}
