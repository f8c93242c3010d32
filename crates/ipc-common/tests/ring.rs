//! The shared-memory frame ring across real processes: every frame exactly once and intact,
//! limits, exact timeouts, and a process killed inside the ring's lock.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::ring::{Ring, RingError};
use ipc_common::{Process, ShmBox, ShmSlice};

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 10_000;
const STOP: &[u8] = b"stop";

fn sleep(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Frame `id`: its id, then 0..40 bytes derived from it (so sizes vary and wrap around).
fn frame(id: u64) -> Vec<u8> {
    let mut f = id.to_le_bytes().to_vec();
    f.extend((0..id % 41).map(|i| (id.wrapping_mul(31) + i) as u8));
    f
}

fn deadline(ms: u64) -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(ms))
}

fn every_frame_exactly_once_and_intact() {
    let ring = Ring::new(4096, 0).expect("ring");
    let total = (PRODUCERS * PER_PRODUCER) as usize;
    let seen = ShmSlice::<AtomicU8>::zeroed(total).expect("shm");
    let checksum = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let consumers: Vec<Process> = (0..3)
        .map(|c| {
            Process::start(format!("consumer{c}"), || {
                let mut buf = Vec::new();
                loop {
                    ring.pop(&mut buf, None, |_| {}).expect("pop");
                    if buf == STOP {
                        break;
                    }
                    let id = u64::from_le_bytes(buf[..8].try_into().expect("id"));
                    assert_eq!(buf, frame(id), "frame {id} torn or mixed");
                    seen[id as usize].fetch_add(1, SeqCst);
                    checksum.fetch_add(id * id, SeqCst);
                }
            })
            .expect("start")
        })
        .collect();
    let producers: Vec<Process> = (0..PRODUCERS)
        .map(|p| {
            Process::start(format!("producer{p}"), || {
                for i in 0..PER_PRODUCER {
                    ring.push(&frame(p * PER_PRODUCER + i), None).expect("push");
                }
            })
            .expect("start")
        })
        .collect();
    for p in producers {
        assert_eq!(p.join().expect("join"), 0);
    }
    for _ in &consumers {
        ring.push(STOP, None).expect("push stop");
    }
    for c in consumers {
        assert_eq!(c.join().expect("join"), 0);
    }
    let lost = seen.iter().filter(|s| s.load(SeqCst) == 0).count();
    let doubled = seen.iter().filter(|s| s.load(SeqCst) > 1).count();
    assert_eq!((lost, doubled), (0, 0), "frames lost / delivered twice");
    let n = PRODUCERS * PER_PRODUCER;
    let expected: u64 = (0..n).map(|i| i * i).sum();
    assert_eq!(checksum.load(SeqCst), expected);
    assert!(ring.is_empty());
}

fn pop_on_empty_waits_the_timeout() {
    let ring = Ring::new(4096, 0).expect("ring");
    let mut buf = Vec::new();
    let start = Instant::now();
    let got = ring.pop(&mut buf, deadline(300), |_| {});
    let took = start.elapsed();
    assert!(matches!(got, Err(RingError::Empty)), "got {got:?}");
    assert!(took >= Duration::from_millis(300), "early: {took:?}");
    assert!(took < Duration::from_millis(360), "late: {took:?}");
}

fn push_on_full_waits_then_fails_and_blocks_until_room() {
    let ring = Ring::new(4096, 2).expect("ring");
    ring.push(b"a", None).expect("push");
    ring.push(b"b", None).expect("push");
    let start = Instant::now();
    assert!(matches!(
        ring.push(b"c", deadline(200)),
        Err(RingError::Full)
    ));
    assert!(start.elapsed() >= Duration::from_millis(200));
    // A blocked push proceeds as soon as another process makes room.
    let popper = Process::start("popper", || {
        sleep(100);
        let mut buf = Vec::new();
        ring.pop(&mut buf, None, |_| {}).expect("pop");
        assert_eq!(buf, b"a");
    })
    .expect("start");
    ring.push(b"c", deadline(5_000))
        .expect("push after room was made");
    assert_eq!(popper.join().expect("join"), 0);
    assert_eq!(ring.len(), 2);
}

fn byte_capacity_is_a_limit_too() {
    let ring = Ring::new(4096, 0).expect("ring");
    let big = vec![7u8; 3000];
    ring.push(&big, None).expect("push");
    // A message that fits goes in whole or not at all: no room for it, nothing written.
    assert!(matches!(
        ring.push(&big, deadline(50)),
        Err(RingError::Full)
    ));
    // A message larger than the ring is streamed: without a reader, the deadline passes in
    // its middle and it is withdrawn.
    let too_big = vec![1u8; 5000];
    match ring.push(&too_big, deadline(50)) {
        Err(RingError::Abandoned { sent, len }) => assert!(sent > 0 && sent < len && len == 5000),
        other => panic!("expected Abandoned, got {other:?}"),
    }
    assert!(matches!(
        ring.push(&too_big, Some(Instant::now())),
        Err(RingError::Full)
    ));
    assert_eq!(ring.len(), 1);
    let mut buf = Vec::new();
    ring.pop(&mut buf, deadline(50), |_| {}).expect("pop");
    assert_eq!(buf, big);
    assert!(
        matches!(
            ring.pop(&mut buf, deadline(50), |_| {}),
            Err(RingError::Empty)
        ),
        "nothing of the withdrawn message is visible"
    );
    // The ring is usable: a message of exactly its capacity minus a header goes in one piece.
    let largest_whole = vec![9u8; 4092];
    ring.push(&largest_whole, Some(Instant::now()))
        .expect("fits whole");
    ring.pop(&mut buf, deadline(50), |_| {}).expect("pop");
    assert_eq!(buf, largest_whole);
    assert!(ring.is_empty());
}

fn killed_inside_the_lock_leaves_the_ring_usable() {
    let ring = Ring::new(4096, 0).expect("ring");
    ring.push(b"survivor", None).expect("push");
    let victim = Process::start("victim", || {
        let mut buf = Vec::new();
        ring.pop(&mut buf, None, |_| {
            // Dies holding the ring's lock, before its pop is committed.
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        })
        .expect("pop");
    })
    .expect("start");
    assert_eq!(victim.join().expect("join"), -9);
    let mut buf = Vec::new();
    ring.pop(&mut buf, deadline(2_000), |_| {})
        .expect("the frame is still there");
    assert_eq!(buf, b"survivor");
    ring.push(b"next", deadline(2_000))
        .expect("push after the death");
    ring.pop(&mut buf, deadline(2_000), |_| {}).expect("pop");
    assert_eq!(buf, b"next");
}

fn main() {
    ipc_common::testing::run(&[
        (
            "every_frame_exactly_once_and_intact",
            every_frame_exactly_once_and_intact,
        ),
        (
            "pop_on_empty_waits_the_timeout",
            pop_on_empty_waits_the_timeout,
        ),
        (
            "push_on_full_waits_then_fails_and_blocks_until_room",
            push_on_full_waits_then_fails_and_blocks_until_room,
        ),
        ("byte_capacity_is_a_limit_too", byte_capacity_is_a_limit_too),
        (
            "killed_inside_the_lock_leaves_the_ring_usable",
            killed_inside_the_lock_leaves_the_ring_usable,
        ),
    ]);
}
