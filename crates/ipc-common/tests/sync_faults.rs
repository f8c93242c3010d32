//! Faults of the synchronisation primitives, each reproduced exactly: a process killed at a
//! named instruction (`ipc_common::fault`) must not leave a survivor asleep with a permit,
//! or a set event waiting for it; an event set and cleared at once still wakes its
//! waiters.
//! A `harness = false` program, since every test forks.

mod sync_util;

use std::time::Duration;

use ipc_common::fault::{self, Fault};
use ipc_common::{Event, Process, Semaphore};
use nix::sys::signal::Signal;
use sync_util::{ends_soon, wait_asleep};

/// Two processes wait for a permit; the one the kernel wakes for the single release is killed
/// before it takes the permit. Without sliced sleeps the other slept on forever.
fn semaphore_woken_waiter_killed_before_taking() {
    for round in 0..3 {
        let sem = Semaphore::new(0).expect("sem");
        let waiters: Vec<Process> = (0..2)
            .map(|i| {
                Process::start(format!("waiter{i}"), || {
                    fault::arm("semaphore.acquire.woken", Fault::Kill, 1);
                    sem.acquire().expect("acquire").forget();
                })
                .expect("start")
            })
            .collect();
        waiters.iter().for_each(wait_asleep);
        sem.release().expect("release");
        let mut codes: Vec<i32> = waiters.iter().map(ends_soon).collect();
        codes.sort();
        assert_eq!(
            codes,
            [-9, 0],
            "round {round}: one woken and killed, one served"
        );
        assert_eq!(sem.value(), 0, "the permit was taken once");
    }
}

/// A releaser is killed after its increment and before its wake-up call.
fn semaphore_releaser_killed_before_waking() {
    let sem = Semaphore::new(0).expect("sem");
    let waiter = Process::start("waiter", || {
        sem.acquire().expect("acquire").forget();
    })
    .expect("start");
    wait_asleep(&waiter);
    let releaser = Process::start("releaser", || {
        fault::arm("semaphore.release.after_increment", Fault::Kill, 1);
        sem.release().expect("release");
    })
    .expect("start");
    assert_eq!(releaser.join().expect("join"), -9);
    assert_eq!(ends_soon(&waiter), 0);
    assert_eq!(sem.value(), 0);
}

/// A setter is killed after it set the flag and before its wake-up call.
fn event_setter_killed_before_waking() {
    let event = Event::new().expect("event");
    let waiters: Vec<Process> = (0..2)
        .map(|i| Process::start(format!("waiter{i}"), || event.wait()).expect("start"))
        .collect();
    waiters.iter().for_each(wait_asleep);
    let setter = Process::start("setter", || {
        fault::arm("event.set.before_wake", Fault::Kill, 1);
        event.set();
    })
    .expect("start");
    assert_eq!(setter.join().expect("join"), -9);
    for w in &waiters {
        assert_eq!(ends_soon(w), 0);
    }
}

/// Starts `n` processes that each wait (up to 30 s) for `event` and fail unless the wait
/// returns `true`; returns once all of them sleep.
fn event_waiters(event: &Event, n: usize) -> Vec<Process> {
    let waiters: Vec<Process> = (0..n)
        .map(|i| {
            Process::start(format!("waiter{i}"), || {
                assert!(
                    event.wait_timeout(Duration::from_secs(30)),
                    "missed the set"
                );
            })
            .expect("start")
        })
        .collect();
    waiters.iter().for_each(wait_asleep);
    waiters
}

/// The flag is cleared before the waiters wake: every process waiting at the `set` still
/// returns `true` (Python's rule). Made exact by stopping the setter between its change and
/// its wake-up call, then clearing.
fn event_cleared_before_the_wake_up_still_wakes() {
    let event = Event::new().expect("event");
    let waiters = event_waiters(&event, 4);
    let setter = Process::start("setter", || {
        fault::arm("event.set.before_wake", Fault::Stop, 1);
        event.set();
    })
    .expect("start");
    assert!(fault::wait_stopped(setter.pid(), Duration::from_secs(10)));
    event.clear();
    setter.signal(Signal::SIGCONT).expect("continue");
    for w in &waiters {
        assert_eq!(ends_soon(w), 0);
    }
    assert_eq!(setter.join().expect("join"), 0);
    assert!(!event.is_set());
    // A wait that starts after the clear blocks again.
    assert!(!event.wait_timeout(Duration::from_millis(20)));
}

/// `set()` and `clear()` at once, from one process: every waiter returns `true`.
fn event_set_then_clear_wakes_every_waiter() {
    for round in 0..5 {
        let event = Event::new().expect("event");
        let waiters = event_waiters(&event, 6);
        event.set();
        event.clear();
        for w in &waiters {
            assert_eq!(ends_soon(w), 0, "round {round}");
        }
    }
}

fn main() {
    ipc_common::testing::run(&[
        (
            "semaphore_woken_waiter_killed_before_taking",
            semaphore_woken_waiter_killed_before_taking,
        ),
        (
            "semaphore_releaser_killed_before_waking",
            semaphore_releaser_killed_before_waking,
        ),
        (
            "event_setter_killed_before_waking",
            event_setter_killed_before_waking,
        ),
        (
            "event_cleared_before_the_wake_up_still_wakes",
            event_cleared_before_the_wake_up_still_wakes,
        ),
        (
            "event_set_then_clear_wakes_every_waiter",
            event_set_then_clear_wakes_every_waiter,
        ),
    ]);
}
