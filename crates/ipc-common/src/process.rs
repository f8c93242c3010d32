//! Child processes made with `fork`: Rust's `multiprocessing.Process`.
//!
//! [`Process::start`] forks, runs a closure in the child and ends the child with the closure's
//! outcome as exit status. The closure may borrow from the parent's stack: the child runs on its
//! own copy of the parent's memory, so a borrow is simply a view of that copy.
//!
//! # What every child gets
//!
//! - **stdout is flushed before the fork**, so a half-written line is never printed twice.
//! - **A panic** prints `process NAME (pid N) panicked: MESSAGE` on stderr and ends the child
//!   with exit code 1; a closure returning `Err(e)` prints `process NAME (pid N) failed: e` and
//!   also exits with 1. The parent never hangs on it.
//! - **It dies with its parent**: the child asks the kernel for `SIGKILL` when the parent
//!   ends (`PR_SET_PDEATHSIG`), so killing a program never leaves its children running as
//!   orphans.
//! - **It is always reaped**: [`Process::join`] reaps it; dropping a handle of a running child
//!   terminates it (see [Dropping a handle](Process#dropping-a-handle)).
//! - **It ends as Python's child does**: after the closure, stdout and stderr are flushed and
//!   the child leaves with `_exit`, so the parent's exit handlers (`atexit`) do not run twice,
//!   once in the child and once in the parent.
//! - **It carries its name**: the child's command name (`/proc/PID/comm`, what `ps`, `top` and
//!   `pgrep` show) becomes the name given to [`Process::start`], cut to 15 bytes, so a user
//!   who wants to stop one child, or a test that kills one, can tell the children apart.
//!
//! # Forking safely
//!
//! `fork` copies only the calling thread. A lock held by any other thread at that moment (the
//! stdout lock, the allocator's) stays locked forever in the child. [`Process::start`]
//! therefore refuses to fork while the process has more than one thread and returns
//! [`ProcessError::Threaded`]. Join your threads first, or start processes before threads.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};

/// How long [`Drop`] waits after `SIGTERM` before it sends `SIGKILL`.
const DROP_GRACE: Duration = Duration::from_secs(1);

/// Why a process operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// `fork` was refused because other threads exist; see the [module docs](self).
    #[error(
        "cannot fork process {name:?}: this process has {threads} threads, and fork copies only one (join the others first)"
    )]
    Threaded {
        /// The name of the process that was to be started.
        name: String,
        /// How many threads the parent has.
        threads: usize,
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

/// What a child's closure may return; it decides the child's exit code.
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

/// A child process: Python's `multiprocessing.Process`, already started.
///
/// # Example
///
/// ```
/// use ipc_common::Process;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let worker = Process::start("Worker1", || {
///     println!("hello from pid {}", std::process::id());
/// })?;
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
    exitcode: Cell<Option<i32>>,
}

impl Process {
    /// Forks a child that runs `target` and then exits; returns the parent's handle.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Threaded`] if this process has more than one thread, or
    /// [`ProcessError::Os`] if the kernel refuses the fork.
    pub fn start<F, R>(name: impl Into<String>, target: F) -> Result<Process, ProcessError>
    where
        F: FnOnce() -> R,
        R: ChildOutcome,
    {
        let name = name.into();
        let threads = thread_count();
        if threads > 1 {
            return Err(ProcessError::Threaded { name, threads });
        }
        let os = |call, source| ProcessError::Os {
            call,
            name: name.clone(),
            source,
        };
        io::stdout().flush().map_err(|e| os("flush(stdout)", e))?;
        let parent = getpid();
        // SAFETY: this process has a single thread (checked above), so no lock can be held by a
        // thread that would be missing in the child.
        match unsafe { fork() }.map_err(|e| os("fork", e.into()))? {
            ForkResult::Child => run_child(&name, parent, target),
            ForkResult::Parent { child } => {
                let pidfd = pidfd_open(child).map_err(|e| os("pidfd_open", e))?;
                Ok(Process {
                    name,
                    pid: child,
                    parent,
                    pidfd,
                    exitcode: Cell::new(None),
                })
            }
        }
    }

    /// The name given to [`start`](Process::start).
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
    /// Fails if called from a process other than the child's parent, or if `waitpid` fails.
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
    /// `None` if it is still running (Python's `join(timeout)` followed by `exitcode`).
    ///
    /// # Errors
    ///
    /// As for [`join`](Process::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<Option<i32>, ProcessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.poll_exit(false)? {
                return Ok(Some(code));
            }
            let left = deadline.saturating_duration_since(Instant::now());
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
    /// already ended and been reaped.
    ///
    /// # Errors
    ///
    /// Fails if called from another process than the parent, or if `kill` fails.
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

    /// Sends `sig` to the child unless it has been reaped (its pid may then be reused).
    pub fn signal(&self, sig: Signal) -> Result<(), ProcessError> {
        self.check_parent()?;
        if self.exitcode.get().is_some() {
            return Ok(());
        }
        match signal::kill(self.pid, sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(self.os("kill", e.into())),
        }
    }

    /// A file descriptor that becomes readable when the child ends (a Linux pidfd), for
    /// waiting on several processes, or on a process and a pipe, with `poll`.
    pub fn exit_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pidfd.as_fd()
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
        let flags = if block {
            None
        } else {
            Some(WaitPidFlag::WNOHANG)
        };
        let code = match waitpid(self.pid, flags) {
            Ok(WaitStatus::Exited(_, status)) => status,
            Ok(WaitStatus::Signaled(_, sig, _)) => -(sig as i32),
            Ok(_) => return Ok(None),
            Err(Errno::EINTR) => return Ok(None),
            Err(e) => return Err(self.os("waitpid", e.into())),
        };
        self.exitcode.set(Some(code));
        Ok(Some(code))
    }

    /// Waits until the pidfd is readable (the child ended) or `timeout` passes.
    fn wait_readable(&self, timeout: Duration) -> Result<(), ProcessError> {
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(Errno::EINTR) => Ok(()),
            Err(e) => Err(self.os("poll(pidfd)", e.into())),
        }
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

/// The child's side of [`Process::start`]: never returns.
fn run_child<F, R>(name: &str, parent: Pid, target: F) -> !
where
    F: FnOnce() -> R,
    R: ChildOutcome,
{
    // Die with the parent. If it is already gone, the new parent pid differs: stop now.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if getppid() != parent {
        end_child(1);
    }
    set_comm(name);
    let label = format!("process {name} (pid {})", getpid());
    panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "Box<dyn Any>".to_string());
        match info.location() {
            Some(at) => eprintln!("{label} panicked: {msg} (at {at})"),
            None => eprintln!("{label} panicked: {msg}"),
        }
    }));
    let code = match panic::catch_unwind(AssertUnwindSafe(target)) {
        Ok(outcome) => outcome.exit_code(name),
        Err(_) => 1,
    };
    end_child(code)
}

/// Ends the child as Python's does (`os._exit` after flushing `sys.stdout` and `sys.stderr`):
/// flushes what Rust buffered, then leaves at once. No destructor of the parent's copied values
/// and no exit handler of the parent's program runs here: they belong to the parent, and
/// running them would also cost every child dozens of copy-on-write page faults.
fn end_child(code: i32) -> ! {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: `_exit` ends the process at once and touches no memory of ours; nothing runs
    // after it.
    unsafe { libc::_exit(code) }
}

/// Shows `name` as this process's command name (`ps -o comm`): the kernel keeps 15 bytes, so
/// it is cut there, at a character boundary. A name with a NUL byte is left out.
fn set_comm(name: &str) {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    // A NUL-terminated copy on the stack (the heap is shared copy-on-write with the parent).
    let mut buf = [0u8; 16];
    buf[..end].copy_from_slice(&name.as_bytes()[..end]);
    if let Ok(comm) = std::ffi::CStr::from_bytes_with_nul(&buf[..=end]) {
        let _ = nix::sys::prctl::set_name(comm);
    }
}

/// The number of threads of this process: field 20 of `/proc/self/stat`. Read into a buffer on
/// the stack: heap pages written between forks would each cost a copy-on-write fault.
fn thread_count() -> usize {
    let mut buf = [0u8; 2048];
    let mut len = 0;
    if let Ok(mut file) = std::fs::File::open("/proc/self/stat") {
        while len < buf.len() {
            match io::Read::read(&mut file, &mut buf[len..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
    }
    parse_thread_count(&buf[..len]).unwrap_or(1)
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

/// Closes every file descriptor of this process except 0, 1, 2 and those in `keep`
/// (`close_range`): for a long-lived child (a manager's server, a pool's worker) that must not
/// hold copies of its parent's pipe ends and sockets, which would keep them open (a reader
/// would never see end-of-file) for as long as the child lives.
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
#[allow(dead_code)]
pub(crate) unsafe fn close_fds_except(keep: &[std::os::fd::RawFd]) -> io::Result<()> {
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
        assert!(super::thread_count() >= 1);
        let stat = std::fs::read("/proc/self/stat").expect("read /proc/self/stat");
        assert!(parse_thread_count(&stat).is_some());
    }
}
