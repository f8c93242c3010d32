//! A message far larger than the queue's ring: the memory each side holds while it streams is
//! the message and the ring, no second copy of the message (measured with the peak resident
//! set size, `VmHWM`, of each process, reset before the transfer).
//!
//! The message has 256 MiB by default; `QUEUE_TEST_BIG_MIB=1024 cargo test -p queue --test
//! queue_big` streams 1 GiB (it needs about 2.5 GiB of memory and a few seconds).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use ipc_common::{Process, ShmSlice};
use queue::Queue;

/// Every this-many bytes, the message holds its position's number (a prime, so that the marks
/// fall anywhere in the ring's pieces).
const MARK: usize = 4093;
/// Room for what a process allocates besides the message and the ring (code, stacks, small
/// buffers).
const SLACK: u64 = 16 << 20;

/// The peak resident set size of this process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb << 10
}

/// Makes the peak resident set size the current one (Linux 4.0 and later).
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
}

fn big_message_holds_the_message_and_the_ring_only() {
    let mib: usize = std::env::var("QUEUE_TEST_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let size = mib << 20;
    // The limit counts the codec's one-byte tag too.
    let queue = Queue::<Vec<u8>>::new(0)
        .expect("queue")
        .with_max_message(size + 1);
    let ring = queue.capacity() as u64;
    // Growth of the peak: [writer, reader].
    let growth = ShmSlice::<AtomicU64>::zeroed(2).expect("shm");
    let reader = Process::start("reader", || {
        reset_peak_rss();
        let before = peak_rss();
        let m = queue.get().expect("get");
        growth[1].store(peak_rss() - before, SeqCst);
        assert_eq!(m.len(), size);
        for (k, at) in (0..size).step_by(MARK).enumerate() {
            assert_eq!(m[at], k as u8, "byte {at}");
        }
        assert!(m[1..MARK].iter().all(|&b| b == 0x5a));
    })
    .expect("start");
    let writer = Process::start("writer", || {
        reset_peak_rss();
        let before = peak_rss();
        let mut m = vec![0x5a; size];
        for (k, at) in (0..size).step_by(MARK).enumerate() {
            m[at] = k as u8;
        }
        queue.put(&m).expect("put");
        growth[0].store(peak_rss() - before, SeqCst);
    })
    .expect("start");
    writer.join_ok().expect("writer");
    reader.join_ok().expect("reader");
    let bound = size as u64 + ring + SLACK;
    for (side, g) in ["writer", "reader"].iter().zip(growth.iter()) {
        let g = g.load(SeqCst);
        println!(
            "  {side}: peak grew by {} MiB for a {mib} MiB message and a {} KiB ring",
            g >> 20,
            ring >> 10
        );
        assert!(g >= size as u64 / 2, "{side}: the message was not measured");
        assert!(
            g <= bound,
            "{side}: peak grew by {g} bytes, more than {bound}"
        );
    }
}

fn main() {
    ipc_common::testing::run(&[(
        "big_message_holds_the_message_and_the_ring_only",
        big_message_holds_the_message_and_the_ring_only,
    )]);
}
