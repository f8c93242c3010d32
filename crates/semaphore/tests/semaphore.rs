//! The semaphore's bound, measured with `Occupancy` across real processes. A `harness = false`
//! program, since every test forks.

use std::thread::sleep;
use std::time::Duration;

use ipc_common::{Process, Semaphore};
use semaphore::Occupancy;

/// `workers` processes take `rounds` turns each at a `permits`-permit semaphore.
fn most_holders(permits: u32, workers: usize, rounds: usize) -> u32 {
    let sem = Semaphore::new(permits).expect("semaphore");
    let holders = Occupancy::new().expect("occupancy");
    let kids: Vec<Process> = (0..workers)
        .map(|i| {
            Process::start(format!("w{i}"), || {
                for _ in 0..rounds {
                    let permit = sem.acquire().expect("acquire");
                    let inside = holders.enter();
                    sleep(Duration::from_millis(2));
                    drop(inside);
                    drop(permit);
                }
            })
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
    assert_eq!(
        most_holders(2, 5, 30),
        2,
        "at most 2 at once, and 2 reached"
    );
}

fn one_permit_is_mutual_exclusion() {
    assert_eq!(most_holders(1, 4, 20), 1);
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
