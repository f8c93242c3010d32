//! Tools for the workspace's fault tests: find a section's binary, run it in a process group of
//! its own with its output going to files, watch the group through `/proc`, signal it, and reap
//! everything it leaves behind, orphans included.
//!
//! The tests are in `tests/`: `signals.rs` (Ctrl-C and SIGTERM during every section),
//! `faults.rs` (children killed in the middle of their work, a panicking child) and `cli.rs`
//! (bad command lines). The minutes-long queue soak is `examples/soak.rs`, run by
//! `scripts/soak.sh`. See this crate's README.md.
//!
//! A test that uses [`Run`] first calls [`become_subreaper`]: a section's children whose
//! parent dies are then given to the test (not to init), so the test can see them, reap them
//! and tell how they ended.
//!
//! ```no_run
//! use std::time::Duration;
//! use nix::sys::signal::Signal;
//! use reliability::{Run, become_subreaper, binary};
//!
//! become_subreaper()?;
//! let mut run = Run::spawn(&binary("queue")?, &[])?;
//! assert!(run.wait_until(Duration::from_secs(10), |r| r.members().len() >= 6));
//! run.signal_group(Signal::SIGINT)?;
//! let end = run.finish(Duration::from_secs(2));
//! assert!(end.left.is_empty(), "{}", end.describe());
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::time::Duration;

mod binaries;
mod held;
mod procs;
mod run;

pub use binaries::{become_subreaper, binary, sections};
pub use held::HeldStdout;
pub use procs::*;
pub use run::*;

/// How often a group is looked at while waiting for it.
const TICK: Duration = Duration::from_millis(1);

/// How long [`Run::wait_until`] looks without sleeping.
pub const SPIN: Duration = Duration::from_millis(200);

/// How long [`Run`]'s `Drop` waits for a killed group to disappear.
const DROP_WAIT: Duration = Duration::from_secs(5);

/// How long [`Run::freeze`] waits for every member to stop: a stop takes effect when the
/// process next runs, which on a loaded machine may take a while, but only a hang takes this.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// How long [`Run::freeze_when`] lets the group run between two looks at it.
const THAW_TICK: Duration = Duration::from_millis(10);

/// How long [`HeldStdout::room_before`] and [`HeldStdout::room_after`] wait for a normal run of
/// a section (a few seconds at most); only a hang takes this long.
const NORMAL_RUN: Duration = Duration::from_secs(60);

/// The system calls of `std::thread::sleep` (glibc's `nanosleep` makes `clock_nanosleep`).
#[cfg(target_arch = "x86_64")]
const SLEEPS: &[i64] = &[nix::libc::SYS_clock_nanosleep, nix::libc::SYS_nanosleep];
#[cfg(not(target_arch = "x86_64"))]
const SLEEPS: &[i64] = &[nix::libc::SYS_clock_nanosleep];

/// The system calls of a `println!` (`write`, or `writev` for a vectored write).
const WRITES: &[i64] = &[nix::libc::SYS_write, nix::libc::SYS_writev];
