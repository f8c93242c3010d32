//! What the server answers, and how it is written: a status frame, then the items' frames.

use std::io::Write;

use ipc_common::frame::{self, FrameError};

use super::request::Bytes;
use crate::protocol::{ERROR, ErrorKind, MAX_STATUS, OK, Op, REFUSED};

/// What to send back.
#[derive(Debug)]
pub(super) enum Reply {
    /// Success, nothing more.
    Done,
    /// Success with a number: a new object's id, a length, an index.
    Number(u64),
    /// Success with a few numbers (a barrier's state, the server's pid and limit).
    Numbers(Vec<u64>),
    /// Success with a yes or a no.
    Flag(bool),
    /// A lookup's value, or its absence.
    Found(Option<Bytes>),
    /// Items (a list's, a dict's keys or values).
    Items(Vec<Bytes>),
    /// A list's items and the version they are of.
    Versioned(u64, Vec<Bytes>),
    /// A dict's entries.
    Entries(Vec<(Bytes, Bytes)>),
    /// The operation failed as Python's raises.
    Error(ErrorKind, String),
    /// The request cannot be done (an unknown object, say).
    Refused(String),
}

/// The reply to an operation this object does not have.
pub(super) fn unsupported(op: Op) -> Reply {
    Reply::Refused(format!("this shared object does not support {op:?}"))
}

/// Writes replies: each frame as one piece of the buffered writer, a small one through a
/// reusable buffer, a large one straight from the object's bytes.
pub(super) struct Replies<W: Write> {
    pub(super) writer: W,
    pub(super) scratch: Vec<u8>,
}

/// Frames up to this size are assembled in the reusable buffer.
const SMALL_FRAME: usize = 16 * 1024;

impl<W: Write> Replies<W> {
    /// Writes one reply: its status frame, then its items' frames; then flushes.
    pub(super) fn write(&mut self, reply: &Reply) -> Result<(), FrameError> {
        let count = |n: usize| (n as u64).to_be_bytes();
        match reply {
            Reply::Done => self.status(&[OK], &[])?,
            Reply::Number(n) => self.status(&[OK], &n.to_be_bytes())?,
            Reply::Numbers(numbers) => {
                let bytes: Vec<u8> = numbers.iter().flat_map(|n| n.to_be_bytes()).collect();
                self.status(&[OK], &bytes)?;
            }
            Reply::Flag(flag) => self.status(&[OK], &[u8::from(*flag)])?,
            Reply::Found(None) => self.status(&[OK], &[0])?,
            Reply::Found(Some(value)) => {
                self.status(&[OK], &[1])?;
                self.item(value)?;
            }
            Reply::Items(items) => {
                self.status(&[OK], &count(items.len()))?;
                self.items(items)?;
            }
            Reply::Versioned(version, items) => {
                let head = [version.to_be_bytes(), count(items.len())].concat();
                self.status(&[OK], &head)?;
                self.items(items)?;
            }
            Reply::Entries(entries) => {
                self.status(&[OK], &count(entries.len()))?;
                for (key, value) in entries {
                    self.item(key)?;
                    self.item(value)?;
                }
            }
            Reply::Error(kind, message) => {
                self.status(&[ERROR, *kind as u8], message.as_bytes())?;
            }
            Reply::Refused(message) => self.status(&[REFUSED], message.as_bytes())?,
        }
        self.writer.flush()?;
        Ok(())
    }

    /// A status frame: the status bytes, then `rest`, cut to the largest status frame (only
    /// a message can be that long).
    fn status(&mut self, status: &[u8], rest: &[u8]) -> Result<(), FrameError> {
        frame::begin(&mut self.scratch);
        self.scratch.extend_from_slice(status);
        let room = MAX_STATUS - status.len();
        self.scratch
            .extend_from_slice(&rest[..rest.len().min(room)]);
        self.writer
            .write_all(frame::finish(&mut self.scratch, MAX_STATUS)?)?;
        Ok(())
    }

    fn items(&mut self, items: &[Bytes]) -> Result<(), FrameError> {
        items.iter().try_for_each(|item| self.item(item))
    }

    /// One key, value or item, as a frame of its own length, whatever it is: the long form of
    /// the header carries 64 bits (no length is ever cut to 32).
    pub(super) fn item(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
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
    use std::io::{self, BufWriter};

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

    /// A message longer than a status frame is cut, not refused.
    #[test]
    fn a_long_message_is_cut_to_one_status_frame() {
        let mut out = Vec::new();
        let mut replies = Replies {
            writer: &mut out,
            scratch: Vec::new(),
        };
        let long = "x".repeat(10_000);
        replies
            .write(&Reply::Error(ErrorKind::Method, long))
            .expect("write");
        assert_eq!(out.len(), 4 + MAX_STATUS);
        assert_eq!(out[4..6], [ERROR, ErrorKind::Method as u8]);
    }
}
