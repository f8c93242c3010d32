//! Note 4.3's guarantee across real processes: no waiter passes `wait` before the setter has
//! set the event, and every waiter passes after it. Waiters record what they saw in shared
//! memory. A `harness = false` program, since every test forks.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::thread::sleep;
use std::time::{Duration, Instant};

use ipc_common::{Event, Process, ShmBox};

fn counter() -> ShmBox<AtomicU32> {
    ShmBox::new(AtomicU32::new(0)).expect("shared counter")
}

/// Three waiters and one setter, as in the note (with shorter sleeps). Each waiter records,
/// when it returns from `wait`, whether the setter had already reached its `set` call.
fn waiters_pass_only_after_the_set() {
    let event = Event::new().expect("event");
    let setting = counter(); // 1 once the setter is about to call `set`
    let passed = counter(); // waiters that returned from `wait`
    let saw_set = counter(); // ... and found the setter past that point and the flag set
    let waiters: Vec<Process> = (0..3)
        .map(|i| {
            Process::start(format!("waiter{i}"), || {
                event.wait();
                passed.fetch_add(1, SeqCst);
                if setting.load(SeqCst) == 1 && event.is_set() {
                    saw_set.fetch_add(1, SeqCst);
                }
            })
            .expect("start")
        })
        .collect();
    let setter = Process::start("setter", || {
        sleep(Duration::from_millis(400));
        setting.store(1, SeqCst);
        event.set();
    })
    .expect("start");
    // Well before the set: nobody may have passed.
    sleep(Duration::from_millis(200));
    assert_eq!(passed.load(SeqCst), 0, "a waiter returned before the set");
    for p in waiters.iter().chain([&setter]) {
        assert_eq!(p.join().expect("join"), 0, "child {} failed", p.name());
    }
    assert_eq!(passed.load(SeqCst), 3, "every waiter passed");
    assert_eq!(saw_set.load(SeqCst), 3, "every waiter passed after the set");
}

/// A waiter that is never released does not return: its timed wait runs to the deadline
/// and reports the flag still clear.
fn a_waiter_does_not_return_before_the_set() {
    let event = Event::new().expect("event");
    let child = Process::start("waiter", || {
        let start = Instant::now();
        assert!(!event.wait_timeout(Duration::from_millis(300)));
        assert!(start.elapsed() >= Duration::from_millis(300));
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    assert!(!event.is_set());
}

/// Once set, the event lets every later wait through at once, until it is cleared.
fn set_stays_set_until_cleared() {
    let event = Event::new().expect("event");
    event.set();
    let child = Process::start("late", || {
        assert!(event.wait_timeout(Duration::ZERO));
        event.wait();
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    event.clear();
    assert!(!event.wait_timeout(Duration::from_millis(50)));
}

fn main() {
    ipc_common::testing::run(&[
        (
            "waiters_pass_only_after_the_set",
            waiters_pass_only_after_the_set,
        ),
        (
            "a_waiter_does_not_return_before_the_set",
            a_waiter_does_not_return_before_the_set,
        ),
        ("set_stays_set_until_cleared", set_stays_set_until_cleared),
    ]);
}
