//! Value and Array across real processes: locked updates lose nothing. A `harness = false`
//! program, since every test forks.

use ipc_common::{Process, SyncError};
use shm::{Array, Value};

fn join_all(kids: Vec<Process>) {
    for k in kids {
        assert_eq!(k.join().expect("join"), 0, "child {} failed", k.name());
    }
}

fn value_increments_from_four_processes_lose_nothing() {
    let counter = Value::new(0i64).expect("value");
    let kids = (0..4)
        .map(|i| {
            Process::start(format!("inc{i}"), || -> Result<(), SyncError> {
                for _ in 0..100_000 {
                    *counter.get_lock()? += 1;
                }
                Ok(())
            })
            .expect("start")
        })
        .collect();
    join_all(kids);
    assert_eq!(counter.value().expect("value"), 400_000);
}

fn array_updates_from_several_processes_sum_correctly() {
    let items = &Array::<u32>::new(8).expect("array");
    let kids = (1..=5u32)
        .map(|id| {
            Process::start(format!("adder{id}"), move || -> Result<(), SyncError> {
                for _ in 0..2_000 {
                    for i in 0..items.len() {
                        items.get_lock()?[i] += id;
                    }
                }
                Ok(())
            })
            .expect("start")
        })
        .collect();
    join_all(kids);
    // Each item got 2000 × (1 + 2 + 3 + 4 + 5).
    assert_eq!(items.to_vec().expect("to_vec"), vec![30_000; 8]);
}

fn from_slice_and_set_value_are_seen_by_children() {
    let items = Array::from_slice(&[1.5f64, 2.5, -3.0]).expect("array");
    let flag = Value::new(0u8).expect("value");
    assert_eq!(items.len(), 3);
    assert!(!items.is_empty());
    flag.set_value(7).expect("set");
    let child = Process::start("reader", || {
        assert_eq!(items.to_vec().expect("to_vec"), [1.5, 2.5, -3.0]);
        assert_eq!(flag.value().expect("value"), 7);
        items.get_lock().expect("lock").fill(0.25);
        flag.set_value(9).expect("set");
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    assert_eq!(items.to_vec().expect("to_vec"), [0.25; 3]);
    assert_eq!(flag.value().expect("value"), 9);
    assert!(Array::<i32>::new(0).expect("empty").is_empty());
}

fn main() {
    ipc_common::testing::run(&[
        (
            "value_increments_from_four_processes_lose_nothing",
            value_increments_from_four_processes_lose_nothing,
        ),
        (
            "array_updates_from_several_processes_sum_correctly",
            array_updates_from_several_processes_sum_correctly,
        ),
        (
            "from_slice_and_set_value_are_seen_by_children",
            from_slice_and_set_value_are_seen_by_children,
        ),
    ]);
}
