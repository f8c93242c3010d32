//! Value, Array, RawValue and RawArray across real processes made by fork: locked updates
//! lose nothing, a shared lock excludes across values, a killed holder is reported and leaves
//! nothing half-written in a value, timeouts are exact. A `harness = false` program, since
//! every test forks.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::fault::wait_stopped;
use ipc_common::{Lock, Process, ShmBox, SyncError};
use nix::sys::signal::{Signal, raise};
use shm::{Array, RawArray, RawValue, SharedLock, Value};

fn join_all(kids: Vec<Process>) {
    for k in kids {
        assert_eq!(k.join().expect("join"), 0, "child {} failed", k.name());
    }
}

/// Stops the calling child until the test continues or kills it.
fn stop_self() {
    raise(Signal::SIGSTOP).expect("SIGSTOP");
}

fn stopped(p: &Process) {
    assert!(
        wait_stopped(p.pid(), Duration::from_secs(10)),
        "{} did not stop",
        p.name()
    );
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
                        let guard = items.get_lock()?;
                        guard.set(i, guard.get(i) + id);
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
        items.copy_from_slice(&[0.25; 3]).expect("copy");
        items.set(1, 9.5).expect("set");
        flag.set_value(9).expect("set");
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    assert_eq!(items.to_vec().expect("to_vec"), [0.25, 9.5, 0.25]);
    assert_eq!(items.get(1).expect("get"), 9.5);
    assert_eq!(flag.value().expect("value"), 9);
    assert!(Array::<i32>::new(0).expect("empty").is_empty());
}

fn raw_objects_are_shared_without_a_lock() {
    let raw = RawValue::new(-1i16).expect("raw");
    let items = RawArray::from_slice(&[true, false, true]).expect("raw array");
    let child = Process::start("raw", || {
        assert_eq!(raw.value(), -1);
        raw.set_value(12_345);
        items.set(1, true);
        items.set(2, false);
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    assert_eq!(raw.value(), 12_345);
    assert_eq!(items.to_vec(), [true, true, false]);
    // A clone is the same memory, not a copy.
    let alias = raw.clone();
    alias.set_value(7);
    assert_eq!(raw.value(), 7);
    assert_eq!(format!("{raw:?}"), "RawValue(7)");
}

fn get_obj_is_the_memory_behind_the_lock() {
    let value = Value::new(1u32).expect("value");
    value.get_obj().set_value(5);
    assert_eq!(value.value().expect("value"), 5);
    // synchronized() wraps an existing raw value: both see one number.
    let raw = RawArray::<i32>::new(3).expect("raw");
    let array = Array::synchronized(raw.clone(), SharedLock::new().expect("lock"));
    array.set(0, 4).expect("set");
    assert_eq!(raw.get(0), 4);
    raw.set(2, 6);
    assert_eq!(array.to_vec().expect("to_vec"), [4, 0, 6]);
    assert_eq!(format!("{array:?}"), "Array([4, 0, 6])");
}

fn one_lock_guards_several_values_across_processes() {
    let lock = Lock::new().expect("lock");
    let shared = SharedLock::from(lock);
    let a = Value::with_lock(0i32, shared.clone()).expect("a");
    let b = Value::with_lock(0i32, shared).expect("b");
    let own = Value::new(0i32).expect("own lock");
    let holder = Process::start("holder", || -> Result<(), SyncError> {
        let mut guard = a.get_lock()?;
        *guard = 1;
        stop_self(); // holding a's lock, which is b's too
        Ok(())
    })
    .expect("start");
    stopped(&holder);
    let short = Duration::from_millis(50);
    assert!(
        b.get_lock_timeout(short).expect("b").is_none(),
        "b's lock is a's"
    );
    assert!(own.get_lock_timeout(short).expect("own").is_some());
    holder.signal(Signal::SIGCONT).expect("cont");
    assert_eq!(holder.join().expect("join"), 0);
    assert_eq!(a.value().expect("a"), 1);
    assert!(
        a.shared_lock()
            .as_lock()
            .expect("a Lock")
            .try_acquire()
            .expect("try")
            .is_some()
    );
}

fn a_killed_holder_is_reported_and_leaves_no_half_written_value() {
    let value = Value::new(10i64).expect("value");
    let items = Array::from_slice(&[0u8; 4]).expect("array");
    let holder = Process::start("doomed", || -> Result<(), SyncError> {
        let mut guard = value.get_lock()?;
        *guard = 11; // in the guard's copy only, until the guard is dropped
        let array = items.get_lock()?;
        array.set(0, 1); // straight to shared memory
        stop_self();
        Ok(())
    })
    .expect("start");
    stopped(&holder);
    holder.kill().expect("kill");
    assert_eq!(holder.join().expect("join"), -9);
    let guard = value
        .get_lock_timeout(Duration::from_secs(5))
        .expect("lock")
        .expect("a dead holder's lock is handed on");
    assert!(guard.previous_holder_died());
    assert_eq!(*guard, 10, "the dead holder's change is lost whole");
    drop(guard);
    let array = items.get_lock().expect("lock");
    assert!(array.previous_holder_died());
    assert_eq!(array.to_vec(), [1, 0, 0, 0], "its direct writes stay");
    drop(array);
    assert!(!value.get_lock().expect("lock").previous_holder_died());
}

fn lock_timeouts_are_exact() {
    const WAIT: Duration = Duration::from_millis(200);
    // How late a timed wait may end: scheduling delay on a busy machine.
    const LATE: Duration = Duration::from_millis(100);
    let value = Value::new(0u8).expect("value");
    let items = Array::<u8>::new(1).expect("array");
    let holder = Process::start("holder", || -> Result<(), SyncError> {
        let _v = value.get_lock()?;
        let _a = items.get_lock()?;
        stop_self();
        Ok(())
    })
    .expect("start");
    stopped(&holder);
    for i in 0..5 {
        let start = Instant::now();
        let timed_out = if i % 2 == 0 {
            value.get_lock_timeout(WAIT).expect("lock").is_none()
        } else {
            items.get_lock_timeout(WAIT).expect("lock").is_none()
        };
        let took = start.elapsed();
        assert!(timed_out, "wait {i} got a held lock");
        assert!(took >= WAIT, "wait {i} ended early, after {took:?}");
        assert!(took < WAIT + LATE, "wait {i} ended late, after {took:?}");
    }
    holder.signal(Signal::SIGCONT).expect("cont");
    assert_eq!(holder.join().expect("join"), 0);
    assert!(value.get_lock_timeout(WAIT).expect("lock").is_some());
}

/// The target of a child started with `Process::new`: moved, not borrowed.
fn add_one(
    (value, raw, done): (Value<u64>, RawArray<u64>, ShmBox<AtomicU32>),
) -> Result<(), SyncError> {
    *value.get_lock()? += 1;
    raw.set(0, raw.get(0) + 1);
    done.fetch_add(1, SeqCst);
    Ok(())
}

fn clones_are_arguments_of_forked_children() {
    let value = Value::new(0u64).expect("value");
    let raw = RawArray::<u64>::new(1).expect("raw");
    let done = ShmBox::new(AtomicU32::new(0)).expect("box");
    let child = Process::new(
        add_one,
        (value.clone(), raw.clone(), done.try_clone().expect("dup")),
    )
    .start()
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    assert_eq!(done.load(SeqCst), 1);
    assert_eq!(value.value().expect("value"), 1);
    assert_eq!(raw.get(0), 1);
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
        (
            "raw_objects_are_shared_without_a_lock",
            raw_objects_are_shared_without_a_lock,
        ),
        (
            "get_obj_is_the_memory_behind_the_lock",
            get_obj_is_the_memory_behind_the_lock,
        ),
        (
            "one_lock_guards_several_values_across_processes",
            one_lock_guards_several_values_across_processes,
        ),
        (
            "a_killed_holder_is_reported_and_leaves_no_half_written_value",
            a_killed_holder_is_reported_and_leaves_no_half_written_value,
        ),
        ("lock_timeouts_are_exact", lock_timeouts_are_exact),
        (
            "clones_are_arguments_of_forked_children",
            clones_are_arguments_of_forked_children,
        ),
    ]);
}
