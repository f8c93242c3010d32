#![allow(unsafe_code)] // Only to change SIGPIPE's action the way other code would.
//! `without_sigpipe` under each action of SIGPIPE, and after the action changes behind its
//! back. SIGPIPE's action belongs to the whole process, so the tests run in order in a program
//! of their own (`harness = false`, see `ipc_common::testing`).

use std::io::{ErrorKind, Write};

use ipc_common::sigpipe::{action_changed, set_default, without_sigpipe};
use nix::sys::signal::{SigHandler, Signal, signal};

/// Writes to a pipe whose reader is closed: must be `BrokenPipe`, and this process alive.
fn write_to_a_closed_pipe() {
    let (reader, mut writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let err = without_sigpipe(|| writer.write_all(b"hello")).expect_err("nobody reads");
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
}

fn set_action(handler: SigHandler) {
    // SAFETY: SigIgn and SigDfl install no handler code.
    unsafe { signal(Signal::SIGPIPE, handler) }.expect("signal");
}

/// Rust starts programs with SIGPIPE ignored: `EPIPE` with no help.
fn ignored_at_start() {
    write_to_a_closed_pipe();
}

/// `set_default` makes the next write ask again, and block SIGPIPE for it.
fn default_action_set_by_set_default() {
    write_to_a_closed_pipe(); // remembered: ignored
    set_default();
    write_to_a_closed_pipe();
}

/// Changed by other code: `action_changed` makes the next write ask again.
fn default_action_set_elsewhere_then_announced() {
    set_action(SigHandler::SigIgn);
    action_changed();
    write_to_a_closed_pipe(); // remembered: ignored
    set_action(SigHandler::SigDfl);
    action_changed();
    write_to_a_closed_pipe();
}

/// Remembered as not ignored, then ignored: the blocking path is still correct.
fn ignored_again() {
    set_action(SigHandler::SigDfl);
    action_changed();
    write_to_a_closed_pipe(); // remembered: not ignored
    set_action(SigHandler::SigIgn);
    write_to_a_closed_pipe();
}

/// A frame written (vectored, as `frame::write` does) to a socket whose peer is gone, with
/// SIGPIPE's default action: `BrokenPipe`, and this process alive (`writev` on a socket raises
/// SIGPIPE, unlike std's `write`).
fn a_frame_to_a_closed_socket() {
    set_default();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    drop(theirs);
    let err = ipc_common::frame::write(&mut &ours, &[1; 100], 1 << 20).expect_err("nobody reads");
    assert!(
        matches!(&err, ipc_common::frame::FrameError::Io(e) if e.kind() == ErrorKind::BrokenPipe),
        "{err}"
    );
}

fn main() {
    ipc_common::testing::run(&[
        ("ignored_at_start", ignored_at_start),
        (
            "default_action_set_by_set_default",
            default_action_set_by_set_default,
        ),
        (
            "default_action_set_elsewhere_then_announced",
            default_action_set_elsewhere_then_announced,
        ),
        ("ignored_again", ignored_again),
        ("a_frame_to_a_closed_socket", a_frame_to_a_closed_socket),
    ]);
}
