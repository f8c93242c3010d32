//! Length-prefixed messages on a byte stream, in Python's `multiprocessing.connection` format.
//!
//! A message is its length, then its bytes. The length is a 4-byte big-endian signed integer;
//! a message of more than `0x7fff_ffff` bytes has `-1` there, followed by its length as an
//! 8-byte big-endian unsigned integer. This is exactly what Python's `Connection.send_bytes`
//! writes, so a stream framed here can be read by Python's `recv_bytes` and the other way round.
//!
//! [`begin`] and [`finish`] build a frame in a reusable `Vec`, the payload written in place
//! after room for the longest header, so that it goes out with one `write`; [`read`] reads one
//! frame's payload, refusing a length above the caller's limit before allocating anything.
//!
//! ```
//! use std::io::Cursor;
//! use ipc_common::frame;
//!
//! let mut buf = Vec::new();
//! frame::begin(&mut buf);
//! buf.extend_from_slice(b"hello");
//! let bytes = frame::finish(&mut buf, 1024)?.to_vec();
//! assert_eq!(bytes, b"\0\0\0\x05hello");
//!
//! let mut payload = Vec::new();
//! frame::read(&mut Cursor::new(bytes), &mut payload, 1024)?;
//! assert_eq!(payload, b"hello");
//! # Ok::<(), ipc_common::frame::FrameError>(())
//! ```

use std::io::{self, IoSlice, Read, Write};

/// The longest header: `-1` and an 8-byte length.
pub const MAX_HEADER: usize = 12;

/// The largest message accepted by default: 1 GiB. A peer's length above the limit is refused
/// before anything is allocated for it, and a message above it is refused whole by its sender.
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;

/// The most a short header can announce (Python's limit for its 4-byte form).
const SHORT_MAX: usize = 0x7fff_ffff;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// End of stream before the first byte of a frame: the peer closed its end.
    #[error("the other end of the connection is closed")]
    Closed,
    /// End of stream inside a frame: the sender died while writing, or the bytes are not
    /// frames.
    #[error("truncated message: expected {expected} bytes, got {got} before the end of the stream")]
    Truncated {
        /// How many bytes the frame (or its header) announced.
        expected: usize,
        /// How many arrived.
        got: usize,
    },
    /// A length above the limit: a message too large to send, or a corrupt or hostile length.
    #[error("a message of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// The message's length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A negative length other than `-1`: the bytes are not frames.
    #[error("bad message length {0}")]
    BadLength(i32),
    /// Another I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Clears `buf` and reserves room for the longest header: append the payload after it, then
/// call [`finish`].
pub fn begin(buf: &mut Vec<u8>) {
    buf.clear();
    buf.resize(MAX_HEADER, 0);
}

/// Writes the header of the payload that follows [`begin`]'s room and returns the whole frame,
/// ready for one `write`.
///
/// # Errors
///
/// [`FrameError::TooLarge`] if the payload is longer than `max`.
pub fn finish(buf: &mut [u8], max: usize) -> Result<&[u8], FrameError> {
    let len = buf.len().saturating_sub(MAX_HEADER);
    if len > max {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max,
        });
    }
    let start = write_header(len, &mut buf[..MAX_HEADER]);
    Ok(&buf[start..])
}

/// Writes the header for a payload of `len` bytes at the *end* of `room` (12 bytes) and
/// returns where it starts.
fn write_header(len: usize, room: &mut [u8]) -> usize {
    if len > SHORT_MAX {
        room[..4].copy_from_slice(&(-1i32).to_be_bytes());
        room[4..12].copy_from_slice(&(len as u64).to_be_bytes());
        0
    } else {
        room[8..12].copy_from_slice(&(len as u32).to_be_bytes());
        8
    }
}

/// Writes one frame holding `payload`: header and payload go out together (`writev`), with
/// no copy of the payload. A peer that has gone away is an error (`BrokenPipe`), never the
/// death of this process by `SIGPIPE`, whatever that signal's action (see
/// [`sigpipe`](crate::sigpipe)): `writev` on a socket, unlike `send`, would raise it.
///
/// # Errors
///
/// [`FrameError::TooLarge`] above `max`; [`FrameError::Io`] if a write fails.
pub fn write<W: Write>(writer: &mut W, payload: &[u8], max: usize) -> Result<(), FrameError> {
    if payload.len() > max {
        return Err(FrameError::TooLarge {
            len: payload.len() as u64,
            max,
        });
    }
    let mut header = [0u8; MAX_HEADER];
    let start = write_header(payload.len(), &mut header);
    crate::sigpipe::without_sigpipe(|| {
        let (mut head, mut body) = (&header[start..], payload);
        while !head.is_empty() || !body.is_empty() {
            let written = match writer.write_vectored(&[IoSlice::new(head), IoSlice::new(body)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let from_head = written.min(head.len());
            head = &head[from_head..];
            body = &body[written - from_head..];
        }
        Ok(())
    })?;
    Ok(())
}

/// Reads the next frame's header and returns the payload's length.
///
/// # Errors
///
/// [`FrameError::Closed`] at end of stream before the first byte; [`FrameError::Truncated`]
/// inside the header; [`FrameError::TooLarge`] above `max`; [`FrameError::BadLength`].
pub fn read_header<R: Read>(reader: &mut R, max: usize) -> Result<usize, FrameError> {
    let mut short = [0u8; 4];
    if read_full(reader, &mut short)? == 0 {
        return Err(FrameError::Closed);
    }
    let len = match i32::from_be_bytes(short) {
        -1 => {
            let mut long = [0u8; 8];
            let got = read_full(reader, &mut long)?;
            if got < 8 {
                return Err(FrameError::Truncated { expected: 8, got });
            }
            u64::from_be_bytes(long)
        }
        n if n < 0 => return Err(FrameError::BadLength(n)),
        n => n as u64,
    };
    if len > max as u64 {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len as usize)
}

/// Reads one frame's payload into `payload`, replacing its contents.
///
/// Memory grows with the bytes that arrive (at most 64 MiB is reserved ahead of them), so a
/// peer that announces a large message and sends nothing costs nothing.
///
/// # Errors
///
/// As for [`read_header`], and [`FrameError::Truncated`] at end of stream inside the payload.
pub fn read<R: Read>(reader: &mut R, payload: &mut Vec<u8>, max: usize) -> Result<(), FrameError> {
    let len = read_header(reader, max)?;
    read_payload(reader, len, payload)
}

/// Reads a payload of `len` bytes (after [`read_header`]) into `payload`.
///
/// # Errors
///
/// [`FrameError::Truncated`] at end of stream; [`FrameError::Io`].
pub fn read_payload<R: Read>(
    reader: &mut R,
    len: usize,
    payload: &mut Vec<u8>,
) -> Result<(), FrameError> {
    payload.clear();
    payload.reserve(len.min(64 << 20));
    let got = reader.take(len as u64).read_to_end(payload)?;
    if got < len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    Ok(())
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read. A stream
/// that ends after some bytes but before `buf` is full is [`FrameError::Truncated`].
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(0),
            Ok(0) => {
                return Err(FrameError::Truncated {
                    expected: buf.len(),
                    got,
                });
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, payload, usize::MAX).expect("write");
        out
    }

    #[test]
    fn round_trip_and_end_of_stream() {
        let mut bytes = framed(b"one");
        bytes.extend(framed(b""));
        bytes.extend(framed(&[7u8; 20_000]));
        let mut r = Cursor::new(bytes);
        let mut p = Vec::new();
        read(&mut r, &mut p, 1 << 20).expect("first");
        assert_eq!(p, b"one");
        read(&mut r, &mut p, 1 << 20).expect("second");
        assert!(p.is_empty());
        read(&mut r, &mut p, 1 << 20).expect("third");
        assert_eq!(p, [7u8; 20_000]);
        assert!(matches!(read(&mut r, &mut p, 10), Err(FrameError::Closed)));
    }

    #[test]
    fn begin_finish_matches_write() {
        let mut buf = Vec::new();
        begin(&mut buf);
        buf.extend_from_slice(b"abc");
        assert_eq!(finish(&mut buf, 10).expect("finish"), framed(b"abc"));
        begin(&mut buf);
        buf.extend_from_slice(&[0; 11]);
        assert!(matches!(
            finish(&mut buf, 10),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        ));
    }

    #[test]
    fn long_header_is_pythons() {
        let mut room = [0u8; MAX_HEADER];
        assert_eq!(write_header(0x8000_0000, &mut room), 0);
        assert_eq!(room, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]);
        let mut r = Cursor::new(room);
        assert_eq!(
            read_header(&mut r, usize::MAX).expect("header"),
            0x8000_0000
        );
    }

    #[test]
    fn bad_input_is_refused_before_allocating() {
        let mut p = Vec::new();
        let huge = [0x7f, 0xff, 0xff, 0xff, b'x'];
        assert!(matches!(
            read(&mut Cursor::new(huge), &mut p, 1 << 20),
            Err(FrameError::TooLarge {
                len: 0x7fff_ffff,
                ..
            })
        ));
        assert_eq!(p.capacity(), 0);
        let negative = (-2i32).to_be_bytes();
        assert!(matches!(
            read(&mut Cursor::new(negative), &mut p, 10),
            Err(FrameError::BadLength(-2))
        ));
        let short = [0u8, 0];
        assert!(matches!(
            read(&mut Cursor::new(short), &mut p, 10),
            Err(FrameError::Truncated {
                expected: 4,
                got: 2
            })
        ));
        let cut = &framed(b"hello")[..7];
        assert!(matches!(
            read(&mut Cursor::new(cut), &mut p, 10),
            Err(FrameError::Truncated {
                expected: 5,
                got: 3
            })
        ));
        // A peer that announces 1 GiB and sends 3 bytes: memory follows the bytes.
        let mut liar = (1i32 << 30).to_be_bytes().to_vec();
        liar.extend_from_slice(b"abc");
        assert!(matches!(
            read(&mut Cursor::new(liar), &mut p, 1 << 30),
            Err(FrameError::Truncated { got: 3, .. })
        ));
        assert!(p.capacity() <= 64 << 20);
    }
}
