//! Frames on a pipe or a socket: the byte-level half of every end, without message types.
//!
//! [`Incoming`] reads frames from a [`Source`] (a pipe's read end or a socket) and [`Outgoing`]
//! writes them to a [`Sink`], in Python's format (see [`ipc_common::frame`]). What they add to
//! that module is what makes a connection fast and safe: small reads are buffered, large
//! payloads are read straight into their destination and written straight from their source,
//! a pipe's buffer grows for large messages, writes never raise `SIGPIPE`, and a refused or
//! broken frame never leaves the stream silently out of step.

use std::fs;
use std::io::{self, BufRead, BufReader, IoSlice, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::OnceLock;

use bytemuck::Pod;
use ipc_common::frame::{self, FrameError, MAX_HEADER};
use ipc_common::share::SharedFd;
use ipc_common::trace::End;
use nix::fcntl::{FcntlArg, fcntl};

use crate::PipeError;
use crate::transport::{Kind, Sink, Source};

/// The read buffer of an [`Incoming`]: small messages are read many at a time through it;
/// a payload is copied through it only for the part that came with its header.
const READ_BUFFER: usize = 16 * 1024;

/// A vector of numbers read from a peer is not given all its memory at once past this size:
/// it grows as its bytes arrive, so a peer that announces a large message and sends little
/// costs little ([`frame::read_payload`] does the same for bytes).
const GROW_STEP: usize = 64 << 20;

/// The reusable buffers of both ends always keep up to this much memory between messages.
/// A larger buffer is kept only while the messages that use it need at least a quarter of it
/// (see [`keep`]).
const KEEP: usize = 1 << 20;

/// A pipe's buffer on Linux until it is changed.
const DEFAULT_PIPE_SIZE: usize = 64 * 1024;

/// The largest buffer asked for a pipe, and so the most that one write system call carries.
const BIG_PIPE_SIZE: usize = 1 << 20;

/// The reading half of a connection: frames from a pipe's read end or a socket.
///
/// State beyond the pipe: `pending` is what is left to read of the payload of the frame whose
/// header was read last; `broken` is set once the stream is out of step.
pub(crate) struct Incoming {
    reader: BufReader<Source>,
    /// What is left to read of the current frame's payload; `None` between frames.
    pending: Option<usize>,
    /// The current frame's payload length, for [`PipeError::Truncated`].
    frame_len: usize,
    /// Set when bytes that are not frames were met: every later receive fails.
    broken: bool,
    /// Reused payload buffer. Its length is the largest payload read into it since it was
    /// last freed; only the first bytes, those of the current payload, mean anything.
    scratch: Vec<u8>,
    max: usize,
    /// Messages received whole on this end (their numbers in a recorded trace).
    received: u64,
}

impl Incoming {
    pub(crate) fn new(source: Source) -> Self {
        Incoming {
            reader: BufReader::with_capacity(READ_BUFFER, source),
            pending: None,
            frame_len: 0,
            broken: false,
            scratch: Vec::new(),
            max: frame::DEFAULT_MAX_MESSAGE,
            received: 0,
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.reader.get_ref().as_fd()
    }

    /// What this half reads from.
    pub(crate) fn kind(&self) -> Kind {
        self.reader.get_ref().kind()
    }

    /// The descriptor, to pass to a child: refused while part of a message has been read ahead
    /// (those bytes live in this process's buffer and cannot travel with the descriptor).
    pub(crate) fn share(&self) -> Result<SharedFd, String> {
        if self.ready_now() {
            return Err(
                "a connection with a message partly read cannot be passed to a child".into(),
            );
        }
        SharedFd::duplicate(self.fd()).map_err(|e| e.to_string())
    }

    /// Whether a receive would return without reading the pipe: bytes are buffered, a header
    /// is pending, or the stream is broken (the receive fails at once).
    pub(crate) fn ready_now(&self) -> bool {
        !self.reader.buffer().is_empty() || self.pending.is_some() || self.broken
    }

    /// The payload length of the next frame, reading its header unless it was read already.
    pub(crate) fn next_len(&mut self) -> Result<usize, PipeError> {
        if self.broken {
            return Err(PipeError::Broken);
        }
        if let Some(len) = self.pending {
            return Ok(len);
        }
        match frame::read_header(&mut self.reader, self.max) {
            Ok(len) => {
                self.pending = Some(len);
                self.frame_len = len;
                Ok(len)
            }
            // The end of the stream, at a frame boundary or inside a header: every later
            // receive sees it too, so nothing can be read out of step.
            Err(e @ (FrameError::Closed | FrameError::Truncated { .. })) => Err(e.into()),
            // A refused length, an I/O error: where the next frame starts is unknown.
            Err(e) => {
                self.broken = true;
                Err(e.into())
            }
        }
    }

    /// If the pending payload starts with `prefix`, consumes the prefix and returns true;
    /// otherwise leaves the payload whole and returns false. It looks only at bytes already
    /// read ahead, reading more only if none are (the header's read usually brought some).
    pub(crate) fn skip_prefix(&mut self, prefix: &[u8]) -> Result<bool, PipeError> {
        let Some(len) = self.pending.filter(|&len| len >= prefix.len()) else {
            return Ok(false);
        };
        let ahead = loop {
            match self.reader.fill_buf() {
                Ok(ahead) => break ahead,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.broken = true;
                    return Err(PipeError::Io(e));
                }
            }
        };
        if !ahead.starts_with(prefix) {
            return Ok(false);
        }
        self.reader.consume(prefix.len());
        self.pending = Some(len - prefix.len());
        Ok(true)
    }

    /// Reads the pending payload into `dest`, whose length must be the payload's: what was
    /// read ahead first, then straight from the pipe.
    pub(crate) fn read_into(&mut self, dest: &mut [u8]) -> Result<(), PipeError> {
        debug_assert_eq!(self.pending, Some(dest.len()));
        let read = read_exactly(&mut self.reader, dest);
        self.end_payload(read)
    }

    /// Reads the pending payload into a new vector.
    pub(crate) fn read_vec(&mut self, len: usize) -> Result<Vec<u8>, PipeError> {
        let mut payload = Vec::new();
        self.read_payload(len, &mut payload)?;
        Ok(payload)
    }

    /// Reads the pending payload, `len` bytes of whole items, straight into a new vector of
    /// numbers. The vector grows no faster than the bytes arrive past [`GROW_STEP`].
    pub(crate) fn read_numbers<N: Pod>(&mut self, len: usize) -> Result<Vec<N>, PipeError> {
        debug_assert_eq!(self.pending, Some(len));
        let size = size_of::<N>();
        let mut items = Vec::new();
        let mut got = 0;
        let read = loop {
            if got == len {
                break Ok(());
            }
            // Whole items: `GROW_STEP`, `got` and `len` are multiples of `size`.
            let end = len.min(GROW_STEP.max(2 * got));
            if items.is_empty() {
                // Zeroed memory from the allocator: for a large vector, fresh pages that
                // the kernel has zeroed, with no pass to clear them.
                items = vec![N::zeroed(); end / size];
            } else {
                items.resize(end / size, N::zeroed());
            }
            let dest = &mut bytemuck::cast_slice_mut::<N, u8>(&mut items)[got..end];
            match read_exactly(&mut self.reader, dest) {
                Ok(()) => got = end,
                Err(FrameError::Truncated { got: more, .. }) => {
                    break Err(FrameError::Truncated {
                        expected: len,
                        got: got + more,
                    });
                }
                Err(e) => break Err(e),
            }
        };
        self.end_payload(read)?;
        Ok(items)
    }

    /// Reads the pending payload into the reused buffer and hands it to `use_payload`.
    pub(crate) fn with_payload<R>(
        &mut self,
        len: usize,
        use_payload: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, PipeError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = self
            .read_payload(len, &mut scratch)
            .map(|()| use_payload(&scratch));
        if keep(scratch.capacity(), len) {
            self.scratch = scratch;
        }
        result
    }

    /// Reads the pending payload of `len` bytes into `payload`, replacing what it held, with
    /// [`frame::read_payload`]: what was read ahead first, then straight from the pipe into
    /// the vector's spare room, with no pass to clear that memory first. The vector grows
    /// no faster than the bytes arrive past 64 MiB.
    fn read_payload(&mut self, len: usize, payload: &mut Vec<u8>) -> Result<(), PipeError> {
        debug_assert_eq!(self.pending, Some(len));
        let read = frame::read_payload(&mut self.reader, len, payload);
        self.end_payload(read)
    }

    /// Ends the read of the pending payload. The end of the stream inside it is `Truncated`,
    /// counted from the frame's start (a prefix may have been read before), and later
    /// receives find the end too (`Closed`); an I/O error leaves the stream out of step.
    fn end_payload(&mut self, read: Result<(), FrameError>) -> Result<(), PipeError> {
        let left = self.pending.take().unwrap_or(0);
        match read {
            Ok(()) => {
                self.received += 1;
                trace_message(self.fd(), End::Received, self.received, self.frame_len);
                Ok(())
            }
            Err(FrameError::Truncated { got, .. }) => Err(PipeError::Truncated {
                expected: self.frame_len,
                got: self.frame_len - left + got,
            }),
            Err(e) => {
                self.broken = true;
                Err(e.into())
            }
        }
    }

    /// How many bytes are buffered (for the `Debug` output).
    pub(crate) fn buffered(&self) -> usize {
        self.reader.buffer().len()
    }
}

/// Fills `dest` from `reader`; the end of the stream before it is full is
/// [`FrameError::Truncated`].
fn read_exactly<R: Read>(reader: &mut R, dest: &mut [u8]) -> Result<(), FrameError> {
    let mut got = 0;
    while got < dest.len() {
        match reader.read(&mut dest[got..]) {
            Ok(0) => {
                return Err(FrameError::Truncated {
                    expected: dest.len(),
                    got,
                });
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(())
}

/// The writing half of a connection: frames to a pipe's write end or a socket.
pub(crate) struct Outgoing {
    writer: Sink,
    /// Reused frame buffer for encoded messages: [`MAX_HEADER`] bytes of room, then the
    /// payload (see [`frame::begin`]).
    buf: Vec<u8>,
    max: usize,
    /// The pipe's buffer size as last set (or the default); grown for large frames. Unused
    /// for a socket.
    pipe_size: usize,
    /// Messages sent whole from this end (their numbers in a recorded trace).
    sent: u64,
}

impl Outgoing {
    pub(crate) fn new(writer: Sink) -> Self {
        Outgoing {
            writer,
            buf: Vec::new(),
            max: frame::DEFAULT_MAX_MESSAGE,
            pipe_size: DEFAULT_PIPE_SIZE,
            sent: 0,
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.writer.as_fd()
    }

    /// What this half writes to.
    pub(crate) fn kind(&self) -> Kind {
        self.writer.kind()
    }

    /// The descriptor, to pass to a child.
    pub(crate) fn share(&self) -> Result<SharedFd, String> {
        SharedFd::duplicate(self.fd()).map_err(|e| e.to_string())
    }

    /// Sends one frame whose payload `encode` appends to a buffer.
    pub(crate) fn send_encoded(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), PipeError>,
    ) -> Result<(), PipeError> {
        let mut buf = std::mem::take(&mut self.buf);
        frame::begin(&mut buf);
        let sent = encode(&mut buf).and_then(|()| {
            let whole = frame::finish(&mut buf, self.max)?;
            self.write_frame(&[whole])
        });
        if keep(buf.capacity(), buf.len()) {
            self.buf = buf;
        }
        sent
    }

    /// Sends one frame whose payload is `prefix` then `bytes`, written from where they lie.
    pub(crate) fn send_payload(&mut self, prefix: &[u8], bytes: &[u8]) -> Result<(), PipeError> {
        let len = prefix.len() + bytes.len();
        if len > self.max {
            return Err(PipeError::TooLarge {
                len: len as u64,
                max: self.max,
            });
        }
        let (header, start) = header(len);
        self.write_frame(&[&header[start..], prefix, bytes])
    }

    /// Writes a frame given as up to three parts (header, payload pieces), all of it or an
    /// error.
    ///
    /// On a pipe, a frame of at most `PIPE_BUF` (4096) bytes goes out in one system call, so
    /// the kernel writes it atomically: processes sharing one end may send such frames without
    /// a lock. A larger one goes out in steps of at most [`BIG_PIPE_SIZE`], straight from its
    /// parts (`writev`, or `sendmsg` on a socket: no copy), after a pipe's buffer is grown
    /// towards its size. A socket makes no promise of atomicity at any size.
    fn write_frame(&mut self, parts: &[&[u8]]) -> Result<(), PipeError> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total > self.pipe_size {
            self.grow_pipe(total);
        }
        let written = match self.writer {
            // Without SIGPIPE: a reader that is gone (a killed child) must be `Closed`, not
            // the death of this process, even where SIGPIPE's default action is restored.
            Sink::Pipe(_) => {
                ipc_common::sigpipe::without_sigpipe(|| write_parts(&mut self.writer, parts, total))
            }
            // A socket's writes carry `MSG_NOSIGNAL` (see `transport`).
            Sink::Socket(_) => write_parts(&mut self.writer, parts, total),
        };
        written.map_err(|e| match e.kind() {
            // A socket's peer that closed with bytes unread, or died, resets the connection.
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => PipeError::Closed,
            _ => PipeError::Io(e),
        })?;
        self.sent += 1;
        trace_message(self.fd(), End::Sent, self.sent, total);
        Ok(())
    }

    /// Grows the pipe's buffer towards `frame_len` (a power of two, at most [`BIG_PIPE_SIZE`]
    /// and the system's `pipe-max-size`). With a buffer as large as a write, the writer
    /// and the reader each make one system call per step instead of one per 64 KiB. Failure
    /// (a user over their pipe-memory quota) only costs speed, so it is not an error; the
    /// size is then not asked for again. A socket's buffer is left as it is.
    fn grow_pipe(&mut self, frame_len: usize) {
        let Sink::Pipe(pipe) = &self.writer else {
            return;
        };
        let want = frame_len
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX)
            .min(max_pipe_size());
        if want <= self.pipe_size {
            return;
        }
        let asked = i32::try_from(want).unwrap_or(i32::MAX);
        self.pipe_size = match fcntl(pipe, FcntlArg::F_SETPIPE_SZ(asked)) {
            Ok(size) => usize::try_from(size).unwrap_or(want),
            Err(_) => max_pipe_size(),
        };
    }
}

/// Whether to keep a reusable buffer of `size` bytes after a message that used `used` of
/// them. A stream of large messages keeps its buffers warm: a new one would cost a page fault
/// per 4 KiB (more than copying the message). A smaller message frees a large buffer, so
/// memory follows what the connection carries now; an end that goes quiet after a large
/// message keeps it until the next message or its drop.
fn keep(size: usize, used: usize) -> bool {
    size <= KEEP || size / 4 <= used
}

/// The largest pipe buffer to ask for: [`BIG_PIPE_SIZE`], or less if the system's
/// `/proc/sys/fs/pipe-max-size` is lower (read once per process).
fn max_pipe_size() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map_or(BIG_PIPE_SIZE, |max: usize| max.min(BIG_PIPE_SIZE))
    })
}

/// The header of a `len`-byte payload, in the last bytes of the array, and where it starts:
/// Python's `struct.pack("!i", len)`, or `"!iQ"` with `-1` above `0x7fff_ffff`.
fn header(len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut header = [0u8; MAX_HEADER];
    match i32::try_from(len) {
        Ok(short) => {
            header[8..].copy_from_slice(&short.to_be_bytes());
            (header, 8)
        }
        Err(_) => {
            header[..4].copy_from_slice(&(-1i32).to_be_bytes());
            header[4..].copy_from_slice(&(len as u64).to_be_bytes());
            (header, 0)
        }
    }
}

/// Writes all `total` bytes of `parts` in order, at most [`BIG_PIPE_SIZE`] per system call.
///
/// Between two steps is the fault point `pipe.send.partial`: a test kills the sender there
/// to see what a receiver makes of half a message.
fn write_parts<W: Write>(writer: &mut W, parts: &[&[u8]], total: usize) -> io::Result<()> {
    // Where the next byte to write is: which part, and how far into it.
    let (mut part, mut offset, mut sent) = (0, 0, 0);
    while sent < total {
        // The next step: the rest of the current part and what follows, up to the step size.
        let mut slices = [IoSlice::new(&[]); 3];
        let mut count = 0;
        let mut room = BIG_PIPE_SIZE;
        for (i, bytes) in parts.iter().enumerate().skip(part) {
            let from = if i == part { offset } else { 0 };
            let take = (bytes.len() - from).min(room);
            slices[count] = IoSlice::new(&bytes[from..from + take]);
            count += 1;
            room -= take;
            if room == 0 || count == slices.len() {
                break;
            }
        }
        let n = match writer.write_vectored(&slices[..count]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // Step over what was written, across part boundaries.
        sent += n;
        let mut left = n;
        while left > 0 {
            let rest = parts[part].len() - offset;
            if left < rest {
                offset += left;
                left = 0;
            } else {
                left -= rest;
                part += 1;
                offset = 0;
            }
        }
        if sent < total {
            ipc_common::fault::point("pipe.send.partial");
        }
    }
    Ok(())
}

/// Records message number `number` of this end in a recorded trace. A pipe's two ends share
/// one inode, so the sender's `n`-th message and the receiver's `n`-th are drawn as one
/// arrow (exact while one process sends on the pipe at a time, as in the notes).
fn trace_message(fd: BorrowedFd<'_>, end: End, number: u64, bytes: usize) {
    if ipc_common::trace::enabled() {
        let channel = nix::sys::stat::fstat(fd).map_or(0, |st| st.st_ino);
        ipc_common::trace::message("pipe", end, channel, number, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_pythons() {
        let (h, start) = header(5);
        assert_eq!(&h[start..], b"\0\0\0\x05");
        let (h, start) = header(0x7fff_ffff);
        assert_eq!(&h[start..], b"\x7f\xff\xff\xff");
        let (h, start) = header(0x8000_0000);
        assert_eq!(&h[start..], b"\xff\xff\xff\xff\0\0\0\0\x80\0\0\0");
        // And ipc_common::frame reads them back.
        for len in [0usize, 5, 0x7fff_ffff, 0x8000_0000, 1 << 40] {
            let (h, start) = header(len);
            let read = frame::read_header(&mut &h[start..], usize::MAX).expect("header");
            assert_eq!(read, len);
        }
    }

    #[test]
    fn parts_are_written_whole_across_steps() {
        let (mut r, mut w) = io::pipe().expect("pipe");
        let big: Vec<u8> = (0..3 * BIG_PIPE_SIZE + 7).map(|i| i as u8).collect();
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            r.read_to_end(&mut all).expect("read");
            all
        });
        write_parts(&mut w, &[b"head", &big], 4 + big.len()).expect("write");
        write_parts(&mut w, &[b"", b"tail"], 4).expect("write");
        drop(w);
        let all = reader.join().expect("reader");
        assert_eq!(&all[..4], b"head");
        assert_eq!(&all[4..4 + big.len()], &big[..]);
        assert_eq!(&all[4 + big.len()..], b"tail");
    }

    #[test]
    fn payloads_grow_with_what_arrives() {
        // A header announcing 1 GiB, then 3 bytes and the end of the stream.
        let (r, mut w) = io::pipe().expect("pipe");
        let (h, start) = header(1 << 30);
        w.write_all(&h[start..]).expect("write");
        w.write_all(b"abc").expect("write");
        drop(w);
        let mut incoming = Incoming::new(Source::Pipe(r));
        assert_eq!(incoming.next_len().expect("header"), 1 << 30);
        let mut buf = Vec::new();
        let err = incoming.read_payload(1 << 30, &mut buf);
        assert!(
            matches!(
                err,
                Err(PipeError::Truncated {
                    expected: 0x4000_0000,
                    got: 3
                })
            ),
            "{err:?}"
        );
        assert!(buf.capacity() <= 64 << 20, "{}", buf.capacity());
        assert!(matches!(incoming.next_len(), Err(PipeError::Closed)));
    }
}
