//! RawValue and RawArray as arguments of children started by spawn and forkserver, and the
//! clear refusal for a Value, whose lock cannot travel yet. Ordinary `#[test]`s: spawn and
//! forkserver do not mind libtest's threads.

use ipc_common::{Process, ProcessError, StartMethod};
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

fn never_runs(_: Value<i32>) {}

#[test]
fn a_locked_value_is_refused_clearly_until_its_lock_can_travel() {
    let value = Value::new(1i32).expect("value");
    let err = Process::new(never_runs, value)
        .start_method(StartMethod::Spawn)
        .start()
        .expect_err("a Lock cannot be sent");
    assert!(
        matches!(err, ProcessError::Arguments { .. }),
        "wrong error: {err}"
    );
    // The codec keeps only "Serde Serialization Error"; the reason is in serde's error.
    let why = serde_json::to_string(&Value::new(2i32).expect("value")).expect_err("refused");
    assert!(
        why.to_string().contains("cannot be passed to a spawned"),
        "{why}"
    );
}
