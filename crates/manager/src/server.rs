//! The manager's server process: owns every shared object, answers requests.
//!
//! As in Python's manager, the main thread accepts connections and each connection is served
//! by a thread of its own, with blocking reads and writes. The objects sit behind one mutex,
//! held while a request is applied, so every operation is atomic. A client that stops reading
//! blocks only its own thread; a client that goes away ends it. A shutdown request is
//! answered, then the listening socket is shut down, which ends the `accept` loop.

use std::collections::HashMap;
use std::io::{self, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{Shutdown, shutdown};
use pipe::frame;
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

/// Serves requests on `listener` until a shutdown request is answered.
pub(crate) fn serve(listener: UnixListener) -> io::Result<()> {
    let objects: Arc<Objects> = Arc::new(Mutex::new((Vec::new(), false)));
    let listener = Arc::new(listener);
    loop {
        let error = match listener.accept() {
            Ok((stream, _)) => {
                let (objects, listener) = (Arc::clone(&objects), Arc::clone(&listener));
                // A refused thread closes this connection only; its client sees the server
                // as gone.
                let _ = thread::Builder::new()
                    .name("manager-client".into())
                    .spawn(move || serve_client(stream, &objects, &listener));
                continue;
            }
            Err(error) => error,
        };
        match error.raw_os_error().map(Errno::from_raw) {
            // The listener was shut down by a shutdown request, whose reply is sent.
            _ if shut_down(&objects) => return Ok(()),
            // Interrupted, or a client that went away before being accepted.
            Some(Errno::EINTR | Errno::ECONNABORTED) => {}
            // No descriptor left: wait for one to be closed, rather than spin.
            Some(Errno::EMFILE | Errno::ENFILE) => thread::sleep(Duration::from_millis(10)),
            _ => return Err(error),
        }
    }
}

/// The shared objects and whether a shutdown was requested.
type Objects = Mutex<(Vec<Object>, bool)>;

/// Whether a shutdown request was answered.
fn shut_down(objects: &Objects) -> bool {
    objects.lock().unwrap_or_else(PoisonError::into_inner).1
}

/// Answers the requests of one connection, in order, until it closes or sends one that is not
/// of our protocol (the connection is then dropped rather than guessed at).
fn serve_client(stream: UnixStream, objects: &Objects, listener: &UnixListener) {
    // Reads and writes share the one descriptor (`&UnixStream` does both).
    let mut reader = BufReader::with_capacity(16 * 1024, &stream);
    let mut writer = &stream;
    let mut request = Vec::with_capacity(256);
    let mut out = Vec::with_capacity(256);
    while frame::read(&mut reader, &mut request, MAX_FRAME).is_ok() && request.len() >= 5 {
        let id = u32::from_be_bytes([request[1], request[2], request[3], request[4]]);
        let op = Op::from_byte(request[0]);
        out.clear();
        {
            let mut guard = objects.lock().unwrap_or_else(PoisonError::into_inner);
            let (objects, shutdown_requested) = &mut *guard;
            reply(&mut out, |out| apply(objects, op, id, &request[5..], out));
            *shutdown_requested |= op == Some(Op::Shutdown);
        }
        if writer.write_all(&out).is_err() {
            return;
        }
        if op == Some(Op::Shutdown) {
            // Wakes the accept loop, which sees the request and ends the server.
            let _ = shutdown(listener.as_raw_fd(), Shutdown::Both);
            return;
        }
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
