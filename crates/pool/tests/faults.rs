//! Workers that die or stop at the worst moments, placed there with the ring's fault points
//! (armed inside the worker by the task itself or by the pool's initializer) or by real
//! kills. Workers start by spawn or forkserver, so these are ordinary `#[test]`s. Timeouts
//! are generous upper bounds; the checks are counts: every task exactly once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipc_common::StartMethod;
use ipc_common::fault::{self, Fault};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pool::{Pool, PoolError};

const MIB: usize = 1 << 20;
const LONG: Duration = Duration::from_secs(30);

fn started(n: usize, method: StartMethod) -> Pool {
    Pool::builder()
        .processes(n)
        .start_method(method)
        .build()
        .expect("pool")
}

fn square(x: u64) -> u64 {
    x * x
}

fn reverse_bytes(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

/// A file name of this test's own.
fn scratch(what: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("pool-{what}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The pid a task wrote into `path`.
fn wait_for_pid(path: &Path) -> i32 {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse::<i32>()
        {
            let _ = std::fs::remove_file(path);
            return pid;
        }
        assert!(start.elapsed() < LONG, "the task never started");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn report_pid(path: &str) {
    std::fs::write(path, std::process::id().to_string()).expect("write pid");
}

/// Writes its pid, then kills itself in the middle of sending its 8 MiB result (the third
/// piece through a 1 MiB ring).
fn die_mid_result(path: String) -> Vec<u8> {
    report_pid(&path);
    fault::arm("ring.push.chunk", Fault::Kill, 3);
    vec![7; 8 * MIB]
}

fn assert_died(err: PoolError, pid: i32) {
    match err {
        PoolError::WorkerDied {
            pid: died, signal, ..
        } => {
            assert_eq!(died, pid);
            assert_eq!(signal, Some(Signal::SIGKILL));
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn a_worker_killed_mid_result_loses_only_that_result() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let pool = started(2, method);
        let path = scratch("mid-result");
        let doomed = pool
            .apply_async(die_mid_result, path.to_string_lossy().into_owned())
            .expect("submit");
        let pid = wait_for_pid(&path);
        let squares: Vec<u64> = pool
            .imap_unordered(square, 0..200, 3)
            .expect("submit")
            .collect::<Result<_, _>>()
            .expect("the other tasks complete");
        assert_eq!(squares.len(), 200);
        assert_eq!(
            squares.iter().sum::<u64>(),
            (0..200u64).map(|x| x * x).sum::<u64>()
        );
        assert_died(doomed.get().expect_err("its worker died"), pid);
        // The result ring is whole again: a large result goes through.
        let big = pool.apply(reverse_bytes, vec![1; 4 * MIB]).expect("apply");
        assert_eq!(big.len(), 4 * MIB);
        assert!(!pool.pids().contains(&pid), "{method}: replaced");
    }
}

/// Arms, in the first worker to start only, a kill in the middle of reading a task larger
/// than its ring.
fn die_reading_in_first_worker(marker: String) {
    if std::fs::File::create_new(&marker).is_ok() {
        std::fs::write(&marker, std::process::id().to_string()).expect("write pid");
        fault::arm("ring.pop.chunk", Fault::Kill, 3);
    }
}

#[test]
fn a_worker_killed_reading_a_large_task_loses_nothing() {
    let marker = scratch("mid-task");
    let pool = Pool::builder()
        .processes(1)
        .start_method(StartMethod::Spawn)
        .initializer(
            die_reading_in_first_worker,
            marker.to_string_lossy().into_owned(),
        )
        .build()
        .expect("pool");
    let first = wait_for_pid(&marker);
    // The task never ran in the killed worker, so it goes to the replacement.
    let v: Vec<u8> = (0..8 * MIB).map(|i| i as u8).collect();
    let out = pool
        .apply(reverse_bytes, v.clone())
        .expect("run by the replacement");
    assert!(out.iter().rev().eq(v.iter()));
    assert!(
        !pool.pids().contains(&first),
        "the killed worker was replaced"
    );
}

/// Writes its pid, then stops itself in the middle of copying its 8 MiB result: it holds
/// the result ring's write side.
fn stop_mid_result(path: String) -> Vec<u8> {
    report_pid(&path);
    fault::arm("ring.push.copy", Fault::Stop, 1);
    vec![1; 8 * MIB]
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn timeouts_hold_while_a_worker_is_stopped_holding_the_ring() {
    let pool = started(2, StartMethod::Forkserver);
    let path = scratch("stopped");
    let stuck = pool
        .apply_async(stop_mid_result, path.to_string_lossy().into_owned())
        .expect("submit");
    let pid = wait_for_pid(&path);
    assert!(fault::wait_stopped(pid, LONG), "the worker stopped");
    let other = pool.apply_async(nap, 1).expect("submit");
    for _ in 0..3 {
        let start = Instant::now();
        let got = other.get_timeout(Duration::from_millis(50));
        assert!(matches!(got, Err(PoolError::Timeout(_))), "{got:?}");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(50), "{took:?}");
        assert!(
            took < Duration::from_secs(5),
            "get_timeout(50 ms) took {took:?}"
        );
    }
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
    assert_eq!(other.get().expect("the other task completes"), 1);
    assert_died(stuck.get().expect_err("its worker was killed"), pid);
}

fn hang(path: String) -> u64 {
    report_pid(&path);
    std::thread::sleep(Duration::from_secs(600));
    0
}

#[test]
fn a_waiter_notices_a_death_and_the_pool_leaves_nothing_behind() {
    let pool = started(2, StartMethod::Spawn);
    let path = scratch("hang");
    let hung = pool
        .apply_async(hang, path.to_string_lossy().into_owned())
        .expect("submit");
    let pid = wait_for_pid(&path);
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
    let start = Instant::now();
    assert_died(hung.get().expect_err("killed"), pid);
    assert!(start.elapsed() < LONG);
    let pids = pool.pids();
    let still_hanging = pool.apply_async(hang, scratch("hang2").to_string_lossy().into_owned());
    drop(still_hanging);
    drop(pool);
    for pid in pids.into_iter().chain([pid]) {
        // Gone and reaped: not even a zombie is left.
        assert!(
            kill(Pid::from_raw(pid), None::<Signal>).is_err(),
            "worker {pid} is left"
        );
    }
}

fn my_pid(_: u64) -> u32 {
    std::process::id()
}

#[test]
fn maxtasksperchild_one_replaces_every_worker_and_loses_nothing() {
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Forkserver)
        .maxtasksperchild(1)
        .build()
        .expect("pool");
    let pids = pool.map_chunked(my_pid, 0..12, 1).expect("map");
    assert_eq!(pids.len(), 12);
    let mut distinct = pids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 12, "each worker ran one task: {pids:?}");
    pool.close();
    pool.join().expect("join");
}

#[test]
fn a_panic_in_the_parent_leaves_no_worker() {
    let pids = std::sync::Mutex::new(Vec::new());
    let outcome = std::panic::catch_unwind(|| {
        let pool = started(2, StartMethod::Spawn);
        pids.lock().expect("pids").extend(pool.pids());
        let _busy = pool.apply_async(nap, 10_000).expect("submit");
        panic!("the parent fails while its pool works");
    });
    assert!(outcome.is_err());
    let pids = pids.into_inner().expect("pids");
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(
            kill(Pid::from_raw(pid), None::<Signal>).is_err(),
            "worker {pid} is left"
        );
    }
}
