//! Processes as `/proc` shows them: their state, what they are blocked in, groups and
//! descendants, `/dev/shm` and open descriptors.

use std::collections::BTreeSet;
use std::fs::{self};
use std::io;
use std::time::{Duration, Instant};

use crate::{SLEEPS, TICK, WRITES};

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

    /// Whether this process is blocked writing to its stdout (a [`HeldStdout`](crate::HeldStdout), say).
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
