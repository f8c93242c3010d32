//! `SIGPIPE`: writes that fail with `EPIPE` instead of killing the process.
//!
//! Writing to a pipe whose every reader has closed it raises `SIGPIPE` in the writing thread,
//! and the signal's default action ends the process at once, silently. Rust programs start with
//! `SIGPIPE` ignored, so such a write fails with `EPIPE` (`ErrorKind::BrokenPipe`) instead; but
//! a program may restore the default action ([`set_default`]; [`cli::sections`] does, so that
//! `cargo run -p monitor | head` ends quietly), and children inherit it.
//!
//! A library that reports a vanished peer as an error (`pipe::PipeError::Closed`) must not
//! depend on that process-wide setting: it writes inside [`without_sigpipe`]. Sockets raise
//! `SIGPIPE` too: std's `UnixStream` and `TcpStream` avoid it in `write` (`send` with
//! `MSG_NOSIGNAL`), but not in `write_vectored`, which is a plain `writev`; so
//! [`frame::write`](crate::frame::write), which writes vectored, writes inside
//! [`without_sigpipe`] whatever it writes to.
//!
//! # Changing the action
//!
//! [`without_sigpipe`] asks the kernel for `SIGPIPE`'s action once and remembers it, since a
//! system call per write would cost a pipe round trip a tenth of its time. [`set_default`]
//! makes it ask again. Code that changes the action in another way (`libc::signal`,
//! `nix::sys::signal::sigaction`) after the first write must call [`action_changed`]: else a
//! write to a vanished reader could still end the process.
//!
//! [`cli::sections`]: crate::cli::sections

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal};

/// Restores `SIGPIPE`'s default action: a write to a pipe nobody reads ends the process, as
/// it ends `cat` or `grep`. Children started later inherit it.
pub fn set_default() {
    // SAFETY: SigDfl installs no handler code; it only restores the kernel's default action.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    action_changed();
}

/// Tells [`without_sigpipe`] that `SIGPIPE`'s action may have changed, so that it asks the
/// kernel again before the next write. Call it after changing the action other than with
/// [`set_default`].
pub fn action_changed() {
    ACTION.store(UNKNOWN, Ordering::Relaxed);
}

/// What [`without_sigpipe`] knows of `SIGPIPE`'s action: [`UNKNOWN`], [`IGNORED`] or
/// [`NOT_IGNORED`]. A forked child inherits it with the action itself.
static ACTION: AtomicU8 = AtomicU8::new(UNKNOWN);
/// Not asked yet, or changed since.
const UNKNOWN: u8 = 0;
/// `SIG_IGN`.
const IGNORED: u8 = 1;
/// The default action or a handler.
const NOT_IGNORED: u8 = 2;

/// Runs `write` so that a write to a pipe whose readers are all gone fails with `EPIPE`
/// whatever `SIGPIPE`'s action is. Where `SIGPIPE` is ignored (Rust's default) that is
/// already so, and `write` just runs. Otherwise `SIGPIPE` is blocked in this thread for the
/// write, the signal that write raised is discarded, and the thread's signal mask restored
/// (two more system calls). The action is remembered: see [Changing the
/// action](self#changing-the-action).
///
/// # Errors
///
/// `write`'s own error.
///
/// # Example
///
/// ```
/// use std::io::Write;
///
/// ipc_common::sigpipe::set_default(); // as in a section binary
/// let (reader, mut writer) = std::io::pipe()?;
/// drop(reader);
/// let err = ipc_common::sigpipe::without_sigpipe(|| writer.write_all(b"hello"))
///     .expect_err("nobody reads");
/// assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe); // and we are still alive
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn without_sigpipe<T>(write: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    if is_ignored() {
        return write();
    }
    let mut pipe_only = SigSet::empty();
    pipe_only.add(Signal::SIGPIPE);
    let Ok(old) = pipe_only.thread_swap_mask(SigmaskHow::SIG_BLOCK) else {
        return write();
    };
    let result = write();
    // A SIGPIPE pending now was raised by our write (it was not blocked before, or it would
    // not be ours to take): take it, so that unblocking does not deliver it.
    if !old.contains(Signal::SIGPIPE)
        && matches!(&result, Err(e) if e.kind() == io::ErrorKind::BrokenPipe)
    {
        discard_pending(&pipe_only);
    }
    let _ = old.thread_set_mask();
    result
}

/// Takes the signals of `set` that are pending for this thread, without waiting.
fn discard_pending(set: &SigSet) {
    let now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: `set` is a valid sigset_t, a null siginfo pointer is allowed, and `now` is a
        // valid timespec; the call only reads them. With a zero timeout it never blocks.
        let rc = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &now) };
        if rc >= 0 || Errno::last() != Errno::EINTR {
            return;
        }
    }
}

/// Whether `SIGPIPE`'s action is to ignore it, as remembered or, the first time after a
/// change, as the kernel says.
fn is_ignored() -> bool {
    match ACTION.load(Ordering::Relaxed) {
        IGNORED => true,
        NOT_IGNORED => false,
        _ => {
            let ignored = kernel_says_ignored();
            let known = if ignored { IGNORED } else { NOT_IGNORED };
            ACTION.store(known, Ordering::Relaxed);
            ignored
        }
    }
}

/// Asks the kernel whether `SIGPIPE`'s action is to ignore it.
fn kernel_says_ignored() -> bool {
    let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action makes `sigaction` only write the current one into `current`,
    // a valid, writable `struct sigaction`.
    let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), current.as_mut_ptr()) };
    // SAFETY: on success the kernel filled `current` in; on failure it is still the zeroed,
    // valid value (and we answer false, taking the safe path).
    rc == 0 && unsafe { current.assume_init() }.sa_sigaction == libc::SIG_IGN
}
