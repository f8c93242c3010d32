//! The manager's server process: owns every shared object, answers requests.
//!
//! One thread, one `poll` over the listening socket and every client connection. Sockets are
//! non-blocking; each connection has an input buffer (requests may arrive in pieces) and an
//! output buffer (a large reply may not fit in the socket at once). Requests of one connection
//! are answered in order; a request is applied as a whole before the next one, so every
//! operation is atomic, as with Python's single-threaded-per-request manager.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde_json::Value;

use crate::{MAX_FRAME, Op};

/// A shared object.
enum Object {
    /// A dict in insertion order, with an index from key to position.
    Dict {
        items: Vec<(Value, Value)>,
        index: HashMap<Value, usize>,
    },
    /// A list.
    List(Vec<Value>),
}

/// One client connection.
struct Client {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    sent: usize,
    closed: bool,
}

/// Serves requests on `listener` until a shutdown request is answered.
pub(crate) fn serve(listener: UnixListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut objects: Vec<Object> = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    let mut events: Vec<PollFlags> = Vec::new();
    loop {
        {
            let mut fds = Vec::with_capacity(clients.len() + 1);
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
            for c in &clients {
                let mut want = PollFlags::POLLIN;
                if c.sent < c.output.len() {
                    want |= PollFlags::POLLOUT;
                }
                fds.push(PollFd::new(c.stream.as_fd(), want));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            events.clear();
            events.extend(
                fds.iter()
                    .map(|f| f.revents().unwrap_or(PollFlags::empty())),
            );
        }
        if !events[0].is_empty() {
            accept_all(&listener, &mut clients)?;
        }
        let mut shutdown = false;
        for (client, ev) in clients.iter_mut().zip(&events[1..]) {
            if ev.is_empty() {
                continue;
            }
            client.read_available();
            shutdown |= client.handle_requests(&mut objects);
            client.write_pending();
        }
        if shutdown {
            // Answer the shutdown request before leaving (the client waits for it).
            for c in &mut clients {
                let _ = c.stream.set_nonblocking(false);
                let _ = c.stream.write_all(&c.output[c.sent..]);
            }
            return Ok(());
        }
        clients.retain(|c| !c.closed);
    }
}

fn accept_all(listener: &UnixListener, clients: &mut Vec<Client>) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true)?;
                clients.push(Client {
                    stream,
                    input: Vec::with_capacity(4096),
                    output: Vec::with_capacity(4096),
                    sent: 0,
                    closed: false,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A client that went away before being accepted, or no fds left: keep serving.
            Err(_) => return Ok(()),
        }
    }
}

impl Client {
    /// Appends everything readable now to the input buffer; notes end-of-file.
    fn read_available(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    return;
                }
                Ok(n) => {
                    self.input.extend_from_slice(&chunk[..n]);
                    // A short read drained the socket: skip the read that would say WouldBlock
                    // (poll reports anything that arrives later).
                    if n < chunk.len() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    /// Answers every complete request in the input buffer; true if one was a shutdown.
    fn handle_requests(&mut self, objects: &mut Vec<Object>) -> bool {
        let mut at = 0;
        let mut shutdown = false;
        while let Some(header) = self.input.get(at..at + 4) {
            let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            if !(5..=MAX_FRAME).contains(&len) {
                // Not our protocol: drop the connection rather than guess.
                self.closed = true;
                break;
            }
            let Some(request) = self.input.get(at + 4..at + 4 + len) else {
                break;
            };
            let id = u32::from_be_bytes([request[1], request[2], request[3], request[4]]);
            let op = Op::from_byte(request[0]);
            shutdown |= op == Some(Op::Shutdown);
            reply(&mut self.output, |out| {
                apply(objects, op, id, &request[5..], out)
            });
            at += 4 + len;
        }
        self.input.drain(..at);
        shutdown
    }

    /// Writes as much of the output buffer as the socket takes now.
    fn write_pending(&mut self) {
        while self.sent < self.output.len() {
            match self.stream.write(&self.output[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
        self.output.clear();
        self.sent = 0;
    }
}

/// Appends one reply frame to `out`: length, status byte (0 ok, 1 error), then the JSON result
/// or the error message.
fn reply(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>) -> Result<(), String>) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, 0]);
    if let Err(message) = body(out) {
        out.truncate(start + 5);
        out[start + 4] = 1;
        out.extend_from_slice(message.as_bytes());
    }
    let len = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Applies one request and writes its result's JSON to `out`.
fn apply(
    objects: &mut Vec<Object>,
    op: Option<Op>,
    id: u32,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let decode = |body: &[u8]| serde_json::from_slice::<Value>(body).map_err(|e| e.to_string());
    let write = |out: &mut Vec<u8>, v: &dyn erased::Json| v.write(out);
    let op = op.ok_or("unknown operation")?;
    match op {
        Op::NewDict | Op::NewList => {
            let new_id = u32::try_from(objects.len()).map_err(|_| "too many objects")?;
            objects.push(match op {
                Op::NewDict => Object::Dict {
                    items: Vec::new(),
                    index: HashMap::new(),
                },
                _ => Object::List(Vec::new()),
            });
            return write(out, &new_id);
        }
        Op::Shutdown => return write(out, &()),
        _ => {}
    }
    let object = objects
        .get_mut(id as usize)
        .ok_or_else(|| format!("no shared object {id}"))?;
    match (op, object) {
        (Op::DictSet, Object::Dict { items, index }) => {
            let (key, value): (Value, Value) =
                serde_json::from_slice(body).map_err(|e| e.to_string())?;
            match index.get(&key) {
                Some(&at) => items[at].1 = value,
                None => {
                    index.insert(key.clone(), items.len());
                    items.push((key, value));
                }
            }
            write(out, &())
        }
        (Op::DictGet, Object::Dict { items, index }) => {
            let found = index.get(&decode(body)?).map(|&at| &items[at].1);
            write(out, &found.as_slice())
        }
        (Op::DictLen, Object::Dict { items, .. }) => write(out, &items.len()),
        (Op::DictItems, Object::Dict { items, .. }) => write(out, items),
        (Op::ListAppend, Object::List(list)) => {
            list.push(decode(body)?);
            write(out, &())
        }
        (Op::ListLen, Object::List(list)) => write(out, &list.len()),
        (Op::ListItems, Object::List(list)) => write(out, list),
        _ => Err(format!("shared object {id} does not support {op:?}")),
    }
}

/// Writing any serializable result through one non-generic closure.
mod erased {
    /// A result that can be written as JSON.
    pub(super) trait Json {
        fn write(&self, out: &mut Vec<u8>) -> Result<(), String>;
    }

    impl<T: serde::Serialize + ?Sized> Json for T {
        fn write(&self, out: &mut Vec<u8>) -> Result<(), String> {
            serde_json::to_writer(out, self).map_err(|e| e.to_string())
        }
    }
}
