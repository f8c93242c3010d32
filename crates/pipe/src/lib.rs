//! Python's `multiprocessing.Pipe()` and `multiprocessing.connection` in Rust: connected ends
//! that carry messages of any size between processes, in Python's wire format.
//!
//! [`pipe`] makes two OS pipes, one per direction (a pipe round trip is cheaper than a socket
//! pair's on Linux), and gives each [`Connection`] the read side of one and the write side of
//! the other. [`pipe_oneway`] makes one pipe and gives its two sides distinct types, a
//! [`Receiver`] and a [`Sender`]. Start a child with
//! [`Process::start`](ipc_common::Process::start), move one end into it, and keep the other.
//!
//! Processes that did not fork from one another, on one host or on two, meet at an address
//! instead: a [`Listener`] accepts connections there and a [`Client`] connects (see
//! [Listener and Client](#listener-and-client)). Their connections are [`Connection`]s too,
//! over a socket, with the same methods.
//!
//! # Python and Rust side by side
//!
//! | Python (`multiprocessing`)               | Rust (`pipe`)                                             |
//! |------------------------------------------|-----------------------------------------------------------|
//! | `a, b = Pipe()`                          | `let (a, b) = pipe::pipe::<T>()?` ([`Connection`]s)       |
//! | `r, w = Pipe(duplex=False)`              | `let (r, w) = pipe::pipe_oneway::<T>()?` ([`Receiver`], [`Sender`]) |
//! | `conn.send(obj)`                         | `conn.send(&value)?`                                      |
//! | `conn.recv()`                            | `conn.recv()?`                                            |
//! | `conn.send_bytes(buf, offset, size)`     | `conn.send_bytes(&buf, offset, Some(size))?` (`None`: to the end) |
//! | `conn.recv_bytes(maxlength)`             | `conn.recv_bytes(Some(maxlength))?` (`None`: no maxlength) |
//! | `conn.recv_bytes_into(buf, offset)`      | `conn.recv_bytes_into(&mut buf, offset)?`                 |
//! | `conn.poll()`, `poll(t)`, `poll(None)`   | `conn.poll(Duration::ZERO)?`, `poll(t)?`, `poll(Duration::MAX)?` |
//! | `connection.wait([a, p.sentinel], t)`    | `pipe::wait(&[&a, &p.exit_fd()], t)?` (positions of the ready ones; connections over pipes or sockets, sentinels, descriptors, and listeners, which Python's cannot take; not queues: see [`Waitable`]) |
//! | `conn.close()`, `with conn:`             | `conn.close()`, or dropping it                            |
//! | `conn.fileno()`                          | [`Connection::read_fd`], [`Connection::write_fd`] (the same socket for a socket connection) |
//! | `Connection(sock.detach())`              | `Connection::from(unix_stream)`, `Connection::from(tcp_stream)` |
//! | `conn.readable`, `conn.writable`         | the type: [`Receiver`] only receives, [`Sender`] only sends, [`Connection`] does both; the wrong call does not compile |
//! | `conn.closed`                            | none: `close` consumes the end, so a closed end cannot be used |
//! | `EOFError`                               | [`PipeError::Closed`], or [`PipeError::Truncated`] inside a message |
//! | `BrokenPipeError` on `send`              | [`PipeError::Closed`]                                     |
//! | `BufferTooShort(message)`                | [`PipeError::BufferTooShort`], holding the message        |
//! | `OSError("bad message length")`          | [`PipeError::TooLong`]: the message stays first in line, the connection open |
//! | `ValueError` for `offset`/`size`         | [`PipeError::OutOfRange`]                                 |
//! | `pickle.UnpicklingError`                 | [`PipeError::Decode`]                                     |
//! | `l = Listener(address, authkey=key)`     | `let l = Listener::bind(address, Some(key))?` (`None`: no key) |
//! | `Listener()`, `Listener(family='AF_INET')` | `Listener::bind(Address::arbitrary(Family::Unix)?, key)?`, `Family::Tcp` |
//! | `Listener(address, backlog=n)`           | none: std's backlog (`SOMAXCONN` for Unix, 128 for TCP); Python's default of 1 makes a third waiting client wait |
//! | `l.accept()`                             | `l.accept::<T>()?` (the handshake bounded by [`Listener::set_handshake_timeout`], 30 s unless set) |
//! | `l.address`                              | `l.address()` (with the port chosen for port 0)           |
//! | `l.last_accepted`                        | `l.last_accepted()` (`None` before the first; [`Address::Unnamed`] for Python's `''`) |
//! | `l.close()`, `with l:`                   | `l.close()`, or dropping it (a Unix path's file is removed) |
//! | `Client(address, authkey=key)`           | `Client::connect::<T>(address, Some(key))?`; [`Client::connect_timeout`] to give up |
//! | `'/tmp/sock'`, `'\0name'`, `('127.0.0.1', 6000)` | [`Address`]: `"/tmp/sock".into()`, `"\0name".into()`, `([127, 0, 0, 1], 6000).into()` |
//! | `('localhost', 6000)`                    | `Address::tcp("localhost", 6000)?`                        |
//! | `AuthenticationError`                    | [`ConnectError::Auth`] ([`AuthError::Refused`]: our key was refused; [`AuthError::WrongAnswer`]: the peer does not know it) |
//! | `OSError` from `Listener`, `Client`      | [`ConnectError::Bind`], [`ConnectError::Connect`], [`ConnectError::Accept`] |
//! | `deliver_challenge`, `answer_challenge`  | [`ipc_common::auth::deliver_challenge`], [`ipc_common::auth::answer_challenge`] |
//!
//! [`AuthError::Refused`]: ipc_common::auth::AuthError::Refused
//! [`AuthError::WrongAnswer`]: ipc_common::auth::AuthError::WrongAnswer
//!
//! # Wire format
//!
//! A message is one *frame*, exactly as Python's `Connection` writes one: a 4-byte big-endian
//! signed length, or `-1` and an 8-byte length for more than `0x7fff_ffff` bytes, then the
//! payload (see [`ipc_common::frame`]). So [`Sender::send_bytes`] and
//! [`Receiver::recv_bytes`] talk to Python's `send_bytes` and `recv_bytes` directly, across a
//! pipe shared with a Python process. Typed messages ([`Connection::send`]) carry the
//! [`ipc_common::codec`] encoding of the value (postcard, with `Vec<u8>`, `String` and vectors
//! of numbers as their raw bytes) where Python carries a pickle.
//!
//! # Any size
//!
//! Every message that fits in memory travels, up to a limit per end: [`DEFAULT_MAX_MESSAGE`]
//! (1 GiB) unless [`Connection::set_max_message`] changes it. A message over the limit is
//! refused whole by its sender ([`PipeError::TooLarge`] names both sizes). A receiver never
//! allocates more than the limit for a length a corrupt or hostile peer announces, and past
//! 64 MiB its memory grows only as the bytes arrive. A sender killed in the middle of a
//! message gives the receiver [`PipeError::Truncated`], never part of the message.
//!
//! # Speed
//!
//! Small messages are read many at a time through a 16 KiB buffer; a large payload is read from
//! the pipe straight into its destination and written straight from where it lies, in steps
//! of up to 1 MiB. Before it sends a frame larger than its pipe's buffer (64 KiB), an end grows
//! that buffer with `F_SETPIPE_SZ`, up to 1 MiB or the system's
//! `/proc/sys/fs/pipe-max-size`, so connections that carry only small messages keep the
//! default (pipe buffers count against a per-user quota). A `Vec<u8>`, a `String` or a vector
//! of plain numbers (`Vec<f64>`, `Vec<i32>`, ...) is written from where it lies and read
//! straight into the value returned; other types are encoded into, and decoded out of, a
//! buffer that each end reuses. A reused buffer keeps up to 1 MiB between messages, more only
//! while the messages need at least a quarter of it: a stream of large messages does not pay a
//! page fault per 4 KiB of each, and a smaller message frees the memory (an end that goes quiet
//! after a large message keeps it until its next message).
//! A socket connection reads and writes the same way, with the socket's own buffers (only a
//! pipe's buffer grows).
//! `cargo run --release -p pipe --example pipe_throughput` compares the speed with Python's.
//!
//! # Ending
//!
//! A pipe reports end-of-file only when **every** copy of its write end is closed. With
//! `fork`, a child gets copies of all the parent's file descriptors, so each process must close
//! the ends it does not use; in Rust that is what moving a [`Connection`] into the child's
//! closure does for the parent (see the demo). [`Connection::recv`] on a connection whose peer
//! is gone returns [`PipeError::Closed`], never hangs, and [`Connection::send`] to it returns
//! [`PipeError::Closed`] too, never dies of `SIGPIPE` (see [`ipc_common::sigpipe`]).
//!
//! A socket connection ends the same way, once every copy of its socket is closed (both
//! halves after [`Connection::split`]); a peer that dies with bytes unread *resets* it, which
//! is [`PipeError::Closed`] too.
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
//!
//! # Listener and Client
//!
//! A [`Listener`] listens at an [`Address`]: a Unix socket's path (Python's `'/tmp/sock'`), a
//! name in Linux's abstract namespace (`'\0name'`: no file, nothing to clean up), or a TCP
//! address, for another host (`('0.0.0.0', 6000)`). [`Listener::accept`] waits for a client and
//! returns a [`Connection`]; [`Client::connect`] connects to a listener and returns one.
//! Python's `Client` can connect to our `Listener`, and our `Client` to Python's `Listener`:
//! the frames are Python's, and so is the handshake.
//!
//! With an authkey, each side proves to the other that it knows the key before the
//! connection is returned, with Python's HMAC challenge ([`ipc_common::auth`]): the
//! `{sha256}` form of Python 3.12 and later, and the HMAC-MD5 of Python 3.11 and before
//! when the other side speaks it. A listener delivers its challenge and then answers the
//! client's; a client answers, then delivers: so a client does not talk to an impostor that
//! took the address either. A handshake message over 256 bytes is refused, as in Python.
//! Without a key, whoever reaches the address is accepted. Nothing is encrypted: over TCP,
//! use a trusted network or a tunnel.
//!
//! Beyond Python: a client that connects and then says nothing cannot hold `accept` for
//! ever (the [handshake timeout](Listener::set_handshake_timeout), 30 s by default);
//! [`Client::connect_timeout`] gives up after a timeout; TCP connections send each frame at
//! once (`TCP_NODELAY`) and probe an idle peer (keepalive), so a vanished host is an error
//! after about two minutes instead of a receive that waits for ever.
//!
//! ```
//! use ipc_common::auth::AuthKey;
//! use ipc_common::{StartMethod, get_context};
//! use pipe::{Address, Client, Family, Listener};
//!
//! /// A spawned child: a new run of this program, which shares nothing with its parent but
//! /// what it is given, here the address and the key.
//! fn worker((address, key): (Address, Vec<u8>)) -> Result<(), Box<dyn std::error::Error>> {
//!     let mut conn = Client::connect::<String>(address, Some(AuthKey::new(key)))?;
//!     conn.send(&"hello from another process".to_string())?;
//!     Ok(())
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = b"secret password".to_vec();
//! let listener = Listener::bind(
//!     Address::arbitrary(Family::Unix)?, // a fresh path, as Python's Listener()
//!     Some(AuthKey::new(key.clone())),
//! )?;
//! let child = get_context(StartMethod::Spawn)
//!     .process(worker, (listener.address().clone(), key))
//!     .start()?;
//! let mut conn = listener.accept::<String>()?;
//! assert_eq!(conn.recv()?, "hello from another process");
//! assert_eq!(child.join()?, 0);
//! # Ok(()) }
//! ```
//!
//! `tests/python_interop.rs` runs our listener and client against CPython's, 3.11 to 3.13.
//!
//! # Sharing an end
//!
//! On a pipe, frames of at most 4096 bytes (`PIPE_BUF`), header included, are written with
//! one system call, which the kernel makes atomic: several processes may share one end for
//! sending such small messages. Larger ones need a lock around `send`, as in Python. A socket
//! connection promises no atomicity at any size: processes that share one for sending need a
//! lock around every `send`. As in Python, two
//! processes that both send more than the pipe's buffer holds before either receives will block
//! each other.
//!
//! Receiving ends are not to be shared: a [`Receiver`] reads ahead, so the messages it has
//! buffered are its own (in Python too, two processes reading one end at once corrupt each
//! other's messages). A child forked while the parent holds a receiving end gets a copy of its
//! buffer as well; let only one of them use it.

use std::io;

mod address;
mod client;
mod connection;
mod error;
mod handshake;
mod listener;
mod raw;
mod transport;
mod wait;
mod wire;

pub use address::{Address, Family};
pub use client::Client;
pub use connection::{Connection, Receiver, Sender};
pub use error::{BufferTooShort, ConnectError, PipeError};
pub use ipc_common::frame::DEFAULT_MAX_MESSAGE;
pub use listener::{HANDSHAKE_TIMEOUT, Listener};
pub use wait::{Waitable, wait};

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

/// Makes a one-way pipe (Python's `multiprocessing.Pipe(duplex=False)`): the [`Receiver`]
/// receives what the [`Sender`] sends. As in Python, the receiving end comes first.
///
/// ```
/// let (mut rx, mut tx) = pipe::pipe_oneway::<u64>()?;
/// tx.send(&7)?;
/// drop(tx);
/// assert_eq!(rx.recv()?, 7);
/// assert!(matches!(rx.recv(), Err(pipe::PipeError::Closed)));
/// # Ok::<(), pipe::PipeError>(())
/// ```
///
/// # Errors
///
/// Fails if the process is out of file descriptors.
pub fn pipe_oneway<T>() -> io::Result<(Receiver<T>, Sender<T>)> {
    let (reader, writer) = io::pipe()?;
    Ok((Receiver::new(reader), Sender::new(writer)))
}
