//! How the demo ends a deadlock: stopping both processes before killing them means neither
//! runs on with the lock its dying partner hands over, and the next owner of each lock is
//! told that its holder died. A `harness = false` program, since every test forks.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use ipc_common::{Event, Lock, Process, ShmBox};
use nix::sys::signal::Signal;

/// Takes `first`, waits until the partner holds its own, then blocks on `second`; counts in
/// `ran_on` if it ever gets past it.
fn take_both(first: &Lock, second: &Lock, mine: &Event, theirs: &Event, ran_on: &AtomicU32) {
    let _first = first.acquire().expect("first lock");
    mine.set();
    assert!(theirs.wait_timeout(Duration::from_secs(10)), "no partner");
    let _second = second.acquire().expect("second lock");
    ran_on.fetch_add(1, SeqCst);
}

fn stopped_then_killed_neither_runs_on() {
    for round in 0..20 {
        let (lock1, lock2) = (Lock::new().expect("lock"), Lock::new().expect("lock"));
        let (a_holds, b_holds) = (Event::new().expect("event"), Event::new().expect("event"));
        let ran_on = ShmBox::new(AtomicU32::new(0)).expect("shm");
        let a = Process::start("A", || {
            take_both(&lock1, &lock2, &a_holds, &b_holds, &ran_on)
        })
        .expect("start");
        let b = Process::start("B", || {
            take_both(&lock2, &lock1, &b_holds, &a_holds, &ran_on)
        })
        .expect("start");
        // Deadlocked: neither ends.
        assert_eq!(
            a.join_timeout(Duration::from_millis(100)).expect("join"),
            None
        );
        assert_eq!(
            b.join_timeout(Duration::from_millis(1)).expect("join"),
            None
        );
        a.signal(Signal::SIGSTOP).expect("stop");
        b.signal(Signal::SIGSTOP).expect("stop");
        a.kill().expect("kill");
        b.kill().expect("kill");
        assert_eq!(a.join().expect("join"), -9);
        assert_eq!(b.join().expect("join"), -9);
        assert_eq!(
            ran_on.load(SeqCst),
            0,
            "round {round}: one ran on after its partner died"
        );
        for lock in [&lock1, &lock2] {
            let guard = lock
                .acquire_timeout(Duration::from_secs(1))
                .expect("acquire")
                .expect("a dead holder's lock is handed on");
            assert!(guard.previous_holder_died(), "round {round}: not told");
        }
    }
}

fn main() {
    ipc_common::testing::run(&[(
        "stopped_then_killed_neither_runs_on",
        stopped_then_killed_neither_runs_on,
    )]);
}
