//! Messages of every size through the ring across real processes: each boundary of the chunk
//! plan (one chunk, pieces that fit, pieces streamed), up to 64 MiB through a 64 KiB ring, in
//! order and intact; and several writers and readers at once with mixed sizes, every message
//! exactly once.

mod ring_util;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::SeqCst};

use ipc_common::ring::Ring;
use ipc_common::{Process, ShmBox, ShmSlice};
use ring_util::{check, deadline, message};

/// The sizes to send through a ring of `c` bytes: small ones, each side of a piece (a quarter
/// of the ring), of the largest single chunk, of the ring, and far beyond.
fn sizes(c: usize) -> Vec<usize> {
    let mut s: Vec<usize> = (0..=40).collect();
    s.extend(c / 4 - 8..c / 4 + 9);
    s.extend(c - 40..c + 9);
    s.extend([3 * c, 3 * c + 1, 1 << 20, (8 << 20) + 3, 64 << 20]);
    s
}

fn every_size_arrives_whole_and_in_order() {
    const RING: usize = 64 << 10;
    let ring = Ring::new(RING, 0).expect("ring");
    let sizes = sizes(RING);
    let writer = Process::start("writer", || {
        for (id, &len) in sizes.iter().enumerate() {
            let m = message(id as u64, len);
            // Every third message in three parts, as `writev` takes them.
            if id % 3 == 0 {
                let (a, rest) = m.split_at(len / 3);
                let (b, c) = rest.split_at(rest.len() / 2);
                ring.push_vectored(&[a, b, c], None).expect("push");
            } else {
                ring.push(&m, None).expect("push");
            }
        }
    })
    .expect("start");
    let mut body = Vec::new();
    for (id, &len) in sizes.iter().enumerate() {
        let expected = message(id as u64, len);
        // Every other message split into a 5-byte head and the body, as `readv` gives them.
        if id % 2 == 0 {
            let mut head = [0u8; 5];
            let n = ring
                .pop_vectored(&mut head, &mut body, deadline(30_000))
                .expect("pop");
            assert_eq!(n, len);
            let split = len.min(5);
            assert_eq!(head[..split], expected[..split], "head of {len}");
            assert!(body == expected[split..], "body of {len}");
        } else {
            ring.pop(&mut body, deadline(30_000), |_| {}).expect("pop");
            assert!(body == expected, "message of {len} bytes torn");
        }
    }
    assert_eq!(writer.join().expect("join"), 0);
    assert!(ring.is_empty());
}

/// The length of message `id` in the mixed test: mostly small, some in pieces that fit, some
/// streamed (the ring has 16 KiB).
fn mixed_len(id: u64) -> usize {
    let r = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    match id % 10 {
        0 => 20_000 + (r % 80_000) as usize,
        1 | 2 => 1_000 + (r % 14_000) as usize,
        _ => 16 + (r % 200) as usize,
    }
}

fn every_message_exactly_once_with_mixed_sizes() {
    const WRITERS: u64 = 3;
    const READERS: usize = 3;
    const PER_WRITER: u64 = 2_000;
    const STOP: &[u8] = b"stop";
    let ring = Ring::new(16 << 10, 0).expect("ring");
    let total = (WRITERS * PER_WRITER) as usize;
    let seen = ShmSlice::<AtomicU8>::zeroed(total).expect("shm");
    let bytes = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let checksum = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let readers: Vec<Process> = (0..READERS)
        .map(|r| {
            Process::start(format!("reader{r}"), || {
                let mut buf = Vec::new();
                loop {
                    ring.pop(&mut buf, None, |_| {}).expect("pop");
                    if buf == STOP {
                        break;
                    }
                    let id = check(&buf);
                    seen[id as usize].fetch_add(1, SeqCst);
                    bytes.fetch_add(buf.len() as u64, SeqCst);
                    checksum.fetch_add(id * id, SeqCst);
                }
            })
            .expect("start")
        })
        .collect();
    let writers: Vec<Process> = (0..WRITERS)
        .map(|w| {
            Process::start(format!("writer{w}"), || {
                for i in 0..PER_WRITER {
                    let id = w * PER_WRITER + i;
                    ring.push(&message(id, mixed_len(id)), None).expect("push");
                }
            })
            .expect("start")
        })
        .collect();
    for w in writers {
        assert_eq!(w.join().expect("join"), 0);
    }
    for _ in &readers {
        ring.push(STOP, None).expect("push stop");
    }
    for r in readers {
        assert_eq!(r.join().expect("join"), 0);
    }
    let lost = seen.iter().filter(|s| s.load(SeqCst) == 0).count();
    let doubled = seen.iter().filter(|s| s.load(SeqCst) > 1).count();
    assert_eq!((lost, doubled), (0, 0), "messages lost / delivered twice");
    let n = WRITERS * PER_WRITER;
    assert_eq!(checksum.load(SeqCst), (0..n).map(|i| i * i).sum::<u64>());
    let expected_bytes: u64 = (0..n).map(|i| mixed_len(i) as u64).sum();
    assert_eq!(bytes.load(SeqCst), expected_bytes);
    assert!(ring.is_empty());
}

fn main() {
    ipc_common::testing::run(&[
        (
            "every_size_arrives_whole_and_in_order",
            every_size_arrives_whole_and_in_order,
        ),
        (
            "every_message_exactly_once_with_mixed_sizes",
            every_message_exactly_once_with_mixed_sizes,
        ),
    ]);
}
