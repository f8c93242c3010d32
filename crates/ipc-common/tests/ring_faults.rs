//! The ring under faults, each one placed at its exact window with a fault point armed in a
//! child: killed after a wake-up or before one, killed or stopped in the middle of a message,
//! deadlines that pass in the middle of a message, a reader thread that ends holding the read
//! side. Each test first checks that the fault really happened (a child killed by `SIGKILL`
//! exits with -9, a stopped one is seen stopped), so it cannot pass without testing anything.

mod ring_util;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::fault::{self, Fault};
use ipc_common::ring::{Ring, RingError};
use ipc_common::{Process, ShmBox, ShmSlice};
use nix::sys::signal::Signal;
use ring_util::{check, deadline, message, ms};

/// A ring of 4 KiB: messages up to 1 KiB go in one chunk.
const RING: usize = 4096;
/// Five times the ring: streamed in pieces of 1 KiB.
const BIG: usize = 20_000;
/// Fits in the ring, in pieces: all or nothing.
const WHOLE: usize = 3_000;
/// How long a survivor may take to take what a dead process left: one liveness slice (50 ms)
/// plus ample room for a busy machine. Without the slices it would be "never".
const PROMPT: Duration = Duration::from_secs(1);
/// How late a timed wait may end on a busy machine.
const LATE: Duration = Duration::from_millis(60);

fn sleep(n: u64) {
    std::thread::sleep(ms(n));
}

fn pop(ring: &Ring, ms: u64) -> Result<Vec<u8>, RingError> {
    let mut buf = Vec::new();
    ring.pop(&mut buf, deadline(ms), |_| {}).map(|()| buf)
}

fn stopped(child: &Process) {
    assert!(
        fault::wait_stopped(child.pid(), Duration::from_secs(10)),
        "{} did not stop at its fault point",
        child.name()
    );
}

/// Asserts that `f` fails with `expected` after `wait`, neither earlier nor much later.
fn assert_times_out<T: std::fmt::Debug>(
    wait: Duration,
    expected: fn(&RingError) -> bool,
    f: impl FnOnce() -> Result<T, RingError>,
) {
    let start = Instant::now();
    let got = f();
    let took = start.elapsed();
    assert!(got.as_ref().is_err_and(expected), "got {got:?}");
    assert!(took >= wait, "ended early, after {took:?}");
    assert!(took < wait + LATE, "ended late, after {took:?}");
}

/// A writer of message 1 (streamed) and then message 2, stopped after two pieces of 1.
fn writer_stopped_mid_message(ring: &Ring) -> Process {
    let writer = Process::start("writer", || {
        fault::arm("ring.push.chunk", Fault::Stop, 2);
        ring.push(&message(1, BIG), None).expect("push");
        ring.push(&message(2, 100), None).expect("push");
    })
    .expect("start");
    stopped(&writer);
    writer
}

/// Waits until another process sets `flag`.
fn wait_for(flag: &AtomicU64) {
    while flag.load(SeqCst) == 0 {
        sleep(5);
    }
}

fn empty(e: &RingError) -> bool {
    matches!(e, RingError::Empty)
}

fn full(e: &RingError) -> bool {
    matches!(e, RingError::Full)
}

/// Fault 1: two getters wait; the one woken for the only message dies before taking it. The
/// other must take it (before: it slept until its deadline, the message in the ring).
fn a_getter_killed_after_its_wake_up_leaves_the_message_to_the_other() {
    let ring = Ring::new(RING, 0).expect("ring");
    let got = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let getters: Vec<Process> = (0..2)
        .map(|i| {
            Process::start(format!("getter{i}"), || {
                fault::arm("ring.pop.woken", Fault::Kill, 1);
                let m = pop(&ring, 10_000).expect("the survivor gets the message");
                assert_eq!(m, b"only one");
                got.fetch_add(1, SeqCst);
            })
            .expect("start")
        })
        .collect();
    sleep(300); // one getter sleeps for a message, the other for the read lock
    let start = Instant::now();
    ring.push(b"only one", None).expect("push");
    let mut codes: Vec<i32> = getters.iter().map(|g| g.join().expect("join")).collect();
    let took = start.elapsed();
    codes.sort();
    assert_eq!(codes, [-9, 0], "the woken getter dies, the other gets it");
    assert_eq!(got.load(SeqCst), 1);
    assert!(took < PROMPT, "the survivor took {took:?}");
    assert!(ring.is_empty());
}

/// Fault 1: a putter dies after its commit and before its wake-up.
fn a_putter_killed_before_its_wake_up_is_noticed_within_a_slice() {
    let ring = Ring::new(RING, 0).expect("ring");
    let getter = Process::start("getter", || {
        assert_eq!(pop(&ring, 10_000).expect("pop"), b"committed");
    })
    .expect("start");
    sleep(200); // the getter sleeps
    let putter = Process::start("putter", || {
        fault::arm("ring.push.committed", Fault::Kill, 1);
        ring.push(b"committed", None).expect("push");
    })
    .expect("start");
    assert_eq!(putter.join().expect("join"), -9);
    let start = Instant::now();
    assert_eq!(getter.join().expect("join"), 0);
    assert!(start.elapsed() < PROMPT, "took {:?}", start.elapsed());
}

/// The same window on the other side: a getter dies after making room and before waking the
/// putter that waits for it.
fn a_getter_killed_before_its_wake_up_is_noticed_within_a_slice() {
    let ring = Ring::new(RING, 1).expect("ring"); // one message at most
    ring.push(b"first", None).expect("push");
    let putter = Process::start("putter", || {
        ring.push(b"second", deadline(10_000))
            .expect("room is made");
    })
    .expect("start");
    sleep(200); // the putter sleeps
    let getter = Process::start("getter", || {
        fault::arm("ring.pop.committed", Fault::Kill, 1);
        let _ = pop(&ring, 10_000);
    })
    .expect("start");
    assert_eq!(getter.join().expect("join"), -9);
    let start = Instant::now();
    assert_eq!(putter.join().expect("join"), 0);
    assert!(start.elapsed() < PROMPT, "took {:?}", start.elapsed());
    assert_eq!(pop(&ring, 1000).expect("pop"), b"second");
}

/// Fault 2: a putter stopped in the middle of its copy holds the write lock. Timed gets and
/// puts of other processes still end at their deadlines (before: a get waited for the lock
/// with no deadline at all).
fn a_stopped_putter_holds_no_deadline_up() {
    let ring = Ring::new(RING, 0).expect("ring");
    ring.push(b"before", None).expect("push");
    let putter = Process::start("putter", || {
        fault::arm("ring.push.copy", Fault::Stop, 1);
        ring.push(b"stopped", None).expect("push");
    })
    .expect("start");
    stopped(&putter);
    // The read side is free: the message before is there at once, then the deadline holds.
    assert_eq!(pop(&ring, 1000).expect("pop"), b"before");
    assert_times_out(ms(50), empty, || pop(&ring, 50));
    let other = Process::start("other putter", || {
        assert_times_out(ms(50), full, || ring.push(b"x", deadline(50)));
    })
    .expect("start");
    assert_eq!(other.join().expect("join"), 0);
    putter.signal(Signal::SIGCONT).expect("continue");
    assert_eq!(putter.join().expect("join"), 0);
    assert_eq!(pop(&ring, 1000).expect("pop"), b"stopped");
}

/// A writer killed in the middle of a message larger than the ring, while a reader has part
/// of it: the reader learns that the writer is gone (it takes the write lock), drops what it
/// has, and takes the next message.
fn a_writer_killed_mid_message_is_withdrawn_by_its_reader() {
    let ring = Ring::new(RING, 0).expect("ring");
    // [the first reader has given up, the test is over]
    let flags = ShmSlice::<AtomicU64>::zeroed(2).expect("shm");
    let first = Process::start("first reader", || {
        // Nothing whole ever comes of the message: the reader withdraws it itself and goes
        // back to waiting between messages, holding nothing (had it kept a part, it would
        // hold the read lock, and the second reader below would get nothing).
        assert!(matches!(pop(&ring, 1000), Err(RingError::Empty)));
        flags[0].store(1, SeqCst);
        wait_for(&flags[1]);
    })
    .expect("start");
    let writer = Process::start("writer", || {
        fault::arm("ring.push.chunk", Fault::Kill, 3);
        ring.push(&message(1, BIG), None).expect("push");
    })
    .expect("start");
    assert_eq!(writer.join().expect("join"), -9);
    wait_for(&flags[0]);
    let second = Process::start("second reader", || {
        assert_eq!(check(&pop(&ring, 10_000).expect("pop")), 2);
    })
    .expect("start");
    ring.push(&message(2, 100), Some(Instant::now()))
        .expect("the ring is usable at once");
    let got = second.join().expect("join");
    flags[1].store(1, SeqCst);
    assert_eq!(got, 0);
    assert_eq!(first.join().expect("join"), 0);
    assert!(ring.is_empty());
}

/// A writer killed in the middle of a message with no reader there: the next writer
/// withdraws it, and the reader gets only the next writer's message.
fn a_writer_killed_mid_message_is_withdrawn_by_the_next_writer() {
    for (len, nth) in [(BIG, 2), (WHOLE, 1)] {
        let ring = Ring::new(RING, 0).expect("ring");
        let writer = Process::start("writer", || {
            fault::arm("ring.push.chunk", Fault::Kill, nth);
            ring.push(&message(1, len), None).expect("push");
        })
        .expect("start");
        assert_eq!(writer.join().expect("join"), -9);
        assert!(ring.is_empty(), "a part-written message is not counted");
        ring.push(&message(2, 100), deadline(1000)).expect("push");
        assert_eq!(check(&pop(&ring, 1000).expect("pop")), 2, "len {len}");
        assert!(matches!(pop(&ring, 100), Err(RingError::Empty)));
    }
}

/// A reader killed in the middle of a message: one larger than the ring is lost with it (the
/// next reader skips its rest); one that fits is read again whole by the next reader.
fn a_reader_killed_mid_message_loses_at_most_that_message() {
    for (len, lost) in [(BIG, true), (WHOLE, false)] {
        let ring = Ring::new(RING, 0).expect("ring");
        let writer = Process::start("writer", || {
            ring.push(&message(1, len), None).expect("push");
            ring.push(&message(2, 100), None).expect("push");
        })
        .expect("start");
        let reader = Process::start("reader", || {
            fault::arm("ring.pop.chunk", Fault::Kill, 1);
            let _ = pop(&ring, 10_000);
        })
        .expect("start");
        assert_eq!(reader.join().expect("join"), -9);
        if !lost {
            assert_eq!(check(&pop(&ring, 10_000).expect("pop")), 1);
        }
        assert_eq!(check(&pop(&ring, 10_000).expect("pop")), 2, "len {len}");
        assert_eq!(writer.join().expect("join"), 0);
        assert!(ring.is_empty());
    }
}

/// A put whose deadline passes in the middle of a message larger than the ring (its reader
/// is stopped) withdraws it; the reader, continued, drops its part and takes the next one.
fn a_writer_deadline_mid_message_withdraws_it() {
    let ring = Ring::new(RING, 0).expect("ring");
    let reader = Process::start("reader", || {
        fault::arm("ring.pop.chunk", Fault::Stop, 1);
        assert_eq!(check(&pop(&ring, 10_000).expect("pop")), 2);
    })
    .expect("start");
    let start = Instant::now();
    let got = ring.push(&message(1, BIG), deadline(300));
    let took = start.elapsed();
    stopped(&reader);
    match got {
        Err(RingError::Abandoned { sent, len }) => assert!(sent > 0 && sent < len),
        other => panic!("expected Abandoned, got {other:?}"),
    }
    assert!(took >= ms(300) && took < ms(300) + LATE, "took {took:?}");
    reader.signal(Signal::SIGCONT).expect("continue");
    ring.push(&message(2, 100), deadline(1000)).expect("push");
    assert_eq!(reader.join().expect("join"), 0);
    assert!(ring.is_empty());
}

/// A get whose deadline passes in the middle of a message larger than the ring keeps what
/// it has, and this thread keeps the read side: other readers time out meanwhile, and the
/// next get continues the message.
fn a_reader_deadline_mid_message_keeps_it_for_the_next_get() {
    let ring = Ring::new(RING, 0).expect("ring");
    let writer = writer_stopped_mid_message(&ring);
    assert_times_out(ms(100), empty, || pop(&ring, 100));
    let other = Process::start("other reader", || {
        assert_times_out(ms(50), empty, || pop(&ring, 50));
    })
    .expect("start");
    assert_eq!(other.join().expect("join"), 0);
    writer.signal(Signal::SIGCONT).expect("continue");
    assert_eq!(check(&pop(&ring, 10_000).expect("the rest")), 1);
    assert_eq!(check(&pop(&ring, 10_000).expect("pop")), 2);
    assert_eq!(writer.join().expect("join"), 0);
}

/// A reader thread that ends while it keeps a part-read message gives the read side back (the
/// kernel marks its robust lock): the next reader skips that message's rest.
fn a_reader_thread_ending_mid_message_gives_the_read_side_back() {
    let ring = Ring::new(RING, 0).expect("ring");
    let flag = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let writer = writer_stopped_mid_message(&ring);
    let reader = Process::start("reader", || {
        std::thread::scope(|s| {
            s.spawn(|| assert!(matches!(pop(&ring, 100), Err(RingError::Empty))));
        });
        flag.store(1, SeqCst);
        assert_eq!(check(&pop(&ring, 10_000).expect("pop")), 2);
    })
    .expect("start");
    wait_for(&flag);
    writer.signal(Signal::SIGCONT).expect("continue");
    assert_eq!(reader.join().expect("join"), 0);
    assert_eq!(writer.join().expect("join"), 0);
    assert!(ring.is_empty());
}

/// Dropping the ring on the thread that keeps a part-read message gives the read side back.
fn dropping_the_ring_mid_message_gives_the_read_side_back() {
    let ring = Ring::new(RING, 0).expect("ring");
    let writer = writer_stopped_mid_message(&ring);
    assert!(matches!(pop(&ring, 100), Err(RingError::Empty)));
    let reader = Process::start("reader", || {
        assert_eq!(check(&pop(&ring, 10_000).expect("pop")), 2);
    })
    .expect("start");
    sleep(100); // the reader waits for the read lock
    drop(ring);
    writer.signal(Signal::SIGCONT).expect("continue");
    assert_eq!(reader.join().expect("join"), 0);
    assert_eq!(writer.join().expect("join"), 0);
}

fn main() {
    ipc_common::testing::run(&[
        (
            "a_getter_killed_after_its_wake_up_leaves_the_message_to_the_other",
            a_getter_killed_after_its_wake_up_leaves_the_message_to_the_other,
        ),
        (
            "a_putter_killed_before_its_wake_up_is_noticed_within_a_slice",
            a_putter_killed_before_its_wake_up_is_noticed_within_a_slice,
        ),
        (
            "a_getter_killed_before_its_wake_up_is_noticed_within_a_slice",
            a_getter_killed_before_its_wake_up_is_noticed_within_a_slice,
        ),
        (
            "a_stopped_putter_holds_no_deadline_up",
            a_stopped_putter_holds_no_deadline_up,
        ),
        (
            "a_writer_killed_mid_message_is_withdrawn_by_its_reader",
            a_writer_killed_mid_message_is_withdrawn_by_its_reader,
        ),
        (
            "a_writer_killed_mid_message_is_withdrawn_by_the_next_writer",
            a_writer_killed_mid_message_is_withdrawn_by_the_next_writer,
        ),
        (
            "a_reader_killed_mid_message_loses_at_most_that_message",
            a_reader_killed_mid_message_loses_at_most_that_message,
        ),
        (
            "a_writer_deadline_mid_message_withdraws_it",
            a_writer_deadline_mid_message_withdraws_it,
        ),
        (
            "a_reader_deadline_mid_message_keeps_it_for_the_next_get",
            a_reader_deadline_mid_message_keeps_it_for_the_next_get,
        ),
        (
            "a_reader_thread_ending_mid_message_gives_the_read_side_back",
            a_reader_thread_ending_mid_message_gives_the_read_side_back,
        ),
        (
            "dropping_the_ring_mid_message_gives_the_read_side_back",
            dropping_the_ring_mid_message_gives_the_read_side_back,
        ),
    ]);
}
