//! Lock, Mutex, Semaphore, BoundedSemaphore and Event across real processes: exclusion, bounds,
//! exact timeouts and a holder's death. A `harness = false` program, since every test forks.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

mod sync_util;

use ipc_common::{BoundedSemaphore, Event, Lock, Mutex, Process, Semaphore, ShmBox};
use sync_util::{WAIT, assert_exact_timeouts, holder, join_all, sleep};

fn lock_excludes_four_processes() {
    let lock = Lock::new().expect("lock");
    let count = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let kids = (0..4)
        .map(|i| {
            Process::start(format!("inc{i}"), || {
                for _ in 0..100_000 {
                    let _g = lock.acquire().expect("acquire");
                    // A read and a separate write: without the lock, updates would be lost.
                    let v = count.load(SeqCst);
                    count.store(v + 1, SeqCst);
                }
            })
            .expect("start")
        })
        .collect();
    join_all(kids);
    assert_eq!(count.load(SeqCst), 400_000);
}

fn lock_timeouts_are_exact() {
    let lock = Lock::new().expect("lock");
    let holder = holder("holder", || lock.acquire().expect("acquire"));
    assert_exact_timeouts("Lock", |d| {
        lock.acquire_timeout(d).expect("acquire_timeout").is_some()
    });
    assert!(lock.try_acquire().expect("try").is_none());
    holder.release();
    // The holder released it (its guard was dropped before it exited).
    let g = lock
        .acquire_timeout(WAIT)
        .expect("acquire")
        .expect("free now");
    assert!(!g.previous_holder_died());
}

fn mutex_timeouts_are_exact() {
    let mutex = Mutex::new(7u64).expect("mutex");
    let holder = holder("holder", || mutex.lock().expect("lock"));
    assert_exact_timeouts("Mutex", |d| {
        mutex.lock_timeout(d).expect("lock_timeout").is_some()
    });
    holder.release();
    assert_eq!(
        *mutex.lock_timeout(WAIT).expect("lock").expect("free now"),
        7
    );
}

fn lock_survives_its_holder_being_killed() {
    let lock = Lock::new().expect("lock");
    holder("doomed", || lock.acquire().expect("acquire")).kill();
    let g = lock
        .acquire_timeout(Duration::from_secs(2))
        .expect("acquire")
        .expect("a dead holder's lock must be handed on, not stay taken");
    assert!(g.previous_holder_died(), "the new holder must be told");
    drop(g);
    let g = lock.acquire().expect("acquire");
    assert!(!g.previous_holder_died(), "the lock is consistent again");
}

fn lock_held_at_exit_is_handed_on() {
    let lock = Lock::new().expect("lock");
    let child = Process::start("leaver", || {
        let g = lock.acquire().expect("acquire");
        // Not released: the child ends (exit, no unwinding) while it holds the lock.
        std::mem::forget(g);
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    let g = lock.acquire().expect("acquire");
    assert!(g.previous_holder_died());
}

fn semaphore_never_exceeds_its_permits() {
    let sem = Semaphore::new(2).expect("sem");
    let inside = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let most = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let kids = (0..6)
        .map(|i| {
            Process::start(format!("s{i}"), || {
                for _ in 0..20 {
                    let _permit = sem.acquire().expect("acquire");
                    let now = inside.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    sleep(1);
                    inside.fetch_sub(1, SeqCst);
                }
            })
            .expect("start")
        })
        .collect();
    join_all(kids);
    assert_eq!(most.load(SeqCst), 2, "at most 2 holders, and 2 reached");
    assert_eq!(sem.value(), 2);
}

fn semaphore_timeouts_are_exact_and_bounded() {
    let sem = BoundedSemaphore::new(1).expect("sem");
    let taken = sem.acquire().expect("acquire");
    let child = Process::start("timer", || {
        assert_exact_timeouts("Semaphore", |d| {
            sem.acquire_timeout(d).expect("acquire_timeout").is_some()
        });
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    drop(taken);
    assert!(sem.release().is_err(), "releasing past the limit must fail");
    assert_eq!(sem.value(), 1);
}

fn semaphore_release_wakes_another_process() {
    let sem = Semaphore::new(1).expect("sem");
    sem.acquire().expect("acquire").forget();
    let child = Process::start("acquirer", || {
        let got = sem
            .acquire_timeout(Duration::from_secs(5))
            .expect("acquire");
        assert!(got.is_some());
    })
    .expect("start");
    sleep(100);
    sem.release().expect("release");
    assert_eq!(child.join().expect("join"), 0);
}

fn event_waiters_block_until_set() {
    let event = Event::new().expect("event");
    let passed = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let kids = (0..3)
        .map(|i| {
            Process::start(format!("waiter{i}"), || {
                event.wait();
                passed.fetch_add(1, SeqCst);
            })
            .expect("start")
        })
        .collect();
    sleep(200);
    assert_eq!(passed.load(SeqCst), 0, "a waiter passed before the set");
    event.set();
    join_all(kids);
    assert_eq!(passed.load(SeqCst), 3);
    assert!(event.is_set());
    event.clear();
    assert!(!event.is_set());
}

fn event_timeouts_are_exact() {
    let event = Event::new().expect("event");
    assert_exact_timeouts("Event", |d| event.wait_timeout(d));
    let setter = Process::start("setter", || {
        sleep(100);
        event.set();
    })
    .expect("start");
    assert!(
        event.wait_timeout(Duration::from_secs(5)),
        "the set was missed"
    );
    assert_eq!(setter.join().expect("join"), 0);
}

fn main() {
    ipc_common::testing::run(&[
        ("lock_excludes_four_processes", lock_excludes_four_processes),
        ("lock_timeouts_are_exact", lock_timeouts_are_exact),
        ("mutex_timeouts_are_exact", mutex_timeouts_are_exact),
        (
            "lock_survives_its_holder_being_killed",
            lock_survives_its_holder_being_killed,
        ),
        (
            "lock_held_at_exit_is_handed_on",
            lock_held_at_exit_is_handed_on,
        ),
        (
            "semaphore_never_exceeds_its_permits",
            semaphore_never_exceeds_its_permits,
        ),
        (
            "semaphore_timeouts_are_exact_and_bounded",
            semaphore_timeouts_are_exact_and_bounded,
        ),
        (
            "semaphore_release_wakes_another_process",
            semaphore_release_wakes_another_process,
        ),
        (
            "event_waiters_block_until_set",
            event_waiters_block_until_set,
        ),
        ("event_timeouts_are_exact", event_timeouts_are_exact),
    ]);
}
