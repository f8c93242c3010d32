//! Helpers shared by the `sync*` test programs.
#![allow(dead_code)] // each program uses its own share of them

use std::time::{Duration, Instant};

use ipc_common::{Event, Process};

/// The timeout the exactness checks wait for.
pub const WAIT: Duration = Duration::from_millis(300);
/// How late a timed wait may end: one scheduling slice, with room for a busy machine.
pub const LATE: Duration = Duration::from_millis(60);
/// How long a survivor may take to notice a death: far more than one liveness slice (50 ms)
/// on a busy machine, far less than the "forever" of a lost wake-up.
pub const NOTICE: Duration = Duration::from_secs(2);

pub fn sleep(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Joins every child and checks that each exited with 0.
pub fn join_all(kids: Vec<Process>) {
    for k in kids {
        assert_eq!(k.join().expect("join"), 0, "child {} failed", k.name());
    }
}

/// Checks that `timed_wait` (which must fail: the resource is held) takes `WAIT`, 20 times.
pub fn assert_exact_timeouts(what: &str, mut timed_wait: impl FnMut(Duration) -> bool) {
    for i in 0..20 {
        // Vary the phase against the clock's second boundary, where raw_sync fails.
        sleep(7 * i % 50);
        let start = Instant::now();
        assert!(
            !timed_wait(WAIT),
            "{what}: wait {i} succeeded on a held resource"
        );
        let took = start.elapsed();
        assert!(took >= WAIT, "{what}: wait {i} ended early, after {took:?}");
        assert!(
            took < WAIT + LATE,
            "{what}: wait {i} ended late, after {took:?}"
        );
    }
}

/// Waits (up to 10 s) until `child` sleeps in a futex: blocked in a lock, semaphore, event,
/// condition or barrier. Children that wait in slices wake for microseconds every 50 ms, so
/// this polls until it catches one asleep.
pub fn wait_asleep(child: &Process) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = format!("/proc/{}/wchan", child.pid());
    loop {
        let wchan = std::fs::read_to_string(&path).unwrap_or_default();
        if wchan.contains("futex") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "child {} never went to sleep in a futex (wchan {wchan:?})",
            child.name()
        );
        sleep(1);
    }
}

/// The exit code of `child`, which must end within [`NOTICE`]; a child still running then
/// is killed, and the test fails: it slept through a wake-up.
pub fn ends_soon(child: &Process) -> i32 {
    match child.join_timeout(NOTICE).expect("join") {
        Some(code) => code,
        None => {
            let _ = child.kill();
            let _ = child.join();
            panic!(
                "child {} still waits {NOTICE:?} later: it slept through a wake-up",
                child.name()
            );
        }
    }
}

/// A child that took something (a lock, a permit) and keeps it until it is released or
/// killed.
pub struct Holder {
    child: Process,
    done: Event,
}

/// Starts a child that calls `take` and keeps what it returns; returns once it holds it.
pub fn holder<G>(name: &str, take: impl FnOnce() -> G) -> Holder {
    let held = Event::new().expect("event");
    let done = Event::new().expect("event");
    let child = Process::start(name, || {
        let _kept = take();
        held.set();
        done.wait();
    })
    .expect("start");
    held.wait();
    Holder { child, done }
}

impl Holder {
    /// Lets the child drop what it holds and end; checks that it ended well.
    pub fn release(self) {
        self.done.set();
        assert_eq!(self.child.join().expect("join"), 0);
    }

    /// Kills the child while it holds what it took.
    pub fn kill(self) {
        self.child.kill().expect("kill");
        assert_eq!(self.child.join().expect("join"), -9);
    }
}
