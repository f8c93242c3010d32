//! The 10.1 tasks: exact results, and a CPU task that really computes (its time grows with n).

use std::time::{Duration, Instant};

use benchmark::{cpu_bound_task, io_bound_task};
use nix::time::{ClockId, clock_gettime};

#[test]
fn cpu_task_is_exact() {
    assert_eq!(cpu_bound_task(0), 0);
    assert_eq!(cpu_bound_task(1_000_000), 333_332_833_333_500_000);
    // Past u64: Python's integers do not overflow, and neither does the u128 sum.
    assert_eq!(cpu_bound_task(10_000_000), 333_333_283_333_335_000_000);
}

/// The CPU time this thread has used so far. Unlike wall time it does not grow while the
/// thread waits for a core, so a busy machine does not change it.
fn thread_cpu_time() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .expect("CLOCK_THREAD_CPUTIME_ID")
        .into()
}

/// The least CPU time of five runs of the task.
fn fastest(n: u64) -> Duration {
    (0..5)
        .map(|_| {
            let t = thread_cpu_time();
            std::hint::black_box(cpu_bound_task(std::hint::black_box(n)));
            thread_cpu_time() - t
        })
        .min()
        .expect("five runs")
}

#[test]
fn cpu_task_time_grows_with_n() {
    // A loop folded into its closed form takes the same ~20 ns for any n; a real one takes
    // ten times the CPU time for ten times the squares. Measured in this thread's CPU time,
    // so that other programs on the machine (or the other tests of this file, on their own
    // threads) only lengthen the wall time. Allow a factor 4 for cache and frequency noise.
    let (small, large) = (fastest(1_000_000), fastest(10_000_000));
    assert!(
        large > small * 4,
        "n = 10^6 took {small:?} of CPU, n = 10^7 took {large:?}: the loop does not scale with n"
    );
}

#[test]
fn io_task_sleeps_and_says_so() {
    let t = Instant::now();
    assert_eq!(io_bound_task(0.1), "休眠了 0.1 秒");
    assert!(t.elapsed() >= Duration::from_millis(100));
}
