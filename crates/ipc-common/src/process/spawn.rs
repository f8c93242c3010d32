//! The spawn start method: a fresh run of this program that runs only the target.
//!
//! The parent runs `/proc/self/exe` (this very executable, even if its file was replaced since)
//! with one Unix socket at descriptor [`CHILD_FD`] and its number in the environment variable
//! [`ENV`]; every other descriptor is marked close-on-exec. In the child, a constructor of
//! this crate (an ELF `.init_array` entry, run before `main`) finds the variable, removes it,
//! reads the start message from the socket and runs the target: `main` never runs in a
//! spawned child.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Mutex;
use std::sync::mpsc;

use nix::unistd::{Pid, getpid, gettid};

use super::boot::{self, Start};
use super::{Process, ProcessError, own_child};

/// The environment variable that tells a starting program it is a spawned child, and on which
/// descriptor its start message comes.
pub const ENV: &str = "IPC_COMMON_SPAWN_FD";

/// The descriptor number of the start socket in a spawned child.
const CHILD_FD: RawFd = 3;

/// Starts `start` in a fresh run of this program. With `die_with_parent`, the child gets
/// `PR_SET_PDEATHSIG` (the forkserver does not: it ends when its socket closes).
pub(super) fn start(start: Start<'_>, die_with_parent: bool) -> Result<Process, ProcessError> {
    let name = start.name.to_string();
    let os = |call, source| ProcessError::Os {
        call,
        name: name.clone(),
        source,
    };
    // The entry point must be linked into this program for its spawned children to have it.
    std::hint::black_box(&SPAWN_ENTRY);
    let (ours, theirs) = UnixStream::pair().map_err(|e| os("socketpair", e))?;
    let theirs_fd = theirs.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(program_name()).env(ENV, CHILD_FD.to_string());
    // SAFETY: the closure runs in the forked child just before exec and calls only
    // async-signal-safe system calls (dup2, fcntl, close_range, prctl); it allocates nothing
    // and touches no lock. Closing descriptors is sound there: exec follows, and no Rust
    // object of the child survives it.
    unsafe {
        cmd.pre_exec(move || {
            if theirs_fd == CHILD_FD {
                let flags = libc::fcntl(CHILD_FD, libc::F_GETFD);
                if flags < 0 || libc::fcntl(CHILD_FD, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0
                {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(theirs_fd, CHILD_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::close_range(
                CHILD_FD as u32 + 1,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC as i32,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if die_with_parent && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = spawn_command(cmd).map_err(|e| os("spawn", e))?;
    drop(theirs);
    // We reap the child ourselves (waitpid); `Child` neither waits nor kills on drop.
    let pid = Pid::from_raw(child.id() as i32);
    drop(child);
    let process = own_child(name, pid, start.daemon)?;
    boot::send(&ours, &start).map_err(|e| process.os("send(start message)", e))?;
    Ok(process)
}

/// argv\[0\] of this program, for the child's command line (`ps -f` shows it).
fn program_name() -> OsString {
    std::env::args_os()
        .next()
        .unwrap_or_else(|| OsString::from("spawned-child"))
}

/// Runs `cmd.spawn()` on a thread that lives as long as the process.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends, not the process. The
/// main thread ends with the process, so it spawns directly; any other thread hands the
/// `fork` to one long-lived spawner thread, so a child never dies because the short-lived
/// thread that started it has ended.
fn spawn_command(mut cmd: Command) -> io::Result<Child> {
    if gettid() == getpid() {
        return cmd.spawn();
    }
    type Job = (Command, mpsc::Sender<io::Result<Child>>);
    static SPAWNER: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);
    let (reply, answer) = mpsc::channel();
    {
        let mut spawner = SPAWNER.lock().unwrap_or_else(|e| e.into_inner());
        let sender = match &*spawner {
            Some(sender) => sender.clone(),
            None => {
                let (sender, jobs) = mpsc::channel::<Job>();
                std::thread::Builder::new()
                    .name("ipc-spawner".into())
                    .spawn(move || {
                        for (mut cmd, reply) in jobs {
                            let _ = reply.send(cmd.spawn());
                        }
                    })?;
                spawner.insert(sender).clone()
            }
        };
        sender
            .send((cmd, reply))
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    }
    answer
        .recv()
        .map_err(|_| io::Error::other("the spawner thread is gone"))?
}

/// The entry point of a spawned child: an ELF constructor, run before `main`.
#[used]
#[unsafe(link_section = ".init_array")]
static SPAWN_ENTRY: extern "C" fn() = spawn_entry;

/// If this run of the program is a spawned child, runs its target and ends the process;
/// otherwise returns at once and `main` runs as usual.
extern "C" fn spawn_entry() {
    let Some(value) = std::env::var_os(ENV) else {
        return;
    };
    // SAFETY: constructors run on the main thread before `main`, before any thread of ours
    // exists; nothing reads the environment concurrently. Removing the variable keeps it from
    // reaching processes that this child starts in other ways.
    unsafe { std::env::remove_var(ENV) };
    let fd = value.to_str().and_then(|v| v.parse::<RawFd>().ok());
    match fd.filter(|&fd| is_socket(fd)) {
        // SAFETY: our parent put this socket at this number for us alone (it closed every
        // other descriptor before exec); nothing else in this process owns it.
        Some(fd) => boot::enter(unsafe { OwnedFd::from_raw_fd(fd) }, true),
        None => {
            eprintln!(
                "{ENV}={value:?} is set, but this program was not started as a spawned child \
                 (no start socket): unset it"
            );
            std::process::exit(2);
        }
    }
}

/// Whether `fd` is an open socket.
fn is_socket(fd: RawFd) -> bool {
    // SAFETY: fstat writes one `stat` into the local `st`; an invalid fd gives -1.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK }
}
