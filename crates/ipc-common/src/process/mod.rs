//! Child processes: Rust's `multiprocessing.Process`, started by fork, spawn or forkserver.
//!
//! Python starts a child three ways, and so does this module (see [`StartMethod`]):
//!
//! | Python | here | what the child is |
//! |---|---|---|
//! | `Process(target=f, args=(a,)).start()` | [`Process::new(f, a).start()`](Process::new) | the default method's child running `f(a)` |
//! | `get_context("spawn").Process(...)` | [`get_context(StartMethod::Spawn)`](get_context)`.process(f, a)` | a fresh run of this program that runs only `f(a)` |
//! | `set_start_method("forkserver")` | [`set_start_method`] | a fork of a small server process |
//! | `os.fork()` and a closure | [`Process::start(name, closure)`](Process::start) | a copy of this process running the closure |
//!
//! Under spawn and forkserver the target is a plain `fn` and its arguments are serde values,
//! as Python's are pickled; shared objects (queues, pipe ends, locks, shared memory) travel as
//! arguments too, their descriptors beside them (see [`crate::share`]). Under fork the
//! arguments are simply moved into the child.
//!
//! # What every child gets
//!
//! - **stdout is flushed before the child starts**, so a half-written line is never printed
//!   twice.
//! - **A panic** prints `process NAME (pid N) panicked: MESSAGE` on stderr and ends the child
//!   with exit code 1; a target returning `Err(e)` prints `process NAME (pid N) failed: e` and
//!   also exits with 1. The parent never hangs on it.
//! - **It dies with its parent**: the child asks the kernel for `SIGKILL` when the parent
//!   ends (`PR_SET_PDEATHSIG`), so killing a program never leaves its children running as
//!   orphans. (A forkserver's children are tied to the server, and the server to the whole
//!   program: it ends when the program's end of its socket closes.)
//! - **It is always reaped**: [`Process::join`] reaps it; dropping a handle of a running child
//!   terminates it (see [Dropping a handle](Process#dropping-a-handle)).
//! - **It ends as Python's child does**: after the target, stdout and stderr are flushed and
//!   the child leaves with `_exit`, so the parent's exit handlers (`atexit`) never run twice.
//! - **It carries its name**: the child's command name (`/proc/PID/comm`, what `ps`, `top` and
//!   `pgrep` show) is its process name, cut to 15 bytes.
//!
//! # Threads
//!
//! `fork` copies only the calling thread: a lock held by any other thread at that moment (the
//! stdout lock, the allocator's) stays locked forever in the child. The fork method therefore
//! refuses to start a child while the process has more than one thread
//! ([`ProcessError::Threaded`]): a program with threads uses spawn or forkserver, which start
//! children by `exec` or from a single-threaded server.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getpid};

mod boot;
mod fork;
mod forkserver;
mod method;
mod spawn;
mod target;

pub use method::{
    Context, StartMethod, get_all_start_methods, get_context, get_start_method, set_start_method,
};
pub use target::Builder;

use crate::time::deadline_after;

/// How long [`Drop`] waits after `SIGTERM` before it sends `SIGKILL`.
const DROP_GRACE: Duration = Duration::from_secs(1);

/// Why a process operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The fork method was refused because other threads exist; see the [module docs](self).
    #[error(
        "cannot fork process {name:?}: this process has {threads} threads, and fork copies only one (start it with the spawn or forkserver method, or join the other threads first)"
    )]
    Threaded {
        /// The name of the process that was to be started.
        name: String,
        /// How many threads the parent has.
        threads: usize,
    },
    /// The number of threads could not be read from `/proc`, so forking is not known to be
    /// safe.
    #[error("cannot fork process {name:?}: the thread count is unknown ({source})")]
    ThreadsUnknown {
        /// The name of the process that was to be started.
        name: String,
        /// Why `/proc/self/stat` could not be read.
        #[source]
        source: io::Error,
    },
    /// Only the process that started a child can wait for it or signal it.
    #[error("process {name:?} (pid {pid}) belongs to another process")]
    NotParent {
        /// The child's name.
        name: String,
        /// The child's pid.
        pid: i32,
    },
    /// The child ended unsuccessfully: see [`Process::join_ok`].
    #[error("process {name} (pid {pid}) {}", describe_exit(*.exitcode))]
    Failed {
        /// The child's name.
        name: String,
        /// The child's pid.
        pid: i32,
        /// Its [exit code](Process#exit-codes): the exit status, or minus the signal number.
        exitcode: i32,
    },
    /// The target's arguments could not be sent to the child.
    #[error("cannot pass the arguments of process {name:?}: {why}")]
    Arguments {
        /// The child's name.
        name: String,
        /// What went wrong (a shared object that cannot travel, say).
        why: String,
    },
    /// [`set_start_method`] was called after the start method was already set.
    #[error("the start method is already set to {current}")]
    ContextSet {
        /// The method in force.
        current: StartMethod,
    },
    /// A system call failed.
    #[error("{call} failed for process {name:?}: {source}")]
    Os {
        /// The call that failed.
        call: &'static str,
        /// The child's name.
        name: String,
        /// The error the kernel gave.
        #[source]
        source: io::Error,
    },
}

/// "was killed by SIGKILL", "exited with status 3", "exited normally".
pub fn describe_exit(exitcode: i32) -> String {
    match exitcode {
        0 => "exited normally".to_string(),
        code if code > 0 => format!("exited with status {code}"),
        code => match Signal::try_from(-code) {
            Ok(sig) => format!("was killed by {sig}"),
            Err(_) => format!("was killed by signal {}", -code),
        },
    }
}

/// Joins every process in `processes`, in order, and then returns the first failure among
/// them ([`Process::join_ok`]'s error), if any.
///
/// Unlike a loop of `join_ok()?`, a child that died does not cut the wait short: its siblings
/// still finish their work (and are not terminated by their handles' [`Drop`] on the early
/// return) before the death is reported.
///
/// ```
/// use ipc_common::{Process, process::join_all};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let workers = [
///     Process::start("W0", || {})?,
///     Process::start("W1", || -> Result<(), &str> { Err("no luck") })?,
///     Process::start("W2", || {})?,
/// ];
/// let err = join_all(&workers).expect_err("W1 failed");
/// assert!(err.to_string().starts_with("process W1 (pid "));
/// assert!(workers.iter().all(|w| w.exitcode().is_some())); // all three were waited for
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The first [`ProcessError`] in `processes`' order.
pub fn join_all<'a>(processes: impl IntoIterator<Item = &'a Process>) -> Result<(), ProcessError> {
    let mut first = None;
    for p in processes {
        if let Err(e) = p.join_ok() {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// What a child's target may return; it decides the child's exit code.
///
/// `()` exits with 0. `Result<(), E>` exits with 0 for `Ok`, and for `Err(e)` prints
/// `process NAME (pid N) failed: e` on stderr and exits with 1, so `?` works inside children.
pub trait ChildOutcome {
    /// Reports the outcome (on stderr, if it is a failure) and returns the exit code.
    fn exit_code(self, name: &str) -> i32;
}

impl ChildOutcome for () {
    fn exit_code(self, _name: &str) -> i32 {
        0
    }
}

impl<E: fmt::Display> ChildOutcome for Result<(), E> {
    fn exit_code(self, name: &str) -> i32 {
        match self {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("process {name} (pid {}) failed: {e:#}", getpid());
                1
            }
        }
    }
}

/// Who learns how the child ended, and how we ask.
enum Reaper {
    /// Our own child: `waitpid` reaps it.
    Waitpid,
    /// A forkserver's child: the server reaps it and writes its exit code (4 bytes) here.
    Server(UnixStream),
}

/// A child process: Python's `multiprocessing.Process`, already started.
///
/// # Example
///
/// ```
/// use ipc_common::Process;
///
/// fn greet(name: String) {
///     println!("hello {name} from pid {}", std::process::id());
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let worker = Process::new(greet, "Worker1".to_string()).name("Worker1").start()?;
/// assert_eq!(worker.join()?, 0);
/// assert_eq!(worker.exitcode(), Some(0));
/// # Ok(()) }
/// ```
///
/// # Exit codes
///
/// [`exitcode`](Process::exitcode) and [`join`](Process::join) use Python's meaning: `0` for
/// success, the exit status for a child that called `exit`, and **minus the signal number**
/// for a child killed by a signal (`-15` after [`terminate`](Process::terminate), `-9` after
/// [`kill`](Process::kill)).
///
/// # Dropping a handle
///
/// Python joins its ordinary children when the program ends and terminates its *daemon*
/// children. A Rust handle is dropped at the end of its scope, also on an early `?` return,
/// where waiting could hang forever (the child may be waiting for the very message the parent
/// would have sent). So dropping the handle of a child that is **still running** behaves like
/// Python's daemon children: it sends `SIGTERM`, waits up to one second, sends `SIGKILL` if
/// needed, and reaps the child. Dropping the handle of a child that has ended just reaps it.
/// Call [`join`](Process::join) to wait for a child to finish its work.
pub struct Process {
    name: String,
    pid: Pid,
    parent: Pid,
    pidfd: OwnedFd,
    reaper: Reaper,
    exitcode: Cell<Option<i32>>,
}

impl Process {
    /// Forks a child that runs the closure `target` and then exits; returns the parent's
    /// handle.
    ///
    /// The closure may borrow from the parent's stack: the child runs on its own copy of the
    /// parent's memory, so a borrow is simply a view of that copy. This is always a fork,
    /// whatever the [start method](StartMethod) (a closure cannot travel to a fresh process);
    /// use [`Process::new`] for a child that follows the start method.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Threaded`] if this process has more than one thread,
    /// [`ProcessError::Os`] if the kernel refuses the fork.
    pub fn start<F, R>(name: impl Into<String>, target: F) -> Result<Process, ProcessError>
    where
        F: FnOnce() -> R,
        R: ChildOutcome,
    {
        fork::start(name.into(), target, None)
    }

    /// A child that will run `target(args)` (Python's `Process(target=target, args=args)`);
    /// set its name, daemon flag or start method on the [`Builder`], then
    /// [`start`](Builder::start) it.
    #[allow(clippy::new_ret_no_self)] // Python's `Process(...)` is made, then started.
    pub fn new<A, R>(target: fn(A) -> R, args: A) -> Builder<A, R> {
        Builder::new(target, args)
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Waits until the child ends, reaps it, and returns its [exit code](Process#exit-codes).
    ///
    /// # Errors
    ///
    /// Fails if called from a process other than the child's parent, or if waiting fails.
    pub fn join(&self) -> Result<i32, ProcessError> {
        loop {
            if let Some(code) = self.poll_exit(true)? {
                return Ok(code);
            }
        }
    }

    /// Waits like [`join`](Process::join), and turns an unsuccessful end into an error that
    /// names the child and how it ended: `process P0 (pid 42) was killed by SIGKILL`. Use it
    /// where a child's failure must not go unnoticed.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Failed`] if the exit code is not 0; otherwise as for
    /// [`join`](Process::join).
    pub fn join_ok(&self) -> Result<(), ProcessError> {
        match self.join()? {
            0 => Ok(()),
            exitcode => Err(ProcessError::Failed {
                name: self.name.clone(),
                pid: self.pid.as_raw(),
                exitcode,
            }),
        }
    }

    /// Waits at most `timeout` for the child to end. Returns `Some(exit code)` if it ended,
    /// `None` if it is still running (Python's `join(timeout)` followed by `exitcode`). A
    /// timeout too large to represent (`Duration::MAX`) waits forever.
    ///
    /// # Errors
    ///
    /// As for [`join`](Process::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<Option<i32>, ProcessError> {
        let Some(deadline) = deadline_after(timeout) else {
            return self.join().map(Some);
        };
        loop {
            if let Some(code) = self.poll_exit(false)? {
                return Ok(Some(code));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.wait_readable(left)?;
        }
    }

    /// Whether the child is still running (it is reaped if it has ended).
    pub fn is_alive(&self) -> bool {
        matches!(self.poll_exit(false), Ok(None))
    }

    /// The child's [exit code](Process#exit-codes), or `None` while it runs.
    pub fn exitcode(&self) -> Option<i32> {
        self.poll_exit(false).ok().flatten()
    }

    /// Asks the child to end with `SIGTERM` (Python's `terminate()`). Does nothing if it has
    /// already ended.
    ///
    /// # Errors
    ///
    /// Fails if called from another process than the parent, or if the signal fails.
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.signal(Signal::SIGTERM)
    }

    /// Ends the child at once with `SIGKILL` (Python's `kill()`).
    ///
    /// # Errors
    ///
    /// As for [`terminate`](Process::terminate).
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.signal(Signal::SIGKILL)
    }

    /// Sends `sig` to the child, through its pidfd: never to another process that took its
    /// pid after it ended.
    ///
    /// # Errors
    ///
    /// As for [`terminate`](Process::terminate).
    pub fn signal(&self, sig: Signal) -> Result<(), ProcessError> {
        self.check_parent()?;
        if self.exitcode.get().is_some() {
            return Ok(());
        }
        // SAFETY: pidfd_send_signal reads only its integer arguments; the pidfd is ours and
        // open for the life of `self`.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig as i32,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        match rc {
            0 => Ok(()),
            _ => match Errno::last() {
                Errno::ESRCH => Ok(()), // already ended, not yet reaped
                e => Err(self.os("pidfd_send_signal", e.into())),
            },
        }
    }

    /// A descriptor that becomes readable when the child has ended (Python's `sentinel`),
    /// for waiting on several processes, or on a process and a pipe, with `poll`.
    pub fn exit_fd(&self) -> BorrowedFd<'_> {
        match &self.reaper {
            Reaper::Waitpid => self.pidfd.as_fd(),
            Reaper::Server(status) => status.as_fd(),
        }
    }

    fn check_parent(&self) -> Result<(), ProcessError> {
        if getpid() == self.parent {
            Ok(())
        } else {
            Err(ProcessError::NotParent {
                name: self.name.clone(),
                pid: self.pid.as_raw(),
            })
        }
    }

    fn os(&self, call: &'static str, source: io::Error) -> ProcessError {
        ProcessError::Os {
            call,
            name: self.name.clone(),
            source,
        }
    }

    /// Reaps the child if it has ended (waiting for that if `block`), caching the exit code.
    fn poll_exit(&self, block: bool) -> Result<Option<i32>, ProcessError> {
        if let Some(code) = self.exitcode.get() {
            return Ok(Some(code));
        }
        self.check_parent()?;
        let code = match &self.reaper {
            Reaper::Waitpid => {
                let flags = (!block).then_some(WaitPidFlag::WNOHANG);
                match waitpid(self.pid, flags) {
                    Ok(WaitStatus::Exited(_, status)) => status,
                    Ok(WaitStatus::Signaled(_, sig, _)) => -(sig as i32),
                    Ok(_) | Err(Errno::EINTR) => return Ok(None),
                    Err(e) => return Err(self.os("waitpid", e.into())),
                }
            }
            Reaper::Server(status) => {
                if !block && !readable(status.as_fd(), Duration::ZERO)? {
                    return Ok(None);
                }
                forkserver::read_exit_code(status).map_err(|e| self.os("read(forkserver)", e))?
            }
        };
        self.exitcode.set(Some(code));
        Ok(Some(code))
    }

    /// Waits until the child has ended or `timeout` passes.
    fn wait_readable(&self, timeout: Duration) -> Result<(), ProcessError> {
        readable(self.exit_fd(), timeout).map(drop)
    }
}

/// Waits up to `timeout` (at least a millisecond if not zero) until `fd` is readable; a
/// signal ends the wait early (the callers look again).
fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool, ProcessError> {
    let ms = match timeout.as_millis() {
        0 if timeout.is_zero() => 0,
        ms => ms.clamp(1, i32::MAX as u128) as i32,
    };
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    match poll(
        &mut fds,
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
    ) {
        Ok(n) => Ok(n > 0),
        Err(Errno::EINTR) => Ok(false),
        Err(e) => Err(ProcessError::Os {
            call: "poll",
            name: String::new(),
            source: e.into(),
        }),
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid.as_raw())
            .field("exitcode", &self.exitcode.get())
            .finish()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A copy of the handle inherited by another child is not ours to act on.
        if getpid() != self.parent || self.exitcode.get().is_some() {
            return;
        }
        if matches!(self.poll_exit(false), Ok(None)) {
            let _ = self.terminate();
            if matches!(self.join_timeout(DROP_GRACE), Ok(None)) {
                let _ = self.kill();
            }
        }
        let _ = self.join();
    }
}

/// The number of threads of this process: field 20 of `/proc/self/stat`. Read into a buffer on
/// the stack: heap pages written between forks would each cost a copy-on-write fault.
fn thread_count() -> io::Result<usize> {
    if crate::fault::fails("process.thread_count") {
        return Err(io::Error::from_raw_os_error(libc::EACCES));
    }
    let mut buf = [0u8; 2048];
    let mut len = 0;
    let mut file = std::fs::File::open("/proc/self/stat")?;
    while len < buf.len() {
        match io::Read::read(&mut file, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    parse_thread_count(&buf[..len])
        .ok_or_else(|| io::Error::other("no thread count in /proc/self/stat"))
}

/// Field 20 (`num_threads`) of a `/proc/PID/stat` line. The command name (field 2, in
/// parentheses) may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_thread_count(stat: &[u8]) -> Option<usize> {
    let after = stat.iter().rposition(|&b| b == b')')?;
    let field = stat[after + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(17)?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Opens a pidfd for `pid`: readable once that process has ended.
fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; it touches no memory
    // of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Makes the handle of our own child `pid`, just started. If its pidfd cannot be opened (out
/// of descriptors, say), the child is killed and reaped: an error from a start never leaves a
/// child running or unreaped.
fn own_child(name: String, pid: Pid) -> Result<Process, ProcessError> {
    let pidfd = if crate::fault::fails("process.pidfd_open") {
        Err(io::Error::from_raw_os_error(libc::EMFILE))
    } else {
        pidfd_open(pid)
    };
    match pidfd {
        Ok(pidfd) => Ok(Process {
            name,
            pid,
            parent: getpid(),
            pidfd,
            reaper: Reaper::Waitpid,
            exitcode: Cell::new(None),
        }),
        Err(source) => {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            Err(ProcessError::Os {
                call: "pidfd_open",
                name,
                source,
            })
        }
    }
}

/// Closes every file descriptor of this process except 0, 1, 2 and those in `keep`
/// (`close_range`).
///
/// # Errors
///
/// Fails only if `close_range` itself fails (Linux 5.9 or newer is needed).
///
/// # Safety
///
/// Every descriptor not in `keep` is closed: no object that owns one of them (an `OwnedFd`, a
/// `File`, a pipe end) may be used or dropped afterwards, or it would act on a closed number
/// that a new descriptor may since have taken.
unsafe fn close_fds_except(keep: &[std::os::fd::RawFd]) -> io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 3u32;
    for fd in keep.into_iter().chain([u32::MAX]) {
        if fd > first {
            // SAFETY: close_range only closes descriptors; by this function's contract no
            // object owning one in the range is used again. With `fd == u32::MAX` the range
            // runs to the last descriptor.
            let rc = unsafe { libc::close_range(first, fd - 1, 0) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        first = fd.saturating_add(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_thread_count;

    #[test]
    fn thread_count_is_field_20_even_with_odd_names() {
        let rest = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 7 0 100";
        for comm in ["(cat)", "(a b) c)", "())", "( )"] {
            let line = format!("4242 {comm} {rest}\n");
            assert_eq!(parse_thread_count(line.as_bytes()), Some(7), "{line}");
        }
        assert_eq!(parse_thread_count(b"4242 (cut) S 1 2"), None);
        assert_eq!(parse_thread_count(b""), None);
    }

    #[test]
    fn this_process_counts_its_threads() {
        // The test harness runs tests on threads of its own, so only a lower bound holds.
        assert!(super::thread_count().expect("thread count") >= 1);
    }
}
