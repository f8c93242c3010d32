//! The manager's server process: owns every shared object, answers requests.
//!
//! As in Python's manager, the main thread accepts connections and each connection is served
//! by a thread of its own, with blocking reads and writes. That thread first admits the client
//! (see [`admit`]: its user, then the authkey handshake); a refused client is reported and
//! dropped, and the server goes on. An admitted client's requests are answered in order. The
//! objects sit behind one mutex, held while a request is applied, so every operation is
//! atomic; replies are written after the mutex is released. A client that stops reading
//! blocks only its own thread; a client that goes away, or sends a request that is not of the
//! protocol, ends it. A shutdown request is answered, then the listening socket is shut down,
//! which ends the `accept` loop.

use std::io::{self, BufReader, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use ipc_common::frame::{self, FrameError};
use nix::errno::Errno;
use nix::sys::socket::{Shutdown, shutdown};

use crate::protocol::{self, MAX_STATUS, OK, Op, REFUSED};

mod admit;
mod objects;

pub(crate) use admit::Admission;
use admit::RefusalLog;
use objects::{Objects, Reply, Request};

/// A buffer that grew above this is given back after the request.
const KEEP_BUFFER: usize = 1 << 20;

/// What every connection's thread shares.
struct Shared {
    objects: Mutex<Objects>,
    admission: Admission,
    refusals: RefusalLog,
    /// The largest key, value or item.
    max: usize,
    listener: UnixListener,
}

/// Serves requests on `listener` until a shutdown request is answered.
pub(crate) fn serve(listener: UnixListener, admission: Admission, max: usize) -> io::Result<()> {
    let shared = Arc::new(Shared {
        objects: Mutex::new(Objects::default()),
        admission,
        refusals: RefusalLog::default(),
        max,
        listener,
    });
    let result = accept_loop(&shared);
    shared.refusals.finish();
    result
}

fn accept_loop(shared: &Arc<Shared>) -> io::Result<()> {
    loop {
        let error = match shared.listener.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                // A refused thread closes this connection only; its client tries again, and
                // sees the server as gone if it keeps failing.
                let _ = thread::Builder::new()
                    .name("manager-client".into())
                    .spawn(move || serve_client(&stream, &shared));
                continue;
            }
            Err(error) => error,
        };
        match error.raw_os_error().map(Errno::from_raw) {
            // The listener was shut down by a shutdown request, whose reply is sent.
            _ if shut_down(shared) => return Ok(()),
            // Interrupted, or a client that went away before being accepted.
            Some(Errno::EINTR | Errno::ECONNABORTED) => {}
            // No descriptor left: wait for one to be closed, rather than spin.
            Some(Errno::EMFILE | Errno::ENFILE) => thread::sleep(Duration::from_millis(10)),
            _ => return Err(error),
        }
    }
}

/// Whether a shutdown request was answered.
fn shut_down(shared: &Shared) -> bool {
    lock(&shared.objects).shutdown
}

fn lock(objects: &Mutex<Objects>) -> std::sync::MutexGuard<'_, Objects> {
    objects.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Admits one client, then answers its requests in order until it closes or sends one that is
/// not of our protocol (the connection is then dropped rather than guessed at).
fn serve_client(stream: &UnixStream, shared: &Shared) {
    if let Err((peer, why)) = shared.admission.admit(stream) {
        shared.refusals.refused(peer, &why);
        return;
    }
    // Reads and writes share the one descriptor (`&UnixStream` does both).
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut replies = Replies {
        writer: BufWriter::with_capacity(64 * 1024, stream),
        scratch: Vec::with_capacity(256),
    };
    let mut frame = Vec::with_capacity(256);
    let max_request = protocol::max_request(shared.max);
    while frame::read(&mut reader, &mut frame, max_request).is_ok() {
        let Some(request) = Request::parse(&frame, shared.max) else {
            return;
        };
        let reply = lock(&shared.objects).apply(&request);
        // Applied and not answered yet: a test kills the server here (the client must see
        // it gone, not wait for ever).
        ipc_common::fault::point("manager.server.applied");
        if replies.write(&reply).is_err() {
            return;
        }
        if request.op == Op::Shutdown {
            // Wakes the accept loop, which sees the request and ends the server.
            let _ = shutdown(shared.listener.as_raw_fd(), Shutdown::Both);
            return;
        }
        if frame.capacity() > KEEP_BUFFER {
            frame = Vec::with_capacity(256);
        }
    }
}

/// Writes replies: each frame as one piece of the buffered writer, a small one through a
/// reusable buffer, a large one straight from the object's bytes.
struct Replies<W: Write> {
    writer: W,
    scratch: Vec<u8>,
}

/// Frames up to this size are assembled in the reusable buffer.
const SMALL_FRAME: usize = 16 * 1024;

impl<W: Write> Replies<W> {
    /// Writes one reply: its status frame, then its items' frames; then flushes.
    fn write(&mut self, reply: &Reply) -> Result<(), FrameError> {
        let count = |n: usize| (n as u64).to_be_bytes();
        match reply {
            Reply::Done => self.status(OK, &[])?,
            Reply::Number(n) => self.status(OK, &n.to_be_bytes())?,
            Reply::Found(None) => self.status(OK, &[0])?,
            Reply::Found(Some(value)) => {
                self.status(OK, &[1])?;
                self.item(value)?;
            }
            Reply::Items(items) => {
                self.status(OK, &count(items.len()))?;
                for value in items {
                    self.item(value)?;
                }
            }
            Reply::Entries(entries) => {
                self.status(OK, &count(entries.len()))?;
                for (key, value) in entries {
                    self.item(key)?;
                    self.item(value)?;
                }
            }
            Reply::Refused(message) => {
                let message = message.as_bytes();
                self.status(REFUSED, &message[..message.len().min(MAX_STATUS - 1)])?;
            }
        }
        self.writer.flush()?;
        Ok(())
    }

    /// A status frame: the status byte, then `rest`.
    fn status(&mut self, status: u8, rest: &[u8]) -> Result<(), FrameError> {
        frame::begin(&mut self.scratch);
        self.scratch.push(status);
        self.scratch.extend_from_slice(rest);
        self.writer
            .write_all(frame::finish(&mut self.scratch, MAX_STATUS)?)?;
        Ok(())
    }

    /// One key, value or item, as a frame of its own length, whatever it is: the long form of
    /// the header carries 64 bits (no length is ever cut to 32).
    fn item(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if bytes.len() > SMALL_FRAME {
            return frame::write(&mut self.writer, bytes, usize::MAX);
        }
        frame::begin(&mut self.scratch);
        self.scratch.extend_from_slice(bytes);
        self.writer
            .write_all(frame::finish(&mut self.scratch, usize::MAX)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what is written and keeps the first bytes, without reading the rest.
    #[derive(Default)]
    struct Sink {
        head: Vec<u8>,
        total: u64,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.head.len() < 16 {
                let n = buf.len().min(16 - self.head.len());
                self.head.extend_from_slice(&buf[..n]);
            }
            self.total += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A value over 4 GiB goes out with its true 64-bit length. (Its zeroed pages are never
    /// touched, so it costs no memory.)
    #[test]
    fn a_value_over_4_gib_is_framed_with_its_64_bit_length() {
        let len = (4usize << 30) + 5;
        let value = vec![0u8; len];
        let mut sink = Sink::default();
        let mut replies = Replies {
            writer: BufWriter::with_capacity(64 * 1024, &mut sink),
            scratch: Vec::new(),
        };
        replies.write(&Reply::Done).expect("write");
        replies.item(&value).expect("write");
        replies.writer.flush().expect("flush");
        drop(replies);
        // The status frame `[0, 0, 0, 1, OK]`, then the item's long header.
        assert_eq!(sink.head[..5], [0, 0, 0, 1, OK]);
        assert_eq!(sink.head[5..9], (-1i32).to_be_bytes());
        assert_eq!(sink.head[9..16], (len as u64).to_be_bytes()[..7]);
        assert_eq!(sink.total, 5 + 12 + len as u64);
    }
}
