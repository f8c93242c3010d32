//! `Queue` when processes die or stop at the worst moments, placed there with the ring's fault
//! points: the faults reported against the old queue, and killed putters and getters of
//! messages larger than the ring. Each test first checks that the fault really happened.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::fault::{self, Fault};
use ipc_common::{Process, ShmBox};
use nix::sys::signal::Signal;
use queue::{Queue, QueueError};

/// One liveness slice (50 ms) and room for a busy machine; without the slices: never.
const PROMPT: Duration = Duration::from_secs(1);
/// How late a timed call may end on a busy machine.
const LATE: Duration = Duration::from_millis(60);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Fault 1: two getters block on an empty queue, one message is put, and the getter woken for
/// it is killed before it takes it: the other getter takes it (it used to sleep on, with the
/// message in the queue).
fn the_other_getter_takes_the_message_of_a_killed_one() {
    let queue = Queue::<String>::new(0).expect("queue");
    let got = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let getters: Vec<Process> = (0..2)
        .map(|i| {
            Process::start(format!("getter{i}"), || {
                fault::arm("ring.pop.woken", Fault::Kill, 1);
                let m = queue.get_timeout(ms(10_000)).expect("the survivor gets it");
                assert_eq!(m, "the message");
                got.fetch_add(1, SeqCst);
            })
            .expect("start")
        })
        .collect();
    std::thread::sleep(ms(300));
    let start = Instant::now();
    queue.put(&"the message".to_string()).expect("put");
    let mut codes: Vec<i32> = getters.iter().map(|g| g.join().expect("join")).collect();
    let took = start.elapsed();
    codes.sort();
    assert_eq!(
        codes,
        [-9, 0],
        "one getter killed, the other got the message"
    );
    assert_eq!(got.load(SeqCst), 1);
    assert!(took < PROMPT, "took {took:?}");
}

/// Fault 2: `get_timeout(50 ms)` while a putter is stopped in the middle of its copy ends
/// after 50 ms (it used to wait for the ring's lock with no deadline: 2 s and more).
fn get_timeout_holds_while_a_putter_is_stopped_mid_copy() {
    let queue = Queue::<Vec<u8>>::new(0).expect("queue");
    let putter = Process::start("putter", || {
        fault::arm("ring.push.copy", Fault::Stop, 1);
        queue.put(&vec![1; 100_000]).expect("put");
    })
    .expect("start");
    assert!(fault::wait_stopped(putter.pid(), Duration::from_secs(10)));
    for _ in 0..5 {
        let start = Instant::now();
        let got = queue.get_timeout(ms(50));
        let took = start.elapsed();
        assert!(matches!(got, Err(QueueError::Empty)), "got {got:?}");
        assert!(took >= ms(50) && took < ms(50) + LATE, "took {took:?}");
    }
    putter.signal(Signal::SIGCONT).expect("continue");
    assert_eq!(
        queue.get_timeout(ms(10_000)).expect("get"),
        vec![1; 100_000]
    );
    putter.join_ok().expect("putter");
}

/// A putter killed in the middle of a message larger than the ring: nobody gets any of it,
/// and the next message comes through whole.
fn a_putter_killed_mid_message_leaves_nothing_behind() {
    let queue = Queue::<Vec<u8>>::with_capacity(0, 64 << 10).expect("queue");
    let getter = Process::start("getter", || {
        assert_eq!(queue.get().expect("get"), vec![2; 300_000]);
    })
    .expect("start");
    let putter = Process::start("putter", || {
        fault::arm("ring.push.chunk", Fault::Kill, 5);
        queue.put(&vec![1; 1_000_000]).expect("put");
    })
    .expect("start");
    assert_eq!(putter.join().expect("join"), -9);
    queue.put(&vec![2; 300_000]).expect("put");
    getter.join_ok().expect("getter");
    assert!(queue.empty());
}

/// A getter killed in the middle of a message larger than the ring loses that message only.
fn a_getter_killed_mid_message_loses_that_message_only() {
    let queue = Queue::<Vec<u8>>::with_capacity(0, 64 << 10).expect("queue");
    let putter = Process::start("putter", || {
        queue.put(&vec![1; 1_000_000]).expect("put");
        queue.put(&vec![2; 300_000]).expect("put");
    })
    .expect("start");
    let getter = Process::start("getter", || {
        fault::arm("ring.pop.chunk", Fault::Kill, 5);
        let _ = queue.get();
    })
    .expect("start");
    assert_eq!(getter.join().expect("join"), -9);
    assert_eq!(
        queue.get_timeout(ms(10_000)).expect("get"),
        vec![2; 300_000]
    );
    putter.join_ok().expect("putter");
    assert!(queue.empty());
}

/// A timed get that runs out in the middle of a message larger than the ring keeps what it
/// has: the same thread's next get returns the whole message.
fn a_timed_get_mid_message_resumes() {
    let queue = Queue::<Vec<u8>>::with_capacity(0, 64 << 10).expect("queue");
    let putter = Process::start("putter", || {
        // Two pieces of 16 KiB in, with no reader yet.
        fault::arm("ring.push.chunk", Fault::Stop, 2);
        queue.put(&vec![3; 1_000_000]).expect("put");
    })
    .expect("start");
    assert!(fault::wait_stopped(putter.pid(), Duration::from_secs(10)));
    assert!(matches!(queue.get_timeout(ms(50)), Err(QueueError::Empty)));
    putter.signal(Signal::SIGCONT).expect("continue");
    assert_eq!(
        queue.get_timeout(ms(10_000)).expect("get"),
        vec![3; 1_000_000]
    );
    putter.join_ok().expect("putter");
}

/// A timed put that runs out in the middle of a message larger than the ring withdraws it.
fn a_timed_put_mid_message_is_withdrawn() {
    let queue = Queue::<Vec<u8>>::with_capacity(0, 64 << 10).expect("queue");
    let start = Instant::now();
    match queue.put_timeout(&vec![4; 1_000_000], ms(100)) {
        Err(e @ QueueError::Abandoned { sent, len }) => {
            assert!(sent > 0 && sent < len && len == 1_000_001, "{e}");
            assert!(e.is_timeout());
        }
        other => panic!("expected Abandoned, got {other:?}"),
    }
    assert!(start.elapsed() < ms(100) + LATE);
    assert!(matches!(
        queue.put_nowait(&vec![4; 1_000_000]),
        Err(QueueError::Full)
    ));
    queue.put_nowait(&vec![5; 1000]).expect("put");
    assert_eq!(queue.get_nowait().expect("get"), vec![5; 1000]);
    assert!(matches!(queue.get_nowait(), Err(QueueError::Empty)));
}

fn main() {
    ipc_common::testing::run(&[
        (
            "the_other_getter_takes_the_message_of_a_killed_one",
            the_other_getter_takes_the_message_of_a_killed_one,
        ),
        (
            "get_timeout_holds_while_a_putter_is_stopped_mid_copy",
            get_timeout_holds_while_a_putter_is_stopped_mid_copy,
        ),
        (
            "a_putter_killed_mid_message_leaves_nothing_behind",
            a_putter_killed_mid_message_leaves_nothing_behind,
        ),
        (
            "a_getter_killed_mid_message_loses_that_message_only",
            a_getter_killed_mid_message_loses_that_message_only,
        ),
        (
            "a_timed_get_mid_message_resumes",
            a_timed_get_mid_message_resumes,
        ),
        (
            "a_timed_put_mid_message_is_withdrawn",
            a_timed_put_mid_message_is_withdrawn,
        ),
    ]);
}
