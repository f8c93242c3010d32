//! The watcher: a small process that removes a segment's name once no process uses it.
//!
//! # Users and the watcher
//!
//! Every handle of a segment ([`SharedMemory`](super::SharedMemory)) keeps an open file
//! description of the segment's file that holds a *shared* `flock`. Such a lock belongs to
//! the open file description, which lives as long as any descriptor *or mapping* made from it
//! exists, in any process: a forked child that inherited the handle, a spawned child that
//! received its descriptor, a process that closed the descriptor but still maps the memory all
//! keep it. When a process ends, however it ends (`SIGKILL` included), the kernel closes its
//! descriptors and mappings, and its locks go with them.
//!
//! The watcher opens the file on its own (a description holding no lock) and asks for an
//! *exclusive* lock, blocking. The kernel grants it exactly when no shared lock is left,
//! that is when the last user is gone, and the watcher then unlinks the name (if it still
//! leads to the same file) and exits.
//!
//! # How it is started
//!
//! The creator runs this very program again (`/proc/self/exe`) with the variable [`ENV`] set
//! to the segment's name and the segment's descriptor as standard input, as the spawn start
//! method does; a constructor of this crate ([`WATCHER_ENTRY`], run before `main`) finds the
//! variable and becomes the watcher, so `main` never runs. (If the variable was inherited by
//! mistake, standard input is not a segment, and the program ends with an error saying so.)
//! It then:
//!
//! 1. forks once more and lets the first process exit at once (the creator reaps it): the
//!    watcher is adopted by `init` (or the nearest subreaper), is never left a zombie of the
//!    program, and is not killed with its parent;
//! 2. starts its own session (`setsid`): a Ctrl-C or `kill` of the program's process group or
//!    session does not reach it;
//! 3. reopens the file through `/proc/self/fd/0` (a new open file description) and drops the
//!    creator's description it was given, so that it holds no shared lock itself;
//! 4. tells the creator it is ready (with its pid), then waits for the exclusive lock.
//!
//! The creator gives the file its name only after step 4 (see `segment.rs`), so a named
//! segment always has its watcher.
//!
//! # What the watcher cannot cover
//!
//! If the watcher itself is killed (`kill -9` of its pid, the OOM killer), nobody removes the
//! name: the segment stays in `/dev/shm` once its users are gone, as every segment does with
//! Python. [`SharedMemory::unlink`](super::SharedMemory::unlink) still removes it.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::name;
use super::segment::{FileId, flock};
use crate::fault;

/// The environment variable that makes a run of this program a watcher of the segment it
/// names.
pub(crate) const ENV: &str = "IPC_COMMON_SHM_WATCHER";

/// Set (by a test, through the fault point `shared_memory.watcher.stop`) to make the watcher
/// stop itself with `SIGSTOP` once it holds the exclusive lock, before it unlinks the name.
const STOP_ENV: &str = "IPC_COMMON_SHM_WATCHER_STOP";

/// How long the creator waits for its watcher to say it is ready: generous, since a loaded
/// machine may take a while to start a process, but not forever.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The watcher's reply: a tag byte, then 4 bytes (little-endian): its pid after `R`, the
/// `errno` of the step that failed after `E`.
const REPLY_LEN: usize = 5;

/// Starts the watcher of the segment open as `segment` that will be named `name`; returns its
/// pid once it is ready.
pub(crate) fn launch(segment: BorrowedFd<'_>, name: &str) -> io::Result<u32> {
    // The entry point must be linked into this program for the watcher to have it.
    std::hint::black_box(&WATCHER_ENTRY);
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0("shm-watcher")
        .env(ENV, name)
        .env_remove(STOP_ENV)
        .stdin(Stdio::from(segment.try_clone_to_owned()?))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if fault::fails("shared_memory.watcher.stop") {
        cmd.env(STOP_ENV, "1");
    }
    let mut first = cmd.spawn()?;
    let reply = match first.stdout.take() {
        Some(out) => read_reply(out),
        None => Err(io::Error::other("the watcher's pipe is missing")),
    };
    // The first process exits as soon as it has forked the watcher (reaping it cannot wait
    // long; an error means someone else reaped it, which is fine).
    let _ = first.wait();
    let reply = reply?;
    let value = u32::from_le_bytes([reply[1], reply[2], reply[3], reply[4]]);
    match reply[0] {
        b'R' => Ok(value),
        b'E' => Err(io::Error::from_raw_os_error(value as i32)),
        _ => Err(io::Error::other("the watcher sent a malformed reply")),
    }
}

/// Reads the watcher's reply, waiting at most [`READY_TIMEOUT`].
fn read_reply(out: impl Into<std::os::fd::OwnedFd>) -> io::Result<[u8; REPLY_LEN]> {
    let mut out = File::from(out.into());
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut reply = [0u8; REPLY_LEN];
    let mut got = 0;
    while got < REPLY_LEN {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the watcher did not become ready in 30 s",
            ));
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        match out.read(&mut reply[got..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the watcher ended before it was ready",
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(reply)
}

/// The entry point of a watcher: an ELF constructor, run before `main`.
#[used]
#[unsafe(link_section = ".init_array")]
static WATCHER_ENTRY: extern "C" fn() = watcher_entry;

/// If this run of the program is a watcher, watches and ends the process; otherwise returns
/// at once and `main` runs as usual.
extern "C" fn watcher_entry() {
    let Some(name) = std::env::var_os(ENV) else {
        return;
    };
    let stop = std::env::var_os(STOP_ENV).is_some();
    // SAFETY: constructors run on the main thread before `main`, before any thread of ours
    // exists; nothing reads the environment concurrently.
    unsafe {
        std::env::remove_var(ENV);
        std::env::remove_var(STOP_ENV);
    }
    // A variable inherited by mistake must not turn a program into a watcher: a real one
    // gets the segment (a regular file in /dev/shm) as its standard input.
    if !stdin_is_a_segment() {
        eprintln!(
            "{ENV}={name:?} is set, but this program was not started as a shared memory \
             watcher (its standard input is not a segment): unset it"
        );
        exit(2);
    }
    watch(&name, stop)
}

/// Whether descriptor 0 is a regular file on the file system of `/dev/shm`.
fn stdin_is_a_segment() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(dir) = std::fs::metadata(name::SHM_DIR) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/0") {
        Ok(meta) => meta.is_file() && meta.dev() == dir.dev(),
        Err(_) => false,
    }
}

/// The watcher's life; see the [module docs](self). Never returns.
fn watch(name: &OsStr, stop: bool) -> ! {
    // Step 1: leave the program's process tree.
    // SAFETY: this process has one thread (a constructor, before main), so the child may run
    // any code; the parent only calls `_exit`.
    match unsafe { libc::fork() } {
        -1 => fail(errno()),
        0 => {}
        // SAFETY: `_exit` ends the process at once, running nothing of Rust's.
        _ => unsafe { libc::_exit(0) },
    }
    // Step 2: a session of our own; a name that `ps` and `top` show; no hold on any directory.
    // SAFETY: these calls take no pointers but the constant C strings given.
    unsafe {
        libc::setsid();
        // The creator may have stopped listening (it gave up waiting): a write to its pipe
        // must fail, not kill the watcher.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::prctl(libc::PR_SET_NAME, c"shm-watcher".as_ptr());
        libc::chdir(c"/".as_ptr());
        // Close whatever descriptors the program let us inherit, keeping 0, 1 and 2.
        libc::close_range(3, libc::c_uint::MAX, 0);
    }
    // Step 3: our own open file description of the segment, then let go of the creator's.
    let own = match File::open("/proc/self/fd/0") {
        Ok(file) => file,
        Err(e) => fail(e.raw_os_error().unwrap_or(libc::EIO)),
    };
    let id = match FileId::of(&own) {
        Ok(id) => id,
        Err(e) => fail(e.raw_os_error().unwrap_or(libc::EIO)),
    };
    to_dev_null(0);
    // Step 4: ready.
    let mut reply = [b'R', 0, 0, 0, 0];
    reply[1..].copy_from_slice(&std::process::id().to_le_bytes());
    write_stdout(&reply);
    to_dev_null(1);
    // Step 5: wait until no process holds a shared lock, however they ended.
    if flock(own.as_fd(), libc::LOCK_EX).is_err() {
        exit(1)
    }
    if stop {
        // SAFETY: raising a signal touches no memory.
        unsafe { libc::raise(libc::SIGSTOP) };
    }
    // Step 6: remove the name, if it still leads to our file (it may have been unlinked, and
    // even given to a newer segment, meanwhile).
    let path = name::path(&String::from_utf8_lossy(name.as_bytes()));
    if let Ok(Some(now)) = FileId::of_path(&path)
        && now == id
    {
        let _ = std::fs::remove_file(&path);
    }
    exit(0)
}

/// Tells the creator which step failed, and ends.
fn fail(errno: i32) -> ! {
    let mut reply = [b'E', 0, 0, 0, 0];
    reply[1..].copy_from_slice(&errno.to_le_bytes());
    write_stdout(&reply);
    exit(1)
}

fn write_stdout(bytes: &[u8]) {
    // SAFETY: writes `bytes.len()` bytes from a live slice to descriptor 1 (a pipe of 5-byte
    // messages: written whole, as pipe writes below PIPE_BUF are atomic).
    unsafe { libc::write(1, bytes.as_ptr().cast(), bytes.len()) };
}

/// Points descriptor `fd` at `/dev/null`, closing what it was (or just closes it, without
/// `/dev/null`: what matters is that the watcher lets go of what `fd` was).
fn to_dev_null(fd: RawFd) {
    match File::options().read(true).write(true).open("/dev/null") {
        // SAFETY: dup2 between two descriptors of this process; `fd` is one of the standard
        // three, which no Rust object of this process owns.
        Ok(null) => unsafe { libc::dup2(null.as_raw_fd(), fd) },
        // SAFETY: as above; nothing of ours uses `fd` afterwards.
        Err(_) => unsafe { libc::close(fd) },
    };
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn exit(code: i32) -> ! {
    // SAFETY: `_exit` ends the process at once; the watcher has nothing to flush.
    unsafe { libc::_exit(code) }
}
