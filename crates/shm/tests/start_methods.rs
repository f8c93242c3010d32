//! Values and arrays, raw or with their locks, as arguments of children started by spawn and
//! forkserver. Ordinary `#[test]`s: spawn and forkserver do not mind libtest's threads.

use ipc_common::{Process, StartMethod};
use shm::{RawArray, RawValue, Value};

/// Child `i` writes its own item and adds `i + 1` to the total. The children run one at a
/// time (each is joined before the next starts), so a plain read and write of the total
/// loses nothing.
fn fill((i, items, total): (usize, RawArray<f64>, RawValue<u64>)) {
    items.set(i, i as f64 * 1.5);
    total.set_value(total.value() + i as u64 + 1);
}

#[test]
fn raw_objects_travel_to_spawned_and_forkserver_children() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let items = RawArray::<f64>::new(4).expect("array");
        let total = RawValue::new(0u64).expect("value");
        for i in 0..4 {
            let child = Process::new(fill, (i, items.clone(), total.clone()))
                .start_method(method)
                .start()
                .expect("start");
            assert_eq!(child.join().expect("join"), 0, "{method}");
        }
        assert_eq!(items.to_vec(), [0.0, 1.5, 3.0, 4.5], "{method}");
        assert_eq!(total.value(), 1 + 2 + 3 + 4, "{method}");
    }
}

/// Adds 1 to both values 500 times, each time under its lock.
fn add(
    (counter, shared, array): (Value<i32>, Value<i64>, shm::Array<u32>),
) -> Result<(), ipc_common::SyncError> {
    for _ in 0..500 {
        *counter.get_lock()? += 1;
        *shared.get_lock()? += 1;
        let items = array.get_lock()?;
        let first = items.get(0);
        items.set(0, first + 1);
    }
    Ok(())
}

#[test]
fn locked_values_and_arrays_travel_with_their_locks() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let counter = Value::new(0i32).expect("value");
        let lock = ipc_common::Lock::new().expect("lock");
        let shared = Value::with_lock(0i64, lock.clone()).expect("value");
        let array = shm::Array::<u32>::new(2).expect("array");
        let kids: Vec<_> = (0..3)
            .map(|_| {
                Process::new(add, (counter.clone(), shared.clone(), array.clone()))
                    .start_method(method)
                    .start()
                    .expect("start")
            })
            .collect();
        for k in &kids {
            assert_eq!(k.join().expect("join"), 0, "{method}");
        }
        assert_eq!(
            counter.value().expect("value"),
            1500,
            "{method}: no update lost"
        );
        assert_eq!(shared.value().expect("value"), 1500, "{method}");
        assert_eq!(array.to_vec().expect("array"), [1500, 0], "{method}");
        // The same lock guards `shared` in the parent and in every child.
        let held = lock.acquire().expect("lock");
        assert!(
            shared
                .get_lock_timeout(std::time::Duration::from_millis(10))
                .expect("t")
                .is_none()
        );
        drop(held);
    }
}
