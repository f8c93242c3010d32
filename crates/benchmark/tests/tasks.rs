//! The 10.1 tasks: exact results, and a CPU task that really computes (its CPU time grows
//! with n, and with the number of times it is repeated).

use std::time::{Duration, Instant};

use benchmark::{cpu_bound_task, io_bound_task, repeated_cpu_task, repeats_for, thread_cpu_time};

#[test]
fn cpu_task_is_exact() {
    assert_eq!(cpu_bound_task(0), 0);
    assert_eq!(cpu_bound_task(1_000_000), 333_332_833_333_500_000);
    // Past u64: Python's integers do not overflow, and neither does the u128 sum.
    assert_eq!(cpu_bound_task(10_000_000), 333_333_283_333_335_000_000);
}

#[test]
fn repeated_task_returns_the_notes_value() {
    for repeat in [0, 1, 2, 7] {
        assert_eq!(repeated_cpu_task((0, repeat)), 0);
        assert_eq!(
            repeated_cpu_task((1_000_000, repeat)),
            333_332_833_333_500_000
        );
    }
}

/// The least CPU time of `tries` runs of `task`. Unlike wall time, CPU time does not grow
/// while the thread waits for a core, so a busy machine does not change it.
fn fastest(tries: usize, task: impl Fn()) -> Duration {
    (0..tries)
        .map(|_| {
            let t = thread_cpu_time();
            task();
            thread_cpu_time() - t
        })
        .min()
        .expect("at least one run")
}

fn sum(n: u64) -> Duration {
    fastest(5, || {
        std::hint::black_box(cpu_bound_task(std::hint::black_box(n)));
    })
}

#[test]
fn cpu_task_time_grows_with_n() {
    // A loop folded into its closed form takes the same ~20 ns for any n; a real one takes
    // ten times the CPU time for ten times the squares. Measured in this thread's CPU time,
    // so that other programs on the machine (or the other tests of this file, on their own
    // threads) only lengthen the wall time. Allow a factor 4 for cache and frequency noise.
    let (small, large) = (sum(1_000_000), sum(10_000_000));
    assert!(
        large > small * 4,
        "n = 10^6 took {small:?} of CPU, n = 10^7 took {large:?}: the loop does not scale with n"
    );
}

#[test]
fn repeating_the_task_repeats_the_work() {
    // Ten repetitions cost about ten sums: the compiler did not keep one and drop the rest.
    let once = sum(1_000_000);
    let ten = fastest(3, || {
        std::hint::black_box(repeated_cpu_task((1_000_000, 10)));
    });
    assert!(
        ten > once * 4,
        "one sum took {once:?} of CPU, ten took {ten:?}"
    );
}

#[test]
fn repeats_for_gives_the_cpu_time_asked() {
    // Calibrated and checked in the same run, both in CPU time: the task takes about what
    // was asked, within a factor 3 either way (cache and frequency noise).
    let asked = Duration::from_millis(40);
    let repeat = repeats_for(1_000_000, asked);
    assert!(repeat >= 1);
    let took = fastest(2, || {
        std::hint::black_box(repeated_cpu_task((1_000_000, repeat)));
    });
    assert!(
        took > asked / 3 && took < asked * 3,
        "{repeat} sums took {took:?} of CPU, {asked:?} was asked"
    );
}

#[test]
fn io_task_sleeps_and_says_so() {
    let t = Instant::now();
    assert_eq!(io_bound_task(0.1), "休眠了 0.1 秒");
    assert!(t.elapsed() >= Duration::from_millis(100));
}
