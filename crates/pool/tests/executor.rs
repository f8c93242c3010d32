//! The `concurrent.futures.ProcessPoolExecutor` shape, on workers started by forkserver.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ipc_common::StartMethod;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pool::{Executor, Pool, PoolError, as_completed};

fn executor(n: usize) -> Executor {
    Executor::from_pool(
        Pool::builder()
            .processes(n)
            .start_method(StartMethod::Forkserver)
            .build()
            .expect("pool"),
    )
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn submit_result_done_and_as_completed() {
    let ex = executor(2);
    // Longer tasks first: completion order differs from submission order.
    let futures: Vec<_> = [300, 200, 1, 2]
        .into_iter()
        .map(|ms| ex.submit(nap, ms).expect("submit"))
        .collect();
    let mut order = Vec::new();
    for f in as_completed(&futures, Some(Duration::from_secs(60))) {
        let f = f.expect("in time");
        assert!(f.done());
        order.push(f.result(None).expect("result"));
    }
    order.sort();
    assert_eq!(order, [1, 2, 200, 300]);
    let slow = ex.submit(nap, 400).expect("submit");
    assert!(matches!(
        slow.result(Some(Duration::from_millis(10))),
        Err(PoolError::Timeout(_))
    ));
    assert_eq!(slow.result(None).expect("later"), 400);
    let mapped: Vec<u64> = ex
        .map(nap, [3, 1, 2], 1)
        .expect("map")
        .collect::<Result<_, _>>()
        .expect("results");
    assert_eq!(mapped, [3, 1, 2]);
}

#[test]
fn cancel_only_before_start_and_shutdown_cancels_the_queue() {
    let ex = executor(1);
    // One worker holds at most two tasks: the third and later wait in the parent.
    let futures: Vec<_> = (0..6)
        .map(|_| ex.submit(nap, 200).expect("submit"))
        .collect();
    assert!(!futures[0].cancel(), "the first is running");
    assert!(futures[5].cancel(), "the last has not started");
    assert!(futures[5].cancelled());
    assert!(matches!(futures[5].result(None), Err(PoolError::Cancelled)));
    ex.shutdown(false, true).expect("shutdown");
    let cancelled = futures.iter().filter(|f| f.cancelled()).count();
    assert!(cancelled >= 3, "{cancelled} cancelled");
    assert_eq!(futures[0].result(None).expect("ran"), 200);
    assert!(matches!(ex.submit(nap, 1), Err(PoolError::Closed)));
}

fn hang(path: String) -> u64 {
    std::fs::write(&path, std::process::id().to_string()).expect("write");
    std::thread::sleep(Duration::from_secs(600));
    0
}

#[test]
fn a_killed_worker_fails_only_its_future() {
    let ex = executor(2);
    let path: PathBuf = std::env::temp_dir().join(format!("pool-ex-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let doomed = ex
        .submit(hang, path.to_string_lossy().into_owned())
        .expect("submit");
    let others: Vec<_> = (0..10)
        .map(|i| ex.submit(nap, i).expect("submit"))
        .collect();
    let start = Instant::now();
    let pid = loop {
        if let Ok(pid) = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .parse::<i32>()
        {
            break pid;
        }
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = std::fs::remove_file(&path);
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
    assert!(matches!(
        doomed.result(None),
        Err(PoolError::WorkerDied { .. })
    ));
    for (i, f) in others.iter().enumerate() {
        assert_eq!(f.result(None).expect("not broken"), i as u64);
    }
}
