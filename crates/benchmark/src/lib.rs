//! The tasks of note 10.1, shared by the `benchmark` binary (10.1 and `benchmark ipc`) and
//! its tests.

use std::hint::black_box;
use std::thread::sleep;
use std::time::Duration;

use ipc_common::pyfmt::PyRepr;

/// CPU密集型任务: `sum(i * i for i in range(n))`.
///
/// Every square is really computed. `black_box` hides each `i` from the optimiser: without
/// it LLVM turns the loop into the closed form n(n-1)(2n-1)/6 and the "task" takes 20 ns
/// whatever `n` is (measured). The sum is a `u128`, so it is exact as Python's integers are
/// for any `n` below 2^32.
///
/// ```
/// assert_eq!(benchmark::cpu_bound_task(1_000_000), 333_332_833_333_500_000);
/// ```
pub fn cpu_bound_task(n: u64) -> u128 {
    (0..n)
        .map(|i| {
            let i = u128::from(black_box(i));
            i * i
        })
        .sum()
}

/// I/O密集型任务（模拟）: sleeps `duration` seconds and says so.
///
/// ```
/// assert_eq!(benchmark::io_bound_task(0.0), "休眠了 0.0 秒");
/// ```
pub fn io_bound_task(duration: f64) -> String {
    sleep(Duration::from_secs_f64(duration));
    // Python's f-string shows a float as `str()` does: `0.1`, `1.0`.
    format!("休眠了 {} 秒", duration.py_repr())
}
