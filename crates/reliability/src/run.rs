//! A section run in a process group of its own, watched, signalled and reaped.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::{
    DROP_WAIT, HeldStdout, ProcInfo, SPIN, STOP_WAIT, THAW_TICK, TICK, descendants, group,
};

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
