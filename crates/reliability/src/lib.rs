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

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

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

/// One process, as `/proc/PID/stat` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    /// Its pid.
    pub pid: i32,
    /// Its parent's pid.
    pub ppid: i32,
    /// Its process group.
    pub pgid: i32,
    /// `R`, `S`, `D`, `T` (stopped), `Z` (zombie), ...
    pub state: char,
    /// Its command name: a child of `ipc_common::Process` shows its process name.
    pub comm: String,
}

impl ProcInfo {
    /// Reads `/proc/PID/stat`; `None` if that process does not exist (any more).
    pub fn read(pid: i32) -> Option<ProcInfo> {
        parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Whether it is still running (a zombie has ended and only waits to be reaped).
    pub fn is_running(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }

    /// Whether this process has ended: it is a zombie, or gone (its pid now free, or taken by
    /// a process of another group).
    pub fn has_ended(&self) -> bool {
        ProcInfo::read(self.pid).is_none_or(|now| !now.is_running() || now.pgid != self.pgid)
    }

    /// The system call this process is blocked in, or stopped in (`SIGSTOP` does not take it
    /// out of one), as `/proc/PID/syscall` shows it. `None` if it is running, or blocked
    /// outside a system call (a page fault), or gone, or if this process may not trace it (a
    /// test may trace its descendants, and the orphans given to it).
    pub fn syscall(&self) -> Option<Syscall> {
        parse_syscall(&fs::read_to_string(format!("/proc/{}/syscall", self.pid)).ok()?)
    }

    /// Whether this process is blocked writing to its stdout (a [`HeldStdout`], say).
    pub fn writing_stdout(&self) -> bool {
        self.syscall()
            .is_some_and(|call| WRITES.contains(&call.number) && call.first == 1)
    }

    /// Whether this process is in a sleep (`std::thread::sleep`).
    pub fn sleeping(&self) -> bool {
        self.syscall()
            .is_some_and(|call| SLEEPS.contains(&call.number))
    }

    /// Waits at most `timeout` for this process to end; returns whether it has.
    ///
    /// A `SIGKILL` does not end a process at once: the process dies when it next runs, and a
    /// system call it was blocked in may finish first if what blocked it has gone meanwhile.
    /// A process killed while blocked writing to a full pipe still writes its line if the pipe
    /// is read before it gets a core (seen on a loaded machine: the pipe section's child printed
    /// its first line after its `SIGKILL`). So a test that kills a process held by its stdout
    /// waits here before it lets the pipe go.
    pub fn wait_ended(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        while !self.has_ended() {
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(TICK);
        }
        true
    }
}

/// Parses a `/proc/PID/stat` line: `pid (comm) state ppid pgrp ...`; the name may hold spaces
/// and parentheses, so it ends at the last `)`.
fn parse_stat(stat: &str) -> Option<ProcInfo> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    Some(ProcInfo {
        pid: stat.get(..open)?.trim().parse().ok()?,
        comm: stat.get(open + 1..close)?.to_string(),
        state: rest.next()?.chars().next()?,
        ppid: rest.next()?.parse().ok()?,
        pgid: rest.next()?.parse().ok()?,
    })
}

/// A system call a process is in: see [`ProcInfo::syscall`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syscall {
    /// Its number: `nix::libc::SYS_write`, ...
    pub number: i64,
    /// Its first argument (the file descriptor of a `write`).
    pub first: u64,
}

/// Parses `/proc/PID/syscall`: `running`, or `-1 SP PC` outside a system call, or
/// `NUMBER ARG1 ... ARG6 SP PC` with the arguments in hexadecimal.
fn parse_syscall(text: &str) -> Option<Syscall> {
    let mut fields = text.split_whitespace();
    let number: i64 = fields.next()?.parse().ok()?;
    if number < 0 {
        return None;
    }
    let first = fields.next()?.strip_prefix("0x")?;
    Some(Syscall {
        number,
        first: u64::from_str_radix(first, 16).ok()?,
    })
}

/// Every process of the system (one that ends while it is being read is left out).
pub fn processes() -> Vec<ProcInfo> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(ProcInfo::read)
        .collect()
}

/// The processes of process group `pgid`, zombies included.
pub fn group(pgid: i32) -> Vec<ProcInfo> {
    processes().into_iter().filter(|p| p.pgid == pgid).collect()
}

/// The pids of `pid`'s descendants (its children, theirs, ...), zombies included, read from
/// `/proc/PID/task/*/children`: much cheaper than a scan of every process, for polling.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Ok(text) = fs::read_to_string(task.path().join("children")) else {
                continue;
            };
            for child in text.split_whitespace().filter_map(|s| s.parse().ok()) {
                found.push(child);
                todo.push(child);
            }
        }
    }
    found
}

/// The names in `/dev/shm`, where named POSIX shared memory and semaphores live.
///
/// # Errors
///
/// Fails if `/dev/shm` cannot be read.
pub fn shm_entries() -> io::Result<BTreeSet<String>> {
    fs::read_dir("/dev/shm")?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect()
}

/// The number of file descriptors this process has open (the listing's own is not counted).
///
/// # Errors
///
/// Fails if `/proc/self/fd` cannot be read.
pub fn open_fds() -> io::Result<usize> {
    Ok(fs::read_dir("/proc/self/fd")?.count().saturating_sub(1))
}

/// Makes this process the subreaper of its descendants: an orphan among them (a child whose
/// parent died) becomes this process's child, to be seen and reaped here.
///
/// # Errors
///
/// Fails if `prctl(PR_SET_CHILD_SUBREAPER)` fails.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// The path of the workspace binary `name`, in the directory cargo built the running program
/// into (`target/<profile>/`, the parent of `deps/` or `examples/`).
///
/// # Errors
///
/// Fails with a message naming `cargo build --workspace --bins` if the binary is not there:
/// `cargo test` builds a package's binaries only for that package's own integration tests, so
/// `scripts/test_all.sh` builds every binary before it runs the tests.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("current_exe")?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test program is not in target/<profile>/deps")?;
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{} does not exist: build every binary first (`cargo build --workspace --bins`, \
             as scripts/test_all.sh does)",
            path.display()
        );
    }
    Ok(path)
}

/// The section crates and their programs, read from `scripts/sections.sh` (the list that
/// `check_output.sh` runs), in the notes' order.
///
/// # Errors
///
/// Fails if the file cannot be read or lists nothing.
pub fn sections() -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/sections.sh");
    let text = fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let list: Vec<(String, Vec<String>)> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix('"')?.strip_suffix('"'))
        .filter_map(|entry| entry.split_once(':'))
        .map(|(name, ids)| {
            let ids = ids.split_whitespace().map(str::to_string).collect();
            (name.to_string(), ids)
        })
        .collect();
    if list.is_empty() {
        bail!("{path} lists no section");
    }
    Ok(list)
}

/// A process that died and was given to us (we are its subreaper), and how it ended.
#[derive(Clone, Debug)]
pub struct Orphan {
    /// Its pid.
    pub pid: i32,
    /// Its command name.
    pub comm: String,
    /// How it ended.
    pub status: WaitStatus,
}

/// What [`Run::finish`] found.
#[derive(Debug)]
pub struct Finish {
    /// How the leader (the section binary) ended; `None` if it had not ended in time.
    pub status: Option<ExitStatus>,
    /// The processes of the group still present at the end, zombies included: must be empty.
    pub left: Vec<ProcInfo>,
    /// The orphans this process reaped.
    pub orphans: Vec<Orphan>,
    /// How long it took the leader and the whole group to disappear.
    pub took: Duration,
    /// The leader's stdout.
    pub stdout: String,
    /// The leader's stderr (its children's too).
    pub stderr: String,
}

impl Finish {
    /// The leader's exit status, if it exited (not killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// The signal that killed the leader, if one did.
    pub fn signal(&self) -> Option<Signal> {
        self.status
            .and_then(|s| s.signal())
            .and_then(|s| Signal::try_from(s).ok())
    }

    /// Whether the leader ended and nothing of its group is left.
    pub fn is_clean(&self) -> bool {
        self.status.is_some() && self.left.is_empty()
    }

    /// Everything, for an assertion's message.
    pub fn describe(&self) -> String {
        let mut text = format!("leader: {:?}; took {:?}\n", self.status, self.took);
        for p in &self.left {
            let _ = writeln!(
                text,
                "  LEFT: pid {} ({}) state {} ppid {}",
                p.pid, p.comm, p.state, p.ppid
            );
        }
        for o in &self.orphans {
            let _ = writeln!(
                text,
                "  orphan reaped: pid {} ({}) {:?}",
                o.pid, o.comm, o.status
            );
        }
        let _ = write!(
            text,
            "--- stdout:\n{}--- stderr:\n{}",
            self.stdout, self.stderr
        );
        text
    }
}

/// A binary running in a process group of its own (as a shell starts a job), with its stdout
/// and stderr in files. Dropping it kills and reaps whatever is left of the group.
#[derive(Debug)]
pub struct Run {
    child: Child,
    pgid: i32,
    out: PathBuf,
    err: PathBuf,
    status: Option<ExitStatus>,
    orphans: Vec<Orphan>,
}

impl Run {
    /// Starts `binary` with `args` as the leader of a new process group.
    ///
    /// # Errors
    ///
    /// Fails if the output files cannot be made or the binary cannot be started.
    pub fn spawn(binary: &Path, args: &[&str]) -> io::Result<Run> {
        Run::command(Command::new(binary).args(args))
    }

    /// Starts `command` (with its arguments and environment) as the leader of a new process
    /// group; its stdin is `/dev/null`, its stdout and stderr go to files.
    ///
    /// # Errors
    ///
    /// As for [`spawn`](Run::spawn).
    pub fn command(command: &mut Command) -> io::Result<Run> {
        Run::command_with_stdout(command, None)
    }

    /// As [`command`](Run::command), with stdout going to `stdout` (a pipe the test holds,
    /// say) instead of a file; [`Finish::stdout`] is then empty.
    ///
    /// # Errors
    ///
    /// As for [`spawn`](Run::spawn).
    pub fn command_with_stdout(command: &mut Command, stdout: Option<Stdio>) -> io::Result<Run> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir().join(format!(
            "reliability-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let (out, err) = (base.with_extension("out"), base.with_extension("err"));
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(match stdout {
                Some(stdout) => {
                    File::create(&out)?;
                    stdout
                }
                None => File::create(&out)?.into(),
            })
            .stderr(File::create(&err)?)
            .spawn()?;
        let pgid = i32::try_from(child.id()).map_err(io::Error::other)?;
        Ok(Run {
            child,
            pgid,
            out,
            err,
            status: None,
            orphans: Vec::new(),
        })
    }

    /// Starts `binary` with `args` as [`spawn`](Run::spawn) does, its stdout a
    /// [`HeldStdout`] with `room` bytes free: each process of the group blocks at its first
    /// write that does not fit, until the test [releases](HeldStdout::release) the pipe.
    ///
    /// # Errors
    ///
    /// As for [`HeldStdout::new`] and [`spawn`](Run::spawn).
    pub fn spawn_held(
        binary: &Path,
        args: &[&str],
        room: usize,
    ) -> anyhow::Result<(Run, HeldStdout)> {
        let mut held = HeldStdout::new(room)?;
        let run = Run::command_with_stdout(Command::new(binary).args(args), Some(held.stdio()?))?;
        Ok((run, held))
    }

    /// The leader's pid, which is also the group's id.
    pub fn pid(&self) -> i32 {
        self.pgid
    }

    /// The processes of the group now, leader and zombies included.
    pub fn members(&self) -> Vec<ProcInfo> {
        group(self.pgid)
    }

    /// The running member whose command name is `comm` (a child's process name).
    pub fn named(&self, comm: &str) -> Option<ProcInfo> {
        self.members()
            .into_iter()
            .find(|p| p.comm == comm && p.is_running())
    }

    /// What the leader and its children have printed so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.out).unwrap_or_default()).into_owned()
    }

    /// What the leader and its children have written to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.err).unwrap_or_default()).into_owned()
    }

    /// Whether the leader has ended (it is then reaped).
    pub fn leader_ended(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.is_some()
    }

    /// Polls until `ready` holds (true), the leader ends or `timeout` passes (false). For the
    /// first [`SPIN`] it only yields between looks, to catch children that live for a
    /// millisecond (the pipe demo's) even on a loaded machine.
    pub fn wait_until(&mut self, timeout: Duration, mut ready: impl FnMut(&Run) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if ready(self) {
                return true;
            }
            if self.leader_ended() || start.elapsed() > timeout {
                return false;
            }
            if start.elapsed() < SPIN {
                std::thread::yield_now();
            } else {
                std::thread::sleep(TICK);
            }
        }
    }

    /// The number of the leader's descendants now (zombies included); cheap enough to poll.
    pub fn descendants(&self) -> usize {
        descendants(self.pgid).len()
    }

    /// Stops the whole group (`SIGSTOP`) and waits until every running member is stopped, so
    /// that a test can look at it and signal it at an instant of its choosing. Returns the
    /// members that are still running (stopped, not zombies). [`thaw`](Run::thaw) resumes it.
    ///
    /// A member stops when it next runs, so on a loaded machine this may take a while; it
    /// gives up (and returns the members as they are) only after a wait that only a hang needs.
    ///
    /// # Errors
    ///
    /// Fails if `killpg` fails.
    pub fn freeze(&self) -> nix::Result<Vec<ProcInfo>> {
        self.signal_group(Signal::SIGSTOP)?;
        let start = Instant::now();
        loop {
            let running: Vec<ProcInfo> = self
                .members()
                .into_iter()
                .filter(ProcInfo::is_running)
                .collect();
            let stopped = running.iter().all(|p| matches!(p.state, 'T' | 't'));
            if stopped || start.elapsed() > STOP_WAIT {
                return Ok(running);
            }
            std::thread::sleep(TICK);
        }
    }

    /// Freezes the group, again and again, until `ready` holds of the frozen group: then it
    /// returns true and leaves the group frozen, so that nothing changes between the look and
    /// what the test does next ([`thaw`](Run::thaw) it afterwards). Between two looks the
    /// group runs for a moment. Returns false, the group running, if the leader ends or
    /// `timeout` passes first.
    ///
    /// For a moment that no [`HeldStdout`] can hold, a child in the middle of a sleep, say.
    /// The look and what follows cannot race, however slowly the test runs: a moment seen is
    /// still there. The moment must only last long enough to be frozen in once (a sleep of
    /// 500 ms is looked at some fifty times).
    ///
    /// # Errors
    ///
    /// Fails if `killpg` fails.
    pub fn freeze_when(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut(&Run) -> bool,
    ) -> nix::Result<bool> {
        let start = Instant::now();
        while !self.leader_ended() && start.elapsed() <= timeout {
            self.freeze()?;
            if ready(self) {
                return Ok(true);
            }
            self.thaw()?;
            std::thread::sleep(THAW_TICK);
        }
        Ok(false)
    }

    /// Resumes a group stopped by [`freeze`](Run::freeze) (`SIGCONT`).
    ///
    /// # Errors
    ///
    /// Fails if `killpg` fails.
    pub fn thaw(&self) -> nix::Result<()> {
        self.signal_group(Signal::SIGCONT)
    }

    /// Sends `sig` to every process of the group, as a terminal sends Ctrl-C's `SIGINT`.
    ///
    /// # Errors
    ///
    /// Fails if `killpg` fails (the group no longer exists, say).
    pub fn signal_group(&self, sig: Signal) -> nix::Result<()> {
        signal::killpg(Pid::from_raw(self.pgid), sig)
    }

    /// Sends `sig` to the leader alone.
    ///
    /// # Errors
    ///
    /// Fails if `kill` fails.
    pub fn signal_leader(&self, sig: Signal) -> nix::Result<()> {
        signal::kill(Pid::from_raw(self.pgid), sig)
    }

    /// Waits at most `timeout` for the leader to end and the whole group to disappear,
    /// reaping the leader and every orphan given to us on the way.
    pub fn finish(&mut self, timeout: Duration) -> Finish {
        let start = Instant::now();
        let left = loop {
            self.leader_ended();
            self.reap_orphans();
            let left = self.members();
            if (self.status.is_some() && left.is_empty()) || start.elapsed() > timeout {
                break left;
            }
            std::thread::sleep(TICK);
        };
        Finish {
            status: self.status,
            left,
            orphans: self.orphans.clone(),
            took: start.elapsed(),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }

    /// Reaps the members of the group that are our children (orphans given to us).
    fn reap_orphans(&mut self) {
        let me = i32::try_from(std::process::id()).unwrap_or(-1);
        for p in self.members() {
            if p.ppid != me || p.pid == self.pgid {
                continue;
            }
            match waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => {}
                Ok(status) => self.orphans.push(Orphan {
                    pid: p.pid,
                    comm: p.comm,
                    status,
                }),
            }
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Whatever the test found, leave nothing running: kill the group and reap what is ours.
        let start = Instant::now();
        while !(self.leader_ended() && self.members().is_empty()) && start.elapsed() < DROP_WAIT {
            let _ = self.signal_group(Signal::SIGKILL);
            self.reap_orphans();
            std::thread::sleep(TICK);
        }
        let _ = fs::remove_file(&self.out);
        let _ = fs::remove_file(&self.err);
    }
}

/// A one-page pipe for a section's stdout, filled in advance so that only the first `room`
/// bytes the section prints fit in it: the next write blocks, and holds the process that makes
/// it still (alive, and easy to catch) until the pipe is read. For sections whose children
/// live too briefly to be caught otherwise, and for tests that need a child to be still there,
/// at a known point, when they act, however slowly the test itself runs.
///
/// ```no_run
/// use std::time::Duration;
/// use reliability::{HeldStdout, Run, binary};
///
/// // The pipe demo's parent prints one line before it forks; its child's first line blocks.
/// let room = HeldStdout::room_before("pipe", &[], "子进程 Child-1 启动")?;
/// let (mut run, held) = Run::spawn_held(&binary("pipe")?, &[], room)?;
/// assert!(run.wait_until(Duration::from_secs(10), |r| r.named("Child-1").is_some()));
/// let printed = held.release(); // the child goes on
/// run.finish(Duration::from_secs(5));
/// assert!(printed.join().expect("reader")?.starts_with("=== "));
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct HeldStdout {
    reader: PipeReader,
    writer: Option<PipeWriter>,
    filler: usize,
}

impl HeldStdout {
    /// The size of the pipe: one page, the smallest a pipe can be.
    const PAGE: usize = 4096;

    /// A held pipe with `room` bytes free.
    ///
    /// # Errors
    ///
    /// Fails if `room` is above a page, or if the pipe cannot be made, shrunk or filled.
    pub fn new(room: usize) -> anyhow::Result<HeldStdout> {
        let filler = Self::PAGE
            .checked_sub(room)
            .context("more room asked for than a page")?;
        let (reader, mut writer) = io::pipe()?;
        fcntl(&writer, FcntlArg::F_SETPIPE_SZ(Self::PAGE as i32)).context("F_SETPIPE_SZ")?;
        // One write: the page's one buffer, which the section's writes then join while they fit.
        writer.write_all(&vec![b'.'; filler])?;
        Ok(HeldStdout {
            reader,
            writer: Some(writer),
            filler,
        })
    }

    /// The number of bytes `section` prints, run normally with `args`, before the line
    /// `line`: hold it there, and the process that prints `line` blocks on it.
    ///
    /// # Errors
    ///
    /// Fails if the section cannot be run or does not print `line`.
    pub fn room_before(section: &str, args: &[&str], line: &str) -> anyhow::Result<usize> {
        let mut run = Run::spawn(&binary(section)?, args)?;
        let end = run.finish(NORMAL_RUN);
        end.stdout
            .find(&format!("{line}\n"))
            .with_context(|| format!("{section} does not print {line:?}\n{}", end.describe()))
    }

    /// The number of bytes `section` prints, run normally with `args`, up to the end of the
    /// line `line`: hold it there, and every process blocks at its first print after `line`
    /// (which must be printed before any other process prints, for the room to be the same in
    /// every run).
    ///
    /// # Errors
    ///
    /// As for [`room_before`](HeldStdout::room_before).
    pub fn room_after(section: &str, args: &[&str], line: &str) -> anyhow::Result<usize> {
        Ok(HeldStdout::room_before(section, args, line)? + line.len() + 1)
    }

    /// The pipe's writing end, for the section's stdout (only once).
    ///
    /// # Errors
    ///
    /// Fails if it was already taken.
    pub fn stdio(&mut self) -> anyhow::Result<Stdio> {
        Ok(self.writer.take().context("stdout already taken")?.into())
    }

    /// Reads the pipe until every writer has closed it, on a thread of its own, so that the
    /// section goes on; the thread returns what the section printed.
    pub fn release(self) -> JoinHandle<io::Result<String>> {
        let HeldStdout {
            mut reader,
            writer,
            filler,
        } = self;
        drop(writer);
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(bytes.get(filler..).unwrap_or_default()).into_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_with_odd_names() {
        let p = parse_stat("42 (a) b (c)) S 7 42 42 0 -1").expect("parse");
        assert_eq!(
            p,
            ProcInfo {
                pid: 42,
                ppid: 7,
                pgid: 42,
                state: 'S',
                comm: "a) b (c)".into()
            }
        );
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn syscall_lines_parse() {
        let write = "1 0x1 0x55fe3d8bc500 0x19 0x0 0x0 0x0 0x7ffc4d434968 0x7f7be1d16350";
        assert_eq!(
            parse_syscall(write),
            Some(Syscall {
                number: 1,
                first: 1
            })
        );
        assert_eq!(parse_syscall("running"), None);
        assert_eq!(parse_syscall("-1 0x7ffc4d434968 0x7f7be1d16350"), None);
    }

    #[test]
    fn this_process_is_seen_in_its_group() {
        let me = ProcInfo::read(std::process::id() as i32).expect("read self");
        assert!(group(me.pgid).iter().any(|p| p.pid == me.pid));
    }
}
