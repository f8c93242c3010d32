//! What a ring keeps in shared memory: its words, the format of its byte stream, and how a
//! message is cut into chunks.
//!
//! Nothing here holds a pointer: every position is an offset into the ring's bytes, so the
//! same memory works when two processes map it at different addresses.

use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::shm::ShmSafe;
use crate::sync::RawLock;

/// Chunk headers and committed offsets are multiples of this.
pub(super) const ALIGN: u32 = 4;
/// The bytes of a chunk header.
pub(super) const HEADER: u32 = 4;
/// The bytes of the total length at the start of the first chunk of a message in pieces.
pub(super) const PREFIX: u32 = 8;
/// The largest data piece of a chunk: big enough that the per-chunk cost (a commit, maybe a
/// wake-up) is nothing beside the copy, small enough that a reader copies one piece out while
/// the writer copies the next one in, both inside their caches.
pub(super) const MAX_PIECE: u32 = 128 << 10;

/// The shared state of a ring, in three cache lines: the writer's, the reader's, and the
/// settings. Each line holds what its side writes on every message and what the other side
/// writes only when it goes to sleep, so that a message moves with the fewest transfers of
/// lines between cores.
///
/// Legend of the committed words ([`Committed`] packs them):
/// - `head`: where the next chunk goes (high half, a multiple of 4, wrapping at 2^32), with
///   [`IN_MESSAGE`] set while a message's chunks have been committed but not its last one;
///   the low half counts the whole messages pushed (wrapping). Written only by the holder of
///   `write_lock`, with one store that publishes the chunk's bytes.
/// - `tail`: the same for the reading side: where the next unread chunk starts, with
///   [`IN_MESSAGE`] set while a reader has taken (committed) some chunks of a message in
///   pieces but not its last; the low half counts whole messages taken. Written only by the
///   holder of `read_lock`, with one store that gives the chunk's bytes back to the writer.
#[repr(C)]
pub(super) struct State {
    pub(super) w: WriterLine,
    pub(super) r: ReaderLine,
    /// The most whole messages the ring holds at once; 0 for no limit but the bytes.
    pub(super) max_messages: AtomicU32,
}

/// The words the writer touches on every message.
#[repr(C, align(64))]
pub(super) struct WriterLine {
    /// Held by one writer for a whole message.
    pub(super) lock: RawLock,
    /// The committed write side (see [`State`]).
    pub(super) head: AtomicU64,
    /// The write-lock holder's last look at `tail`'s offset, a lower bound of the real one,
    /// so that most messages do not read the reader's line. Protected by `lock`.
    pub(super) tail_seen: AtomicU32,
    /// Futex word for a reader waiting for data: bumped by the writer when it commits while
    /// `data_asleep` is set.
    pub(super) data_seq: AtomicU32,
    /// 1 while the read-lock holder sleeps (or is about to) waiting for a chunk.
    pub(super) data_asleep: AtomicU32,
}

/// The words the reader touches on every message.
#[repr(C, align(64))]
pub(super) struct ReaderLine {
    /// Held by one reader for a whole message.
    pub(super) lock: RawLock,
    /// The committed read side (see [`State`]).
    pub(super) tail: AtomicU64,
    /// The read-lock holder's last look at `head`'s offset: no further than the real head,
    /// and never behind `tail`. Protected by `lock`.
    pub(super) head_seen: AtomicU32,
    /// Futex word for a writer waiting for room: bumped by the reader when it commits while
    /// `room_asleep` is set.
    pub(super) room_seq: AtomicU32,
    /// 1 while the write-lock holder sleeps (or is about to) waiting for room.
    pub(super) room_asleep: AtomicU32,
}

// SAFETY: robust mutexes and atomics: no pointers (offsets only), valid when zeroed (the
// locks are initialised in place before the ring is used), no destructor needed.
unsafe impl ShmSafe for State {}

/// The flag in a committed offset: that side is inside a message (see [`State`]).
pub(super) const IN_MESSAGE: u32 = 1;

/// A committed word, unpacked: an offset, whether that side is inside a message, and a
/// count of whole messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Committed {
    pub(super) at: u32,
    pub(super) in_message: bool,
    pub(super) count: u32,
}

impl Committed {
    pub(super) fn from_word(word: u64) -> Self {
        let high = (word >> 32) as u32;
        Self {
            at: high & !IN_MESSAGE,
            in_message: high & IN_MESSAGE != 0,
            count: word as u32,
        }
    }

    pub(super) fn word(self) -> u64 {
        let high = self.at | if self.in_message { IN_MESSAGE } else { 0 };
        (u64::from(high) << 32) | u64::from(self.count)
    }
}

/// A chunk header: the length of its payload (30 bits) and two flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chunk {
    /// `len` payload bytes follow; `last` ends the message.
    Data { len: u32, last: bool },
    /// The message in progress was withdrawn: its writer gave up or died.
    Abort,
}

const LEN_MASK: u32 = (1 << 30) - 1;
const LAST: u32 = 1 << 30;
const ABORT: u32 = 1 << 31;

impl Chunk {
    pub(super) fn encode(self) -> u32 {
        match self {
            Chunk::Data { len, last } => {
                debug_assert!(len <= LEN_MASK);
                len | if last { LAST } else { 0 }
            }
            Chunk::Abort => ABORT,
        }
    }

    /// The chunk a header describes, or `None` for a header no writer makes.
    pub(super) fn decode(header: u32) -> Option<Chunk> {
        match (header & ABORT != 0, header & LAST != 0, header & LEN_MASK) {
            (true, false, 0) => Some(Chunk::Abort),
            (true, ..) => None,
            (false, last, len) => Some(Chunk::Data { len, last }),
        }
    }

    /// The ring bytes of a chunk with `payload` bytes: its header and the payload, rounded up.
    pub(super) fn bytes(payload: u32) -> u32 {
        HEADER + payload.next_multiple_of(ALIGN)
    }
}

/// How a message goes through the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// One chunk: the message fits whole.
    Single,
    /// Pieces, for a message that fits whole: its writer waits until the room for every piece
    /// is free before it writes the first, and its reader commits nothing before the last, so
    /// it moves all or nothing, and a reader overlaps its copy with the writer's.
    Reserved,
    /// Pieces, for a message larger than the ring: each piece waits for its own room, and the
    /// reader gives each piece's room back as soon as it has copied it.
    Streamed,
}

/// How a message of `len` bytes is cut for a ring of `capacity` bytes. The writer and the
/// reader compute the same plan from the length, so a reader checks every chunk against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Plan {
    pub(super) len: usize,
    pub(super) mode: Mode,
    /// The data bytes of every piece but the last.
    pub(super) piece: u32,
}

impl Plan {
    pub(super) fn new(len: usize, capacity: u32) -> Plan {
        let piece = piece_for(capacity);
        let single = len <= piece as usize
            || (Chunk::bytes_fit(len, capacity) && !split_fits(len, piece, capacity));
        let mode = if single {
            Mode::Single
        } else if split_fits(len, piece, capacity) {
            Mode::Reserved
        } else {
            Mode::Streamed
        };
        Plan { len, mode, piece }
    }

    /// The ring bytes the whole message takes (for [`Mode::Single`] and [`Mode::Reserved`]).
    pub(super) fn total_bytes(&self) -> u64 {
        match self.mode {
            Mode::Single => u64::from(Chunk::bytes(self.len as u32)),
            Mode::Reserved | Mode::Streamed => split_bytes(self.len, self.piece),
        }
    }

    /// The chunk that carries the data from `sent` on: its data bytes, whether it is the
    /// first of a message in pieces (and so carries the [`PREFIX`]), and whether it is last.
    pub(super) fn chunk_at(&self, sent: usize) -> Piece {
        let left = self.len - sent;
        let data = if self.mode == Mode::Single {
            left
        } else {
            left.min(self.piece as usize)
        };
        Piece {
            data: data as u32,
            prefixed: self.mode != Mode::Single && sent == 0,
            last: data == left,
        }
    }
}

/// One chunk of a [`Plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Piece {
    pub(super) data: u32,
    pub(super) prefixed: bool,
    pub(super) last: bool,
}

impl Piece {
    /// The chunk's payload: its data and, on a first piece, the total length before it.
    pub(super) fn payload(&self) -> u32 {
        self.data + if self.prefixed { PREFIX } else { 0 }
    }

    /// The room the chunk needs: its bytes, and for a chunk that leaves the message open the
    /// 4 bytes that an [`Chunk::Abort`] will need if its writer dies (they stay free until the
    /// message ends, so an abort always fits, even in a full ring).
    pub(super) fn room(&self) -> u32 {
        Chunk::bytes(self.payload()) + if self.last { 0 } else { HEADER }
    }
}

impl Chunk {
    /// Whether a message of `len` bytes fits in one chunk of a ring of `capacity` bytes.
    fn bytes_fit(len: usize, capacity: u32) -> bool {
        len <= (capacity - HEADER) as usize
    }
}

/// The piece size for a ring of `capacity` bytes: a quarter of the ring, at most
/// [`MAX_PIECE`] (a multiple of 4, since the capacity is a power of two of 4 KiB or more).
pub(super) fn piece_for(capacity: u32) -> u32 {
    (capacity / 4).min(MAX_PIECE)
}

/// The ring bytes of a message of `len` bytes cut in pieces of `piece` bytes: the prefix, a
/// header per piece, the data rounded up (only the last piece can need rounding).
fn split_bytes(len: usize, piece: u32) -> u64 {
    let len = len as u64;
    let pieces = len.div_ceil(u64::from(piece)).max(1);
    u64::from(PREFIX) + pieces * u64::from(HEADER) + len.next_multiple_of(u64::from(ALIGN))
}

fn split_fits(len: usize, piece: u32, capacity: u32) -> bool {
    split_bytes(len, piece) <= u64::from(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_words_round_trip() {
        for c in [
            Committed {
                at: 0,
                in_message: false,
                count: 0,
            },
            Committed {
                at: u32::MAX - 3,
                in_message: true,
                count: u32::MAX,
            },
        ] {
            assert_eq!(Committed::from_word(c.word()), c);
        }
    }

    #[test]
    fn headers_round_trip_and_nonsense_is_refused() {
        for c in [
            Chunk::Abort,
            Chunk::Data { len: 0, last: true },
            Chunk::Data {
                len: LEN_MASK,
                last: false,
            },
        ] {
            assert_eq!(Chunk::decode(c.encode()), Some(c));
        }
        assert_eq!(Chunk::decode(ABORT | LAST), None);
        assert_eq!(Chunk::decode(ABORT | 4), None);
    }

    /// Walks a plan the way the writer does and checks every promise of the layout.
    fn walk(len: usize, capacity: u32) -> (Plan, u64) {
        let plan = Plan::new(len, capacity);
        let (mut sent, mut bytes, mut chunks) = (0, 0u64, 0);
        loop {
            let p = plan.chunk_at(sent);
            assert!(
                p.room() <= capacity,
                "{len}: a chunk needs more than the ring"
            );
            assert!(p.payload() <= LEN_MASK);
            assert_eq!(p.prefixed, chunks == 0 && plan.mode != Mode::Single);
            sent += p.data as usize;
            bytes += u64::from(Chunk::bytes(p.payload()));
            chunks += 1;
            if p.last {
                break;
            }
            assert_eq!(p.data, plan.piece, "only the last piece is short");
        }
        assert_eq!(sent, len);
        if plan.mode != Mode::Streamed {
            assert_eq!(bytes, plan.total_bytes());
            assert!(
                bytes <= u64::from(capacity),
                "{len}: a whole message overflows"
            );
        } else {
            assert!(bytes > u64::from(capacity));
        }
        (plan, bytes)
    }

    #[test]
    fn plans_cover_every_size_and_keep_their_promises() {
        for capacity in [4096u32, 1 << 16, 1 << 20] {
            let c = capacity as usize;
            for len in (0..64)
                .chain(c / 4 - 8..c / 4 + 8)
                .chain(c - 40..c + 8)
                .chain([3 * c, 10 * c + 1])
            {
                walk(len, capacity);
            }
            // The largest single chunk: the whole ring but its header.
            assert_eq!(Plan::new(c - 4, capacity).mode, Mode::Single);
            assert_eq!(Plan::new(c - 3, capacity).mode, Mode::Streamed);
            assert_eq!(Plan::new(c / 2, capacity).mode, Mode::Reserved);
            assert_eq!(Plan::new(10, capacity).mode, Mode::Single);
        }
    }
}
