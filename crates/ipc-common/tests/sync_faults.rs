//! Faults of the synchronisation primitives, each reproduced exactly: a process killed at a
//! named instruction (`ipc_common::fault`) must not leave a survivor asleep with a permit,
//! a set event or a notification waiting for it; huge timeouts mean "forever"; an event set
//! and cleared at once still wakes its waiters; a forgotten guard cannot crash the process.
//! A `harness = false` program, since every test forks.

mod sync_util;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::fault::{self, Fault};
use ipc_common::{
    Barrier, Condition, Event, Lock, Mutex, MutexSlice, Process, RLock, Semaphore, ShmBox,
};
use nix::sys::signal::Signal;
use sync_util::{NOTICE, ends_soon, holder, sleep, wait_asleep};

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

/// Two processes wait on a condition; the one the kernel wakes for `notify()` is killed
/// before it takes the notification: the other takes it.
fn condition_woken_waiter_killed_before_taking() {
    let cond = Condition::with_lock(Lock::new().expect("lock")).expect("cond");
    let waiters: Vec<Process> = (0..2)
        .map(|i| {
            Process::start(format!("waiter{i}"), || {
                fault::arm("condition.wait.woken", Fault::Kill, 1);
                let guard = cond.acquire().expect("acquire");
                let (_guard, notified) = cond
                    .wait_timeout(guard, Duration::from_secs(30))
                    .expect("wait");
                assert!(notified);
            })
            .expect("start")
        })
        .collect();
    waiters.iter().for_each(wait_asleep);
    cond.notify();
    let mut codes: Vec<i32> = waiters.iter().map(ends_soon).collect();
    codes.sort();
    assert_eq!(codes, [-9, 0], "one woken and killed, one served");
}

/// A notifier is killed after it counted the notification and before its wake-up call.
fn condition_notifier_killed_before_waking() {
    let cond = Condition::new().expect("cond");
    let waiter = Process::start("waiter", || {
        let guard = cond.acquire().expect("acquire");
        let (_guard, notified) = cond
            .wait_timeout(guard, Duration::from_secs(30))
            .expect("wait");
        assert!(notified);
    })
    .expect("start");
    wait_asleep(&waiter);
    let notifier = Process::start("notifier", || {
        fault::arm("condition.notify.before_wake", Fault::Kill, 1);
        cond.notify();
    })
    .expect("start");
    assert_eq!(notifier.join().expect("join"), -9);
    assert_eq!(ends_soon(&waiter), 0);
}

/// The last party is killed after it released the round and before its wake-up call.
fn barrier_releaser_killed_before_waking() {
    let barrier = Barrier::new(3).expect("barrier");
    let waiters: Vec<Process> = (0..2)
        .map(|i| {
            Process::start(format!("party{i}"), || {
                barrier.wait_timeout(Duration::from_secs(30)).map(|_| ())
            })
            .expect("start")
        })
        .collect();
    waiters.iter().for_each(wait_asleep);
    let last = Process::start("last", || {
        fault::arm("barrier.release.before_wake", Fault::Kill, 1);
        let _ = barrier.wait();
    })
    .expect("start");
    assert_eq!(last.join().expect("join"), -9);
    for w in &waiters {
        assert_eq!(ends_soon(w), 0);
    }
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

/// Two processes wait for a lock; it is released and one of them is killed at once (before
/// or after it got the lock): the other must get it.
fn lock_waiter_killed_around_the_hand_over() {
    for round in 0..5 {
        let lock = Lock::new().expect("lock");
        let served = ShmBox::new(AtomicU32::new(0)).expect("shm");
        let guard = lock.acquire().expect("acquire");
        let waiters: Vec<Process> = (0..2)
            .map(|i| {
                Process::start(format!("waiter{i}"), || {
                    let _g = lock.acquire().expect("acquire");
                    served.fetch_add(1, SeqCst);
                })
                .expect("start")
            })
            .collect();
        waiters.iter().for_each(wait_asleep);
        drop(guard);
        waiters[round % 2].kill().expect("kill");
        let survivor = &waiters[1 - round % 2];
        assert_eq!(ends_soon(survivor), 0, "round {round}");
        assert!(served.load(SeqCst) >= 1);
        assert!(
            lock.try_acquire().expect("try").is_some(),
            "the lock is free"
        );
    }
}

/// `Duration::MAX` (or any timeout past the end of `Instant`) waits forever; it panicked.
fn huge_timeouts_wait_forever() {
    let lock = Lock::new().expect("lock");
    let rlock = RLock::new().expect("rlock");
    let mutex = Mutex::new(0u32).expect("mutex");
    let sem = Semaphore::new(0).expect("sem");
    let event = Event::new().expect("event");
    let huge = [Duration::MAX, Duration::from_secs(u64::MAX / 2)];
    for timeout in huge {
        // Free: at once.
        assert!(lock.acquire_timeout(timeout).expect("lock").is_some());
        assert!(rlock.acquire_timeout(timeout).expect("rlock").is_some());
        assert!(mutex.lock_timeout(timeout).expect("mutex").is_some());
        // Held by a child for 100 ms: after it lets go.
        let gate = Event::new().expect("event");
        let holder = Process::start("holder", || {
            let _l = lock.acquire().expect("lock");
            let _r = rlock.acquire().expect("rlock");
            let _m = mutex.lock().expect("mutex");
            gate.set();
            sleep(100);
            sem.release().expect("release");
            event.set();
        })
        .expect("start");
        gate.wait();
        let start = Instant::now();
        assert!(lock.acquire_timeout(timeout).expect("lock").is_some());
        assert!(rlock.acquire_timeout(timeout).expect("rlock").is_some());
        assert!(mutex.lock_timeout(timeout).expect("mutex").is_some());
        assert!(sem.acquire_timeout(timeout).expect("sem").is_some());
        assert!(event.wait_timeout(timeout));
        assert!(start.elapsed() < NOTICE);
        sem.acquire().expect("sem").forget(); // the guard above gave its permit back
        event.clear();
        assert_eq!(holder.join().expect("join"), 0);
    }
}

/// `Duration::MAX` for a condition and a barrier.
fn huge_timeouts_of_condition_and_barrier() {
    let cond = Condition::new().expect("cond");
    let barrier = Barrier::new(2).expect("barrier");
    let child = Process::start("partner", || {
        barrier.wait().expect("barrier");
        sleep(50);
        let _g = cond.acquire().expect("acquire");
        cond.notify_all();
    })
    .expect("start");
    let guard = cond.acquire().expect("acquire");
    assert!(barrier.wait_timeout(Duration::MAX).is_ok());
    let (_guard, notified) = cond.wait_timeout(guard, Duration::MAX).expect("wait");
    assert!(notified);
    assert_eq!(child.join().expect("join"), 0);
}

/// Forgets a guard, drops its lock, then locks and unlocks another robust lock many times:
/// the dropped lock's mapping must still be there for glibc's robust list (this crashed with
/// SIGSEGV when the mapping was unmapped).
fn forgotten_guard_then_dropped_lock() {
    fn hammer(other: &Lock) {
        for _ in 0..1000 {
            drop(other.acquire().expect("acquire"));
        }
    }
    /// A lock kind's name, and what forgets one of its guards and then hammers `other`.
    type Case = (&'static str, fn(&Lock));
    let kinds: [Case; 4] = [
        ("Lock", |other| {
            let first = Lock::new().expect("lock");
            std::mem::forget(first.acquire().expect("acquire"));
            drop(first);
            hammer(other);
        }),
        ("RLock", |other| {
            let first = RLock::new().expect("rlock");
            let outer = first.acquire().expect("acquire");
            std::mem::forget(first.acquire().expect("acquire"));
            drop(outer);
            drop(first);
            hammer(other);
        }),
        ("Mutex", |other| {
            let first = Mutex::new(7u64).expect("mutex");
            std::mem::forget(first.lock().expect("lock"));
            drop(first);
            hammer(other);
        }),
        ("MutexSlice", |other| {
            let first = MutexSlice::<u8>::zeroed(10).expect("slice");
            std::mem::forget(first.lock().expect("lock"));
            drop(first);
            hammer(other);
        }),
    ];
    for (name, case) in kinds {
        let child = Process::start(name, || {
            // Made before the first lock is dropped, so that it cannot reuse its address.
            let other = Lock::new().expect("lock");
            case(&other);
        })
        .expect("start");
        assert_eq!(
            child.join().expect("join"),
            0,
            "{name}: the process crashed"
        );
    }
}

/// The number of mappings of this process.
fn mappings() -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    maps.lines().count()
}

/// Only a lock held by a thread of this process keeps its mapping when dropped: locks used
/// and released, and a lock held by another process, are unmapped.
fn dropped_locks_are_unmapped_unless_held_here() {
    let child = Process::start("mapper", || {
        let before = mappings();
        for _ in 0..500 {
            let lock = Lock::new().expect("lock");
            drop(lock.acquire().expect("acquire"));
            let rlock = RLock::new().expect("rlock");
            let outer = rlock.acquire().expect("acquire");
            drop(rlock.acquire().expect("acquire"));
            drop(outer);
            let mutex = Mutex::new(1u64).expect("mutex");
            *mutex.lock().expect("lock") += 1;
        }
        assert!(mappings() < before + 10, "dropped locks were not unmapped");
        let lock = Lock::new().expect("lock");
        let elsewhere = holder("holder", || lock.acquire().expect("acquire"));
        let with = mappings();
        drop(lock);
        assert_eq!(
            mappings(),
            with - 1,
            "a lock held by another process is unmapped"
        );
        elsewhere.kill();
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
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
        (
            "condition_woken_waiter_killed_before_taking",
            condition_woken_waiter_killed_before_taking,
        ),
        (
            "condition_notifier_killed_before_waking",
            condition_notifier_killed_before_waking,
        ),
        (
            "barrier_releaser_killed_before_waking",
            barrier_releaser_killed_before_waking,
        ),
        (
            "lock_waiter_killed_around_the_hand_over",
            lock_waiter_killed_around_the_hand_over,
        ),
        ("huge_timeouts_wait_forever", huge_timeouts_wait_forever),
        (
            "huge_timeouts_of_condition_and_barrier",
            huge_timeouts_of_condition_and_barrier,
        ),
        (
            "forgotten_guard_then_dropped_lock",
            forgotten_guard_then_dropped_lock,
        ),
        (
            "dropped_locks_are_unmapped_unless_held_here",
            dropped_locks_are_unmapped_unless_held_here,
        ),
    ]);
}
