//! What a reader does with bytes no writer of this ring makes: a corrupt or hostile peer's
//! lengths are checked against the bytes committed and against the limit before anything is
//! allocated, and a message above the limit is dropped with the stream kept in sync.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use super::layout::{Chunk, Committed, HEADER, PREFIX, piece_for};
use super::{Ring, RingError};

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(100))
}

/// Writes `bytes` at the head and commits them as a peer would, with `in_message` set as told.
fn commit_raw(ring: &Ring, bytes: &[u8], in_message: bool) {
    let head = Committed::from_word(ring.state.w.head.load(SeqCst));
    ring.bytes.write(head.at, bytes);
    let at = head
        .at
        .wrapping_add((bytes.len() as u32).next_multiple_of(4));
    let head = Committed {
        at,
        in_message,
        ..head
    };
    ring.state.w.head.store(head.word(), SeqCst);
}

fn header(chunk: Chunk) -> [u8; 4] {
    chunk.encode().to_le_bytes()
}

#[test]
fn a_length_beyond_the_committed_bytes_is_corrupt_and_allocates_nothing() {
    let ring = Ring::new(4096, 0).expect("ring");
    let huge = Chunk::Data {
        len: (1 << 30) - 1,
        last: true,
    };
    commit_raw(&ring, &[&header(huge)[..], b"hello"].concat(), false);
    let mut out = Vec::new();
    let got = ring.pop(&mut out, soon(), |_| {});
    assert!(
        matches!(got, Err(RingError::Corrupt { at: 0, .. })),
        "{got:?}"
    );
    assert!(out.capacity() < 4096, "allocated {} bytes", out.capacity());
}

#[test]
fn nonsense_headers_are_corrupt() {
    for bad in [
        Chunk::Abort.encode(),
        Chunk::Abort.encode() | (1 << 30),
        u32::MAX,
    ] {
        let ring = Ring::new(4096, 0).expect("ring");
        commit_raw(&ring, &bad.to_le_bytes(), false);
        let got = ring.pop(&mut Vec::new(), soon(), |_| {});
        assert!(
            matches!(got, Err(RingError::Corrupt { .. })),
            "{bad:#x}: {got:?}"
        );
    }
}

#[test]
fn a_huge_total_from_a_peer_is_refused_before_allocating_and_skipped() {
    let ring = Ring::new(4096, 0).expect("ring");
    let piece = piece_for(4096);
    let total: u64 = 1 << 40;
    let mut first = header(Chunk::Data {
        len: PREFIX + piece,
        last: false,
    })
    .to_vec();
    first.extend_from_slice(&total.to_le_bytes());
    first.resize((HEADER + PREFIX + piece) as usize, 0);
    commit_raw(&ring, &first, true);
    let mut out = Vec::new();
    match ring.pop(&mut out, soon(), |_| {}) {
        Err(RingError::TooLarge { len, limit }) => {
            assert_eq!((len as u64, limit), (total, super::DEFAULT_MAX_MESSAGE));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(out.capacity() < 4096, "allocated {} bytes", out.capacity());
    // The next writer finds the message open and withdraws it; the reader skips to it.
    ring.push(b"next", soon()).expect("push");
    ring.pop(&mut out, soon(), |_| {}).expect("pop");
    assert_eq!(out, b"next");
    assert!(ring.is_empty());
}

#[test]
fn a_message_above_the_readers_limit_is_dropped_and_the_next_one_taken() {
    let mut ring = Ring::new(4096, 0).expect("ring");
    ring.push(&[1; 1000], None).expect("push"); // one chunk
    ring.push(&[2; 3000], None).expect("push"); // pieces, all in the ring
    ring.push(b"ok", None).expect("push");
    ring.max_message = 100; // as a peer with a lower limit would read
    let mut out = Vec::new();
    for len in [1000, 3000] {
        match ring.pop(&mut out, soon(), |_| {}) {
            Err(RingError::TooLarge {
                len: got,
                limit: 100,
            }) => assert_eq!(got, len),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }
    ring.pop(&mut out, soon(), |_| {}).expect("pop");
    assert_eq!(out, b"ok");
    assert!(ring.is_empty());
}
