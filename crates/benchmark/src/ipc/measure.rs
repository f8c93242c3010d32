//! Small tools of measurement: medians, a clock that two processes share, repetitions that
//! alternate between two contenders, and pinning to one CPU.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

use anyhow::Context as _;
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;

/// Set by `--quick`: fewer repetitions and smaller counts, for a smoke run.
static QUICK: AtomicBool = AtomicBool::new(false);

/// Makes this a quick run (`--quick`).
pub fn set_quick() {
    QUICK.store(true, Relaxed);
}

/// Whether this is a quick run.
pub fn quick() -> bool {
    QUICK.load(Relaxed)
}

/// `full`, or a tenth of it (at least 1) in a quick run.
pub fn scaled(full: u64) -> u64 {
    if quick() { (full / 10).max(1) } else { full }
}

/// Repetitions of every measurement (5, 3 in a quick run); the table shows their median.
pub fn reps() -> usize {
    if quick() { 3 } else { 5 }
}

/// The median of `xs` (the upper one for an even count); NaN for none.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process, so a time taken in a
/// child can be compared with one taken in its parent (as Python's `perf_counter`).
pub fn now_ns() -> anyhow::Result<u64> {
    let ts = clock_gettime(ClockId::CLOCK_MONOTONIC).context("clock_gettime")?;
    let secs = u64::try_from(ts.tv_sec())?;
    let nanos = u64::try_from(ts.tv_nsec())?;
    Ok(secs * 1_000_000_000 + nanos)
}

/// Microseconds per operation.
pub fn per_op_us(start: Instant, ops: u64) -> f64 {
    start.elapsed().as_secs_f64() * 1e6 / ops as f64
}

/// [`reps`] repetitions of `ours` and of `floor`, alternating (and swapping which goes first
/// each time), so both see the same placement of processes on the vCPUs; the medians.
pub fn interleaved(
    what: &str,
    mut ours: impl FnMut() -> anyhow::Result<f64>,
    mut floor: impl FnMut() -> anyhow::Result<f64>,
) -> anyhow::Result<(f64, f64)> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let reps = reps();
    for rep in 0..reps {
        eprintln!("  {what}: repetition {}/{reps}", rep + 1);
        if rep % 2 == 0 {
            a.push(ours()?);
            b.push(floor()?);
        } else {
            b.push(floor()?);
            a.push(ours()?);
        }
    }
    Ok((median(a), median(b)))
}

/// [`reps`] repetitions of `f`, which measures two contenders at once; their medians.
pub fn paired(
    what: &str,
    mut f: impl FnMut() -> anyhow::Result<(f64, f64)>,
) -> anyhow::Result<(f64, f64)> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let reps = reps();
    for rep in 0..reps {
        eprintln!("  {what}: repetition {}/{reps}", rep + 1);
        let (x, y) = f()?;
        a.push(x);
        b.push(y);
    }
    Ok((median(a), median(b)))
}

/// [`reps`] repetitions of `f`; the median.
pub fn repeated(what: &str, mut f: impl FnMut() -> anyhow::Result<f64>) -> anyhow::Result<f64> {
    let mut runs = Vec::new();
    let reps = reps();
    for rep in 0..reps {
        eprintln!("  {what}: repetition {}/{reps}", rep + 1);
        runs.push(f()?);
    }
    Ok(median(runs))
}

/// [`reps`] repetitions of `f`: the fastest. For a computation of fixed work, where noise
/// (another tenant of the host, a migration) can only add time.
pub fn fastest(what: &str, mut f: impl FnMut() -> anyhow::Result<f64>) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    let reps = reps();
    for rep in 0..reps {
        eprintln!("  {what}: repetition {}/{reps}", rep + 1);
        best = best.min(f()?);
    }
    Ok(best)
}

/// While alive, this process (and every child it forks) runs on one CPU only; dropping it
/// gives back the CPUs it had.
pub struct PinnedToOneCpu {
    before: CpuSet,
}

impl PinnedToOneCpu {
    /// Pins this process to the first CPU it may run on; returns the guard and that CPU.
    pub fn first_allowed() -> anyhow::Result<(Self, usize)> {
        let me = Pid::from_raw(0);
        let before = sched_getaffinity(me).context("sched_getaffinity")?;
        let cpu = (0..CpuSet::count())
            .find(|&c| before.is_set(c).unwrap_or(false))
            .context("no CPU in this process's affinity mask")?;
        let mut one = CpuSet::new();
        one.set(cpu)?;
        sched_setaffinity(me, &one).context("sched_setaffinity")?;
        Ok((Self { before }, cpu))
    }
}

impl Drop for PinnedToOneCpu {
    fn drop(&mut self) {
        if let Err(e) = sched_setaffinity(Pid::from_raw(0), &self.before) {
            eprintln!("warning: could not restore the CPU affinity: {e}");
        }
    }
}
