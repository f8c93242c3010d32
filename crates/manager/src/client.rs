//! The client side: one authenticated connection per process, opened on first use.
//!
//! A [`Client`] belongs to one proxy (or to the [`Manager`](crate::Manager)). On its first
//! request in a process it connects to the server and runs the handshake: it answers the
//! server's challenge, then challenges the server in turn, so that it never talks to a process
//! that does not know the key (an impostor that took the address of a dead server, say).
//!
//! A request is encoded whole before anything is sent, so a value that cannot be encoded or is
//! over the limit is refused with nothing on the wire. Once the request is sent, the reply is
//! read whole; when that fails halfway (a reply over the limit, one that does not decode, a
//! broken connection) the connection is dropped, and the next request opens a new one, so
//! that no leftover bytes of a reply are ever read as the next reply.

use std::cell::RefCell;
use std::io::{self, BufReader, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::sync::Arc;

use ipc_common::auth::{self, AuthError, AuthKey};
use ipc_common::codec;
use ipc_common::frame::{self, FrameError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ManagerError;
use crate::protocol::{self, KEY_LENGTH, MAX_STATUS, OK, Op, REFUSED};

/// How many times a connection is tried when the server closes it during the handshake (it
/// gave up waiting for a client that was stopped, say) before the server counts as gone.
const CONNECT_ATTEMPTS: usize = 3;

/// A buffer that grew above this is given back after the request.
const KEEP_BUFFER: usize = 1 << 20;

/// Where the server is and what it takes to talk to it; shared by a manager's proxies.
#[derive(Debug)]
pub(crate) struct Target {
    /// The abstract socket name.
    pub(crate) name: String,
    /// The key both sides prove they know.
    pub(crate) key: AuthKey,
    /// The largest key, value or item, encoded.
    pub(crate) max: usize,
}

/// A per-process connection to the server, opened on first use (see the module docs).
pub(crate) struct Client {
    target: Arc<Target>,
    conn: RefCell<Option<Conn>>,
    /// The request, then the frames of its reply.
    buf: RefCell<Vec<u8>>,
}

/// An open, authenticated connection and the process that opened it.
struct Conn {
    pid: u32,
    reader: BufReader<UnixStream>,
}

impl Client {
    pub(crate) fn new(target: Arc<Target>) -> Client {
        Client {
            target,
            conn: RefCell::new(None),
            buf: RefCell::new(Vec::new()),
        }
    }

    pub(crate) fn target(&self) -> &Arc<Target> {
        &self.target
    }

    /// Sends one request, whose body `body` appends to the buffer (see [`Body`]), and reads
    /// its reply with `reply`.
    pub(crate) fn call<T>(
        &self,
        op: Op,
        id: u32,
        body: impl FnOnce(&mut Body<'_>) -> Result<(), ManagerError>,
        reply: impl FnOnce(&mut Reply<'_>) -> Result<T, ManagerError>,
    ) -> Result<T, ManagerError> {
        let mut buf = self.buf.borrow_mut();
        frame::begin(&mut buf);
        buf.push(op as u8);
        buf.extend_from_slice(&id.to_be_bytes());
        let result = body(&mut Body {
            buf: &mut buf,
            max: self.target.max,
        })
        .and_then(|()| self.exchange(&mut buf, reply));
        if buf.capacity() > KEEP_BUFFER {
            *buf = Vec::new();
        }
        result
    }

    /// Sends the request in `buf` on this process's connection and reads the reply; drops the
    /// connection unless the reply was read whole.
    fn exchange<T>(
        &self,
        buf: &mut Vec<u8>,
        reply: impl FnOnce(&mut Reply<'_>) -> Result<T, ManagerError>,
    ) -> Result<T, ManagerError> {
        let max = self.target.max;
        let request = frame::finish(buf, protocol::max_request(max)).map_err(too_large)?;
        let mut slot = self.conn.borrow_mut();
        let pid = std::process::id();
        let conn = match &mut *slot {
            Some(conn) if conn.pid == pid => conn,
            // None, or a copy inherited from the parent: dropping it closes only our fd.
            other => other.insert(Conn::connect(&self.target, pid)?),
        };
        let result = conn.send(request).and_then(|()| {
            reply(&mut Reply {
                reader: &mut conn.reader,
                buf,
                max,
            })
        });
        // A refusal is one whole status frame; after any other error, bytes of the reply may
        // still be on their way.
        if matches!(&result, Err(e) if !matches!(e, ManagerError::Refused(_))) {
            *slot = None;
        }
        result
    }
}

impl Conn {
    /// Connects and authenticates; a server that closes the connection during the handshake
    /// is tried again, and counts as gone if it cannot be reached.
    fn connect(target: &Target, pid: u32) -> Result<Conn, ManagerError> {
        let addr = SocketAddr::from_abstract_name(&target.name)?;
        for _ in 0..CONNECT_ATTEMPTS {
            let stream = UnixStream::connect_addr(&addr).map_err(|e| match e.kind() {
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => {
                    ManagerError::ServerGone
                }
                _ => ManagerError::Io(e),
            })?;
            // The server challenges first, as Python's Listener does; then we challenge it.
            let mut handshake = &stream;
            let proved = auth::answer_challenge(&mut handshake, &target.key)
                .and_then(|()| auth::deliver_challenge(&mut handshake, &target.key));
            match proved {
                Ok(()) => {
                    return Ok(Conn {
                        pid,
                        reader: BufReader::with_capacity(64 * 1024, stream),
                    });
                }
                Err(AuthError::Frame(e)) if is_gone(&e) => continue,
                Err(e) => return Err(ManagerError::Auth(e)),
            }
        }
        Err(ManagerError::ServerGone)
    }

    /// Writes the request (std's socket writes use `MSG_NOSIGNAL`: a dead server is `EPIPE`,
    /// not `SIGPIPE`).
    fn send(&self, request: &[u8]) -> Result<(), ManagerError> {
        let mut stream = self.reader.get_ref();
        stream
            .write_all(request)
            .map_err(|e| lost(FrameError::Io(e)))
    }
}

/// The body of a request being built: keys, values and items, each checked against the limit.
pub(crate) struct Body<'a> {
    buf: &'a mut Vec<u8>,
    max: usize,
}

impl Body<'_> {
    /// Appends the encoding of `value`, a `what` ("key", "value", "item").
    ///
    /// # Errors
    ///
    /// [`ManagerError::Encode`], or [`ManagerError::TooLarge`] above the limit.
    pub(crate) fn value<T: Serialize + 'static>(
        &mut self,
        what: &'static str,
        value: &T,
    ) -> Result<(), ManagerError> {
        let start = self.buf.len();
        codec::encode(value, self.buf).map_err(ManagerError::Encode)?;
        let len = self.buf.len() - start;
        if len > self.max {
            self.buf.truncate(start);
            return Err(ManagerError::TooLarge {
                what,
                len: len as u64,
                max: self.max,
            });
        }
        Ok(())
    }

    /// Appends a key, preceded by its length, then a value.
    pub(crate) fn key_value<K: Serialize + 'static, V: Serialize + 'static>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), ManagerError> {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; KEY_LENGTH]);
        self.value("key", key)?;
        let key_len = (self.buf.len() - at - KEY_LENGTH) as u64;
        self.buf[at..at + KEY_LENGTH].copy_from_slice(&key_len.to_be_bytes());
        self.value("value", value)
    }
}

/// The body of a request that has none.
pub(crate) fn no_body(_: &mut Body<'_>) -> Result<(), ManagerError> {
    Ok(())
}

/// The reply being read: a status frame, then the frames the request's reply has.
pub(crate) struct Reply<'a> {
    reader: &'a mut BufReader<UnixStream>,
    buf: &'a mut Vec<u8>,
    max: usize,
}

impl Reply<'_> {
    /// Reads the status frame; returns what follows the status byte of a success.
    fn status(&mut self) -> Result<&[u8], ManagerError> {
        frame::read(self.reader, self.buf, MAX_STATUS).map_err(lost)?;
        match self.buf.split_first() {
            Some((&OK, rest)) => Ok(rest),
            Some((&REFUSED, message)) => Err(ManagerError::Refused(
                String::from_utf8_lossy(message).into_owned(),
            )),
            _ => Err(bad_reply("a status frame of another form")),
        }
    }

    /// A success with nothing more.
    pub(crate) fn done(&mut self) -> Result<(), ManagerError> {
        match self.status()? {
            [] => Ok(()),
            _ => Err(bad_reply("bytes after a plain success")),
        }
    }

    /// A success carrying a number (an object id, a length, a count of items to follow).
    pub(crate) fn number(&mut self) -> Result<u64, ManagerError> {
        let bytes = self.status()?;
        let bytes: [u8; 8] = bytes
            .try_into()
            .map_err(|_| bad_reply("a number of another length"))?;
        Ok(u64::from_be_bytes(bytes))
    }

    /// A success saying whether an item follows.
    pub(crate) fn found(&mut self) -> Result<bool, ManagerError> {
        match self.status()? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(bad_reply("a presence flag of another form")),
        }
    }

    /// Reads the next item's frame and decodes it.
    pub(crate) fn item<T: DeserializeOwned + 'static>(&mut self) -> Result<T, ManagerError> {
        frame::read(self.reader, self.buf, self.max).map_err(lost)?;
        codec::decode(self.buf).map_err(ManagerError::Decode)
    }

    /// A count, then that many items decoded by `each`, collected.
    pub(crate) fn items<T>(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Result<T, ManagerError>,
    ) -> Result<Vec<T>, ManagerError> {
        let count = self.number()?;
        // Memory follows the items that arrive, not the count the server announced.
        let mut items = Vec::with_capacity(count.min(1024) as usize);
        for _ in 0..count {
            items.push(each(self)?);
        }
        Ok(items)
    }
}

/// Whether a failed read or write means that the other end has closed the connection.
fn is_gone(e: &FrameError) -> bool {
    match e {
        FrameError::Closed | FrameError::Truncated { .. } => true,
        FrameError::Io(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        _ => false,
    }
}

/// The error of a request whose connection failed while sending it or reading its reply.
fn lost(e: FrameError) -> ManagerError {
    match e {
        e if is_gone(&e) => ManagerError::ServerGone,
        FrameError::TooLarge { len, max } => ManagerError::TooLarge {
            what: "reply",
            len,
            max,
        },
        FrameError::Io(e) => ManagerError::Io(e),
        other => bad_reply(&other.to_string()),
    }
}

fn too_large(e: FrameError) -> ManagerError {
    match e {
        FrameError::TooLarge { len, max } => ManagerError::TooLarge {
            what: "request",
            len,
            max,
        },
        other => ManagerError::Io(io::Error::other(other)),
    }
}

fn bad_reply(what: &str) -> ManagerError {
    ManagerError::BadReply(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixListener;
    use std::thread;
    use std::time::Duration;

    /// A server that speaks the handshake, then answers the one request of each connection
    /// with the bytes it is given; returns, for each connection but the last, whether the
    /// client closed it.
    fn fake_server(
        name: &str,
        key: &AuthKey,
        replies: Vec<Vec<u8>>,
    ) -> thread::JoinHandle<Vec<bool>> {
        let addr = SocketAddr::from_abstract_name(name).expect("address");
        let listener = UnixListener::bind_addr(&addr).expect("bind");
        let key = key.clone();
        thread::spawn(move || {
            let mut open = Vec::new();
            for reply in replies {
                let (mut stream, _) = listener.accept().expect("accept");
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .expect("timeout");
                auth::deliver_challenge(&mut stream, &key).expect("deliver");
                auth::answer_challenge(&mut stream, &key).expect("answer");
                let mut request = Vec::new();
                frame::read(&mut stream, &mut request, 1 << 20).expect("request");
                stream.write_all(&reply).expect("reply");
                open.push(stream);
            }
            open.pop();
            open.iter()
                .map(|mut s| matches!(s.read(&mut [0u8; 1]), Ok(0)))
                .collect()
        })
    }

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame::write(&mut out, payload, usize::MAX).expect("frame");
        out
    }

    fn encoded<T: Serialize + 'static>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        codec::encode(value, &mut out).expect("encode");
        out
    }

    /// A reply that cannot be taken (over the limit, or of another type) leaves bytes behind
    /// it; the client drops that connection, and its next request, on a new connection, gets
    /// its own reply.
    #[test]
    fn a_reply_not_taken_never_desynchronises_the_next_one() {
        let mut random = [0u8; 8];
        auth::random_bytes(&mut random).expect("random");
        let name = format!("manager-client-test-{:x}", u64::from_ne_bytes(random));
        let key = AuthKey::new(b"test".to_vec());
        let oversized = [framed(&[OK, 1]), framed(&encoded(&vec![7u8; 5000]))].concat();
        let mistyped = [
            framed(&[&[OK][..], &2u64.to_be_bytes()].concat()),
            framed(&encoded(&"not a number".to_string())),
            framed(&encoded(&"another".to_string())),
        ]
        .concat();
        let good = framed(&[OK, 0, 0, 0, 0, 0, 0, 0, 42]);
        let server = fake_server(&name, &key, vec![oversized, mistyped, good]);
        let client = Client::new(Arc::new(Target {
            name,
            key,
            max: 1000,
        }));

        let got = client.call(Op::DictGet, 0, no_body, |reply| {
            reply.found()?;
            reply.item::<Vec<u8>>()
        });
        assert!(
            matches!(
                got,
                Err(ManagerError::TooLarge {
                    what: "reply",
                    len: 5001,
                    max: 1000
                })
            ),
            "{got:?}"
        );
        let got = client.call(Op::ListItems, 0, no_body, |reply| {
            reply.items(|reply| reply.item::<u32>())
        });
        assert!(matches!(got, Err(ManagerError::Decode(_))), "{got:?}");
        let got = client.call(Op::DictLen, 0, no_body, |reply| reply.number());
        assert_eq!(got.expect("its own reply"), 42);
        let closed = server.join().expect("server");
        assert_eq!(
            closed,
            [true, true],
            "the client kept a connection it could not read"
        );
    }
}
