//! The ends of a connection: [`Receiver`] and [`Sender`] (one direction each) and
//! [`Connection`] (both directions), over pipes or a socket.

use std::fmt;
use std::io::{PipeReader, PipeWriter};
use std::marker::PhantomData;
use std::net::TcpStream;
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use ipc_common::share::SharedFd;

use ipc_common::codec;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::raw;
use crate::transport::{Kind, Sink, Socket, Source};
use crate::wire::{Incoming, Outgoing};
use crate::{BufferTooShort, PipeError, Waitable};

/// The reading end of a one-way pipe ([`pipe_oneway`](crate::pipe_oneway)): receives
/// messages of type `T`. Python's first connection of `Pipe(duplex=False)`, whose `send`
/// raises `OSError`; here a `Receiver` has no `send` at all.
///
/// # Example
///
/// ```
/// let (mut rx, mut tx) = pipe::pipe_oneway::<Vec<f64>>()?;
/// tx.send(&vec![0.5, 1.5])?;
/// assert!(rx.poll(std::time::Duration::ZERO)?);
/// assert_eq!(rx.recv()?, [0.5, 1.5]);
/// # Ok::<(), pipe::PipeError>(())
/// ```
///
/// A `Receiver` cannot send:
///
/// ```compile_fail
/// let (mut rx, _tx) = pipe::pipe_oneway::<u32>()?;
/// rx.send(&1)?;
/// # Ok::<(), pipe::PipeError>(())
/// ```
pub struct Receiver<T> {
    incoming: Incoming,
    _message: PhantomData<fn() -> T>,
}

/// The writing end of a one-way pipe ([`pipe_oneway`](crate::pipe_oneway)): sends messages
/// of type `T`. Python's second connection of `Pipe(duplex=False)`, whose `recv` raises
/// `OSError`; here a `Sender` has no `recv` at all.
///
/// # Example
///
/// ```
/// let (mut rx, mut tx) = pipe::pipe_oneway::<String>()?;
/// tx.send(&"hello".to_string())?;
/// tx.send_bytes(b"raw bytes", 4, None)?; // from offset 4: "bytes"
/// assert_eq!(rx.recv()?, "hello");
/// assert_eq!(rx.recv_bytes(None)?, b"bytes");
/// # Ok::<(), pipe::PipeError>(())
/// ```
///
/// A `Sender` cannot receive:
///
/// ```compile_fail
/// let (_rx, mut tx) = pipe::pipe_oneway::<u32>()?;
/// tx.recv()?;
/// # Ok::<(), pipe::PipeError>(())
/// ```
pub struct Sender<T> {
    outgoing: Outgoing,
    _message: PhantomData<fn(T)>,
}

/// One end of a duplex connection: sends and receives messages of type `T` (Python's
/// `Connection`). It is a [`Receiver`] and a [`Sender`]: on two OS pipes, one per direction,
/// for an end of a [`pipe`](crate::pipe); on one socket for a connection that a
/// [`Listener`](crate::Listener) accepted or a [`Client`](crate::Client) made (or one made
/// [from](Connection::from) a [`UnixStream`] or a [`TcpStream`]). Both kinds offer the same
/// methods and behave the same; [`split`](Connection::split) takes them apart.
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
    receiver: Receiver<T>,
    sender: Sender<T>,
}

/// A connection's half as it travels to a child: its descriptor, what the descriptor is,
/// and its size limit.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireEnd {
    fd: SharedFd,
    kind: Kind,
    max: u64,
}

impl WireEnd {
    /// The limit, as this process's `usize`.
    fn max<E: serde::de::Error>(&self) -> Result<usize, E> {
        usize::try_from(self.max).map_err(E::custom)
    }
}

impl<T> serde::Serialize for Receiver<T> {
    /// Passes this end to a child (an argument of `Process::new`): its descriptor travels,
    /// as Python's `reduction.DupFd` sends a `Connection`'s.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fd = self.incoming.share().map_err(serde::ser::Error::custom)?;
        WireEnd {
            fd,
            kind: self.incoming.kind(),
            max: self.incoming.max() as u64,
        }
        .serialize(serializer)
    }
}

impl<'de, T> serde::Deserialize<'de> for Receiver<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let end = WireEnd::deserialize(deserializer)?;
        let max = end.max()?;
        let mut receiver = Receiver::from_source(Source::from_fd(end.kind, end.fd.0));
        receiver.set_max_message(max);
        Ok(receiver)
    }
}

impl<T> serde::Serialize for Sender<T> {
    /// Passes this end to a child (an argument of `Process::new`).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fd = self.outgoing.share().map_err(serde::ser::Error::custom)?;
        WireEnd {
            fd,
            kind: self.outgoing.kind(),
            max: self.outgoing.max() as u64,
        }
        .serialize(serializer)
    }
}

impl<'de, T> serde::Deserialize<'de> for Sender<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let end = WireEnd::deserialize(deserializer)?;
        let max = end.max()?;
        let mut sender = Sender::from_sink(Sink::from_fd(end.kind, end.fd.0));
        sender.set_max_message(max);
        Ok(sender)
    }
}

impl<T> serde::Serialize for Connection<T> {
    /// Passes this connection to a child (Python's `Process(args=(child_conn,))`): both its
    /// descriptors travel.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.receiver, &self.sender).serialize(serializer)
    }
}

impl<'de, T> serde::Deserialize<'de> for Connection<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (receiver, sender) = <(Receiver<T>, Sender<T>)>::deserialize(deserializer)?;
        Ok(Connection { receiver, sender })
    }
}

impl<T> Receiver<T> {
    /// Makes a receiver from a pipe's read end, for example one inherited from a parent or
    /// made with [`std::io::pipe`]. [`pipe_oneway`](crate::pipe_oneway) is the usual way.
    pub fn new(reader: PipeReader) -> Self {
        Receiver::from_source(Source::Pipe(reader))
    }

    fn from_source(source: Source) -> Self {
        Receiver {
            incoming: Incoming::new(source),
            _message: PhantomData,
        }
    }

    /// The largest message (in bytes, encoded) this end accepts: a peer's frame announcing
    /// more is refused before anything is allocated for it. [`DEFAULT_MAX_MESSAGE`] (1 GiB)
    /// unless set. Python has no such limit.
    ///
    /// [`DEFAULT_MAX_MESSAGE`]: crate::DEFAULT_MAX_MESSAGE
    pub fn max_message(&self) -> usize {
        self.incoming.max()
    }

    /// Sets the limit of [`max_message`](Receiver::max_message).
    pub fn set_max_message(&mut self, max: usize) {
        self.incoming.set_max(max);
    }

    /// Receives the next message's bytes as they were sent, whatever sent them (Python's
    /// `recv_bytes(maxlength)`). With `Some(maxlength)`, a longer message is not received:
    /// the error says its length and the message stays first in line.
    ///
    /// # Errors
    ///
    /// [`PipeError::TooLong`] above `maxlength`; otherwise as for [`recv`](Receiver::recv)
    /// but for [`PipeError::Decode`], which cannot happen.
    pub fn recv_bytes(&mut self, maxlength: Option<usize>) -> Result<Vec<u8>, PipeError> {
        let len = self.incoming.next_len()?;
        if let Some(maxlength) = maxlength.filter(|&m| len > m) {
            return Err(PipeError::TooLong { len, maxlength });
        }
        self.incoming.read_vec(len)
    }

    /// Receives the next message's bytes into `buf` from `offset` on and returns the
    /// message's length (Python's `recv_bytes_into(buf, offset)`). The payload is read
    /// straight from the pipe into `buf`.
    ///
    /// # Errors
    ///
    /// [`PipeError::OutOfRange`] if `offset > buf.len()` (nothing is received);
    /// [`PipeError::BufferTooShort`] holding the whole message if it is longer than
    /// `buf.len() - offset` (the message is received, `buf` is untouched); otherwise as for
    /// [`recv_bytes`](Receiver::recv_bytes). After [`PipeError::Truncated`], `buf` holds
    /// what arrived of the message.
    ///
    /// ```
    /// use pipe::PipeError;
    ///
    /// let (mut rx, mut tx) = pipe::pipe_oneway::<()>()?;
    /// let mut buf = [0u8; 8];
    /// tx.send_bytes(b"abc", 0, None)?;
    /// assert_eq!(rx.recv_bytes_into(&mut buf, 5)?, 3);
    /// assert_eq!(&buf, b"\0\0\0\0\0abc");
    ///
    /// tx.send_bytes(b"too long", 0, None)?;
    /// match rx.recv_bytes_into(&mut buf, 5) {
    ///     Err(PipeError::BufferTooShort(e)) => assert_eq!(e.into_message(), b"too long"),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), PipeError>(())
    /// ```
    pub fn recv_bytes_into(&mut self, buf: &mut [u8], offset: usize) -> Result<usize, PipeError> {
        let Some(room) = buf.len().checked_sub(offset) else {
            return Err(PipeError::OutOfRange {
                len: buf.len(),
                offset,
                size: None,
            });
        };
        let len = self.incoming.next_len()?;
        if len > room {
            let message = self.incoming.read_vec(len)?;
            return Err(PipeError::BufferTooShort(BufferTooShort { message, room }));
        }
        self.incoming.read_into(&mut buf[offset..offset + len])?;
        Ok(len)
    }

    /// Whether a message (or the end of the stream) can be received now or within
    /// `timeout` (Python's `poll(timeout)`: `poll()` is `Duration::ZERO`, `poll(None)` is
    /// `Duration::MAX`, which waits forever). A signal that interrupts the wait does not end
    /// it: it lasts the whole timeout unless something arrives.
    ///
    /// # Errors
    ///
    /// [`PipeError::Io`] if `poll` itself fails.
    pub fn poll(&self, timeout: Duration) -> Result<bool, PipeError> {
        Ok(!crate::wait(&[self], timeout)?.is_empty())
    }

    /// The pipe's read end, or the socket (Python's `fileno()`). A `Receiver` reads ahead: messages may be
    /// waiting in its buffer while the descriptor shows nothing, so wait for it with
    /// [`poll`](Receiver::poll) or [`wait`](crate::wait), not on the descriptor alone.
    pub fn read_fd(&self) -> BorrowedFd<'_> {
        self.incoming.fd()
    }

    /// Closes this end (Python's `close()`); the same as dropping it. A closed end cannot
    /// be used (Python's `closed` is always false for an end you still hold).
    pub fn close(self) {}
}

impl<T: DeserializeOwned + 'static> Receiver<T> {
    /// Receives the next message, waiting for it (Python's `recv()`).
    ///
    /// # Errors
    ///
    /// [`PipeError::Closed`] once every copy of the other end is closed and all messages have
    /// been received; [`PipeError::Truncated`] if the stream ends inside a message (its sender
    /// died while writing it); [`PipeError::Decode`] for a whole frame that is not a `T`
    /// (the connection stays usable); [`PipeError::TooLarge`], [`PipeError::BadLength`] for
    /// bytes that are not frames, and [`PipeError::Broken`] after those.
    pub fn recv(&mut self) -> Result<T, PipeError> {
        let len = self.incoming.next_len()?;
        // Bytes, a `String` or numbers: read straight into the value returned (see `raw`).
        if let Some(prefix) = raw::prefix::<T>()
            && self.incoming.skip_prefix(prefix)?
        {
            return raw::read_body(&mut self.incoming, prefix, len - prefix.len());
        }
        self.incoming
            .with_payload(len, codec::decode::<T>)?
            .map_err(PipeError::Decode)
    }
}

impl<T> Sender<T> {
    /// Makes a sender from a pipe's write end, for example one inherited from a parent or
    /// made with [`std::io::pipe`]. [`pipe_oneway`](crate::pipe_oneway) is the usual way.
    pub fn new(writer: PipeWriter) -> Self {
        Sender::from_sink(Sink::Pipe(writer))
    }

    fn from_sink(sink: Sink) -> Self {
        Sender {
            outgoing: Outgoing::new(sink),
            _message: PhantomData,
        }
    }

    /// The largest message (in bytes, encoded) this end sends: a larger one is refused whole.
    /// [`DEFAULT_MAX_MESSAGE`] (1 GiB) unless set. Python has no such limit.
    ///
    /// [`DEFAULT_MAX_MESSAGE`]: crate::DEFAULT_MAX_MESSAGE
    pub fn max_message(&self) -> usize {
        self.outgoing.max()
    }

    /// Sets the limit of [`max_message`](Sender::max_message).
    pub fn set_max_message(&mut self, max: usize) {
        self.outgoing.set_max(max);
    }

    /// Sends `buf[offset..offset + size]` (to the end without `size`) as one message of raw
    /// bytes (Python's `send_bytes(buf, offset, size)`), written straight from `buf`. Python's
    /// `recv_bytes` reads it as it is, and so does [`Receiver::recv_bytes`].
    ///
    /// # Errors
    ///
    /// [`PipeError::OutOfRange`] if the range is not inside `buf` (Python's `ValueError`);
    /// otherwise as for [`send`](Sender::send).
    pub fn send_bytes(
        &mut self,
        buf: &[u8],
        offset: usize,
        size: Option<usize>,
    ) -> Result<(), PipeError> {
        let out_of_range = || PipeError::OutOfRange {
            len: buf.len(),
            offset,
            size,
        };
        let end = match size {
            None => buf.len(),
            Some(size) => offset.checked_add(size).ok_or_else(out_of_range)?,
        };
        let payload = buf.get(offset..end).ok_or_else(out_of_range)?;
        self.outgoing.send_payload(&[], payload)
    }

    /// The pipe's write end, or the socket (Python's `fileno()`).
    pub fn write_fd(&self) -> BorrowedFd<'_> {
        self.outgoing.fd()
    }

    /// Closes this end (Python's `close()`); the same as dropping it. The receiver sees the
    /// end of the stream once every copy of this end is closed.
    pub fn close(self) {}
}

impl<T: Serialize + 'static> Sender<T> {
    /// Sends one message (Python's `send(obj)`), encoded with [`ipc_common::codec`].
    ///
    /// # Errors
    ///
    /// [`PipeError::Closed`] if no process holds the other end any more, whatever `SIGPIPE`'s
    /// action (see [`ipc_common::sigpipe`]); [`PipeError::TooLarge`] above the
    /// [limit](Sender::set_max_message), nothing sent; [`PipeError::Encode`] if `T`'s
    /// `Serialize` fails, nothing sent.
    pub fn send(&mut self, message: &T) -> Result<(), PipeError> {
        // Bytes, a `String` or numbers go out from where they lie (see `raw`).
        if let (Some(prefix), Some(bytes)) = (raw::prefix::<T>(), raw::as_bytes(message)) {
            return self.outgoing.send_payload(prefix, bytes);
        }
        self.outgoing
            .send_encoded(|buf| codec::encode(message, buf).map_err(PipeError::Encode))
    }
}

impl<T> Connection<T> {
    /// Makes a connection from a pipe to read from and a pipe to write to, for example ends
    /// inherited from a parent. [`pipe`](crate::pipe) is the usual way to get one.
    pub fn new(reader: PipeReader, writer: PipeWriter) -> Self {
        Connection {
            receiver: Receiver::new(reader),
            sender: Sender::new(writer),
        }
    }

    /// Makes a connection over a connected stream socket, a Unix or a TCP one (Python's
    /// `Connection(sock.detach())`). Both halves share the socket: it closes when both are
    /// gone. [`Listener::accept`](crate::Listener::accept) and
    /// [`Client::connect`](crate::Client::connect) are the usual way to get one.
    pub(crate) fn from_socket(socket: Socket) -> Self {
        let socket = Arc::new(socket);
        Connection {
            receiver: Receiver::from_source(Source::Socket(Arc::clone(&socket))),
            sender: Sender::from_sink(Sink::Socket(socket)),
        }
    }

    /// Takes the connection apart into its receiving and its sending half, for example to
    /// receive on one thread and send on another. Python has no counterpart.
    ///
    /// The halves of a pipe connection are two pipes, and the peer sees the end of the stream
    /// once the [`Sender`] is dropped. The halves of a socket connection share the socket,
    /// which closes (and the peer sees the end) once both are dropped.
    pub fn split(self) -> (Receiver<T>, Sender<T>) {
        (self.receiver, self.sender)
    }

    /// The largest message (in bytes, encoded) this end sends and accepts:
    /// [`DEFAULT_MAX_MESSAGE`] (1 GiB) unless set. Python has no such limit.
    ///
    /// [`DEFAULT_MAX_MESSAGE`]: crate::DEFAULT_MAX_MESSAGE
    pub fn max_message(&self) -> usize {
        self.sender.max_message()
    }

    /// Sets the largest message this end sends and accepts (both directions): see
    /// [`Sender::set_max_message`] and [`Receiver::set_max_message`].
    pub fn set_max_message(&mut self, max: usize) {
        self.receiver.set_max_message(max);
        self.sender.set_max_message(max);
    }

    /// See [`Receiver::recv_bytes`] (Python's `recv_bytes(maxlength)`).
    ///
    /// # Errors
    ///
    /// As for [`Receiver::recv_bytes`].
    pub fn recv_bytes(&mut self, maxlength: Option<usize>) -> Result<Vec<u8>, PipeError> {
        self.receiver.recv_bytes(maxlength)
    }

    /// See [`Receiver::recv_bytes_into`] (Python's `recv_bytes_into(buf, offset)`).
    ///
    /// # Errors
    ///
    /// As for [`Receiver::recv_bytes_into`].
    pub fn recv_bytes_into(&mut self, buf: &mut [u8], offset: usize) -> Result<usize, PipeError> {
        self.receiver.recv_bytes_into(buf, offset)
    }

    /// See [`Sender::send_bytes`] (Python's `send_bytes(buf, offset, size)`).
    ///
    /// # Errors
    ///
    /// As for [`Sender::send_bytes`].
    pub fn send_bytes(
        &mut self,
        buf: &[u8],
        offset: usize,
        size: Option<usize>,
    ) -> Result<(), PipeError> {
        self.sender.send_bytes(buf, offset, size)
    }

    /// See [`Receiver::poll`] (Python's `poll(timeout)`).
    ///
    /// # Errors
    ///
    /// As for [`Receiver::poll`].
    pub fn poll(&self, timeout: Duration) -> Result<bool, PipeError> {
        self.receiver.poll(timeout)
    }

    /// The read end of the pipe this end receives from, or its socket (Python's `fileno()`):
    /// see [`Receiver::read_fd`].
    pub fn read_fd(&self) -> BorrowedFd<'_> {
        self.receiver.read_fd()
    }

    /// The write end of the pipe this end sends on, or its socket (the same descriptor as
    /// [`read_fd`](Connection::read_fd)'s): see [`Sender::write_fd`].
    pub fn write_fd(&self) -> BorrowedFd<'_> {
        self.sender.write_fd()
    }

    /// Closes this end (Python's `close()`); the same as dropping it.
    pub fn close(self) {}
}

impl<T: DeserializeOwned + 'static> Connection<T> {
    /// Receives the next message, waiting for it (Python's `recv()`): see
    /// [`Receiver::recv`].
    ///
    /// # Errors
    ///
    /// As for [`Receiver::recv`].
    pub fn recv(&mut self) -> Result<T, PipeError> {
        self.receiver.recv()
    }
}

impl<T: Serialize + 'static> Connection<T> {
    /// Sends one message (Python's `send(obj)`): see [`Sender::send`].
    ///
    /// # Errors
    ///
    /// As for [`Sender::send`].
    pub fn send(&mut self, message: &T) -> Result<(), PipeError> {
        self.sender.send(message)
    }
}

/// A connection over a connected Unix stream socket (one end of `UnixStream::pair()`, say,
/// as Python's `Pipe()` is a socket pair).
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use pipe::Connection;
///
/// let (a, b) = UnixStream::pair()?;
/// let (mut a, mut b) = (Connection::<String>::from(a), Connection::<String>::from(b));
/// a.send(&"over a socket".to_string())?;
/// assert_eq!(b.recv()?, "over a socket");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<T> From<UnixStream> for Connection<T> {
    fn from(stream: UnixStream) -> Self {
        Connection::from_socket(Socket::Unix(stream))
    }
}

/// A connection over a connected TCP stream, which must speak Python's wire format at the
/// other end too (a [`Connection`], or Python's).
impl<T> From<TcpStream> for Connection<T> {
    fn from(stream: TcpStream) -> Self {
        Connection::from_socket(Socket::Tcp(stream))
    }
}

impl<T> Waitable for Receiver<T> {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.read_fd()
    }

    fn ready_now(&self) -> bool {
        self.incoming.ready_now()
    }
}

impl<T> Waitable for Connection<T> {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.receiver.wait_fd()
    }

    fn ready_now(&self) -> bool {
        self.receiver.ready_now()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("transport", &self.incoming.kind())
            .field("fd", &self.read_fd())
            .field("buffered", &self.incoming.buffered())
            .field("max_message", &self.max_message())
            .finish()
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("transport", &self.outgoing.kind())
            .field("fd", &self.write_fd())
            .field("max_message", &self.max_message())
            .finish()
    }
}

impl<T> fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("receiver", &self.receiver)
            .field("sender", &self.sender)
            .finish()
    }
}
