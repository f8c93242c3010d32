//! Wake-up latency, measured as `bench_python.py` measures Python's: a child sleeps in a
//! wait; the parent gives it a moment to fall asleep, takes the time, fires, and the child
//! takes the time as soon as its wait returns. The two times come from CLOCK_MONOTONIC, the
//! same clock in both processes. The child then tells the parent (a byte on a pipe) and
//! waits for the parent to reset the primitive before it waits again.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::thread::sleep;
use std::time::Duration;

use ipc_common::{Process, ShmBox};

use super::measure::{median, now_ns};

/// Samples per repetition.
pub const SAMPLES: usize = 200;

/// How long the parent lets the child fall asleep before each firing.
const SETTLE: Duration = Duration::from_millis(1);

/// The median wake-up latency in µs over [`SAMPLES`] firings.
pub fn latency_us(
    wait: impl Fn() -> anyhow::Result<()>,
    fire: impl Fn() -> anyhow::Result<()>,
    reset: impl Fn(),
) -> anyhow::Result<f64> {
    let woke_at = ShmBox::new(AtomicU64::new(0))?;
    let (mut woke_reader, woke_writer) = io::pipe()?;
    let (go_reader, mut go_writer) = io::pipe()?;
    let (woke_at_ref, wait_ref) = (&woke_at, &wait);
    let waiter = Process::start("waiter", move || -> anyhow::Result<()> {
        let (mut woke_writer, mut go_reader) = (woke_writer, go_reader);
        let mut byte = [0u8; 1];
        for _ in 0..SAMPLES {
            wait_ref()?;
            woke_at_ref.store(now_ns()?, SeqCst);
            woke_writer.write_all(&[1])?;
            go_reader.read_exact(&mut byte)?;
        }
        Ok(())
    })?;
    let mut latencies = Vec::with_capacity(SAMPLES);
    let mut byte = [0u8; 1];
    for _ in 0..SAMPLES {
        sleep(SETTLE);
        let fired_at = now_ns()?;
        fire()?;
        woke_reader.read_exact(&mut byte)?;
        let woke = woke_at.load(SeqCst);
        reset();
        go_writer.write_all(&[1])?;
        latencies.push(woke.saturating_sub(fired_at) as f64 / 1e3);
    }
    waiter.join_ok()?;
    Ok(median(latencies))
}
