//! Python's `Condition` across real processes: `notify(n)` lets at most `n` waiters return
//! (also across liveness slices), only waiters that wait when it is called, timed-out waiters
//! do not swallow notifications, `wait_for`, an `RLock` released at every level, two
//! conditions sharing one lock, exact timeouts. A `harness = false` program, since every test
//! forks.

mod sync_util;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::{Condition, Lock, Process, RLock, ShmBox, ShmSlice, SyncError};
use sync_util::{NOTICE, assert_exact_timeouts, ends_soon, join_all, sleep, wait_asleep};

/// Starts `n` processes that wait (up to 30 s) on `cond` and count themselves in `returned`
/// when notified; returns once all of them sleep.
fn waiters<'a>(cond: &'a Condition<'_>, returned: &'a ShmBox<AtomicU32>, n: u32) -> Vec<Process> {
    let kids: Vec<Process> = (0..n)
        .map(|i| {
            Process::start(format!("waiter{i}"), || {
                let guard = cond.acquire().expect("acquire");
                let (_guard, notified) = cond
                    .wait_timeout(guard, Duration::from_secs(30))
                    .expect("wait");
                assert!(notified, "timed out instead of being notified");
                returned.fetch_add(1, SeqCst);
            })
            .expect("start")
        })
        .collect();
    kids.iter().for_each(wait_asleep);
    kids
}

/// Waits (up to `NOTICE`) until `count` reaches `want`.
fn reaches(count: &AtomicU32, want: u32) {
    let deadline = Instant::now() + NOTICE;
    while count.load(SeqCst) < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} returned",
            count.load(SeqCst)
        );
        sleep(1);
    }
}

/// Python: "`notify(n)` wakes up at most n of the threads waiting". Five waiters: `notify_n(2)`
/// lets exactly two return, and still two after several liveness slices; then one more,
/// then the rest.
fn notify_n_lets_at_most_n_return() {
    let cond = Condition::new().expect("cond");
    let returned = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let kids = waiters(&cond, &returned, 5);
    assert_eq!(returned.load(SeqCst), 0, "nobody returns before a notify");
    cond.notify_n(2);
    reaches(&returned, 2);
    sleep(300); // six slices: the others wake up, look, and must sleep on
    assert_eq!(returned.load(SeqCst), 2);
    cond.notify();
    reaches(&returned, 3);
    sleep(150);
    assert_eq!(returned.load(SeqCst), 3);
    cond.notify_all();
    reaches(&returned, 5);
    join_all(kids);
}

/// A notification reaches only processes that wait when it is made: one made with nobody
/// waiting is lost (as in Python), and a newcomer cannot take one meant for an older waiter.
fn notify_reaches_only_current_waiters() {
    let cond = Condition::new().expect("cond");
    cond.notify();
    cond.notify_all();
    let guard = cond.acquire().expect("acquire");
    let (guard, notified) = cond
        .wait_timeout(guard, Duration::from_millis(100))
        .expect("wait");
    assert!(!notified, "an earlier notify must not be kept");
    drop(guard);
    // One waiter, notified once, then a newcomer: the newcomer must time out.
    let returned = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let first = waiters(&cond, &returned, 1);
    {
        let guard = cond.acquire().expect("acquire"); // the first cannot take the lock back yet
        cond.notify();
        let newcomer = Process::start("newcomer", || {
            let guard = cond.acquire().expect("acquire");
            let (_g, notified) = cond
                .wait_timeout(guard, Duration::from_millis(300))
                .expect("wait");
            assert!(
                !notified,
                "the newcomer took the older waiter's notification"
            );
        })
        .expect("start");
        sleep(50);
        drop(guard);
        assert_eq!(ends_soon(&newcomer), 0);
    }
    join_all(first);
    assert_eq!(returned.load(SeqCst), 1);
}

/// Waiters that timed out leave: a later `notify()` goes to a process still waiting instead
/// of being spent on them.
fn timed_out_waiters_do_not_swallow_notifications() {
    let cond = Condition::new().expect("cond");
    let quick: Vec<Process> = (0..3)
        .map(|i| {
            Process::start(format!("quick{i}"), || {
                let guard = cond.acquire().expect("acquire");
                let (_g, notified) = cond
                    .wait_timeout(guard, Duration::from_millis(100))
                    .expect("wait");
                assert!(!notified);
            })
            .expect("start")
        })
        .collect();
    let returned = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let patient = waiters(&cond, &returned, 1);
    join_all(quick); // all three timed out
    cond.notify();
    reaches(&returned, 1);
    join_all(patient);
}

/// `wait_timeout` without a notification ends exactly at its timeout, lock held again.
fn wait_timeouts_are_exact() {
    let cond = Condition::with_lock(Lock::new().expect("lock")).expect("cond");
    let mut guard = Some(cond.acquire().expect("acquire"));
    assert_exact_timeouts("Condition", |d| {
        let (g, notified) = cond
            .wait_timeout(guard.take().expect("guard"), d)
            .expect("wait");
        guard = Some(g);
        notified
    });
}

/// Python's `wait_for(predicate, timeout)`: consumers wait for items a producer adds one at
/// a time; every item is taken exactly once, and a consumer whose predicate never holds
/// returns `false` at its timeout.
fn wait_for_predicate() {
    const ITEMS: u32 = 200;
    let cond = Condition::new().expect("cond");
    let stock = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let taken = ShmSlice::<AtomicU32>::zeroed(3).expect("shm");
    let done = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let consumers: Vec<Process> = (0..3)
        .map(|c| {
            let (cond, stock, taken, done) = (&cond, &stock, &taken, &done);
            Process::start(format!("consumer{c}"), move || {
                loop {
                    let guard = cond.acquire().expect("acquire");
                    let ready = || stock.load(SeqCst) > 0 || done.load(SeqCst) == 1;
                    let (_guard, ok) = cond.wait_for(guard, ready, None).expect("wait_for");
                    assert!(ok);
                    if stock.load(SeqCst) == 0 {
                        return; // done, and nothing left
                    }
                    stock.fetch_sub(1, SeqCst);
                    taken[c].fetch_add(1, SeqCst);
                }
            })
            .expect("start")
        })
        .collect();
    for _ in 0..ITEMS {
        let _guard = cond.acquire().expect("acquire");
        stock.fetch_add(1, SeqCst);
        cond.notify();
    }
    {
        let _guard = cond.acquire().expect("acquire");
        done.store(1, SeqCst);
        cond.notify_all();
    }
    join_all(consumers);
    let total: u32 = taken.iter().map(|t| t.load(SeqCst)).sum();
    assert_eq!((total, stock.load(SeqCst)), (ITEMS, 0));
    // A predicate that never holds: false, exactly at the timeout.
    let guard = cond.acquire().expect("acquire");
    let start = Instant::now();
    let (_guard, ok) = cond
        .wait_for(guard, || false, Some(Duration::from_millis(200)))
        .expect("wait_for");
    assert!(!ok);
    assert!(start.elapsed() >= Duration::from_millis(200));
}

/// Python's `Condition()` uses an `RLock`, and `wait` releases every level of it: another
/// process can take the lock while the owner (at depth 2) waits, and the owner gets both
/// levels back.
fn wait_releases_every_level_of_an_rlock() {
    let lock = RLock::new().expect("rlock");
    let cond = Condition::with_lock(&lock).expect("cond");
    let outer = lock.acquire().expect("acquire");
    let inner = cond.acquire().expect("acquire"); // depth 2
    let notifier = Process::start("notifier", || {
        let g = lock
            .acquire_timeout(Duration::from_secs(10))
            .expect("acquire")
            .expect("the waiter released every level");
        cond.notify();
        drop(g);
    })
    .expect("start");
    let (inner, notified) = cond
        .wait_timeout(inner, Duration::from_secs(10))
        .expect("wait");
    assert!(notified);
    assert_eq!(notifier.join().expect("join"), 0);
    drop(inner);
    assert!(lock.locked(), "the outer level is held again");
    let check = Process::start("check", || {
        assert!(lock.try_acquire().expect("try").is_none());
    })
    .expect("start");
    assert_eq!(check.join().expect("join"), 0);
    drop(outer);
    assert!(!lock.locked());
}

/// Python's bounded-buffer pattern: `not_empty` and `not_full` share one lock. Two producers
/// and two consumers move every number exactly once through a two-slot buffer.
fn two_conditions_share_one_lock() {
    const PER_PRODUCER: u64 = 300;
    let lock = Lock::new().expect("lock");
    let not_empty = Condition::with_lock(&lock).expect("cond");
    let not_full = Condition::with_lock(&lock).expect("cond");
    let buffer = ShmSlice::<AtomicU64>::zeroed(2).expect("shm");
    let len = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let sum = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let count = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let producers: Vec<Process> = (0..2u64)
        .map(|p| {
            let (lock, not_empty, not_full, buffer, len) =
                (&lock, &not_empty, &not_full, &buffer, &len);
            Process::start(format!("producer{p}"), move || {
                for i in 0..PER_PRODUCER {
                    let guard = lock.acquire().expect("acquire").into();
                    let (_g, _) = not_full
                        .wait_for(guard, || len.load(SeqCst) < 2, None)
                        .expect("wait_for");
                    let at = len.fetch_add(1, SeqCst);
                    buffer[at as usize].store(p * PER_PRODUCER + i + 1, SeqCst);
                    not_empty.notify();
                }
            })
            .expect("start")
        })
        .collect();
    let consumers: Vec<Process> = (0..2)
        .map(|c| {
            let (lock, not_empty, not_full, buffer, len, sum, count) =
                (&lock, &not_empty, &not_full, &buffer, &len, &sum, &count);
            Process::start(format!("consumer{c}"), move || {
                for _ in 0..PER_PRODUCER {
                    let guard = lock.acquire().expect("acquire").into();
                    let (_g, _) = not_empty
                        .wait_for(guard, || len.load(SeqCst) > 0, None)
                        .expect("wait_for");
                    let at = len.fetch_sub(1, SeqCst) - 1;
                    sum.fetch_add(buffer[at as usize].load(SeqCst), SeqCst);
                    count.fetch_add(1, SeqCst);
                    not_full.notify();
                }
            })
            .expect("start")
        })
        .collect();
    join_all(producers);
    join_all(consumers);
    let n = 2 * PER_PRODUCER;
    assert_eq!(count.load(SeqCst), n);
    assert_eq!(
        sum.load(SeqCst),
        n * (n + 1) / 2,
        "each number exactly once"
    );
    // A guard of another lock is refused.
    let stranger = Lock::new().expect("lock");
    let wrong = not_empty.wait(stranger.acquire().expect("acquire").into());
    assert!(matches!(wrong, Err(SyncError::WrongLock)));
    assert!(!stranger.locked(), "the refused guard was dropped");
}

/// The holder of a condition's lock dies: the next process to take it (a waiter coming back
/// from `wait`) is told.
fn waiter_is_told_when_a_lock_holder_died() {
    let cond = Condition::new().expect("cond");
    let returned = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let waiter = Process::start("waiter", || {
        let guard = cond.acquire().expect("acquire");
        let (guard, notified) = cond
            .wait_timeout(guard, Duration::from_secs(30))
            .expect("wait");
        assert!(notified);
        assert!(guard.previous_holder_died());
        returned.fetch_add(1, SeqCst);
    })
    .expect("start");
    wait_asleep(&waiter);
    let doomed = Process::start("doomed", || {
        let _guard = cond.acquire().expect("acquire");
        cond.notify();
        sleep(60_000);
    })
    .expect("start");
    sleep(100);
    doomed.kill().expect("kill");
    assert_eq!(doomed.join().expect("join"), -9);
    assert_eq!(ends_soon(&waiter), 0);
    assert_eq!(returned.load(SeqCst), 1);
}

/// A guard the child inherited does not hold the lock in the child: `wait` refuses it
/// before it counts a waiter, over a Lock and over an RLock.
fn inherited_guard_is_refused() {
    let lock = Condition::with_lock(Lock::new().expect("lock")).expect("cond");
    let rlock = Condition::new().expect("cond");
    for cond in [&lock, &rlock] {
        let guard = cond.acquire().expect("acquire");
        let heir = Process::start("heir", move || {
            let refused = cond.wait_timeout(guard, Duration::from_millis(100));
            assert!(matches!(refused, Err(SyncError::WrongLock)));
        })
        .expect("start");
        assert_eq!(heir.join().expect("join"), 0);
        assert!(format!("{cond:?}").contains("waiting: 0"), "{cond:?}");
    }
}

fn main() {
    ipc_common::testing::run(&[
        (
            "notify_n_lets_at_most_n_return",
            notify_n_lets_at_most_n_return,
        ),
        (
            "notify_reaches_only_current_waiters",
            notify_reaches_only_current_waiters,
        ),
        (
            "timed_out_waiters_do_not_swallow_notifications",
            timed_out_waiters_do_not_swallow_notifications,
        ),
        ("wait_timeouts_are_exact", wait_timeouts_are_exact),
        ("wait_for_predicate", wait_for_predicate),
        (
            "wait_releases_every_level_of_an_rlock",
            wait_releases_every_level_of_an_rlock,
        ),
        (
            "two_conditions_share_one_lock",
            two_conditions_share_one_lock,
        ),
        ("inherited_guard_is_refused", inherited_guard_is_refused),
        (
            "waiter_is_told_when_a_lock_holder_died",
            waiter_is_told_when_a_lock_holder_died,
        ),
    ]);
}
