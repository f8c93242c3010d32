//! The fork start method, and what every child does when it starts and when it ends.

use std::io::{self, Write};
use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};

use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};

use super::{ChildOutcome, Process, ProcessError, own_child, thread_count};
use crate::current;

/// Forks a child that runs `target`. With `isolate`, the child keeps only the descriptors
/// listed there (and 0, 1, 2): every other one it inherited is pointed at `/dev/null`.
pub(super) fn start<F, R>(
    name: String,
    target: F,
    isolate: Option<Vec<RawFd>>,
    daemon: bool,
) -> Result<Process, ProcessError>
where
    F: FnOnce() -> R,
    R: ChildOutcome,
{
    if current::is_daemon() {
        return Err(ProcessError::DaemonChildren { name });
    }
    match thread_count() {
        Ok(1) => {}
        Ok(threads) => return Err(ProcessError::Threaded { name, threads }),
        Err(source) => return Err(ProcessError::ThreadsUnknown { name, source }),
    }
    let os = |call, source| ProcessError::Os {
        call,
        name: name.clone(),
        source,
    };
    io::stdout().flush().map_err(|e| os("flush(stdout)", e))?;
    // The authkey is made on first use: make it now, so that every child inherits this one
    // (a child making its own would not share it with its siblings or its parent).
    crate::auth::authkey().map_err(|e| os("getrandom(authkey)", io::Error::other(e)))?;
    let parent = getpid();
    // SAFETY: this process has a single thread (checked above), so no lock can be held by a
    // thread that would be missing in the child.
    match unsafe { fork() }.map_err(|e| os("fork", e.into()))? {
        ForkResult::Child => {
            if let Some(Err(e)) = isolate.as_deref().map(point_others_at_dev_null) {
                eprintln!("process {name}: cannot close inherited descriptors: {e}");
                end_child(1);
            }
            current::set_daemon(daemon);
            run_child(&name, parent, target)
        }
        ForkResult::Parent { child } => own_child(name, child, daemon),
    }
}

/// The child's side of a start: sets the child up, runs `target`, and ends the process with
/// the target's outcome. Never returns.
pub(super) fn run_child<F, R>(name: &str, parent: Pid, target: F) -> !
where
    F: FnOnce() -> R,
    R: ChildOutcome,
{
    die_with(parent);
    become_child(name, parent);
    let code = {
        let _life = crate::trace::span("process", "run");
        match panic::catch_unwind(AssertUnwindSafe(target)) {
            Ok(outcome) => outcome.exit_code(name),
            Err(_) => 1,
        }
    };
    end_child(code)
}

/// Asks for `SIGKILL` when the parent ends; if it has already ended (our parent pid is no
/// longer `parent`: the child ran its first instruction only after that), dies now of the
/// same `SIGKILL`, so that it ends the same way whenever its parent died.
pub(super) fn die_with(parent: Pid) {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if getppid() != parent {
        orphaned();
    }
}

/// Ends a child whose parent is already gone, as `PR_SET_PDEATHSIG` would have.
pub(super) fn orphaned() -> ! {
    let _ = nix::sys::signal::raise(Signal::SIGKILL);
    end_child(1)
}

/// What a forked child is from its first instruction: see [`become_child_named`].
pub(super) fn become_child(name: &str, parent: Pid) {
    let parent_name = current::current_process().name;
    become_child_named(
        name,
        current::ProcessInfo {
            name: parent_name,
            pid: parent.as_raw(),
        },
    );
}

/// What a child is from its first instruction: its name (as `ps` shows it and as
/// `current_process()` says), its parent, and a panic hook that names it.
pub(super) fn become_child_named(name: &str, info: current::ProcessInfo) {
    set_comm(name);
    crate::trace::became_child(name);
    // A forked child holds a copy of its parent's random state: siblings would draw the same
    // numbers. Python reseeds `random` in every child; so does this, for `fastrand`'s
    // generator on this thread (the one the target runs on).
    fastrand::seed(u64::from(getpid().as_raw().unsigned_abs()) ^ fastrand::u64(..).rotate_left(17));
    current::became_child_of(name, info);
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
}

/// Ends the child as Python's does (`os._exit` after flushing `sys.stdout` and `sys.stderr`):
/// flushes what Rust buffered, then leaves at once. No destructor of the parent's copied values
/// and no exit handler of the parent's program runs here: they belong to the parent, and
/// running them would also cost every child dozens of copy-on-write page faults.
pub(super) fn end_child(code: i32) -> ! {
    crate::trace::flush();
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

/// Points every descriptor of this process except 0, 1, 2 and `keep` at `/dev/null`.
///
/// A forked child holds copies of all its parent's descriptors, and a copy of a pipe's write
/// end keeps the pipe open: its reader never sees end-of-file while the child lives. Closing
/// them would leave the parent's copied objects (a `File` in a static, say) owning numbers
/// that a new descriptor may take; `dup2` of `/dev/null` over each releases the pipe or socket
/// while every number stays owned by the same object.
fn point_others_at_dev_null(keep: &[RawFd]) -> io::Result<()> {
    let others = |fds: Vec<RawFd>| {
        fds.into_iter()
            .filter(move |fd| *fd > 2 && !keep.contains(fd) && is_open(*fd))
    };
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)?;
    let limit = RawFd::try_from(soft).unwrap_or(RawFd::MAX);
    let below = |fd: &RawFd| *fd < limit;
    let null = open_dev_null(others(open_descriptors()?).filter(below).max())?;
    for fd in others(open_descriptors()?) {
        if fd == null {
            continue;
        }
        let rc = if fd < limit {
            // SAFETY: dup2 atomically replaces the open descriptor `fd` with a copy of
            // /dev/null; the number stays open and owned by whoever owned it.
            unsafe { libc::dup2(null, fd) }
        } else {
            // A number at or above the descriptor limit (opened before the limit was lowered)
            // cannot be a dup2 target, and no new descriptor can take it: closing it is safe.
            // SAFETY: as said; its owner's later use gets EBADF, never another file.
            unsafe { libc::close(fd) }
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Opens `/dev/null`. A process that has used every descriptor its limit allows (one that
/// starts a manager while near it) has no room for it: then `spare`, a descriptor that is to
/// be pointed at `/dev/null` anyway, is closed first, and `open` takes its number back (the
/// lowest free number, and the only one).
fn open_dev_null(spare: Option<RawFd>) -> io::Result<RawFd> {
    let open = || {
        // SAFETY: open with a constant NUL-terminated path; returns a new descriptor or -1.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(fd)
        }
    };
    match (open(), spare) {
        (Err(e), Some(spare)) if e.raw_os_error() == Some(libc::EMFILE) => {
            // SAFETY: `spare` is open and is about to be pointed at /dev/null: closing it and
            // reopening in its place leaves its owner holding the same number, now /dev/null
            // (no other thread exists in this child to take the number in between).
            unsafe { libc::close(spare) };
            open()
        }
        (result, _) => result,
    }
}

/// The numbers of this process's open descriptors: from `/proc/self/fd`, or, when no
/// descriptor is left to read that directory with, by trying every number below the limit.
fn open_descriptors() -> io::Result<Vec<RawFd>> {
    match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => Ok(dir
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
            .collect()),
        Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
            let (soft, _) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)?;
            let limit = RawFd::try_from(soft).unwrap_or(RawFd::MAX);
            Ok((0..limit).filter(|&fd| is_open(fd)).collect())
        }
        Err(e) => Err(e),
    }
}

/// Whether `fd` is an open descriptor.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; it fails for a number that is not
    // open.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}
