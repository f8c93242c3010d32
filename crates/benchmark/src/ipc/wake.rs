//! Wake-up latency, measured as `bench_python.py` measures Python's: a child sleeps in a
//! wait; the parent gives it a moment to fall asleep, takes the time, fires, and the child
//! takes the time as soon as its wait returns. The two times come from CLOCK_MONOTONIC, the
//! same clock in both processes. The child then tells the parent (a byte on a pipe) and
//! waits for the parent to reset the primitive before it waits again.
//!
//! Ours and the floor alternate firing by firing *with the same child*: even on one CPU, how
//! the scheduler treats a freshly forked waiter (whether a wake-up preempts the waker) varies
//! from child to child by more than the difference under test.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::thread::sleep;
use std::time::Duration;

use ipc_common::floor::PosixSemaphore;
use ipc_common::sync::futex;
use ipc_common::{Event, Process, Semaphore, ShmBox};

use super::measure::{median, now_ns};

/// Firings per repetition, for each contender.
pub const SAMPLES: usize = 200;

/// How long the parent lets the child fall asleep before each firing.
const SETTLE: Duration = Duration::from_millis(1);

/// One side of a comparison: how the child waits, how the parent fires, and how the parent
/// resets the primitive afterwards.
struct Contender<'a> {
    wait: &'a dyn Fn() -> anyhow::Result<()>,
    fire: &'a dyn Fn() -> anyhow::Result<()>,
    reset: &'a dyn Fn(),
}

/// The median wake-up latencies in µs of `a` and `b`, [`SAMPLES`] firings each, alternating.
fn latency_pair_us(a: &Contender<'_>, b: &Contender<'_>) -> anyhow::Result<(f64, f64)> {
    let woke_at = ShmBox::new(AtomicU64::new(0))?;
    let (mut woke_reader, woke_writer) = io::pipe()?;
    let (go_reader, mut go_writer) = io::pipe()?;
    let contenders = [a, b];
    let woke_at_ref = &woke_at;
    let waiter = Process::start("waiter", move || -> anyhow::Result<()> {
        let (mut woke_writer, mut go_reader) = (woke_writer, go_reader);
        let mut byte = [0u8; 1];
        for i in 0..2 * SAMPLES {
            (contenders[i % 2].wait)()?;
            woke_at_ref.store(now_ns()?, SeqCst);
            woke_writer.write_all(&[1])?;
            go_reader.read_exact(&mut byte)?;
        }
        Ok(())
    })?;
    let mut latencies = [Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES)];
    let mut byte = [0u8; 1];
    for i in 0..2 * SAMPLES {
        let c = contenders[i % 2];
        sleep(SETTLE);
        let fired_at = now_ns()?;
        (c.fire)()?;
        woke_reader.read_exact(&mut byte)?;
        let woke = woke_at.load(SeqCst);
        (c.reset)();
        go_writer.write_all(&[1])?;
        latencies[i % 2].push(woke.saturating_sub(fired_at) as f64 / 1e3);
    }
    waiter.join_ok()?;
    let [a, b] = latencies;
    Ok((median(a), median(b)))
}

/// [`Event::set`] until the child returns from [`Event::wait`], against a bare futex flag
/// (store 1 and `FUTEX_WAKE`; the waiter sleeps in `FUTEX_WAIT`): µs each.
pub fn event_vs_futex() -> anyhow::Result<(f64, f64)> {
    let event = Event::new()?;
    let word = ShmBox::new(AtomicU32::new(0))?;
    let ours = Contender {
        wait: &|| {
            event.wait();
            Ok(())
        },
        fire: &|| {
            event.set();
            Ok(())
        },
        reset: &|| event.clear(),
    };
    let floor = Contender {
        wait: &|| {
            while word.load(SeqCst) == 0 {
                futex::wait(&word, 0, None);
            }
            Ok(())
        },
        fire: &|| {
            word.store(1, SeqCst);
            futex::wake(&word, i32::MAX);
            Ok(())
        },
        reset: &|| word.store(0, SeqCst),
    };
    latency_pair_us(&ours, &floor)
}

/// [`Semaphore::release`] until the child returns from [`Semaphore::acquire`], against
/// `sem_post` until it returns from `sem_wait`: µs each.
pub fn semaphore_vs_sem_t() -> anyhow::Result<(f64, f64)> {
    // Bounded at one permit, taken at once: the child waits, the parent gives it back.
    let semaphore = Semaphore::new(1)?;
    semaphore.acquire()?.forget();
    let sem = PosixSemaphore::new(0)?;
    let ours = Contender {
        wait: &|| {
            semaphore.acquire()?.forget();
            Ok(())
        },
        fire: &|| Ok(semaphore.release()?),
        reset: &|| {},
    };
    let floor = Contender {
        wait: &|| {
            sem.wait();
            Ok(())
        },
        fire: &|| {
            sem.post();
            Ok(())
        },
        reset: &|| {},
    };
    latency_pair_us(&ours, &floor)
}
