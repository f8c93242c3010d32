//! Shared objects as arguments of a child started by spawn or forkserver: their descriptors
//! travel beside the serialized arguments.
//!
//! Python pickles a process's arguments, and an object that owns an operating-system resource
//! (a queue's pipe, a lock's semaphore) is pickled as a *handle* that the child reopens: its
//! descriptor is duplicated into the child by the resource sharer. Here a shared object's
//! `Serialize` writes a [`SharedFd`]: the descriptor itself is put aside in a list, the value
//! written is its position in that list; the list goes to the child with `SCM_RIGHTS`, and the
//! child's `Deserialize` takes the descriptor back by its position.
//!
//! Outside a process start there is no list to put a descriptor in, so serializing a shared
//! object anywhere else (into a queue, into a file) fails with a clear error, as pickling a
//! `multiprocessing.Queue` fails in Python outside `Process(args=...)`.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use serde::de::{self, Deserializer};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};

/// The most descriptors one start message may carry (Linux accepts 253 per `SCM_RIGHTS`).
pub const MAX_FDS: usize = 250;

thread_local! {
    /// Descriptors put aside by the `Serialize` of shared objects, during a process start.
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
    /// Why the last shared object refused to be serialized (serde formats like postcard keep
    /// only that a custom error happened, not its text).
    static REFUSED: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Descriptors received by a starting child, taken by position by `Deserialize`.
    static SOURCE: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

/// Where serialized descriptors go.
enum Sink {
    /// Duplicates, to send to a child.
    Copies(Vec<OwnedFd>),
    /// Only their numbers in this process, to know which ones a forked child needs.
    Numbers(Vec<RawFd>),
}

impl Sink {
    fn len(&self) -> usize {
        match self {
            Sink::Copies(v) => v.len(),
            Sink::Numbers(v) => v.len(),
        }
    }
}

/// Runs `f` (which serializes a process's arguments) and returns duplicates of the descriptors
/// that shared objects put aside while it ran, in order.
pub(crate) fn collect<R>(f: impl FnOnce() -> R) -> (R, Vec<OwnedFd>) {
    let outer = SINK.with(|s| s.replace(Some(Sink::Copies(Vec::new()))));
    let result = f();
    match SINK.with(|s| s.replace(outer)) {
        Some(Sink::Copies(fds)) => (result, fds),
        _ => (result, Vec::new()),
    }
}

/// Runs `f` (which serializes a process's arguments) and returns the numbers of the
/// descriptors that shared objects hold, without duplicating them.
pub(crate) fn collect_originals<R>(f: impl FnOnce() -> R) -> (R, Vec<RawFd>) {
    let outer = SINK.with(|s| s.replace(Some(Sink::Numbers(Vec::new()))));
    let result = f();
    match SINK.with(|s| s.replace(outer)) {
        Some(Sink::Numbers(fds)) => (result, fds),
        _ => (result, Vec::new()),
    }
}

/// Runs `f` (which deserializes a process's arguments) with `fds` available to the
/// `Deserialize` of shared objects. Descriptors nobody took are closed afterwards.
pub(crate) fn provide<R>(fds: Vec<OwnedFd>, f: impl FnOnce() -> R) -> R {
    let outer = SOURCE.with(|s| s.replace(Some(fds.into_iter().map(Some).collect())));
    let result = f();
    SOURCE.with(|s| s.replace(outer));
    result
}

/// Whether a process's arguments are being serialized right now (on this thread). A handle
/// that carries a secret (a manager's proxy and its authkey) writes it only then, as Python
/// pickles a proxy's authkey only for a process it is spawning.
pub fn within_process_start() -> bool {
    SINK.with(|s| s.borrow().is_some())
}

/// A descriptor that can be an argument of a process start (Python's `reduction.DupFd`).
///
/// Serializing it (during a process start) duplicates the descriptor for the child;
/// deserializing it (in the child) yields the child's copy. Shared objects of this workspace
/// serialize their memory and sockets this way; a type of your own that owns a descriptor can
/// too.
///
/// ```
/// use ipc_common::share::SharedFd;
///
/// // Outside a process start, a descriptor cannot be serialized:
/// let fd = SharedFd(std::fs::File::open("/dev/null")?.into());
/// assert!(serde_json::to_string(&fd).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SharedFd(pub OwnedFd);

impl SharedFd {
    /// Duplicates `fd` (close-on-exec) into a new `SharedFd`.
    ///
    /// # Errors
    ///
    /// Fails if the process is out of descriptors.
    pub fn duplicate(fd: BorrowedFd<'_>) -> io::Result<Self> {
        Ok(Self(fd.try_clone_to_owned()?))
    }
}

impl fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedFd")
            .field(&self.0.as_raw_fd())
            .finish()
    }
}

impl Serialize for SharedFd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        put_aside(self.0.as_fd())
            .map_err(|why| {
                REFUSED.with(|r| *r.borrow_mut() = Some(why.clone()));
                ser::Error::custom(why)
            })?
            .serialize(serializer)
    }
}

/// Why a shared object refused to be serialized on this thread since the last call, if one
/// did: for encoders whose errors drop the text of a custom error.
pub(crate) fn take_refusal() -> Option<String> {
    REFUSED.with(|r| r.borrow_mut().take())
}

impl<'de> Deserialize<'de> for SharedFd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let index = u32::deserialize(deserializer)?;
        take(index).map(SharedFd).map_err(de::Error::custom)
    }
}

/// Puts a duplicate of `fd` aside for the child and returns its position.
fn put_aside(fd: BorrowedFd<'_>) -> Result<u32, String> {
    SINK.with(|sink| {
        let mut sink = sink.borrow_mut();
        let Some(sink) = sink.as_mut() else {
            return Err(
                "a shared object (queue, pipe end, lock, shared memory) can only be \
                        serialized as an argument of a process start (Python: \"should only be \
                        shared between processes through inheritance\")"
                    .to_string(),
            );
        };
        if sink.len() >= MAX_FDS {
            return Err(format!(
                "the arguments of one process start hold more than {MAX_FDS} shared objects"
            ));
        }
        match sink {
            Sink::Copies(list) => list.push(
                fd.try_clone_to_owned()
                    .map_err(|e| format!("cannot duplicate a shared object's descriptor: {e}"))?,
            ),
            Sink::Numbers(list) => list.push(fd.as_raw_fd()),
        }
        Ok(sink.len() as u32 - 1)
    })
}

/// Takes the received descriptor at `index` (each at most once).
fn take(index: u32) -> Result<OwnedFd, String> {
    SOURCE.with(|source| {
        let mut source = source.borrow_mut();
        let list = source.as_mut().ok_or(
            "a shared object can only be deserialized in a child process that received it",
        )?;
        list.get_mut(index as usize)
            .and_then(Option::take)
            .ok_or_else(|| format!("no descriptor {index} came with the process's arguments"))
    })
}

/// Sends `bytes` on the Unix socket `sock`, with `fds` attached to the first byte
/// (`SCM_RIGHTS`). The rest of `bytes` follows as ordinary stream data.
pub(crate) fn send_with_fds(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let mut sent = 0;
    while sent < bytes.len() {
        let iov = [IoSlice::new(&bytes[sent..])];
        let cmsg = [ControlMessage::ScmRights(&raw)];
        let cmsgs: &[ControlMessage<'_>] = if sent == 0 && !raw.is_empty() {
            &cmsg
        } else {
            &[]
        };
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => sent += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Receives exactly `buf.len()` bytes from the Unix socket `sock`, and the descriptors that
/// came with them.
///
/// # Errors
///
/// `UnexpectedEof` if the stream ends first.
pub(crate) fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Vec<OwnedFd>> {
    let mut fds = Vec::new();
    let mut got = 0;
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    while got < buf.len() {
        let mut iov = [IoSliceMut::new(&mut buf[got..])];
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => msg,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(received) = cmsg {
                // SAFETY: the kernel just installed these descriptors in this process for us
                // (SCM_RIGHTS); nothing else owns them.
                fds.extend(
                    received
                        .into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        if msg.bytes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stream ended in the middle of a message",
            ));
        }
        got += msg.bytes;
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn descriptors_travel_by_position() {
        let (a, b) = UnixStream::pair().expect("socketpair");
        let file = std::fs::File::open("/dev/null").expect("open");
        let (json, fds) = collect(|| serde_json::to_string(&(SharedFd(file.into()), 7)));
        let json = json.expect("serialize");
        assert_eq!(json, "[0,7]");
        assert_eq!(fds.len(), 1);
        send_with_fds(a.as_fd(), json.as_bytes(), &fds).expect("send");
        let mut buf = vec![0u8; json.len()];
        let got = recv_with_fds(b.as_fd(), &mut buf).expect("recv");
        assert_eq!(got.len(), 1);
        let (fd, n): (SharedFd, i32) =
            provide(got, || serde_json::from_slice(&buf)).expect("deserialize");
        assert_eq!(n, 7);
        assert!(fd.0.as_raw_fd() > 2);
        // A position that did not come is an error, and so is taking one twice.
        let again: Result<SharedFd, _> = provide(Vec::new(), || serde_json::from_str("0"));
        assert!(again.is_err());
    }

    #[test]
    fn outside_a_start_a_descriptor_cannot_be_serialized() {
        let file = std::fs::File::open("/dev/null").expect("open");
        let err = serde_json::to_string(&SharedFd(file.into())).expect_err("no sink");
        assert!(err.to_string().contains("argument of a process start"));
    }
}
