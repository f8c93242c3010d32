//! Python's meaning of `Semaphore`, `BoundedSemaphore`, `RLock` and `locked()`, checked across
//! real processes: unbounded and bounded releases, a permit of a dead holder, re-entrance,
//! exclusion of other processes and threads, a holder killed at depth, exact timeouts.
//! A `harness = false` program, since every test forks.

mod sync_util;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use ipc_common::{BoundedSemaphore, Lock, Process, RLock, Semaphore, ShmBox, SyncError};
use sync_util::{WAIT, assert_exact_timeouts, holder, join_all, sleep};

/// Python: `release()` of a `Semaphore` may raise the count above its start, so
/// `Semaphore(0)` is a signal.
fn semaphore_may_be_released_above_its_start() {
    let sem = Semaphore::new(0).expect("sem");
    assert!(sem.try_acquire().expect("try").is_none());
    for _ in 0..3 {
        sem.release().expect("release");
    }
    assert_eq!(sem.get_value(), 3);
    let taken: Vec<_> = (0..3)
        .map(|_| sem.try_acquire().expect("try").expect("a permit"))
        .collect();
    assert!(sem.try_acquire().expect("try").is_none());
    drop(taken);
    assert_eq!(sem.value(), 3);
    // As a signal between processes: each release lets one acquire through.
    let signal = Semaphore::new(0).expect("sem");
    let got = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let waiters: Vec<Process> = (0..3)
        .map(|i| {
            Process::start(format!("waiter{i}"), || {
                let permit = signal
                    .acquire_timeout(Duration::from_secs(10))
                    .expect("acquire");
                permit.expect("signalled").forget();
                got.fetch_add(1, SeqCst);
            })
            .expect("start")
        })
        .collect();
    sleep(50);
    assert_eq!(got.load(SeqCst), 0, "nobody passes before a release");
    for _ in 0..3 {
        signal.release().expect("release");
    }
    join_all(waiters);
    assert_eq!((got.load(SeqCst), signal.value()), (3, 0));
}

/// Python: `BoundedSemaphore.release()` beyond the starting value raises `ValueError`.
fn bounded_semaphore_refuses_releases_above_its_start() {
    let sem = BoundedSemaphore::new(2).expect("sem");
    assert!(matches!(
        sem.release(),
        Err(SyncError::TooManyReleases { limit: 2 })
    ));
    sem.acquire().expect("acquire").forget();
    let child = Process::start("releaser", || {
        sem.release().expect("one permit was taken");
        assert!(sem.release().is_err(), "the second release goes above 2");
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    assert_eq!(sem.get_value(), 2);
}

/// As in Python, a permit held by a process that dies is not given back.
fn semaphore_permit_of_a_dead_holder_stays_taken() {
    let sem = Semaphore::new(1).expect("sem");
    holder("holder", || sem.acquire().expect("acquire")).kill();
    assert_eq!(sem.value(), 0, "the dead holder's permit stays taken");
    assert!(
        sem.acquire_timeout(Duration::from_millis(100))
            .expect("acquire")
            .is_none()
    );
    sem.release().expect("release"); // given back by hand
    assert!(sem.try_acquire().expect("try").is_some());
}

/// Python: "a reentrant lock must be released by the thread that acquired it. Once a thread
/// has acquired a reentrant lock, the same thread may acquire it again without blocking; the
/// thread must release it once for each time it has acquired it."
fn rlock_nests_for_its_owner_only() {
    let lock = RLock::new().expect("rlock");
    assert!(!lock.locked());
    let a = lock.acquire().expect("acquire");
    let b = lock
        .acquire_timeout(Duration::from_millis(10))
        .expect("acquire")
        .expect("nested");
    let c = lock.try_acquire().expect("try").expect("nested");
    assert!(lock.locked());
    let lock = &lock;
    let other = |expect_free: bool| {
        let child = Process::start("other", move || {
            assert_eq!(lock.locked(), !expect_free);
            let got = lock.try_acquire().expect("try").is_some();
            assert_eq!(got, expect_free);
        })
        .expect("start");
        assert_eq!(child.join().expect("join"), 0);
    };
    other(false);
    drop(c);
    drop(a); // out of order: levels, not particular guards, are counted
    other(false);
    assert!(lock.locked());
    drop(b);
    assert!(!lock.locked());
    other(true);
}

/// Four processes add under an RLock they take at depth 1 and 2; no update is lost.
fn rlock_excludes_other_processes() {
    let lock = RLock::new().expect("rlock");
    let count = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let kids = (0..4)
        .map(|i| {
            Process::start(format!("inc{i}"), || {
                for _ in 0..20_000 {
                    let _outer = lock.acquire().expect("acquire");
                    let v = count.load(SeqCst);
                    let _inner = lock.acquire().expect("acquire");
                    count.store(v + 1, SeqCst);
                }
            })
            .expect("start")
        })
        .collect();
    join_all(kids);
    assert_eq!(count.load(SeqCst), 80_000);
}

/// The owner is a thread: another thread of the same process waits like another process.
/// Runs inside a child, whose threads cannot disturb the forks of later tests.
fn rlock_excludes_other_threads() {
    let child = Process::start("threads", || {
        let lock = RLock::new().expect("rlock");
        let count = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        let _outer = lock.acquire().expect("acquire");
                        let _inner = lock.acquire().expect("acquire");
                        let v = count.load(SeqCst);
                        count.store(v + 1, SeqCst);
                    }
                });
            }
        });
        assert_eq!(count.load(SeqCst), 80_000);
        let _held = lock.acquire().expect("acquire");
        std::thread::scope(|s| {
            s.spawn(|| assert!(lock.try_acquire().expect("try").is_none()));
        });
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
}

/// A holder killed at depth 3 hands the lock on at depth 1, and tells; it is consistent
/// afterwards.
fn rlock_holder_killed_at_depth_is_handed_on() {
    let lock = RLock::new().expect("rlock");
    let doomed = holder("doomed", || {
        (0..3)
            .map(|_| lock.acquire().expect("acquire"))
            .collect::<Vec<_>>()
    });
    assert!(lock.locked());
    doomed.kill();
    assert!(!lock.locked(), "a dead holder's lock is not locked");
    let g = lock
        .acquire_timeout(Duration::from_secs(2))
        .expect("acquire")
        .expect("a dead holder's lock must be handed on");
    assert!(g.previous_holder_died());
    let nested = lock.acquire().expect("acquire");
    assert!(!nested.previous_holder_died());
    drop(nested);
    drop(g);
    assert!(!lock.locked(), "one release per level: free again");
    let child = Process::start("next", || {
        let g = lock.try_acquire().expect("try").expect("free");
        assert!(!g.previous_holder_died());
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
}

/// Timed acquisitions of an RLock held by another process end exactly at their timeout.
fn rlock_timeouts_are_exact() {
    let lock = RLock::new().expect("rlock");
    let holder = holder("holder", || {
        (
            lock.acquire().expect("acquire"),
            lock.acquire().expect("acquire"),
        )
    });
    assert_exact_timeouts("RLock", |d| {
        lock.acquire_timeout(d).expect("acquire_timeout").is_some()
    });
    holder.release();
    assert!(lock.acquire_timeout(WAIT).expect("acquire").is_some());
}

/// Python 3.14's `Lock.locked()`: held by any process, not by a dead one.
fn lock_locked_tells_whether_anyone_holds_it() {
    let lock = Lock::new().expect("lock");
    assert!(!lock.locked());
    let g = lock.acquire().expect("acquire");
    assert!(lock.locked());
    drop(g);
    let holder = holder("holder", || lock.acquire().expect("acquire"));
    assert!(lock.locked());
    holder.kill();
    assert!(!lock.locked());
    assert!(lock.acquire().expect("acquire").previous_holder_died());
}

fn main() {
    ipc_common::testing::run(&[
        (
            "semaphore_may_be_released_above_its_start",
            semaphore_may_be_released_above_its_start,
        ),
        (
            "bounded_semaphore_refuses_releases_above_its_start",
            bounded_semaphore_refuses_releases_above_its_start,
        ),
        (
            "semaphore_permit_of_a_dead_holder_stays_taken",
            semaphore_permit_of_a_dead_holder_stays_taken,
        ),
        (
            "rlock_nests_for_its_owner_only",
            rlock_nests_for_its_owner_only,
        ),
        (
            "rlock_excludes_other_processes",
            rlock_excludes_other_processes,
        ),
        ("rlock_excludes_other_threads", rlock_excludes_other_threads),
        (
            "rlock_holder_killed_at_depth_is_handed_on",
            rlock_holder_killed_at_depth_is_handed_on,
        ),
        ("rlock_timeouts_are_exact", rlock_timeouts_are_exact),
        (
            "lock_locked_tells_whether_anyone_holds_it",
            lock_locked_tells_whether_anyone_holds_it,
        ),
    ]);
}
