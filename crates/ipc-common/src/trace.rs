//! Recording what processes did, in Chrome's trace-event format (what Perfetto and
//! `chrome://tracing` open).
//!
//! A program turns recording on with [`start`] (every section binary does for `--trace FILE`)
//! and writes the file with [`finish`]. The libraries record, not the demos: a process's life,
//! waiting for and holding a lock, holding a semaphore, waiting on an event, a pool task on its
//! worker, a manager request ([`span`]), and the messages of queues and pipes ([`message`]),
//! linked so that a message can be drawn from its sender to its receiver.
//!
//! # How processes record
//!
//! Each process records into memory of its own and appends its events, one JSON object per
//! line, to a file of its own (`FILE.parts/<pid>.jsonl`) when its buffer fills, at the first
//! event 100 ms after its last write, and when it ends; [`finish`], in the program that called
//! [`start`], merges the parts into `FILE` and removes them. A process killed mid-run loses at
//! most its unwritten events (those since its last write), never the file.
//! Children learn that recording is on from their parent: a forked child inherits the setting,
//! a spawned one is told in its start message.
//!
//! # Cost
//!
//! Off, every recording call is one relaxed load of a flag: nothing shows in `benchmark ipc`.
//!
//! ```no_run
//! use ipc_common::trace;
//!
//! # fn main() -> std::io::Result<()> {
//! trace::start(std::path::Path::new("run.json"))?;
//! {
//!     let _span = trace::span("lock", "hold");
//!     // ... work done while holding a lock ...
//! }
//! trace::finish()?; // run.json now opens in Perfetto
//! # Ok(()) }
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

/// Events kept in memory before they are appended to the process's part file.
const BUFFER: usize = 1024;

/// One trace event (the fields of Chrome's trace-event format that are used here).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What happened: `hold`, `wait`, `put`, `task`...
    pub name: String,
    /// Its kind: `process`, `lock`, `semaphore`, `event`, `queue`, `pipe`, `pool`, `manager`.
    pub cat: String,
    /// The phase: `B`/`E` (a span begins/ends), `i` (an instant), `s`/`f` (a flow's ends),
    /// `M` (metadata: a process's name).
    pub ph: String,
    /// When, in microseconds of the monotonic clock (the same clock in every process).
    pub ts: f64,
    /// The process.
    pub pid: i32,
    /// The thread.
    pub tid: i32,
    /// A flow's id: the same on the sending and the receiving end of one message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `bp: "e"` binds a flow's end to its enclosing slice (Perfetto draws the arrow to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bp: Option<String>,
    /// `s: "p"` scopes an instant event to its process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<String>,
    /// Details: a process's name, a message's size.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub args: serde_json::Value,
}

/// Whether this process records.
static ON: AtomicBool = AtomicBool::new(false);

/// The recorder of this process: where its part file goes, and the events not yet written.
struct Recorder {
    dir: PathBuf,
    /// The trace file, in the program that called [`start`] (children only know `dir`).
    file: Option<PathBuf>,
    /// The process the buffer belongs to (a forked child starts with a copy of its parent's).
    pid: i32,
    events: Vec<Event>,
    /// When the events were last written: a process writes at least every [`WRITE_EVERY`]
    /// µs, so that one killed by a signal loses at most that much of its story.
    written: f64,
}

/// How often (µs) a process that records writes its events out, at the latest.
const WRITE_EVERY: f64 = 100_000.0;

static RECORDER: Mutex<Option<Recorder>> = Mutex::new(None);

/// Whether this process records events (cheap: call it before building an event's details).
#[inline]
pub fn enabled() -> bool {
    ON.load(Relaxed)
}

/// Turns recording on for this program and its children; [`finish`] writes `file`.
///
/// # Errors
///
/// Fails if the directory of parts (`file` + `.parts`) cannot be made.
pub fn start(file: &Path) -> io::Result<()> {
    let dir = parts_dir(file);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    join(dir);
    if let Some(r) = RECORDER.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        r.file = Some(file.to_path_buf());
    }
    metadata_name(&crate::current_process().name);
    Ok(())
}

/// The directory where the processes of a trace written to `file` put their parts.
fn parts_dir(file: &Path) -> PathBuf {
    let mut dir = file.as_os_str().to_owned();
    dir.push(".parts");
    PathBuf::from(dir)
}

/// Records into `dir` from now on (a spawned child told so by its parent).
pub(crate) fn join(dir: PathBuf) {
    let mut recorder = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    *recorder = Some(Recorder {
        dir,
        file: None,
        pid: pid(),
        events: Vec::with_capacity(BUFFER),
        written: now_us(),
    });
    ON.store(true, Relaxed);
}

/// The directory this process records into, if it records: for a spawned child's start
/// message.
pub(crate) fn dir() -> Option<PathBuf> {
    if !enabled() {
        return None;
    }
    let recorder = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    recorder.as_ref().map(|r| r.dir.clone())
}

/// Called first thing in a forked child: drops the copy of its parent's unwritten events and
/// names the child's track.
pub(crate) fn became_child(name: &str) {
    if !enabled() {
        return;
    }
    {
        let mut recorder = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = recorder.as_mut() {
            r.events.clear();
            r.pid = pid();
        }
    }
    metadata_name(name);
}

/// The trace file this program writes, if it called [`start`] (its children only know where
/// to put their parts).
pub fn file() -> Option<PathBuf> {
    let recorder = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    recorder.as_ref().and_then(|r| r.file.clone())
}

/// Writes this process's unwritten events to its part file (a child calls it as it ends).
pub fn flush() {
    if !enabled() {
        return;
    }
    let mut recorder = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = recorder.as_mut() {
        let _ = write_part(r);
    }
}

/// Appends the buffered events to the part file of the process.
fn write_part(r: &mut Recorder) -> io::Result<()> {
    if r.events.is_empty() {
        return Ok(());
    }
    let path = r.dir.join(format!("{}.jsonl", r.pid));
    let mut text = Vec::with_capacity(r.events.len() * 128);
    for event in r.events.drain(..) {
        serde_json::to_writer(&mut text, &event).map_err(io::Error::other)?;
        text.push(b'\n');
    }
    // One write of whole lines: a process killed now leaves whole lines or none.
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(&text)
}

/// Stops recording and merges every process's part into the trace file given to [`start`]:
/// `{"traceEvents": [...]}`, ordered by time. Call it once the children have ended.
///
/// # Errors
///
/// Fails if a part cannot be read or the trace cannot be written.
pub fn finish() -> io::Result<()> {
    let Some(mut r) = RECORDER.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return Ok(());
    };
    ON.store(false, Relaxed);
    write_part(&mut r)?;
    let mut events = Vec::new();
    for entry in fs::read_dir(&r.dir)? {
        let part = BufReader::new(File::open(entry?.path())?);
        for line in part.lines() {
            // A line cut short by a process killed while writing is left out.
            if let Ok(event) = serde_json::from_str::<Event>(&line?) {
                events.push(event);
            }
        }
    }
    events.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    let Some(file) = r.file.take() else {
        // A child that was told to record has no file of its own to write.
        return Ok(());
    };
    let mut out = io::BufWriter::new(File::create(&file)?);
    serde_json::to_writer(
        &mut out,
        &serde_json::json!({ "traceEvents": events, "displayTimeUnit": "ms" }),
    )
    .map_err(io::Error::other)?;
    out.flush()?;
    fs::remove_dir_all(&r.dir)
}

/// Reads a trace file written by [`finish`].
///
/// # Errors
///
/// Fails if the file cannot be read or is not a trace.
pub fn read(file: &Path) -> io::Result<Vec<Event>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Trace {
        trace_events: Vec<Event>,
    }
    let trace: Trace =
        serde_json::from_reader(BufReader::new(File::open(file)?)).map_err(io::Error::other)?;
    Ok(trace.trace_events)
}

fn pid() -> i32 {
    std::process::id() as i32
}

fn tid() -> i32 {
    // SAFETY: gettid has no preconditions and touches no memory of ours.
    unsafe { libc::gettid() }
}

/// Microseconds of the monotonic clock: comparable between processes.
fn now_us() -> f64 {
    let ts = crate::sync::futex::clock_now(libc::CLOCK_MONOTONIC);
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

/// Records one event of this process.
fn record(mut event: Event) {
    let mut recorder = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = recorder.as_mut() else {
        return;
    };
    event.pid = r.pid;
    let ts = event.ts;
    r.events.push(event);
    if r.events.len() >= BUFFER || ts - r.written > WRITE_EVERY {
        let _ = write_part(r);
        r.written = ts;
    }
}

fn event(cat: &str, name: &str, ph: &str) -> Event {
    Event {
        name: name.to_string(),
        cat: cat.to_string(),
        ph: ph.to_string(),
        ts: now_us(),
        pid: 0,
        tid: tid(),
        id: None,
        bp: None,
        s: None,
        args: serde_json::Value::Null,
    }
}

/// Names this process's track.
fn metadata_name(name: &str) {
    let mut e = event("__metadata", "process_name", "M");
    e.args = serde_json::json!({ "name": name });
    record(e);
}

/// A span of this process: begins now, ends when the returned guard is dropped.
#[must_use = "the span ends when the guard is dropped"]
#[inline]
pub fn span(cat: &'static str, name: &'static str) -> Span {
    // Off, a span costs this one relaxed load and a branch: the recording is out of line.
    let on = enabled();
    if on {
        span_edge(cat, name, "B");
    }
    Span { cat, name, on }
}

/// Records a span's beginning (`"B"`) or end (`"E"`): out of line, so that the hooks in the
/// locks' fast paths stay small when recording is off.
#[cold]
#[inline(never)]
fn span_edge(cat: &'static str, name: &'static str, ph: &str) {
    if enabled() {
        record(event(cat, name, ph));
    }
}

/// The end of a [`span`], when dropped.
#[derive(Debug)]
pub struct Span {
    cat: &'static str,
    name: &'static str,
    on: bool,
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        if self.on {
            span_edge(self.cat, self.name, "E");
        }
    }
}

/// The sending or the receiving end of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Put into a queue, sent on a pipe.
    Sent,
    /// Got from a queue, received from a pipe.
    Received,
}

/// Records a message of `cat` (`queue`, `pipe`): an instant on this process's track and one
/// end of a flow whose id (`channel` and the message's number on it) is the same at the other
/// end, so the message can be drawn from sender to receiver.
pub fn message(cat: &'static str, end: End, channel: u64, number: u64, bytes: usize) {
    if !enabled() {
        return;
    }
    let (name, ph) = match end {
        End::Sent => ("put", "s"),
        End::Received => ("get", "f"),
    };
    let mut instant = event(cat, name, "i");
    instant.s = Some("t".into());
    instant.args = serde_json::json!({ "bytes": bytes, "message": number });
    let ts = instant.ts;
    record(instant);
    let mut flow = event(cat, "message", ph);
    flow.ts = ts;
    flow.id = Some(format!("{cat}-{channel}-{number}"));
    if end == End::Received {
        flow.bp = Some("e".into());
    }
    record(flow);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_a_file() {
        let dir = std::env::temp_dir().join(format!("trace-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("run.json");
        start(&file).expect("start");
        {
            let _span = span("lock", "hold");
            message("queue", End::Sent, 7, 1, 42);
        }
        finish().expect("finish");
        let me = tid();
        let events: Vec<Event> = read(&file)
            .expect("read")
            .into_iter()
            .filter(|e| e.tid == me)
            .collect();
        let phases: Vec<&str> = events.iter().map(|e| e.ph.as_str()).collect();
        assert_eq!(phases, ["M", "B", "i", "s", "E"]);
        assert_eq!(events[3].id.as_deref(), Some("queue-7-1"));
        assert!(!parts_dir(&file).exists(), "parts are removed");
        assert!(!enabled());
        fs::remove_dir_all(&dir).expect("clean");
    }
}
