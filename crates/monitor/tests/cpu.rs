//! The monitor really measures: over one window, the CPU % it reports for a busy child and for
//! an idle one is the CPU time each child really used, per second of that window.
//!
//! Nothing here depends on the machine's speed. The window is as long as it takes the busy
//! child to use a fixed amount of CPU time, however busy the machine is; and what the monitor
//! reports is checked against each child's own CPU time, read from `/proc/PID/stat` (the very
//! counter sysinfo reads) just before and just after each sample, not against a share of the
//! CPU that a loaded machine may not give.

use std::fs;
use std::time::{Duration, Instant};

use ipc_common::{Event, Process};
use monitor::{Monitor, Sample};
use nix::unistd::{SysconfVar, sysconf};

/// The busy child's CPU time that makes the window: long enough that one tick of the kernel's
/// CPU accounting (10 ms) is small beside it.
const WINDOW_CPU: Duration = Duration::from_millis(500);

/// Only a hang takes this long to give the busy child `WINDOW_CPU` (it takes 0.5 s on an idle
/// core, a few seconds on a very busy machine).
const HANG: Duration = Duration::from_secs(120);

/// `pid`'s CPU time (user + system) in ms, computed as sysinfo computes it from the clock ticks
/// of `/proc/PID/stat` (fields 14 and 15).
fn cpu_ms(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The command name (field 2) may hold spaces; the fields after it start at state (3).
    let after_name = &stat[stat.rfind(')').expect("(comm)") + 1..];
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11) // state (3) .. cmajflt (13)
        .take(2) // utime (14), stime (15)
        .map(|t| t.parse::<u64>().expect("a tick count"))
        .sum();
    let per_second = sysconf(SysconfVar::CLK_TCK)
        .expect("sysconf")
        .expect("CLK_TCK");
    ticks * 1000 / per_second as u64
}

/// One sample of both children, with what `/proc` said on either side of it.
struct Bracketed {
    /// Before the sample: the time, then each child's CPU ms.
    before: (Instant, [u64; 2]),
    /// After it: each child's CPU ms, then the time.
    after: ([u64; 2], Instant),
    samples: Vec<Option<Sample>>,
}

/// Samples `pids` with `monitor`, reading each child's CPU time just before and just after.
/// sysinfo's reading lies between the two (the counter only grows), and so does the instant
/// the monitor takes for it.
fn bracketed(monitor: &mut Monitor, pids: [i32; 2]) -> Bracketed {
    let start = Instant::now();
    let before = pids.map(cpu_ms);
    let samples = monitor.sample(&pids);
    let after = pids.map(cpu_ms);
    Bracketed {
        before: (start, before),
        after: (after, Instant::now()),
        samples,
    }
}

/// The least and the most CPU % that child `i` can truly have used between samples `a` and
/// `b`: its fewest CPU ms over the longest window, and its most over the shortest.
fn true_range(a: &Bracketed, b: &Bracketed, i: usize) -> (f32, f32) {
    let least = b.before.1[i].saturating_sub(a.after.0[i]) as f32;
    let most = b.after.0[i].saturating_sub(a.before.1[i]) as f32;
    let longest = b.after.1.duration_since(a.before.0).as_secs_f32() * 1000.0;
    let shortest = b.before.0.duration_since(a.after.1).as_secs_f32() * 1000.0;
    (least / longest * 100.0, most / shortest.max(1.0) * 100.0)
}

/// The sample of child `i` at `b`, which must lie in the child's true range since `a`.
fn checked(a: &Bracketed, b: &Bracketed, i: usize, what: &str) -> Sample {
    let sample = b.samples[i]
        .clone()
        .unwrap_or_else(|| panic!("{what} child not sampled"));
    let (least, most) = true_range(a, b, i);
    // 0.1 % of slack for the f32 arithmetic on both sides.
    assert!(
        sample.cpu_percent >= least * 0.999 && sample.cpu_percent <= most * 1.001,
        "{what} child: the monitor says {sample:?}, /proc says it used {least:.1} to {most:.1} %"
    );
    sample
}

fn busy_and_idle_children_are_told_apart() {
    let stop = Event::new().expect("event");
    // Spins until told to stop: always runnable, on a CPU whenever the scheduler lets it.
    let busy = Process::start("busy", || {
        while !stop.is_set() {
            std::hint::spin_loop();
        }
    })
    .expect("start");
    // Sleeps in a futex wait until told to stop.
    let idle = Process::start("idle", || stop.wait()).expect("start");
    let pids = [busy.pid(), idle.pid()];
    let mut monitor = Monitor::new().expect("monitor");

    // The window: from a first sample until the busy child has used WINDOW_CPU more.
    let first = bracketed(&mut monitor, pids);
    let deadline = Instant::now() + HANG;
    let target = first.after.0[0] + WINDOW_CPU.as_millis() as u64;
    while cpu_ms(pids[0]) < target {
        assert!(
            Instant::now() < deadline,
            "the busy child got {WINDOW_CPU:?} of CPU in no less than {HANG:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = bracketed(&mut monitor, pids);

    // Each child's CPU % is what it really used in the window, per second of the window.
    let b = checked(&first, &second, 0, "busy");
    let i = checked(&first, &second, 1, "idle");
    // And the two are far apart. In the window the busy child used at least WINDOW_CPU, the
    // idle one next to nothing (it sleeps in one futex wait, with no timeout, until `stop`):
    // well under a tenth of the busy child's time, however long the window was.
    let busy_used = second.before.1[0] - first.after.0[0];
    let idle_used = second.after.0[1] - first.before.1[1];
    assert!(
        idle_used * 10 < busy_used,
        "in the window the idle child used {idle_used} ms of CPU, the busy one {busy_used} ms"
    );
    assert!(
        b.cpu_percent > 5.0 * i.cpu_percent,
        "busy {b:?} and idle {i:?} are not told apart"
    );
    // A spinning process is always runnable ("running", on a CPU or waiting for one); a
    // process in a futex wait is "sleeping".
    assert_eq!(b.status, "running", "busy child: {b:?}");
    assert_eq!(i.status, "sleeping", "idle child: {i:?}");

    stop.set();
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
