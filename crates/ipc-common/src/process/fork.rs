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
) -> Result<Process, ProcessError>
where
    F: FnOnce() -> R,
    R: ChildOutcome,
{
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
            run_child(&name, parent, target)
        }
        ForkResult::Parent { child } => own_child(name, child),
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
    let code = match panic::catch_unwind(AssertUnwindSafe(target)) {
        Ok(outcome) => outcome.exit_code(name),
        Err(_) => 1,
    };
    end_child(code)
}

/// Asks for `SIGKILL` when the parent ends; if it has already ended (our parent pid is no
/// longer `parent`), ends now.
pub(super) fn die_with(parent: Pid) {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if getppid() != parent {
        end_child(1);
    }
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
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let null_fd = std::os::fd::AsRawFd::as_raw_fd(&null);
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Some(fd) = entry?
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<RawFd>().ok())
        {
            fds.push(fd);
        }
    }
    for fd in fds {
        // SAFETY: F_GETFD only reads the descriptor's flags; it fails for a number that is not
        // open (the directory stream read above, closed by now).
        let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
        if !open || fd <= 2 || fd == null_fd || keep.contains(&fd) {
            continue;
        }
        // SAFETY: dup2 atomically replaces the open descriptor `fd` with a copy of /dev/null;
        // the number stays open and owned by whoever owned it.
        if unsafe { libc::dup2(null_fd, fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
