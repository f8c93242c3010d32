//! What can go wrong on a connection, and what state each error leaves it in.

use std::fmt;
use std::io;
use std::time::Duration;

use ipc_common::auth::AuthError;
use ipc_common::codec::CodecError;
use ipc_common::frame::FrameError;

use crate::Address;

/// Why sending or receiving a message failed.
///
/// Each variant says what it leaves behind. Most leave the connection usable: the message was
/// refused whole before anything was written, or the frame that failed was read to its end so
/// the next receive starts at the next message. Only bytes that are not frames at all leave the
/// stream out of step; later receives then fail with [`PipeError::Broken`].
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    /// The other end is closed (every copy of it): there is nothing more to receive, or
    /// nobody left to read what is sent. Python raises `EOFError` on `recv` and
    /// `BrokenPipeError` on `send`.
    #[error("the other end of the connection is closed")]
    Closed,
    /// The stream ended inside a frame: the sender died (or closed its end) while writing it.
    /// No part of the message is returned. Python raises `EOFError`.
    #[error("truncated message: expected {expected} bytes, got {got} before end-of-file")]
    Truncated {
        /// How many bytes the frame (or its header) announced.
        expected: usize,
        /// How many arrived.
        got: usize,
    },
    /// A message above the connection's [limit](crate::Connection::set_max_message). On
    /// `send`, nothing was written: the message is refused whole. On a receive, the peer
    /// announced it: the length is taken for corruption, nothing is allocated for it, and the
    /// connection can no longer receive ([`PipeError::Broken`]).
    #[error("a message of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// The message's length, as encoded or as announced.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A negative length other than Python's `-1` marker: the bytes are not frames, and the
    /// connection can no longer receive ([`PipeError::Broken`]).
    #[error("bad message length {0}")]
    BadLength(i32),
    /// [`recv_bytes`](crate::Receiver::recv_bytes) met a message longer than its
    /// `maxlength`. The message is left unread, first in line: a later receive with room for it
    /// gets it. (Python raises `OSError("bad message length")` and closes the connection.)
    #[error("the next message has {len} bytes, more than the maxlength of {maxlength}")]
    TooLong {
        /// The message's length.
        len: usize,
        /// The `maxlength` asked for.
        maxlength: usize,
    },
    /// [`recv_bytes_into`](crate::Receiver::recv_bytes_into) received a message larger than
    /// the buffer's room: the message is in the error, not lost (Python's `BufferTooShort`,
    /// whose `args[0]` is the message).
    #[error("{0}")]
    BufferTooShort(BufferTooShort),
    /// An offset or size outside the buffer (Python's `ValueError`); nothing was sent or
    /// received.
    #[error("{}", out_of_range(*.len, *.offset, *.size))]
    OutOfRange {
        /// The buffer's length.
        len: usize,
        /// The offset asked for.
        offset: usize,
        /// The size asked for, if any.
        size: Option<usize>,
    },
    /// The message could not be encoded (its `Serialize` failed); nothing was sent.
    #[error("cannot encode the message: {0}")]
    Encode(#[source] CodecError),
    /// A whole frame arrived but its bytes are not a message of the expected type. The frame
    /// was consumed: the next receive gets the next message. Python raises
    /// `pickle.UnpicklingError`.
    #[error("cannot decode the message: {0}")]
    Decode(#[source] CodecError),
    /// An earlier error left the incoming byte stream out of step (a length that was refused,
    /// or an I/O error inside a frame): this end can no longer receive. Python closes the
    /// connection in that case and then raises `OSError("handle is closed")`.
    #[error("an earlier error left the connection out of step: it can no longer receive")]
    Broken,
    /// Another I/O error.
    #[error("I/O failed on the connection: {0}")]
    Io(#[from] io::Error),
}

impl From<FrameError> for PipeError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Closed => PipeError::Closed,
            FrameError::Truncated { expected, got } => PipeError::Truncated { expected, got },
            FrameError::TooLarge { len, max } => PipeError::TooLarge { len, max },
            FrameError::BadLength(n) => PipeError::BadLength(n),
            FrameError::Io(e) => PipeError::Io(e),
        }
    }
}

/// Why a [`Listener`](crate::Listener) could not listen or accept, or a
/// [`Client`](crate::Client) could not connect. Python raises `OSError` (and its subclasses)
/// and `multiprocessing.AuthenticationError`.
///
/// A failed [`accept`](crate::Listener::accept) leaves the listener as it was: the next
/// `accept` waits for the next client.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The listener could not be made: the address is in use (a path that exists, even a
    /// socket left by a process that died: remove it first), a directory is missing or not
    /// writable, the port is taken or privileged, or the address is
    /// [`Address::Unnamed`].
    #[error("cannot listen at {address}: {source}")]
    Bind {
        /// Where.
        address: Address,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Nothing listens at the address (`ConnectionRefused`, or `NotFound` for a path), the
    /// connection timed out (`TimedOut`), or the address is [`Address::Unnamed`].
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// Where.
        address: Address,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The listening socket failed to accept (out of file descriptors, say).
    #[error("cannot accept a connection: {0}")]
    Accept(#[source] io::Error),
    /// The handshake failed (Python's `AuthenticationError`): a wrong key on either side
    /// ([`AuthError::WrongAnswer`], [`AuthError::Refused`]), a peer that does not speak the
    /// protocol or sent a message over 256 bytes, or one that closed the connection.
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    /// The other side did not finish the handshake in time: the listener's
    /// [handshake timeout](crate::Listener::set_handshake_timeout), or what was left of
    /// [`Client::connect_timeout`](crate::Client::connect_timeout)'s. Python has no timeout.
    #[error("the handshake did not finish within {0:?}")]
    TimedOut(Duration),
}

/// Python's `ValueError` messages for a bad `offset`/`size`.
fn out_of_range(len: usize, offset: usize, size: Option<usize>) -> String {
    match size {
        Some(size) if offset <= len => {
            format!("buffer length {len} < offset {offset} + size {size}")
        }
        _ => format!("buffer length {len} < offset {offset}"),
    }
}

/// A message that did not fit the buffer given to
/// [`recv_bytes_into`](crate::Receiver::recv_bytes_into) (Python's
/// `multiprocessing.BufferTooShort`). It holds the whole message.
pub struct BufferTooShort {
    pub(crate) message: Vec<u8>,
    pub(crate) room: usize,
}

impl BufferTooShort {
    /// The message that was received.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Takes the message out (Python's `e.args[0]`).
    pub fn into_message(self) -> Vec<u8> {
        self.message
    }

    /// How many bytes the buffer had room for after its offset.
    pub fn room(&self) -> usize {
        self.room
    }
}

impl fmt::Display for BufferTooShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buffer too short: the message has {} bytes, the buffer room for {}",
            self.message.len(),
            self.room
        )
    }
}

/// The length only: a message may be a gigabyte.
impl fmt::Debug for BufferTooShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferTooShort")
            .field("message_len", &self.message.len())
            .field("room", &self.room)
            .finish()
    }
}
