//! Python's `multiprocessing.Pipe()` in Rust: two connected, duplex [`Connection`]s that carry
//! serde messages between processes.
//!
//! [`pipe`] makes two OS pipes, one per direction (a pipe round trip is cheaper than a socket
//! pair's on Linux), and gives each end the read side of one and the write side of the other.
//! Start a child with [`Process::start`](ipc_common::Process::start), move one end into it, and
//! keep the other.
//!
//! # Wire format
//!
//! A message is one *frame*: a 4-byte big-endian length (as Python's `Connection` writes it)
//! followed by the message's JSON. A frame is built in memory and written with one `write`
//! call, and reads are buffered. The [`frame`] module holds these two functions for other
//! crates that frame messages on other byte streams (the manager's Unix sockets).
//!
//! # Ending
//!
//! A pipe reports end-of-file only when **every** copy of its write end is closed. With
//! `fork`, a child gets copies of all the parent's file descriptors, so each process must close
//! the ends it does not use; in Rust that is what moving a [`Connection`] into the child's
//! closure does for the parent (see the demo). [`Connection::recv`] on a connection whose peer
//! is gone returns [`PipeError::Closed`], never hangs.
//!
//! A child also inherits a copy of every connection that exists when it is forked, the
//! parent's own end included, and such a copy keeps that direction open as long as the child
//! lives. As in Python, end a conversation with a message (a `None`, say) where the receiver
//! holds such a copy, rather than waiting for end-of-file.
//!
//! ```
//! use ipc_common::Process;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (mut parent_conn, mut child_conn) = pipe::pipe::<String>()?;
//! let child = Process::start("echo", move || -> Result<(), pipe::PipeError> {
//!     let text = child_conn.recv()?;
//!     child_conn.send(&text.to_uppercase())
//! })?;
//! parent_conn.send(&"hello".to_string())?;
//! assert_eq!(parent_conn.recv()?, "HELLO");
//! assert_eq!(child.join()?, 0);
//! // The child has ended and the parent's copy of its end was closed after the fork:
//! assert!(matches!(parent_conn.recv(), Err(pipe::PipeError::Closed)));
//! # Ok(()) }
//! ```

use std::fmt;
use std::io::{self, BufReader, PipeReader, PipeWriter, Write};
use std::marker::PhantomData;
use std::os::fd::AsFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub mod frame;

/// The largest message [`Connection`] accepts by default: 64 MiB of JSON. A length prefix
/// above the limit is taken for corruption and rejected before anything is allocated.
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

/// Why sending or receiving a message failed.
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    /// The other end is closed (every copy of it): there is nothing more to receive, or
    /// nobody left to read what is sent. Python raises `EOFError` or `BrokenPipeError`.
    #[error("the other end of the connection is closed")]
    Closed,
    /// The stream ended in the middle of a frame: the sender died while writing, or the bytes
    /// were not a frame.
    #[error("truncated message: expected {expected} bytes, got {got} before end-of-file")]
    Truncated {
        /// How many bytes the frame announced (or 4, for a partial length prefix).
        expected: usize,
        /// How many arrived.
        got: usize,
    },
    /// A frame's length is above the limit: corrupt data, or a message too large to send.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced or attempted length.
        len: usize,
        /// The connection's limit.
        max: usize,
    },
    /// The message could not be encoded as JSON.
    #[error("cannot encode message: {0}")]
    Encode(#[source] serde_json::Error),
    /// The frame's bytes are not the JSON of the expected type.
    #[error("cannot decode message: {0}")]
    Decode(#[source] serde_json::Error),
    /// Another I/O error.
    #[error("pipe I/O failed: {0}")]
    Io(#[from] io::Error),
}

/// One end of a [`pipe`]: sends and receives messages of type `T` (Python's `Connection`).
///
/// After an error other than [`PipeError::Encode`] the byte stream may be out of step: drop
/// the connection.
///
/// Frames of at most 4096 bytes (`PIPE_BUF`) are written atomically, so several processes may
/// share one end for sending such small messages; larger ones need a lock around `send`, as in
/// Python. As in Python, two processes that both send large messages (over the pipe's 64 KiB
/// buffer) before either receives will block each other.
///
/// # Example
///
/// ```
/// let (mut a, mut b) = pipe::pipe::<(u32, String)>()?;
/// a.send(&(1, "ping".into()))?;
/// assert_eq!(b.recv()?, (1, "ping".to_string()));
/// b.send(&(2, "pong".into()))?;
/// assert_eq!(a.recv()?.1, "pong");
/// # Ok::<(), pipe::PipeError>(())
/// ```
pub struct Connection<T> {
    reader: BufReader<PipeReader>,
    writer: PipeWriter,
    frame: Vec<u8>,
    max: usize,
    _message: PhantomData<fn(T) -> T>,
}

/// Makes a connected pair of duplex [`Connection`]s (Python's `multiprocessing.Pipe()`):
/// what one end sends, the other receives.
///
/// # Errors
///
/// Fails if the process is out of file descriptors.
pub fn pipe<T>() -> io::Result<(Connection<T>, Connection<T>)> {
    let (a_reader, b_writer) = io::pipe()?;
    let (b_reader, a_writer) = io::pipe()?;
    Ok((
        Connection::new(a_reader, a_writer),
        Connection::new(b_reader, b_writer),
    ))
}

impl<T> Connection<T> {
    /// Makes a connection from a pipe to read from and a pipe to write to, for example ends
    /// inherited from a parent. [`pipe`] is the usual way to get one.
    pub fn new(reader: PipeReader, writer: PipeWriter) -> Self {
        Connection {
            reader: BufReader::with_capacity(64 * 1024, reader),
            writer,
            frame: Vec::with_capacity(256),
            max: DEFAULT_MAX_MESSAGE,
            _message: PhantomData,
        }
    }

    /// Sets the largest message (in bytes of JSON) this end sends or accepts;
    /// [`DEFAULT_MAX_MESSAGE`] by default.
    pub fn set_max_message(&mut self, max: usize) {
        self.max = max;
    }

    /// Whether a message (or end-of-file) can be received within `timeout`, without blocking
    /// longer (Python's `poll(timeout)`).
    ///
    /// # Errors
    ///
    /// Fails only if `poll` itself fails.
    pub fn poll(&self, timeout: Duration) -> Result<bool, PipeError> {
        if !self.reader.buffer().is_empty() {
            return Ok(true);
        }
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut fds = [PollFd::new(
            self.reader.get_ref().as_fd(),
            PollFlags::POLLIN,
        )];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(n) => Ok(n > 0),
            Err(Errno::EINTR) => Ok(false),
            Err(e) => Err(PipeError::Io(e.into())),
        }
    }

    /// Closes this end (Python's `close()`); the same as dropping it.
    pub fn close(self) {}
}

impl<T: Serialize + DeserializeOwned> Connection<T> {
    /// Sends one message: its frame goes out with a single `write` call.
    ///
    /// # Errors
    ///
    /// [`PipeError::Closed`] if no process holds the other end any more, whatever `SIGPIPE`'s
    /// action (see [`ipc_common::sigpipe`] if your program changes it),
    /// [`PipeError::TooLarge`] above the [limit](Connection::set_max_message),
    /// [`PipeError::Encode`] if `T`'s `Serialize` fails.
    pub fn send(&mut self, message: &T) -> Result<(), PipeError> {
        frame::begin(&mut self.frame);
        serde_json::to_writer(&mut self.frame, message).map_err(PipeError::Encode)?;
        frame::finish(&mut self.frame, self.max)?;
        // Without SIGPIPE: a reader that is gone (a killed child) must be `Closed`, not the
        // death of this process, even where SIGPIPE's default action is restored.
        ipc_common::sigpipe::without_sigpipe(|| self.writer.write_all(&self.frame)).map_err(|e| {
            match e.kind() {
                io::ErrorKind::BrokenPipe => PipeError::Closed,
                _ => PipeError::Io(e),
            }
        })
    }

    /// Receives the next message, waiting for it (Python's `recv()`).
    ///
    /// # Errors
    ///
    /// [`PipeError::Closed`] once every copy of the other end is closed and all messages
    /// have been received; [`PipeError::Truncated`], [`PipeError::TooLarge`] or
    /// [`PipeError::Decode`] for bytes that are not a valid frame of a `T`.
    pub fn recv(&mut self) -> Result<T, PipeError> {
        frame::read(&mut self.reader, &mut self.frame, self.max)?;
        serde_json::from_slice(&self.frame).map_err(PipeError::Decode)
    }
}

impl<T> fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("reader", self.reader.get_ref())
            .field("writer", &self.writer)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}
