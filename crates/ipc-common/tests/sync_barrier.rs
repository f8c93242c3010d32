//! Python's `Barrier` across real processes: every round releases all parties together with
//! distinct indexes; a timeout, `abort` or `reset` breaks it for every waiter; a party killed
//! while waiting still counts. A `harness = false` program, since every test forks.

mod sync_util;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::{Barrier, Process, ShmBox, ShmSlice, SyncError};
use sync_util::{LATE, ends_soon, join_all, sleep, wait_asleep};

/// Python: `wait()` returns "an integer in the range 0 to parties – 1, different for each
/// thread", and no party passes before all have arrived. Four processes, 50 rounds.
fn every_round_releases_all_with_distinct_indexes() {
    const PARTIES: u32 = 4;
    const ROUNDS: usize = 50;
    let barrier = Barrier::new(PARTIES).expect("barrier");
    let arrived = ShmBox::new(AtomicU32::new(0)).expect("shm");
    let indexes = ShmSlice::<AtomicU32>::zeroed(ROUNDS).expect("shm");
    let kids: Vec<Process> = (0..PARTIES)
        .map(|p| {
            Process::start(format!("party{p}"), || {
                for round in 0..ROUNDS {
                    arrived.fetch_add(1, SeqCst);
                    let index = barrier.wait().expect("wait");
                    assert!(index < PARTIES);
                    // Nobody passes before all have arrived in this round.
                    let here = arrived.load(SeqCst);
                    assert!(here >= PARTIES * (round as u32 + 1), "passed early");
                    let before = indexes[round].fetch_or(1 << index, SeqCst);
                    assert_eq!(before & (1 << index), 0, "index {index} given twice");
                }
            })
            .expect("start")
        })
        .collect();
    join_all(kids);
    assert!(indexes.iter().all(|i| i.load(SeqCst) == 0b1111));
    assert_eq!(barrier.n_waiting(), 0);
}

/// Python: a `wait(timeout)` that times out breaks the barrier; every waiter gets
/// `BrokenBarrierError`, and so does every later wait until `reset()`. The timeout is exact.
fn timeout_breaks_it_for_everyone() {
    let barrier = Barrier::new(3).expect("barrier");
    let waiter = Process::start("waiter", || {
        assert!(matches!(barrier.wait(), Err(SyncError::BrokenBarrier)));
    })
    .expect("start");
    wait_asleep(&waiter);
    assert_eq!(barrier.n_waiting(), 1);
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    assert!(matches!(
        barrier.wait_timeout(timeout),
        Err(SyncError::BrokenBarrier)
    ));
    let took = start.elapsed();
    assert!(took >= timeout, "ended early, after {took:?}");
    assert!(took < timeout + LATE, "ended late, after {took:?}");
    assert_eq!(ends_soon(&waiter), 0);
    assert!(barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert!(matches!(barrier.wait(), Err(SyncError::BrokenBarrier)));
    barrier.reset().expect("reset");
    assert!(!barrier.broken());
    full_round(&barrier);
}

/// Runs one round of `barrier` with `parties() - 1` children and this process.
fn full_round(barrier: &Barrier) {
    let kids: Vec<Process> = (1..barrier.parties())
        .map(|i| {
            Process::start(format!("party{i}"), || {
                barrier.wait_timeout(Duration::from_secs(10)).map(|_| ())
            })
            .expect("start")
        })
        .collect();
    barrier
        .wait_timeout(Duration::from_secs(10))
        .expect("a full round passes");
    join_all(kids);
}

/// Python: `abort()` puts the barrier into the broken state (waiters and later waits fail),
/// and `reset()` makes the processes waiting in it fail and the barrier usable again.
fn abort_and_reset_break_the_waiters() {
    let barrier = Barrier::new(3).expect("barrier");
    for how in ["abort", "reset"] {
        let waiters: Vec<Process> = (0..2)
            .map(|i| {
                Process::start(format!("waiter{i}"), || {
                    assert!(matches!(barrier.wait(), Err(SyncError::BrokenBarrier)));
                })
                .expect("start")
            })
            .collect();
        waiters.iter().for_each(wait_asleep);
        if how == "abort" {
            barrier.abort().expect("abort");
            assert!(barrier.broken());
            assert!(matches!(barrier.wait(), Err(SyncError::BrokenBarrier)));
        } else {
            barrier.reset().expect("reset");
            assert!(!barrier.broken());
        }
        for w in &waiters {
            assert_eq!(ends_soon(w), 0, "{how}");
        }
        barrier.reset().expect("reset");
        full_round(&barrier);
    }
}

/// A party killed while waiting has arrived: the round is released when the others arrive.
fn party_killed_while_waiting_still_counts() {
    let barrier = Barrier::new(3).expect("barrier");
    let doomed = Process::start("doomed", || {
        let _ = barrier.wait();
    })
    .expect("start");
    wait_asleep(&doomed);
    doomed.kill().expect("kill");
    assert_eq!(doomed.join().expect("join"), -9);
    let other = Process::start("other", || {
        barrier.wait_timeout(Duration::from_secs(10)).map(|_| ())
    })
    .expect("start");
    let index = barrier
        .wait_timeout(Duration::from_secs(10))
        .expect("released with the dead party's arrival");
    assert!((1..3).contains(&index));
    assert_eq!(other.join().expect("join"), 0);
    full_round(&barrier);
}

/// `parties`, `n_waiting`, a barrier of one party, and the parties a barrier may have.
fn counts_and_limits() {
    assert!(matches!(
        Barrier::new(0),
        Err(SyncError::BadParties { parties: 0 })
    ));
    assert!(Barrier::new(u32::MAX).is_err());
    let one = Barrier::new(1).expect("barrier");
    for _ in 0..3 {
        assert_eq!(one.wait().expect("wait"), 0, "a lone party passes at once");
    }
    let barrier = Barrier::new(3).expect("barrier");
    assert_eq!((barrier.parties(), barrier.n_waiting()), (3, 0));
    let waiters: Vec<Process> = (0..2)
        .map(|i| Process::start(format!("w{i}"), || barrier.wait().map(|_| ())).expect("start"))
        .collect();
    waiters.iter().for_each(wait_asleep);
    assert_eq!(barrier.n_waiting(), 2);
    sleep(100);
    assert_eq!(barrier.n_waiting(), 2, "still waiting for the third");
    assert_eq!(barrier.wait().expect("wait"), 2, "the last to arrive");
    join_all(waiters);
}

fn main() {
    ipc_common::testing::run(&[
        (
            "every_round_releases_all_with_distinct_indexes",
            every_round_releases_all_with_distinct_indexes,
        ),
        (
            "timeout_breaks_it_for_everyone",
            timeout_breaks_it_for_everyone,
        ),
        (
            "abort_and_reset_break_the_waiters",
            abort_and_reset_break_the_waiters,
        ),
        (
            "party_killed_while_waiting_still_counts",
            party_killed_while_waiting_still_counts,
        ),
        ("counts_and_limits", counts_and_limits),
    ]);
}
