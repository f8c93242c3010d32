//! The semaphore's bound, measured with `Occupancy` across real processes started by every
//! start method (the semaphore and the counter are the children's arguments). A
//! `harness = false` program, since some tests fork.

use std::thread::sleep;
use std::time::Duration;

use ipc_common::{Process, Semaphore, StartMethod, SyncError, get_context};
use semaphore::Occupancy;

/// One child: `rounds` turns at the semaphore, counted in `holders` while it holds a permit.
fn take_turns((sem, holders, rounds): (Semaphore, Occupancy, usize)) -> Result<(), SyncError> {
    for _ in 0..rounds {
        let permit = sem.acquire()?;
        let inside = holders.enter();
        sleep(Duration::from_millis(2));
        drop(inside);
        drop(permit);
    }
    Ok(())
}

/// `workers` processes started by `method` take `rounds` turns each at a `permits`-permit
/// semaphore.
fn most_holders(method: StartMethod, permits: u32, workers: usize, rounds: usize) -> u32 {
    let sem = Semaphore::new(permits).expect("semaphore");
    let holders = Occupancy::new().expect("occupancy");
    let kids: Vec<Process> = (0..workers)
        .map(|i| {
            get_context(method)
                .process(take_turns, (sem.clone(), holders.clone(), rounds))
                .name(format!("w{i}"))
                .start()
                .expect("start")
        })
        .collect();
    for k in &kids {
        assert_eq!(k.join().expect("join"), 0, "child {} failed", k.name());
    }
    assert_eq!(holders.now(), 0, "everybody left");
    assert_eq!(sem.value(), permits, "every permit came back");
    holders.most()
}

fn five_processes_never_exceed_two_permits() {
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        assert_eq!(
            most_holders(method, 2, 5, 30),
            2,
            "{method}: at most 2 at once, and 2 reached"
        );
    }
}

fn one_permit_is_mutual_exclusion() {
    for method in [StartMethod::Fork, StartMethod::Spawn] {
        assert_eq!(most_holders(method, 1, 4, 20), 1, "{method}");
    }
}

fn occupancy_counts_without_a_semaphore() {
    let holders = Occupancy::new().expect("occupancy");
    let a = holders.enter();
    let b = holders.enter();
    assert_eq!((holders.now(), holders.most()), (2, 2));
    drop(a);
    drop(b);
    let _c = holders.enter();
    assert_eq!((holders.now(), holders.most()), (1, 2));
}

fn main() {
    ipc_common::testing::run(&[
        (
            "five_processes_never_exceed_two_permits",
            five_processes_never_exceed_two_permits,
        ),
        (
            "one_permit_is_mutual_exclusion",
            one_permit_is_mutual_exclusion,
        ),
        (
            "occupancy_counts_without_a_semaphore",
            occupancy_counts_without_a_semaphore,
        ),
    ]);
}
