//! The manager's server: owns every shared object, answers requests.
//!
//! As in Python's manager, the main thread accepts connections and each connection is served
//! by a thread of its own, with blocking reads and writes. That thread first admits the client
//! (see [`admit`]: on a Unix socket its user, then the authkey handshake); a refused client is
//! reported and dropped, and the server goes on. An admitted client's requests are answered in
//! order. Each object sits behind a mutex of its own, held while a request is applied, so
//! every operation is atomic; replies are written after it is released. A request that waits
//! (a queue's `get`, a lock's `acquire`) holds only its own thread (see [`wait`]). A client
//! that stops reading blocks only its own thread; a client that goes away, or sends a request
//! that is not of the protocol, ends it, and every lock it held is released. A shutdown request
//! is answered, then the listening socket is shut down, which ends the `accept` loop, and
//! every connection is closed.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use ipc_common::frame;
use nix::errno::Errno;
use nix::sys::socket::{Shutdown, shutdown};

use crate::address::{Listener, Stream};
use crate::protocol::{self, Op};
use crate::registry::Types;

mod admit;
mod barrier;
mod condition;
mod dict;
mod list;
mod queue;
mod reply;
mod request;
mod sync;
mod table;
mod wait;

pub(crate) use admit::Admission;
use admit::RefusalLog;
use reply::{Replies, Reply};
use request::{Bytes, End, Request};
use table::Table;
use wait::{Cell, Peer};

/// A buffer that grew above this is given back after the request.
const KEEP_BUFFER: usize = 1 << 20;

/// What every connection's thread shares.
struct Shared {
    table: Table,
    admission: Admission,
    refusals: RefusalLog,
    /// The largest key, value or item.
    max: usize,
    listener: Listener,
    /// Set by a shutdown request before its reply (SeqCst: the accept loop reads it after the
    /// listener was shut down by the same thread, a syscall later; any ordering would do in
    /// practice, the strongest costs nothing on this path).
    stopping: AtomicBool,
    /// The next connection's id (Relaxed: only its uniqueness matters).
    next_peer: AtomicU64,
    /// The connections being served, by id, to close when the server stops.
    conns: Mutex<HashMap<u64, Arc<Stream>>>,
}

/// What a request's application yields: the reply, and what to undo if it cannot be sent.
struct Outcome {
    reply: Reply,
    undo: Option<Undo>,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Outcome {
        Outcome { reply, undo: None }
    }
}

/// What a reply that could not be written takes back: the client never got it.
enum Undo {
    /// An item taken from a queue goes back to its head.
    Requeue(Arc<Cell<queue::Queue>>, Bytes),
    /// A permit taken from a semaphore goes back.
    Release(Arc<Cell<sync::Semaphore>>),
}

impl Undo {
    fn apply(self) {
        match self {
            Undo::Requeue(cell, item) => queue::requeue(&cell, item),
            Undo::Release(cell) => sync::give_back(&cell),
        }
    }
}

/// Serves requests on `listener` until a shutdown request is answered; then closes every
/// connection. `types` are the registered types it can make objects of.
pub(crate) fn serve(
    listener: Listener,
    admission: Admission,
    max: usize,
    types: Types,
) -> io::Result<()> {
    let shared = Arc::new(Shared {
        table: Table::new(types),
        admission,
        refusals: RefusalLog::default(),
        max,
        listener,
        stopping: AtomicBool::new(false),
        next_peer: AtomicU64::new(0),
        conns: Mutex::new(HashMap::new()),
    });
    let result = accept_loop(&shared);
    shared.refusals.finish();
    // Every connection ends: reads return end-of-file and waiters see their client gone.
    for conn in lock(&shared.conns).values() {
        let _ = conn.shutdown();
    }
    result
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(shared: &Arc<Shared>) -> io::Result<()> {
    loop {
        let error = match shared.listener.accept() {
            Ok(stream) => {
                let stream = Arc::new(stream);
                let id = shared.next_peer.fetch_add(1, Ordering::Relaxed);
                lock(&shared.conns).insert(id, Arc::clone(&stream));
                let thread_shared = Arc::clone(shared);
                // A thread that cannot be made closes this connection only; its client tries
                // again, and sees the server as gone if it keeps failing.
                let spawned =
                    thread::Builder::new()
                        .name("manager-client".into())
                        .spawn(move || {
                            serve_client(id, &stream, &thread_shared);
                            lock(&thread_shared.conns).remove(&id);
                        });
                if spawned.is_err() {
                    lock(&shared.conns).remove(&id);
                }
                continue;
            }
            Err(error) => error,
        };
        match error.raw_os_error().map(Errno::from_raw) {
            // The listener was shut down by a shutdown request, whose reply is sent.
            _ if shared.stopping.load(Ordering::SeqCst) => return Ok(()),
            // Interrupted, or a client that went away before being accepted.
            Some(Errno::EINTR | Errno::ECONNABORTED) => {}
            // No descriptor left: wait for one to be closed, rather than spin.
            Some(Errno::EMFILE | Errno::ENFILE) => thread::sleep(Duration::from_millis(10)),
            _ => return Err(error),
        }
    }
}

/// Admits one client, then answers its requests in order until it closes or sends one that is
/// not of our protocol (the connection is then dropped rather than guessed at). When it ends,
/// every lock the client holds is released (see [`Peer`]).
fn serve_client(id: u64, stream: &Stream, shared: &Shared) {
    if let Err((peer, why)) = shared.admission.admit(stream) {
        shared.refusals.refused(peer, &why);
        return;
    }
    let peer = Peer::new(id, stream);
    // Reads and writes share the one descriptor (`&Stream` does both).
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut replies = Replies {
        writer: BufWriter::with_capacity(64 * 1024, stream),
        scratch: Vec::with_capacity(256),
    };
    let mut head = Vec::with_capacity(256);
    let max_request = protocol::max_request(shared.max);
    while frame::read(&mut reader, &mut head, max_request).is_ok() {
        let Ok(op) = answer(&mut reader, &head, &peer, shared, &mut replies) else {
            return;
        };
        if op == Op::Shutdown {
            // Wakes the accept loop, which sees the request and ends the server.
            let _ = shutdown(shared.listener.as_fd().as_raw_fd(), Shutdown::Both);
            return;
        }
        if head.capacity() > KEEP_BUFFER {
            head = Vec::with_capacity(256);
        }
    }
}

/// Reads the rest of the request whose head is `head`, applies it and writes its reply;
/// returns its op, or [`End`] if the connection must end.
fn answer<R: Read>(
    reader: &mut R,
    head: &[u8],
    peer: &Peer<'_>,
    shared: &Shared,
    replies: &mut Replies<BufWriter<&Stream>>,
) -> Result<Op, End> {
    let (mut request, count) = Request::parse(head, shared.max)?;
    let mut item = Vec::new();
    for _ in 0..count {
        frame::read(reader, &mut item, shared.max).map_err(|_| End)?;
        request.items.push(Bytes::from(&item[..]));
    }
    let outcome = match request.op {
        Op::New => shared.table.create(&request)?.into(),
        Op::Ping => {
            let numbers = vec![u64::from(std::process::id()), shared.max as u64];
            Reply::Numbers(numbers).into()
        }
        Op::Shutdown => {
            shared.stopping.store(true, Ordering::SeqCst);
            Reply::Done.into()
        }
        _ => shared.table.apply(peer, &request)?,
    };
    // Applied and not answered yet: a test kills the server here (the client must see it
    // gone, not wait for ever).
    ipc_common::fault::point("manager.server.applied");
    if replies.write(&outcome.reply).is_err() {
        if let Some(undo) = outcome.undo {
            undo.apply();
        }
        return Err(End);
    }
    Ok(request.op)
}
