//! The tasks of note 10.1, shared by the `benchmark` binary (10.1 and `benchmark ipc`) and
//! its tests, and 10.1's chart.

use std::hint::black_box;
use std::path::PathBuf;
use std::thread::sleep;
use std::time::Duration;

use ipc_common::pyfmt::PyRepr;
use nix::time::{ClockId, clock_gettime};
use serde::Serialize;
use serde::de::DeserializeOwned;
use timeline::TimelineError;
use timeline::chart::{Figure, LineChart};

// The three tasks are shown in the book (book/src/notes/10.1.md) between these anchors.
// ANCHOR: tasks
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

/// CPU密集型任务 as note 10.1 runs it: [`cpu_bound_task`]`(n)` computed `repeat` times (at
/// least once), its value returned.
///
/// Rust computes the note's sum (n = 10^6) in about 0.5 ms, so little that starting a pool's
/// workers costs more than the work and the times say nothing about pool sizes. Repeating
/// the same sum makes a task as heavy as the note meant it to be, and the result stays the
/// note's. `black_box` on `n` and on each sum keeps the compiler from computing it once.
///
/// ```
/// assert_eq!(benchmark::repeated_cpu_task((1000, 3)), benchmark::cpu_bound_task(1000));
/// ```
pub fn repeated_cpu_task((n, repeat): (u64, u32)) -> u128 {
    let mut sum = 0;
    for _ in 0..repeat.max(1) {
        sum = black_box(cpu_bound_task(black_box(n)));
    }
    sum
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

// ANCHOR_END: tasks

/// What note 10.1's tasks take and return: values that travel between processes (encoded,
/// as Python pickles them) and can be handed to every pool size in turn.
pub trait Portable: Serialize + DeserializeOwned + Clone + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + 'static> Portable for T {}

/// The CPU time one CPU-bound task of note 10.1 is given: about what CPython takes to
/// compute the note's sum once (44 ms, in the README's speed table).
pub const CPU_TASK_TIME: Duration = Duration::from_millis(50);

/// How many times [`repeated_cpu_task`] computes the sum of `n` squares so that a task
/// takes about `cpu` of CPU time, in this build on this machine (at least 1).
///
/// One sum is timed in this thread's CPU time, the least of three tries: unlike wall time it
/// does not grow while other programs keep the cores busy.
pub fn repeats_for(n: u64, cpu: Duration) -> u32 {
    let once = (0..3)
        .map(|_| {
            let start = thread_cpu_time();
            black_box(cpu_bound_task(black_box(n)));
            thread_cpu_time().saturating_sub(start)
        })
        .min()
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_micros(1));
    (cpu.as_secs_f64() / once.as_secs_f64())
        .round()
        .clamp(1.0, 1e6) as u32
}

/// The CPU time this thread has used so far (zero if the clock cannot be read, which Linux
/// never refuses).
pub fn thread_cpu_time() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// Where note 10.1 draws its chart: beside the trace the program records, `run.json` →
/// `run.pool-size.svg` for `--trace run.json`; `None` when it records none. The chart is an
/// addition of ours, and a demo run without `--trace` leaves no file behind.
pub fn chart_path() -> Option<PathBuf> {
    let trace = ipc_common::trace::file()?;
    let mut name = trace.file_stem()?.to_os_string();
    name.push(".pool-size.svg");
    Some(trace.with_file_name(name))
}

/// Note 10.1's chart: pool size against the time and the speed-up over pool size 1, for the
/// CPU-bound and the I/O-bound tasks, with the core count marked.
///
/// `cpu` and `io` are (pool size, seconds) in the order measured; the first is pool size 1.
///
/// ```
/// let times = [(1, 0.8), (2, 0.4), (4, 0.4)];
/// let svg = benchmark::pool_size_chart(2, &times, &times).svg()?;
/// assert!(svg.contains("CPU核心数 2"));
/// # Ok::<(), timeline::TimelineError>(())
/// ```
pub fn pool_size_chart(cores: usize, cpu: &[(usize, f64)], io: &[(usize, f64)]) -> Figure {
    let points = |times: &[(usize, f64)], f: &dyn Fn(f64, f64) -> f64| -> Vec<(f64, f64)> {
        let base = times.first().map_or(1.0, |t| t.1);
        times
            .iter()
            .map(|&(size, seconds)| (size as f64, f(base, seconds)))
            .collect()
    };
    let time = |_: f64, seconds: f64| seconds;
    let speed_up = |base: f64, seconds: f64| base / seconds;
    let cores_label = format!("CPU核心数 {cores}");
    let chart = |title: &str, y: &str, f: &dyn Fn(f64, f64) -> f64| {
        LineChart::new(title, "进程池大小 pool size", y)
            .log2_x()
            .series("CPU密集型 CPU-bound", points(cpu, f))
            .series("I/O密集型 I/O-bound", points(io, f))
            .marker(cores as f64, cores_label.as_str())
    };
    Figure::new(960, 380)
        .title("10.1 进程池大小优化 pool size")
        .chart(chart("完成时间 time", "秒 s", &time))
        .chart(chart("相对进程池大小1的加速比 speed-up", "倍 ×", &speed_up))
}

/// Writes note 10.1's chart to [`chart_path`], if the program records a trace.
///
/// # Errors
///
/// If the chart cannot be drawn or written.
pub fn draw_pool_size_chart(
    cores: usize,
    cpu: &[(usize, f64)],
    io: &[(usize, f64)],
) -> Result<(), TimelineError> {
    match chart_path() {
        Some(path) => pool_size_chart(cores, cpu, io).to_svg(&path),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_shows_times_and_speed_ups() {
        let cpu = [(1, 0.8), (2, 0.4), (4, 0.4)];
        let io = [(1, 1.6), (2, 0.8), (4, 0.4)];
        let figure = pool_size_chart(2, &cpu, &io);
        let lines = |i: usize| match &figure.charts[i] {
            timeline::chart::Chart::Lines(lines) => lines.clone(),
            other => panic!("not lines: {other:?}"),
        };
        assert_eq!(
            lines(0).series[1].points,
            [(1.0, 1.6), (2.0, 0.8), (4.0, 0.4)]
        );
        assert_eq!(
            lines(1).series[0].points,
            [(1.0, 1.0), (2.0, 2.0), (4.0, 2.0)]
        );
        assert_eq!(
            lines(1).series[1].points,
            [(1.0, 1.0), (2.0, 2.0), (4.0, 4.0)]
        );
        assert_eq!(lines(1).markers[0].at, 2.0);
        let svg = figure.svg().expect("svg");
        assert!(svg.contains("CPU密集型 CPU-bound") && svg.contains("CPU核心数 2"));
    }
}
