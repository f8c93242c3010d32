//! The monitor really measures: a busy child shows a high CPU %, a sleeping one a low one.

use std::time::{Duration, Instant};

use ipc_common::Process;
use monitor::Monitor;

fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn busy_and_idle_children_are_told_apart() {
    let busy = Process::start("busy", || spin_for(Duration::from_millis(1500))).expect("start");
    let idle =
        Process::start("idle", || std::thread::sleep(Duration::from_millis(1500))).expect("start");
    let mut monitor = Monitor::new().expect("monitor");
    let pids = [busy.pid(), idle.pid()];
    monitor.sample(&pids);
    std::thread::sleep(Duration::from_millis(700));
    let samples = monitor.sample(&pids);
    let (b, i) = (
        samples[0].clone().expect("busy child sampled"),
        samples[1].clone().expect("idle child sampled"),
    );
    // The busy child spins on one core (other load may take a share of it).
    assert!(b.cpu_percent > 40.0, "busy child: {b:?}");
    assert!(i.cpu_percent < 5.0, "idle child: {i:?}");
    assert_eq!(i.status, "sleeping");
    busy.join_ok().expect("join");
    idle.join_ok().expect("join");
    assert_eq!(
        monitor.sample(&pids),
        vec![None, None],
        "ended processes are gone"
    );
}

fn main() {
    ipc_common::testing::run(&[(
        "busy_and_idle_children_are_told_apart",
        busy_and_idle_children_are_told_apart,
    )]);
}
