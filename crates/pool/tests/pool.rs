//! The pool across real processes: order, completeness, panics, killed workers, timeouts,
//! and no process left behind. Each test forks, so this is a `harness = false` program.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pool::{Pool, PoolError};

fn double(x: u64) -> u64 {
    x * 2
}

fn panics_on_three(x: u32) -> u32 {
    if x == 3 {
        panic!("boom on {x}");
    }
    x
}

fn checked_half(x: i64) -> Result<i64, String> {
    if x % 2 == 0 {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Writes this worker's pid to `path`, then sleeps long enough to be killed.
fn report_pid_and_hang(path: String) -> u32 {
    std::fs::write(&path, std::process::id().to_string()).expect("write pid");
    std::thread::sleep(Duration::from_secs(30));
    0
}

/// True while `pid` exists, zombies included.
fn pid_exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn map_keeps_order() {
    let pool = Pool::new(3).expect("pool");
    let results = pool.map(double, 0..10_000u64).expect("map");
    assert_eq!(results, (0..10_000u64).map(|x| x * 2).collect::<Vec<_>>());
    let chunked = pool.map_chunked(double, 0..1_000u64, 1).expect("map");
    assert_eq!(chunked, (0..1_000u64).map(|x| x * 2).collect::<Vec<_>>());
    assert_eq!(
        pool.map(double, Vec::new()).expect("map"),
        Vec::<u64>::new()
    );
}

fn imap_unordered_yields_every_task_once() {
    let pool = Pool::new(2).expect("pool");
    for chunksize in [1, 7] {
        let mut seen: Vec<u64> = pool
            .imap_unordered(double, 0..10_000u64, chunksize)
            .expect("imap")
            .collect::<Result<_, _>>()
            .expect("results");
        seen.sort_unstable();
        assert_eq!(seen, (0..10_000u64).map(|x| x * 2).collect::<Vec<_>>());
    }
}

fn panic_comes_back_and_the_pool_goes_on() {
    let pool = Pool::new(2).expect("pool");
    let pids = pool.pids();
    let err = pool
        .apply_async(panics_on_three, 3)
        .expect("submit")
        .get()
        .expect_err("task 3 panics");
    match &err {
        PoolError::Panicked { message, location } => {
            assert_eq!(message, "boom on 3");
            assert!(location.as_deref().is_some_and(|l| l.contains("pool.rs")));
        }
        other => panic!("wrong error: {other}"),
    }
    assert_eq!(err.to_string(), "task panicked: boom on 3");
    // map fails as a whole with the panic; imap with chunksize 1 fails only that item.
    assert!(matches!(
        pool.map(panics_on_three, 0..10),
        Err(PoolError::Panicked { .. })
    ));
    let items: Vec<_> = pool
        .imap_unordered(panics_on_three, 0..10, 1)
        .expect("imap")
        .collect();
    assert_eq!(items.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(pool.map(double, 0..100).expect("map").len(), 100);
    assert_eq!(pool.pids(), pids, "a panic does not cost a worker");
    // A task's own error value is just its result.
    let halves = pool.map(checked_half, [4, 5]).expect("map");
    assert_eq!(halves, vec![Ok(2), Err("5 is odd".to_string())]);
}

fn killed_worker_fails_its_task_only() {
    let pool = Pool::new(2).expect("pool");
    let path = std::env::temp_dir().join(format!("pool-test-{}", std::process::id()));
    let path_str = path.to_string_lossy().into_owned();
    let _ = std::fs::remove_file(&path);
    let hanging = pool
        .apply_async(report_pid_and_hang, path_str)
        .expect("submit");
    let others: Vec<_> = (0..20)
        .map(|i| pool.apply_async(nap, i))
        .collect::<Result<_, _>>()
        .expect("submit");
    let start = Instant::now();
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(pid) = text.parse::<i32>()
        {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "task never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = std::fs::remove_file(&path);
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
    let err = hanging.get().expect_err("its worker was killed");
    match err {
        PoolError::WorkerDied {
            ref name,
            pid: died,
            signal,
            exitcode,
        } => {
            assert!(name.starts_with("PoolWorker-"), "worker name {name:?}");
            assert_eq!(died, pid);
            assert_eq!(signal, Some(Signal::SIGKILL));
            assert_eq!(exitcode, -9);
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(err_text_names_death(pid));
    for (i, r) in others.into_iter().enumerate() {
        assert_eq!(r.get().expect("other tasks complete"), i as u64);
    }
    let next: Vec<_> = (0..100u64)
        .map(|i| pool.apply_async(double, i))
        .collect::<Result<_, _>>()
        .expect("submit");
    for (i, r) in next.into_iter().enumerate() {
        assert_eq!(r.get().expect("the next 100 tasks succeed"), 2 * i as u64);
    }
    let pids = pool.pids();
    assert_eq!(pids.len(), 2);
    assert!(!pids.contains(&pid), "the dead worker was replaced");
    assert!(!pid_exists(pid), "the dead worker was reaped");
}

fn err_text_names_death(pid: i32) -> bool {
    let e = PoolError::WorkerDied {
        name: "PoolWorker-2".to_string(),
        pid,
        signal: Some(Signal::SIGKILL),
        exitcode: -9,
    };
    e.to_string()
        == format!(
            "worker process PoolWorker-2 (pid {pid}) died while running this task (killed by SIGKILL)"
        )
}

fn get_timeout_is_honoured() {
    let pool = Pool::new(1).expect("pool");
    let r = pool.apply_async(nap, 1000).expect("submit");
    let start = Instant::now();
    let err = r
        .get_timeout(Duration::from_millis(100))
        .expect_err("too early");
    let took = start.elapsed();
    assert!(matches!(err, PoolError::Timeout(d) if d == Duration::from_millis(100)));
    assert!(
        took >= Duration::from_millis(100),
        "returned early: {took:?}"
    );
    assert!(took < Duration::from_millis(600), "returned late: {took:?}");
    assert!(!r.ready());
    assert_eq!(
        r.get_timeout(Duration::from_secs(5)).expect("finished"),
        1000
    );
    assert!(r.ready());
    assert_eq!(r.get_timeout(Duration::ZERO).expect("kept"), 1000);
}

fn close_join_finishes_work() {
    let pool = Pool::new(2).expect("pool");
    let pids = pool.pids();
    let results: Vec<_> = (0..5)
        .map(|i| pool.apply_async(nap, 50 + i))
        .collect::<Result<_, _>>()
        .expect("submit");
    assert!(matches!(pool.join(), Err(PoolError::NotClosed)));
    pool.close();
    assert!(matches!(pool.apply_async(nap, 1), Err(PoolError::Closed)));
    pool.join().expect("join");
    for pid in pids {
        assert!(!pid_exists(pid), "joined workers are gone");
    }
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.get().expect("kept after join"), 50 + i as u64);
    }
}

fn terminate_and_drop_leave_no_process() {
    let pool = Pool::new(3).expect("pool");
    let pids = pool.pids();
    let busy = pool.apply_async(nap, 10_000).expect("submit");
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    pool.terminate();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "terminate never hangs"
    );
    assert!(matches!(busy.get(), Err(PoolError::Terminated)));
    for &pid in &pids {
        assert!(!pid_exists(pid), "terminated workers are reaped");
    }
    let pool = Pool::new(3).expect("pool");
    let pids = pool.pids();
    let _busy = pool.apply_async(nap, 10_000).expect("submit");
    let start = Instant::now();
    drop(_busy);
    drop(pool);
    assert!(start.elapsed() < Duration::from_secs(2), "drop never hangs");
    for pid in pids {
        assert!(!pid_exists(pid), "dropped pool's workers are reaped");
    }
}

fn function_first_used_after_fork() {
    fn shout(s: String) -> String {
        s.to_uppercase()
    }
    let pool = Pool::new(2).expect("pool");
    assert_eq!(
        pool.map(shout, ["hello".to_string(), "world".to_string()])
            .expect("map"),
        vec!["HELLO", "WORLD"]
    );
}

fn main() {
    ipc_common::testing::run(&[
        ("map_keeps_order", map_keeps_order),
        (
            "imap_unordered_yields_every_task_once",
            imap_unordered_yields_every_task_once,
        ),
        (
            "panic_comes_back_and_the_pool_goes_on",
            panic_comes_back_and_the_pool_goes_on,
        ),
        (
            "killed_worker_fails_its_task_only",
            killed_worker_fails_its_task_only,
        ),
        ("get_timeout_is_honoured", get_timeout_is_honoured),
        ("close_join_finishes_work", close_join_finishes_work),
        (
            "terminate_and_drop_leave_no_process",
            terminate_and_drop_leave_no_process,
        ),
        (
            "function_first_used_after_fork",
            function_first_used_after_fork,
        ),
    ]);
}
