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
//! - **It is always reaped**: by [`Process::join`], by [`active_children`], or at the latest
//!   when the program ends, which joins non-daemon children and terminates daemons, as
//!   Python's exit does (see [Daemons](Process#daemons)).
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
//!
//! A child ends when its target returns, even if the target started threads that are still
//! running: that is Rust's rule for `main` (its threads end with it), not Python's, whose
//! child waits for its non-daemon threads.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
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
    /// A daemon child tried to start a child (Python: "daemonic processes are not allowed
    /// to have children").
    #[error("cannot start process {name:?}: a daemon process may not have children")]
    DaemonChildren {
        /// The name of the process that was to be started.
        name: String,
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
/// # Daemons
///
/// Python's exit rule: when the program ends, it joins its ordinary children and terminates
/// its *daemon* children ([`Builder::daemon`], [`Process::start_daemon`]). Here the program
/// ends when `main` returns or `std::process::exit` is called (an exit handler runs the rule),
/// and the rule also decides what dropping a handle does:
///
/// - dropping the handle of a **daemon** child that is still running terminates it:
///   `SIGTERM`, up to one second's wait, `SIGKILL` if needed, and the child is reaped;
/// - dropping the handle of an **ordinary** child that is still running lets it go on, as
///   losing a Python `Process` object does; the program's end joins it. Beware of an early
///   `?` return past a child that waits for a message from the parent: the program's end then
///   waits for it too, as Python's does; make such a child a daemon, or terminate it;
/// - during a panic, dropping a handle terminates the child whatever its kind, so that a
///   failing program (or test) never waits for its children;
/// - a child that has ended is just reaped.
///
/// As in Python, a daemon child may not start children of its own
/// ([`ProcessError::DaemonChildren`]): it would be terminated without a chance to end them.
pub struct Process {
    c: Arc<Child>,
}

/// What the parent knows of one child: shared by its handle and the registry of this
/// process's children ([`active_children`], and Python's exit rule).
struct Child {
    name: String,
    pid: Pid,
    parent: Pid,
    pidfd: OwnedFd,
    reaper: Reaper,
    daemon: bool,
    exitcode: Mutex<Option<i32>>,
}

impl Process {
    /// The handle of a new child, recorded among this process's children.
    fn registered(child: Child) -> Process {
        let c = Arc::new(child);
        register(&c);
        Process { c }
    }

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
        fork::start(name.into(), target, None, false)
    }

    /// As [`start`](Process::start), for a [daemon](Process#daemons) child.
    ///
    /// # Errors
    ///
    /// As for [`start`](Process::start).
    pub fn start_daemon<F, R>(name: impl Into<String>, target: F) -> Result<Process, ProcessError>
    where
        F: FnOnce() -> R,
        R: ChildOutcome,
    {
        fork::start(name.into(), target, None, true)
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
        &self.c.name
    }

    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.c.pid.as_raw()
    }

    /// Waits until the child ends, reaps it, and returns its [exit code](Process#exit-codes).
    ///
    /// # Errors
    ///
    /// Fails if called from a process other than the child's parent, or if waiting fails.
    pub fn join(&self) -> Result<i32, ProcessError> {
        loop {
            if let Some(code) = self.poll_exit()? {
                unregister(&self.c);
                return Ok(code);
            }
            self.wait_readable(Duration::MAX)?;
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
                name: self.c.name.clone(),
                pid: self.c.pid.as_raw(),
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
            if let Some(code) = self.poll_exit()? {
                unregister(&self.c);
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
        matches!(self.poll_exit(), Ok(None))
    }

    /// The child's [exit code](Process#exit-codes), or `None` while it runs.
    pub fn exitcode(&self) -> Option<i32> {
        self.poll_exit().ok().flatten()
    }

    /// Whether the child is a daemon (Python's `daemon`): see [Daemons](Process#daemons).
    pub fn daemon(&self) -> bool {
        self.c.daemon
    }

    /// The exit code if it is already known, without asking the kernel.
    fn known_exitcode(&self) -> Option<i32> {
        *self.c.exitcode.lock().unwrap_or_else(|e| e.into_inner())
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
        if self.known_exitcode().is_some() {
            return Ok(());
        }
        // SAFETY: pidfd_send_signal reads only its integer arguments; the pidfd is ours and
        // open for the life of `self`.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.c.pidfd.as_raw_fd(),
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
        self.c.exit_fd()
    }

    fn check_parent(&self) -> Result<(), ProcessError> {
        if getpid() == self.c.parent {
            Ok(())
        } else {
            Err(ProcessError::NotParent {
                name: self.c.name.clone(),
                pid: self.c.pid.as_raw(),
            })
        }
    }

    fn os(&self, call: &'static str, source: io::Error) -> ProcessError {
        ProcessError::Os {
            call,
            name: self.c.name.clone(),
            source,
        }
    }

    /// Reaps the child if it has ended (never waiting), caching the exit code.
    fn poll_exit(&self) -> Result<Option<i32>, ProcessError> {
        self.check_parent()?;
        self.c.poll_exit()
    }

    /// Waits until the child has ended or `timeout` passes.
    fn wait_readable(&self, timeout: Duration) -> Result<(), ProcessError> {
        readable(self.exit_fd(), timeout).map(drop)
    }
}

impl Child {
    /// Reaps the child if it has ended (never waiting), caching the exit code. The caller is
    /// the child's parent.
    fn poll_exit(&self) -> Result<Option<i32>, ProcessError> {
        let mut known = self.exitcode.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(code) = *known {
            return Ok(Some(code));
        }
        let os = |call, source| ProcessError::Os {
            call,
            name: self.name.clone(),
            source,
        };
        let code = match &self.reaper {
            Reaper::Waitpid => match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, status)) => status,
                Ok(WaitStatus::Signaled(_, sig, _)) => -(sig as i32),
                Ok(_) | Err(Errno::EINTR) => return Ok(None),
                Err(e) => return Err(os("waitpid", e.into())),
            },
            Reaper::Server(status) => {
                if !readable(status.as_fd(), Duration::ZERO)? {
                    return Ok(None);
                }
                forkserver::read_exit_code(status).map_err(|e| os("read(forkserver)", e))?
            }
        };
        *known = Some(code);
        Ok(Some(code))
    }

    /// The descriptor that becomes readable when the child has ended.
    fn exit_fd(&self) -> BorrowedFd<'_> {
        match &self.reaper {
            Reaper::Waitpid => self.pidfd.as_fd(),
            Reaper::Server(status) => status.as_fd(),
        }
    }
}

/// Waits up to `timeout` (at least a millisecond if not zero) until `fd` is readable; a
/// signal ends the wait early (the callers look again).
fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool, ProcessError> {
    let timeout = match timeout.as_millis() {
        0 if timeout.is_zero() => PollTimeout::ZERO,
        ms => i32::try_from(ms)
            .ok()
            .and_then(|ms| PollTimeout::try_from(ms.max(1)).ok())
            .unwrap_or(PollTimeout::NONE),
    };
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    match poll(&mut fds, timeout) {
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
            .field("name", &self.c.name)
            .field("pid", &self.c.pid.as_raw())
            .field("daemon", &self.c.daemon)
            .field("exitcode", &self.known_exitcode())
            .finish()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A copy of the handle inherited by another child is not ours to act on.
        if getpid() != self.c.parent {
            return;
        }
        match self.poll_exit() {
            Ok(Some(_)) => unregister(&self.c),
            // A non-daemon child goes on without its handle; the program's end joins it
            // (Python's rule). During a panic nothing waits for it.
            Ok(None) if !self.c.daemon && !std::thread::panicking() => {}
            _ => {
                stop(&self.c);
                unregister(&self.c);
            }
        }
    }
}

/// Ends a running child: `SIGTERM`, then `SIGKILL` if it is still there after
/// [`DROP_GRACE`]; reaps it.
fn stop(child: &Arc<Child>) {
    let handle = Process {
        c: Arc::clone(child),
    };
    if matches!(handle.poll_exit(), Ok(None)) {
        let _ = handle.terminate();
        if matches!(handle.join_timeout(DROP_GRACE), Ok(None)) {
            let _ = handle.kill();
        }
    }
    let _ = handle.join();
    std::mem::forget(handle);
}

/// This process's children that have been started and not yet seen to end: what
/// [`active_children`] reports and the program's end joins (or terminates, for daemons).
static CHILDREN: Mutex<Vec<Arc<Child>>> = Mutex::new(Vec::new());

/// Records a new child of this process.
fn register(child: &Arc<Child>) {
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    let mut children = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    // A forked child inherits its parent's list: those children are not its own.
    children.retain(|c| c.parent == getpid());
    children.push(Arc::clone(child));
    drop(children);
    AT_EXIT.call_once(|| {
        extern "C" fn at_exit() {
            end_of_program();
        }
        // SAFETY: atexit stores a plain `extern "C" fn` with no captured state.
        unsafe { libc::atexit(at_exit) };
    });
}

/// Forgets a child whose end has been seen.
fn unregister(child: &Arc<Child>) {
    let mut children = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    children.retain(|c| !Arc::ptr_eq(c, child));
}

/// The live children of this process (Python's `multiprocessing.active_children()`); as in
/// Python, children found to have ended are reaped on the way.
///
/// A child counts from its start until it is seen to end, also after its handle was dropped
/// (a non-daemon child goes on without its handle).
///
/// ```
/// use ipc_common::process::active_children;
/// use ipc_common::Process;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let child = Process::start("Napper", || std::thread::sleep(std::time::Duration::from_millis(200)))?;
/// assert!(active_children().iter().any(|c| c.name == "Napper" && c.pid == child.pid()));
/// child.join()?;
/// assert!(active_children().iter().all(|c| c.pid != child.pid()));
/// # Ok(()) }
/// ```
pub fn active_children() -> Vec<crate::ProcessInfo> {
    let mut children = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    let me = getpid();
    children.retain(|c| c.parent == me && matches!(c.poll_exit(), Ok(None)));
    children
        .iter()
        .map(|c| crate::ProcessInfo {
            name: c.name.clone(),
            pid: c.pid.as_raw(),
        })
        .collect()
}

/// The number of CPUs of the machine (Python's `multiprocessing.cpu_count()`), or 1 if it
/// cannot be told.
pub fn cpu_count() -> usize {
    // SAFETY: sysconf only reads its integer argument.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1)
}

/// Python's exit rule, run when the program ends normally (`main` returns, or
/// `std::process::exit`): every non-daemon child still running is joined, then every daemon
/// child still running is terminated; then the forkserver, if any, is stopped.
fn end_of_program() {
    end_children();
    forkserver::stop();
}

/// The children's part of Python's exit rule: every non-daemon child still running is joined,
/// then every daemon child still running is terminated.
pub(crate) fn end_children() {
    let children: Vec<Arc<Child>> = {
        let mut list = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *list)
    };
    let me = getpid();
    let (daemons, others): (Vec<_>, Vec<_>) = children
        .into_iter()
        .filter(|c| c.parent == me)
        .partition(|c| c.daemon);
    for child in &others {
        let handle = Process {
            c: Arc::clone(child),
        };
        let _ = handle.join();
        std::mem::forget(handle);
    }
    for child in &daemons {
        stop(child);
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
fn own_child(name: String, pid: Pid, daemon: bool) -> Result<Process, ProcessError> {
    let pidfd = if crate::fault::fails("process.pidfd_open") {
        Err(io::Error::from_raw_os_error(libc::EMFILE))
    } else {
        pidfd_open(pid)
    };
    match pidfd {
        Ok(pidfd) => Ok(Process::registered(Child {
            name,
            pid,
            parent: getpid(),
            pidfd,
            reaper: Reaper::Waitpid,
            daemon,
            exitcode: Mutex::new(None),
        })),
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
