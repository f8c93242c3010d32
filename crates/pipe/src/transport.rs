//! What a connection's bytes travel on: an OS pipe (one direction) or a stream socket (both
//! directions, Unix or TCP).
//!
//! A [`Source`] is what a receiving half reads and a [`Sink`] what a sending half writes. A
//! pipe gives a receiver its read end and a sender its write end; a socket is shared by the two
//! halves of one connection (an [`Arc`]), and closes when both are gone. The differences that
//! matter above this module:
//!
//! - A socket's writes are `send`/`sendmsg` with `MSG_NOSIGNAL`: a peer that went away is
//!   `EPIPE`, never `SIGPIPE`. (std's `write_vectored` on a socket is a plain `writev`, which
//!   raises it.) A pipe's writes need [`without_sigpipe`](ipc_common::sigpipe::without_sigpipe)
//!   around them instead.
//! - A socket whose peer died with bytes unread is *reset*: `ECONNRESET` on a read is the end
//!   of the stream here, as a pipe's end is, so a receiver reports the peer gone
//!   (`Closed`, or `Truncated` inside a message).
//! - Only a pipe's buffer can grow (`F_SETPIPE_SZ`), and only a pipe's small writes are atomic
//!   (`PIPE_BUF`).

use std::io::{self, IoSlice, PipeReader, PipeWriter, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::socket::{MsgFlags, sendmsg, setsockopt, sockopt};

/// A TCP connection that has carried nothing for this long is probed, so that a peer whose
/// host vanished (powered off, cut from the network) is noticed: after
/// [`KEEPALIVE_PROBES`] unanswered probes, [`KEEPALIVE_INTERVAL`] seconds apart, receives
/// and sends fail (about two minutes in all) instead of waiting forever.
const KEEPALIVE_IDLE: u32 = 60;
/// Seconds between two probes.
const KEEPALIVE_INTERVAL: u32 = 10;
/// Unanswered probes before the connection counts as broken.
const KEEPALIVE_PROBES: u32 = 6;

/// A connected stream socket.
#[derive(Debug)]
pub(crate) enum Socket {
    /// A Unix socket: a path, an abstract name, or one of a socket pair.
    Unix(UnixStream),
    /// A TCP connection.
    Tcp(TcpStream),
}

impl Socket {
    /// A TCP connection, set up for messages: each write goes out at once (`TCP_NODELAY`: a
    /// frame is one write, and a reply waits for it), and an idle connection is probed (see
    /// [`KEEPALIVE_IDLE`]). Python sets neither; neither changes the bytes on the wire.
    pub(crate) fn tcp(stream: TcpStream) -> io::Result<Socket> {
        stream.set_nodelay(true)?;
        setsockopt(&stream, sockopt::KeepAlive, &true)?;
        setsockopt(&stream, sockopt::TcpKeepIdle, &KEEPALIVE_IDLE)?;
        setsockopt(&stream, sockopt::TcpKeepInterval, &KEEPALIVE_INTERVAL)?;
        setsockopt(&stream, sockopt::TcpKeepCount, &KEEPALIVE_PROBES)?;
        Ok(Socket::Tcp(stream))
    }

    /// Sets how long one read (`SO_RCVTIMEO`) or one write (`SO_SNDTIMEO`) may block: past it,
    /// the call fails with `WouldBlock`. `None`: for ever. A zero timeout is refused.
    pub(crate) fn set_timeout(&self, write: bool, timeout: Option<Duration>) -> io::Result<()> {
        match (self, write) {
            (Socket::Unix(s), false) => s.set_read_timeout(timeout),
            (Socket::Unix(s), true) => s.set_write_timeout(timeout),
            (Socket::Tcp(s), false) => s.set_read_timeout(timeout),
            (Socket::Tcp(s), true) => s.set_write_timeout(timeout),
        }
    }

    /// What kind of socket this is, for `Debug` and for passing it to a child.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Socket::Unix(_) => Kind::Unix,
            Socket::Tcp(_) => Kind::Tcp,
        }
    }

    /// A socket of `kind` made from a descriptor passed by a parent, or the descriptor back
    /// if `kind` is a pipe.
    fn from_fd(kind: Kind, fd: OwnedFd) -> Result<Arc<Socket>, OwnedFd> {
        match kind {
            Kind::Pipe => Err(fd),
            Kind::Unix => Ok(Arc::new(Socket::Unix(UnixStream::from(fd)))),
            Kind::Tcp => Ok(Arc::new(Socket::Tcp(TcpStream::from(fd)))),
        }
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Unix(s) => s.as_fd(),
            Socket::Tcp(s) => s.as_fd(),
        }
    }
}

/// A socket's read: a reset connection (`ECONNRESET`: the peer closed it with bytes unread,
/// or died) is the end of the stream, as a closed pipe is.
impl Read for &Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = match self {
            Socket::Unix(s) => (&*s).read(buf),
            Socket::Tcp(s) => (&*s).read(buf),
        };
        match read {
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(0),
            other => other,
        }
    }
}

/// A socket's writes: `send` (std's `write` on a socket) and `sendmsg`, both with
/// `MSG_NOSIGNAL`, so a vanished peer is `EPIPE` whatever `SIGPIPE`'s action.
impl Write for &Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Unix(s) => (&*s).write(buf),
            Socket::Tcp(s) => (&*s).write(buf),
        }
    }

    // Not std's `write_vectored`, a plain `writev` that raises `SIGPIPE`.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let fd = self.as_fd().as_raw_fd();
        Ok(sendmsg::<()>(fd, bufs, &[], MsgFlags::MSG_NOSIGNAL, None)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a connection travels on, as it is passed to a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Kind {
    /// An OS pipe.
    Pipe,
    /// A Unix stream socket.
    Unix,
    /// A TCP connection.
    Tcp,
}

/// What a receiving half reads.
pub(crate) enum Source {
    /// A pipe's read end.
    Pipe(PipeReader),
    /// A socket shared with the connection's sending half.
    Socket(Arc<Socket>),
}

impl Source {
    /// The source of `kind` that a parent passed as `fd`.
    pub(crate) fn from_fd(kind: Kind, fd: OwnedFd) -> Source {
        match Socket::from_fd(kind, fd) {
            Ok(socket) => Source::Socket(socket),
            Err(fd) => Source::Pipe(PipeReader::from(fd)),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            Source::Pipe(_) => Kind::Pipe,
            Source::Socket(s) => s.kind(),
        }
    }
}

impl AsFd for Source {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Source::Pipe(p) => p.as_fd(),
            Source::Socket(s) => s.as_fd(),
        }
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Pipe(p) => p.read(buf),
            Source::Socket(s) => (&**s).read(buf),
        }
    }
}

/// What a sending half writes.
pub(crate) enum Sink {
    /// A pipe's write end.
    Pipe(PipeWriter),
    /// A socket shared with the connection's receiving half.
    Socket(Arc<Socket>),
}

impl Sink {
    /// The sink of `kind` that a parent passed as `fd`.
    pub(crate) fn from_fd(kind: Kind, fd: OwnedFd) -> Sink {
        match Socket::from_fd(kind, fd) {
            Ok(socket) => Sink::Socket(socket),
            Err(fd) => Sink::Pipe(PipeWriter::from(fd)),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            Sink::Pipe(_) => Kind::Pipe,
            Sink::Socket(s) => s.kind(),
        }
    }
}

impl AsFd for Sink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Sink::Pipe(p) => p.as_fd(),
            Sink::Socket(s) => s.as_fd(),
        }
    }
}

/// A pipe's writes raise `SIGPIPE` when nobody reads: call them inside
/// [`without_sigpipe`](ipc_common::sigpipe::without_sigpipe). A socket's never do.
impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Pipe(p) => p.write(buf),
            Sink::Socket(s) => (&**s).write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sink::Pipe(p) => p.write_vectored(bufs),
            Sink::Socket(s) => (&**s).write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
