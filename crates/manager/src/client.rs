//! The client side: one authenticated connection per thread and server, opened on first use.
//!
//! As in Python, whose proxies share a connection per thread (`BaseProxy._tls`), every proxy
//! of one manager used on one thread talks over one connection, and each thread has its own.
//! The server serves each connection on a thread of its own, so a connection *is* a client to
//! it: the owner of an `RLock`, the holder of a `Lock` it releases if the connection closes.
//! A connection is opened on a thread's first request: the client answers the server's
//! challenge, then challenges the server in turn, so that it never talks to a process that
//! does not know the key (an impostor that took the address of a dead server, say). A
//! connection made in another process (copied by `fork`) is never used: each process opens
//! its own, so that no reply goes to the wrong process. Connections end with their thread.
//!
//! A request is encoded whole before anything is sent, so a value that cannot be encoded or is
//! over the limit is refused with nothing on the wire. Once the request is sent, the reply is
//! read whole; when that fails halfway (a reply over the limit, one that does not decode, a
//! broken connection) the connection is dropped, and the next request opens a new one, so
//! that no leftover bytes of a reply are ever read as the next reply.

use std::cell::RefCell;
use std::io::{self, BufReader, Write};
use std::mem;
use std::sync::Arc;
use std::time::Duration;

use ipc_common::auth::{self, AuthError, AuthKey};
use ipc_common::codec;
use ipc_common::frame::{self, FrameError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ManagerError;
use crate::address::{Address, Stream};
use crate::protocol::{self, ERROR, ErrorKind, FIELD_LENGTH, MAX_STATUS, OK, Op, REFUSED};
use crate::proxy::reference;

/// How many times a connection is tried when the server closes it during the handshake (it
/// gave up waiting for a client that was stopped, say) before the server counts as gone.
const CONNECT_ATTEMPTS: usize = 3;

/// A buffer that grew above this is given back after the request.
const KEEP_BUFFER: usize = 1 << 20;

/// How long past a request's own timeout its reply is waited for, before the server counts
/// as unresponsive (stopped, say). Generous: a busy machine must not make a slow reply look
/// like a dead server.
pub(crate) const REPLY_GRACE: Duration = Duration::from_secs(10);

/// Where the server is and what it takes to talk to it; shared by a manager's proxies.
#[derive(Debug)]
pub(crate) struct Target {
    /// Where the server listens.
    pub(crate) address: Address,
    /// The key both sides prove they know.
    pub(crate) key: AuthKey,
    /// The largest key, value or item, encoded.
    pub(crate) max: usize,
}

impl Target {
    /// Whether a connection made for `other` may serve this target (same server, same key).
    fn same_server(&self, address: &Address, key: &AuthKey) -> bool {
        self.address == *address && self.key.as_bytes() == key.as_bytes()
    }
}

/// A handle that sends requests to a server over this thread's connection to it.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    target: Arc<Target>,
}

/// What each thread keeps: its connections (one per server), and a buffer for requests.
#[derive(Default)]
struct Local {
    conns: Vec<Conn>,
    buf: Vec<u8>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// An open, authenticated connection, the process that opened it, and whom it talks to.
struct Conn {
    pid: u32,
    address: Address,
    key: AuthKey,
    reader: BufReader<Stream>,
}

impl Client {
    pub(crate) fn new(target: Arc<Target>) -> Client {
        Client { target }
    }

    pub(crate) fn target(&self) -> &Arc<Target> {
        &self.target
    }

    /// Sends one request, whose fields `body` writes (see [`Body`]), and reads its reply with
    /// `reply`.
    pub(crate) fn call<T>(
        &self,
        op: Op,
        id: u32,
        body: impl FnOnce(&mut Body<'_>) -> Result<(), ManagerError>,
        reply: impl FnOnce(&mut Reply<'_>) -> Result<T, ManagerError>,
    ) -> Result<T, ManagerError> {
        self.call_waiting(op, id, None, body, reply)
    }

    /// As [`call`](Self::call), for a request that may wait up to `timeout` in the server
    /// (`None`: for ever). Its reply is waited for [`REPLY_GRACE`] longer than that, after
    /// which the server counts as unresponsive and the connection is dropped.
    pub(crate) fn call_waiting<T>(
        &self,
        op: Op,
        id: u32,
        timeout: Option<Duration>,
        body: impl FnOnce(&mut Body<'_>) -> Result<(), ManagerError>,
        reply: impl FnOnce(&mut Reply<'_>) -> Result<T, ManagerError>,
    ) -> Result<T, ManagerError> {
        let _request = ipc_common::trace::span("manager", "request");
        // The thread's buffer, unless the thread is ending (its locals are being dropped).
        let mut buf = LOCAL
            .try_with(|l| mem::take(&mut l.borrow_mut().buf))
            .unwrap_or_default();
        let result = self.request(&mut buf, op, id, body).and_then(|()| {
            let mut conn = self.checkout()?;
            let result = conn.exchange(&mut buf, timeout, &self.target, reply);
            if result.as_ref().err().is_none_or(keeps_connection) {
                checkin(conn);
            }
            result
        });
        if buf.capacity() <= KEEP_BUFFER {
            let _ = LOCAL.try_with(|l| l.borrow_mut().buf = buf);
        }
        result
    }

    /// Encodes the request into `buf`.
    fn request(
        &self,
        buf: &mut Vec<u8>,
        op: Op,
        id: u32,
        fill: impl FnOnce(&mut Body<'_>) -> Result<(), ManagerError>,
    ) -> Result<(), ManagerError> {
        buf.clear();
        let mut body = Body {
            head: open_frame(buf),
            buf,
            max: self.target.max,
            count_at: None,
            count: 0,
        };
        body.buf.push(op as u8);
        body.buf.extend_from_slice(&id.to_be_bytes());
        fill(&mut body)?;
        body.finish()
    }

    /// This thread's connection to the server, taken out of the thread's list (so that a
    /// request made while this one runs opens its own), or a new one.
    fn checkout(&self) -> Result<Conn, ManagerError> {
        let pid = std::process::id();
        let (address, key) = (&self.target.address, &self.target.key);
        let found = LOCAL.try_with(|l| {
            let conns = &mut l.borrow_mut().conns;
            // Copies made by fork belong to the parent: closing ours leaves its socket open.
            conns.retain(|c| c.pid == pid);
            let at = conns
                .iter()
                .position(|c| self.target.same_server(&c.address, &c.key));
            match at {
                Some(at) => Some(conns.swap_remove(at)),
                None => {
                    // Before opening another, close those whose server is gone.
                    conns.retain(|c| !c.reader.get_ref().peer_gone());
                    None
                }
            }
        });
        match found {
            Ok(Some(conn)) => Ok(conn),
            _ => Conn::connect(address, key, pid),
        }
    }
}

/// Puts a connection back in the thread's list (unless the thread is ending).
fn checkin(conn: Conn) {
    let _ = LOCAL.try_with(|l| l.borrow_mut().conns.push(conn));
}

/// Closes this thread's connection to the server at `address` (the manager that started it
/// is stopping it).
pub(crate) fn forget(address: &Address) {
    let _ = LOCAL.try_with(|l| l.borrow_mut().conns.retain(|c| c.address != *address));
}

/// Whether a request that failed with `e` left its connection ready for the next one: the
/// reply was one whole status frame.
fn keeps_connection(e: &ManagerError) -> bool {
    use ManagerError::*;
    matches!(
        e,
        Refused(_)
            | KeyNotFound(_)
            | IndexOutOfRange(_)
            | NotInList(_)
            | NoAttribute(_)
            | Empty
            | Full
            | NotHeld(_)
            | TooManyReleases(_)
            | BrokenBarrier
            | Method(_)
            | NoMemory(_)
    )
}

impl Conn {
    /// Connects and authenticates; a server that closes the connection during the handshake
    /// is tried again, and counts as gone if it cannot be reached.
    fn connect(address: &Address, key: &AuthKey, pid: u32) -> Result<Conn, ManagerError> {
        for _ in 0..CONNECT_ATTEMPTS {
            let stream = Stream::connect(address).map_err(|e| match e.kind() {
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => {
                    ManagerError::ServerGone
                }
                _ => ManagerError::Io(e),
            })?;
            // The server challenges first, as Python's Listener does; then we challenge it.
            let mut handshake = &stream;
            let proved = auth::answer_challenge(&mut handshake, key)
                .and_then(|()| auth::deliver_challenge(&mut handshake, key));
            match proved {
                Ok(()) => {
                    return Ok(Conn {
                        pid,
                        address: address.clone(),
                        key: key.clone(),
                        reader: BufReader::with_capacity(64 * 1024, stream),
                    });
                }
                Err(AuthError::Frame(e)) if is_gone(&e) => continue,
                Err(e) => return Err(ManagerError::Auth(e)),
            }
        }
        Err(ManagerError::ServerGone)
    }

    /// Sends the request in `buf` and reads the reply (into `buf`, which is then free).
    fn exchange<T>(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Option<Duration>,
        target: &Arc<Target>,
        reply: impl FnOnce(&mut Reply<'_>) -> Result<T, ManagerError>,
    ) -> Result<T, ManagerError> {
        let stream = self.reader.get_ref();
        (&*stream)
            .write_all(buf)
            .map_err(|e| lost(FrameError::Io(e)))?;
        let patience = timeout.map(|t| t.saturating_add(REPLY_GRACE));
        if patience.is_some() {
            stream.set_read_timeout(patience)?;
        }
        let result = reply(&mut Reply {
            reader: &mut self.reader,
            buf,
            target,
        });
        if patience.is_some() && result.as_ref().err().is_none_or(keeps_connection) {
            // The connection is kept (the reply was read whole, a failure too): its next
            // request may wait for ever.
            self.reader.get_ref().set_read_timeout(None)?;
        }
        result
    }
}

/// Opens a frame at the end of `buf` (room for a short header) and returns where it starts.
fn open_frame(buf: &mut Vec<u8>) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    at
}

/// Writes the header of the frame opened at `at`, whose payload runs to the end of `buf`; the
/// long form (above `i32::MAX`) needs 8 more bytes, made room for by moving the payload.
fn close_frame(buf: &mut Vec<u8>, at: usize) {
    let len = buf.len() - at - 4;
    match i32::try_from(len) {
        Ok(short) => buf[at..at + 4].copy_from_slice(&short.to_be_bytes()),
        Err(_) => {
            buf[at..at + 4].copy_from_slice(&(-1i32).to_be_bytes());
            buf.splice(at + 4..at + 4, (len as u64).to_be_bytes());
        }
    }
}

/// The request being built: the head's fields, then the items of a sequence, each checked
/// against the limit.
pub(crate) struct Body<'a> {
    buf: &'a mut Vec<u8>,
    max: usize,
    /// Where the head frame starts.
    head: usize,
    /// Where the sequence's count field is, once the sequence has begun.
    count_at: Option<usize>,
    /// How many items the sequence has.
    count: u64,
}

impl Body<'_> {
    /// A field holding the encoding of `value`, a `what` ("key", "value", "item"), or, once a
    /// sequence has begun, an item frame.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Encode`], or [`ManagerError::TooLarge`] above the limit.
    pub(crate) fn value<T: Serialize + 'static>(
        &mut self,
        what: &'static str,
        value: &T,
    ) -> Result<(), ManagerError> {
        let at = self.open();
        codec::encode(value, self.buf).map_err(ManagerError::Encode)?;
        self.close(at, what)
    }

    /// A field of raw bytes (a name, a method, a type's id), at most the limit.
    pub(crate) fn bytes(&mut self, what: &'static str, bytes: &[u8]) -> Result<(), ManagerError> {
        let at = self.open();
        self.buf.extend_from_slice(bytes);
        self.close(at, what)
    }

    /// A field holding a number.
    pub(crate) fn number(&mut self, n: u64) -> Result<(), ManagerError> {
        self.bytes("number", &n.to_be_bytes())
    }

    /// A field holding an index, which may be negative (counted from the end).
    pub(crate) fn index(&mut self, i: i64) -> Result<(), ManagerError> {
        self.bytes("index", &i.to_be_bytes())
    }

    /// A field holding an index or nothing (Python's `None` in a slice).
    pub(crate) fn optional_index(&mut self, i: Option<i64>) -> Result<(), ManagerError> {
        match i {
            Some(i) => self.index(i),
            None => self.bytes("index", &[]),
        }
    }

    /// A field holding a timeout (`None`: for ever).
    pub(crate) fn timeout(&mut self, timeout: Option<Duration>) -> Result<(), ManagerError> {
        self.number(protocol::timeout_field(timeout))
    }

    /// Ends the head with the sequence's count; the values given from now on are its items.
    pub(crate) fn sequence(&mut self) -> Result<(), ManagerError> {
        let at = self.buf.len() + FIELD_LENGTH;
        self.number(0)?;
        self.end_head()?;
        self.count_at = Some(at);
        Ok(())
    }

    /// Appends the items of a sequence (after [`sequence`](Self::sequence)).
    pub(crate) fn values<T: Serialize + 'static>(
        &mut self,
        what: &'static str,
        items: impl IntoIterator<Item = impl std::borrow::Borrow<T>>,
    ) -> Result<(), ManagerError> {
        items
            .into_iter()
            .try_for_each(|item| self.value(what, item.borrow()))
    }

    fn end_head(&mut self) -> Result<(), ManagerError> {
        let len = self.buf.len() - self.head - 4;
        let max = protocol::max_request(self.max);
        if len > max {
            return Err(ManagerError::TooLarge {
                what: "request",
                len: len as u64,
                max,
            });
        }
        close_frame(self.buf, self.head);
        Ok(())
    }

    /// Opens a field (in the head) or an item frame (in a sequence).
    fn open(&mut self) -> usize {
        let at = self.buf.len();
        let room = if self.count_at.is_some() {
            4
        } else {
            FIELD_LENGTH
        };
        self.buf.resize(at + room, 0);
        at
    }

    /// Closes the field or item frame opened at `at`, refusing it above the limit.
    fn close(&mut self, at: usize, what: &'static str) -> Result<(), ManagerError> {
        let room = if self.count_at.is_some() {
            4
        } else {
            FIELD_LENGTH
        };
        let len = self.buf.len() - at - room;
        if len > self.max {
            self.buf.truncate(at);
            return Err(ManagerError::TooLarge {
                what,
                len: len as u64,
                max: self.max,
            });
        }
        if self.count_at.is_some() {
            close_frame(self.buf, at);
            self.count += 1;
        } else {
            self.buf[at..at + FIELD_LENGTH].copy_from_slice(&(len as u64).to_be_bytes());
        }
        Ok(())
    }

    /// Closes the head (or writes the sequence's count).
    fn finish(self) -> Result<(), ManagerError> {
        match self.count_at {
            Some(at) => {
                self.buf[at..at + 8].copy_from_slice(&self.count.to_be_bytes());
                Ok(())
            }
            None => {
                let mut this = self;
                this.end_head()
            }
        }
    }
}

/// The body of a request that has none.
pub(crate) fn no_body(_: &mut Body<'_>) -> Result<(), ManagerError> {
    Ok(())
}

/// The reply being read: a status frame, then the frames the request's reply has.
pub(crate) struct Reply<'a> {
    reader: &'a mut BufReader<Stream>,
    buf: &'a mut Vec<u8>,
    /// The server that replies: a proxy found in a value refers to it (see
    /// [`reference`]).
    target: &'a Arc<Target>,
}

impl Reply<'_> {
    /// Reads the status frame; returns what follows the status byte of a success.
    fn status(&mut self) -> Result<&[u8], ManagerError> {
        frame::read(self.reader, self.buf, MAX_STATUS).map_err(lost)?;
        match self.buf.split_first() {
            Some((&OK, rest)) => Ok(rest),
            Some((&REFUSED, message)) => Err(ManagerError::Refused(text(message))),
            Some((&ERROR, rest)) => Err(failure(rest)),
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

    /// A success carrying `N` numbers.
    pub(crate) fn numbers<const N: usize>(&mut self) -> Result<[u64; N], ManagerError> {
        let bytes = self.status()?;
        if bytes.len() != 8 * N {
            return Err(bad_reply("numbers of another length"));
        }
        let mut numbers = [0; N];
        for (n, chunk) in numbers.iter_mut().zip(bytes.chunks_exact(8)) {
            *n = u64::from_be_bytes(chunk.try_into().unwrap_or_default());
        }
        Ok(numbers)
    }

    /// A success carrying a number (an object id, a length, a count).
    pub(crate) fn number(&mut self) -> Result<u64, ManagerError> {
        Ok(self.numbers::<1>()?[0])
    }

    /// A length, as a `usize`.
    pub(crate) fn length(&mut self) -> Result<usize, ManagerError> {
        let n = self.number()?;
        usize::try_from(n).map_err(|_| ManagerError::BadReply(format!("a length of {n}")))
    }

    /// A success carrying a yes or a no (for a lookup: whether the value follows).
    pub(crate) fn flag(&mut self) -> Result<bool, ManagerError> {
        match self.status()? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(bad_reply("a flag of another form")),
        }
    }

    /// A lookup's value, or `None` if the server found none.
    pub(crate) fn found<T: DeserializeOwned + 'static>(
        &mut self,
    ) -> Result<Option<T>, ManagerError> {
        match self.flag()? {
            true => self.item().map(Some),
            false => Ok(None),
        }
    }

    /// Reads the next item's frame and decodes it; a proxy in it that refers to this server
    /// uses this connection's key.
    pub(crate) fn item<T: DeserializeOwned + 'static>(&mut self) -> Result<T, ManagerError> {
        frame::read(self.reader, self.buf, self.target.max).map_err(lost)?;
        reference::decoding_from(self.target, || codec::decode(self.buf))
            .map_err(ManagerError::Decode)
    }

    /// A count, then that many items decoded by `each`, collected.
    pub(crate) fn items<T>(
        &mut self,
        each: impl FnMut(&mut Self) -> Result<T, ManagerError>,
    ) -> Result<Vec<T>, ManagerError> {
        let count = self.number()?;
        self.counted(count, each)
    }

    /// `count` items decoded by `each`, collected.
    pub(crate) fn counted<T>(
        &mut self,
        count: u64,
        mut each: impl FnMut(&mut Self) -> Result<T, ManagerError>,
    ) -> Result<Vec<T>, ManagerError> {
        // Memory follows the items that arrive, not the count the server announced.
        let mut items = Vec::with_capacity(count.min(1024) as usize);
        for _ in 0..count {
            items.push(each(self)?);
        }
        Ok(items)
    }
}

/// A message of the server, as text.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The error an `[ERROR][kind][message]` status stands for.
fn failure(rest: &[u8]) -> ManagerError {
    let Some((&kind, message)) = rest.split_first() else {
        return bad_reply("an error without its kind");
    };
    let message = text(message);
    match ErrorKind::from_byte(kind) {
        Some(ErrorKind::Key) => ManagerError::KeyNotFound(message),
        Some(ErrorKind::Index) => ManagerError::IndexOutOfRange(message),
        Some(ErrorKind::NotInList) => ManagerError::NotInList(message),
        Some(ErrorKind::NoAttribute) => ManagerError::NoAttribute(message),
        Some(ErrorKind::Empty) => ManagerError::Empty,
        Some(ErrorKind::Full) => ManagerError::Full,
        Some(ErrorKind::NotHeld) => ManagerError::NotHeld(message),
        Some(ErrorKind::TooManyReleases) => ManagerError::TooManyReleases(message),
        Some(ErrorKind::BrokenBarrier) => ManagerError::BrokenBarrier,
        Some(ErrorKind::Method) => ManagerError::Method(message),
        Some(ErrorKind::NoMemory) => ManagerError::NoMemory(message),
        None => bad_reply(&format!("an error of unknown kind {kind}")),
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
        FrameError::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            ManagerError::Unresponsive(REPLY_GRACE)
        }
        FrameError::TooLarge { len, max } => ManagerError::TooLarge {
            what: "reply",
            len,
            max,
        },
        FrameError::Io(e) => ManagerError::Io(e),
        other => bad_reply(&other.to_string()),
    }
}

fn bad_reply(what: &str) -> ManagerError {
    ManagerError::BadReply(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    use std::thread;

    /// A server that speaks the handshake, then answers the first request of each connection
    /// with the bytes it is given (the last connection's bytes answer two requests: it waits
    /// for the second before closing); returns, for each connection but the last, whether
    /// the client closed it.
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
            if let Some(mut last) = open.pop() {
                let mut request = Vec::new();
                frame::read(&mut last, &mut request, 1 << 20).expect("a second request");
            }
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
    /// its own reply. A typed failure is one whole frame: the connection is kept.
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
        let typed = [
            framed(
                &[
                    &[ERROR, ErrorKind::Index as u8][..],
                    b"list index out of range",
                ]
                .concat(),
            ),
            framed(&[OK, 0, 0, 0, 0, 0, 0, 0, 42]),
        ]
        .concat();
        let server = fake_server(&name, &key, vec![oversized, mistyped, typed]);
        let client = Client::new(Arc::new(Target {
            address: Address::Unix(name),
            key,
            max: 1000,
        }));

        let got = client.call(Op::DictGet, 0, no_body, |reply| reply.found::<Vec<u8>>());
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
        let got = client.call(Op::ListGet, 0, no_body, |reply| reply.number());
        assert!(
            matches!(&got, Err(ManagerError::IndexOutOfRange(m)) if m == "list index out of range"),
            "{got:?}"
        );
        let got = client.call(Op::DictLen, 0, no_body, |reply| reply.number());
        assert_eq!(got.expect("its own reply, on the same connection"), 42);
        let closed = server.join().expect("server");
        assert_eq!(
            closed,
            [true, true],
            "the client kept a connection it could not read"
        );
    }

    /// A timed request that fails as Python's raises (`queue.Empty`) keeps its connection,
    /// which then waits for ever again: the timeout was only that request's.
    #[test]
    fn a_timed_request_leaves_no_timeout_on_its_connection() {
        let mut random = [0u8; 8];
        auth::random_bytes(&mut random).expect("random");
        let name = format!("manager-client-test-{:x}", u64::from_ne_bytes(random));
        let key = AuthKey::new(b"test".to_vec());
        let replies = [
            framed(&[ERROR, ErrorKind::Empty as u8]),
            framed(&[OK, 0, 0, 0, 0, 0, 0, 0, 7]),
        ]
        .concat();
        let server = fake_server(&name, &key, vec![replies]);
        let client = Client::new(Arc::new(Target {
            address: Address::Unix(name),
            key,
            max: 1000,
        }));
        let got = client.call_waiting(
            Op::QueueGet,
            0,
            Some(Duration::from_millis(1)),
            no_body,
            |reply| reply.done(),
        );
        assert!(matches!(got, Err(ManagerError::Empty)), "{got:?}");
        let timeout = LOCAL.with(|l| match l.borrow().conns.as_slice() {
            [conn] => conn.reader.get_ref().as_unix().map(|s| s.read_timeout()),
            _ => None,
        });
        assert!(matches!(timeout, Some(Ok(None))), "{timeout:?}");
        let got = client.call(Op::QueueSize, 0, no_body, |reply| reply.number());
        assert_eq!(got.expect("the next reply, on the same connection"), 7);
        server.join().expect("server");
    }

    /// Frames of any length get the right header, the long form included.
    #[test]
    fn frames_are_closed_with_short_and_long_headers() {
        let mut buf = vec![9];
        let at = open_frame(&mut buf);
        buf.extend_from_slice(b"abc");
        close_frame(&mut buf, at);
        assert_eq!(buf, [9, 0, 0, 0, 3, b'a', b'b', b'c']);
        let mut read = Vec::new();
        frame::read(&mut &buf[1..], &mut read, 10).expect("read");
        assert_eq!(read, b"abc");
    }
}
