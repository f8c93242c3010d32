//! What tracing costs: the trace hooks of a Lock acquire/release and of a queue message,
//! timed with tracing off against the operations they sit in; and, for information, the
//! operations with tracing on.

use std::hint::black_box;
use std::time::Instant;

use ipc_common::{Lock, trace};
use queue::Queue;

use super::measure::median;

/// Operations per timing, and timings per number (the median is kept).
const OPS: u64 = 200_000;
const TIMINGS: usize = 7;
/// Hook sets per turn of a timing loop.
const UNROLL: u32 = 16;

/// The result: ns per operation, with the hooks' share when tracing is off.
pub struct Overhead {
    /// Lock acquire + release, tracing off.
    pub lock_ns: f64,
    /// Its two trace hooks alone (`trace::span` "wait" and "hold", begun and ended).
    pub lock_hooks_ns: f64,
    /// Queue put + get of a small message in one process, tracing off.
    pub queue_ns: f64,
    /// Its two trace hooks alone (`trace::enabled()` at the put and at the get).
    pub queue_hooks_ns: f64,
    /// Lock and queue again with tracing on, if a trace could be started.
    pub on: Option<(f64, f64)>,
}

fn ns_per_op(ops: u64, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let mut runs = Vec::new();
    for _ in 0..TIMINGS {
        let start = Instant::now();
        for _ in 0..ops {
            f()?;
        }
        runs.push(start.elapsed().as_nanos() as f64 / ops as f64);
    }
    Ok(median(runs))
}

fn lock_and_queue(ops: u64) -> anyhow::Result<(f64, f64)> {
    let lock = Lock::new()?;
    let queue = Queue::<u64>::new(0)?;
    let lock_ns = ns_per_op(ops, || {
        drop(black_box(lock.acquire()?));
        Ok(())
    })?;
    let queue_ns = ns_per_op(ops, || {
        queue.put(black_box(&7))?;
        black_box(queue.get()?);
        Ok(())
    })?;
    Ok((lock_ns, queue_ns))
}

/// Measures in this process (no child: nothing else runs meanwhile).
pub fn measure() -> anyhow::Result<Overhead> {
    eprintln!("ipc: tracing overhead ...");
    let (lock_ns, queue_ns) = lock_and_queue(OPS)?;
    // The hooks exactly as the lock runs them: a "wait" span around the locking, a "hold"
    // span in the guard. Not through `black_box`, which would store the guards to memory;
    // the flag's loads are atomic, so the compiler keeps every one of them. [`UNROLL`] sets
    // of hooks per turn of the timing loop, so that the loop's own cost is spread over them.
    let lock_hooks_ns = ns_per_op(OPS, || {
        for _ in 0..UNROLL {
            drop(trace::span("lock", "wait"));
            drop(trace::span("lock", "hold"));
        }
        Ok(())
    })? / UNROLL as f64;
    // The ring checks `trace::enabled()` once per put and once per get.
    let queue_hooks_ns = ns_per_op(OPS, || {
        for _ in 0..UNROLL {
            black_box(trace::enabled());
            black_box(trace::enabled());
        }
        Ok(())
    })? / UNROLL as f64;
    let dir = std::env::temp_dir().join(format!("benchmark-trace-{}", std::process::id()));
    let on = match std::fs::create_dir_all(&dir).and_then(|()| trace::start(&dir.join("t.json"))) {
        Ok(()) => {
            // Fewer operations: every one is recorded.
            let on = lock_and_queue(OPS / 20);
            let finished = trace::finish();
            let _ = std::fs::remove_dir_all(&dir);
            finished?;
            Some(on?)
        }
        Err(e) => {
            eprintln!("  no tracing-on numbers: {e}");
            None
        }
    };
    Ok(Overhead {
        lock_ns,
        lock_hooks_ns,
        queue_ns,
        queue_hooks_ns,
        on,
    })
}

impl Overhead {
    /// The output line, e.g. "tracing off: 0.8 % overhead (Lock ...), goal ≤ 2 %: met".
    pub fn line(&self) -> String {
        let lock = 100.0 * self.lock_hooks_ns / self.lock_ns;
        let queue = 100.0 * self.queue_hooks_ns / self.queue_ns;
        let worst = lock.max(queue);
        let met = if worst <= 2.0 { "met" } else { "**not met**" };
        let mut line = format!(
            "Tracing off: {worst:.2} % overhead at most, goal ≤ 2 %: {met} (Lock acquire + release {:.1} ns, of which its trace hooks {:.2} ns = {lock:.2} %; Queue put + get of a small message in one process {:.0} ns, of which its hooks {:.2} ns = {queue:.2} %).",
            self.lock_ns, self.lock_hooks_ns, self.queue_ns, self.queue_hooks_ns
        );
        if let Some((lock_on, queue_on)) = self.on {
            line += &format!(
                " For information, tracing on (every event recorded): Lock {lock_on:.0} ns ({:.1}×), Queue {queue_on:.0} ns ({:.1}×).",
                lock_on / self.lock_ns,
                queue_on / self.queue_ns
            );
        }
        line
    }
}
