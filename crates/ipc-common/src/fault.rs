//! Fault injection, for tests: stop or kill this process at a named instruction.
//!
//! The primitives of this crate mark the windows where a process's death matters (after a
//! commit and before the wake-up that announces it, after a wake-up and before the item is
//! taken, in the middle of a copy) with [`point`]. A test arms a point inside a child with
//! [`arm`], and the child stops (`SIGSTOP`) or dies (`SIGKILL`) exactly there, so the test can
//! check what the survivors see in that very window, every time, instead of hoping a random
//! kill lands in it.
//!
//! Unarmed, a point costs one relaxed load of a static flag.
//!
//! ```
//! use ipc_common::{Process, fault};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let child = Process::start("victim", || {
//!     fault::arm("example.point", fault::Fault::Kill, 1);
//!     fault::point("example.point"); // dies here
//!     println!("never printed");
//! })?;
//! assert_eq!(child.join()?, -9);
//! # Ok(()) }
//! ```
#![doc(hidden)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use nix::sys::signal::{Signal, raise};

/// What happens at an armed point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The process stops (`SIGSTOP`) until it is continued or killed.
    Stop,
    /// The process dies at once (`SIGKILL`).
    Kill,
    /// The system call at the point fails, as if the kernel refused it (see [`fails`]).
    Fail,
}

/// Armed points: name, fault, hits left before it fires.
static POINTS: Mutex<Vec<(&'static str, Fault, u32)>> = Mutex::new(Vec::new());
/// Whether any point is armed in this process: the only cost of an unarmed point.
static ARMED: AtomicBool = AtomicBool::new(false);

/// Arms `name` in this process: its `nth` hit (1 for the next one) raises `fault`.
pub fn arm(name: &'static str, fault: Fault, nth: u32) {
    let mut points = POINTS.lock().unwrap_or_else(|e| e.into_inner());
    points.retain(|(n, ..)| *n != name);
    points.push((name, fault, nth.max(1)));
    ARMED.store(true, Relaxed);
}

/// Disarms every point of this process.
pub fn disarm_all() {
    POINTS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    ARMED.store(false, Relaxed);
}

/// A named place where a test may stop or kill this process.
#[inline]
pub fn point(name: &'static str) {
    if ARMED.load(Relaxed) {
        hit(name);
    }
}

/// A named system call that a test may make fail: `true` if the caller must act as if the
/// kernel refused it.
#[inline]
pub fn fails(name: &'static str) -> bool {
    ARMED.load(Relaxed) && take(name) == Some(Fault::Fail)
}

#[cold]
fn hit(name: &'static str) {
    let fault = match take(name) {
        Some(fault @ (Fault::Stop | Fault::Kill)) => fault,
        _ => return,
    };
    let _ = raise(match fault {
        Fault::Stop => Signal::SIGSTOP,
        _ => Signal::SIGKILL,
    });
}

/// Counts a hit of `name`; returns its fault when this hit is the armed one.
#[cold]
fn take(name: &'static str) -> Option<Fault> {
    let mut points = POINTS.lock().unwrap_or_else(|e| e.into_inner());
    let at = points.iter().position(|(n, ..)| *n == name)?;
    points[at].2 -= 1;
    (points[at].2 == 0).then(|| points.remove(at).1)
}

/// Waits up to `timeout` until process `pid` is stopped (state `T` in `/proc/PID/stat`);
/// returns whether it is.
pub fn wait_stopped(pid: i32, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if state == Some("T") {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
