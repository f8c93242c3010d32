//! Python's authkey handshake on a new socket connection, within a deadline.
//!
//! The challenges themselves are [`ipc_common::auth`]'s. What this module adds is the order of
//! each side (Python's: a listener delivers its challenge and then answers the client's; a
//! client answers, then delivers) and a deadline that holds whatever the peer does: before
//! each read or write, the socket's timeout is set to what is left of it, so a peer that
//! sends nothing, or a byte at a time, cannot hold the handshake past it.

use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};

use ipc_common::auth::{self, AuthError, AuthKey};
use ipc_common::frame::FrameError;

use crate::ConnectError;
use crate::transport::Socket;

/// Which side of the handshake this one is.
#[derive(Clone, Copy)]
pub(crate) enum Side {
    /// A listener: challenges first.
    Listener,
    /// A client: answers first.
    Client,
}

/// When the handshake must be over, and the timeout it came from (for the error).
#[derive(Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) timeout: Duration,
}

impl Deadline {
    /// The deadline `timeout` from now; `None` if it does not fit in an [`Instant`]
    /// (`Duration::MAX`: no deadline).
    pub(crate) fn after(timeout: Duration) -> Option<Deadline> {
        ipc_common::time::deadline_after(timeout).map(|at| Deadline { at, timeout })
    }

    /// What is left, or a `TimedOut` error once nothing is.
    pub(crate) fn left(&self) -> io::Result<Duration> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(left)
    }
}

/// Proves, and checks, that both sides know `key`, in `side`'s order, by `deadline` if there
/// is one. The socket's timeouts are cleared afterwards.
///
/// # Errors
///
/// [`ConnectError::Auth`] if the handshake fails, [`ConnectError::TimedOut`] if the peer took
/// too long.
pub(crate) fn handshake(
    socket: &Socket,
    key: &AuthKey,
    side: Side,
    deadline: Option<Deadline>,
) -> Result<(), ConnectError> {
    let mut stream = Timed { socket, deadline };
    let proved = match side {
        Side::Listener => auth::deliver_challenge(&mut stream, key)
            .and_then(|()| auth::answer_challenge(&mut stream, key)),
        Side::Client => auth::answer_challenge(&mut stream, key)
            .and_then(|()| auth::deliver_challenge(&mut stream, key)),
    };
    match proved {
        Ok(()) => {}
        Err(AuthError::Frame(FrameError::Io(e))) if e.kind() == io::ErrorKind::TimedOut => {
            let timeout = deadline.map_or(Duration::MAX, |d| d.timeout);
            return Err(ConnectError::TimedOut(timeout));
        }
        Err(e) => return Err(e.into()),
    }
    if deadline.is_some() {
        for write in [false, true] {
            socket
                .set_timeout(write, None)
                .map_err(|e| ConnectError::Auth(AuthError::Frame(e.into())))?;
        }
    }
    Ok(())
}

/// A socket whose every read and write ends by the deadline: a call that would block past it
/// fails with `TimedOut`.
struct Timed<'a> {
    socket: &'a Socket,
    deadline: Option<Deadline>,
}

impl Timed<'_> {
    /// Limits the next read (or write) to what is left until the deadline, and runs it.
    fn bounded<R>(
        &mut self,
        write: bool,
        call: impl FnOnce(&Socket) -> io::Result<R>,
    ) -> io::Result<R> {
        if let Some(deadline) = self.deadline {
            self.socket.set_timeout(write, Some(deadline.left()?))?;
        }
        call(self.socket).map_err(|e| match e.kind() {
            // What `SO_RCVTIMEO` and `SO_SNDTIMEO` give when they expire.
            io::ErrorKind::WouldBlock => io::ErrorKind::TimedOut.into(),
            _ => e,
        })
    }
}

impl Read for Timed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.bounded(false, |mut socket| socket.read(buf))
    }
}

/// Writes with `MSG_NOSIGNAL` (see [`Socket`]).
impl Write for Timed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bounded(true, |mut socket| socket.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.bounded(true, |mut socket| socket.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
