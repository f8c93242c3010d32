//! Python's `Pool` API, name by name, on workers started by forkserver (ordinary `#[test]`s).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipc_common::StartMethod;
use pool::{Pool, PoolError};

fn pool(n: usize) -> Pool {
    Pool::builder()
        .processes(n)
        .start_method(StartMethod::Forkserver)
        .build()
        .expect("pool")
}

/// Sleeps longer for smaller inputs, so that completion order is not input order.
fn slow_for_small(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(5 * (10 - x % 10)));
    x + 100
}

fn add((a, b): (i64, i64)) -> i64 {
    a + b
}

fn fails_on_odd(x: u64) -> u64 {
    assert!(x.is_multiple_of(2), "odd input {x}");
    x
}

#[test]
fn imap_yields_in_input_order() {
    let pool = pool(3);
    for chunksize in [1, 4] {
        let got: Vec<u64> = pool
            .imap(slow_for_small, 0..20, chunksize)
            .expect("imap")
            .collect::<Result<_, _>>()
            .expect("results");
        assert_eq!(got, (100..120).collect::<Vec<_>>(), "chunksize {chunksize}");
    }
    let got: Vec<Result<u64, PoolError>> =
        pool.imap(fails_on_odd, 0..6, 1).expect("imap").collect();
    assert_eq!(got.len(), 6);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.is_ok(), i % 2 == 0, "{i}: {r:?}");
    }
}

#[test]
fn apply_starmap_and_map_async() {
    let pool = pool(2);
    assert_eq!(pool.apply(add, (2, 3)).expect("apply"), 5);
    assert_eq!(
        pool.starmap(add, [(1, 2), (3, 4), (5, 6)])
            .expect("starmap"),
        [3, 7, 11]
    );
    let r = pool
        .starmap_async(add, (0..50).map(|i| (i, i)))
        .expect("starmap_async");
    assert_eq!(
        r.get().expect("get"),
        (0..50).map(|i| 2 * i).collect::<Vec<_>>()
    );
    let m = pool.map_async(slow_for_small, 0..10).expect("map_async");
    assert!(m.wait_timeout(Duration::from_secs(30)).expect("wait"));
    assert_eq!(m.get().expect("get"), (100..110).collect::<Vec<_>>());
}

#[test]
fn ready_successful_wait() {
    let pool = pool(1);
    let slow = pool.apply_async(slow_for_small, 0).expect("submit");
    // The task sleeps 50 ms: not ready at once.
    assert!(!slow.ready());
    assert_eq!(slow.successful(), None, "Python raises ValueError here");
    slow.wait().expect("wait");
    assert!(slow.ready());
    assert_eq!(slow.successful(), Some(true));
    let bad = pool.apply_async(fails_on_odd, 1).expect("submit");
    bad.wait().expect("wait");
    assert_eq!(bad.successful(), Some(false));
    match bad.get() {
        Err(PoolError::Panicked { message, .. }) => assert_eq!(message, "odd input 1"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn callbacks_run_in_the_parent_once_each() {
    let pool = pool(2);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let errors = Rc::new(RefCell::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..10u64 {
        let (s, e) = (Rc::clone(&seen), Rc::clone(&errors));
        handles.push(
            pool.apply_async_with(
                fails_on_odd,
                i,
                move |v| s.borrow_mut().push(v),
                move |err| e.borrow_mut().push(err.to_string()),
            )
            .expect("submit"),
        );
    }
    // Dropping a handle does not stop its callback.
    handles.truncate(5);
    let m = {
        let s = Rc::clone(&seen);
        pool.map_async_with(
            slow_for_small,
            0..4,
            move |all| s.borrow_mut().push(all.iter().sum()),
            |e| panic!("{e}"),
        )
        .expect("submit")
    };
    assert_eq!(m.get().expect("get").len(), 4);
    pool.close();
    pool.join().expect("join runs the remaining callbacks");
    let mut seen = seen.borrow().clone();
    seen.sort();
    assert_eq!(seen, [0, 2, 4, 6, 8, 406]);
    assert_eq!(errors.borrow().len(), 5);
    assert!(errors.borrow().iter().all(|e| e.contains("odd input")));
}

static INIT: AtomicU64 = AtomicU64::new(0);

fn init(value: u64) {
    INIT.store(value, Ordering::SeqCst);
}

fn read_init(_: u64) -> u64 {
    INIT.load(Ordering::SeqCst)
}

#[test]
fn initializer_runs_in_every_worker() {
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Spawn)
        .initializer(init, 42)
        .build()
        .expect("pool");
    assert_eq!(
        pool.map_chunked(read_init, 0..20, 1).expect("map"),
        [42; 20]
    );
}

#[test]
fn closed_pool_refuses_and_join_needs_close() {
    let pool = pool(1);
    assert!(matches!(pool.join(), Err(PoolError::NotClosed)));
    pool.close();
    assert!(matches!(
        pool.apply_async(add, (1, 1)),
        Err(PoolError::Closed)
    ));
    pool.join().expect("join");
}
