//! Our primitives, each doing what `scripts/bench_python.py` makes Python's do.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Instant;

use anyhow::ensure;
use ipc_common::{Process, ShmBox, StartMethod};
use manager::Manager;
use pipe::PipeError;
use pool::Pool;
use queue::{Queue, QueueError};
use shm::Value;

use super::measure::per_op_us;

/// `Process::start` of an empty child and `join`, `n` times: µs per process.
pub fn spawn(n: u64) -> anyhow::Result<f64> {
    let start = Instant::now();
    for _ in 0..n {
        Process::start("empty", || ())?.join_ok()?;
    }
    Ok(per_op_us(start, n))
}

fn empty(_: ()) {}

/// An empty child started with `method` ([`Process::new`]) and joined, `n` times: µs per
/// process. Under forkserver one start before the timing launches the server, as in Python.
pub fn start_method(method: StartMethod, n: u64) -> anyhow::Result<f64> {
    let once = || -> anyhow::Result<()> {
        Process::new(empty, ())
            .start_method(method)
            .start()?
            .join_ok()?;
        Ok(())
    };
    if method == StartMethod::Forkserver {
        once()?;
    }
    let start = Instant::now();
    for _ in 0..n {
        once()?;
    }
    Ok(per_op_us(start, n))
}

/// `producers` children put `total` integers (then one `None` each) into one queue and
/// `consumers` children get them until a `None`; messages per second, process starts
/// included (as in Python).
pub fn queue(producers: u64, consumers: u64, total: u64) -> anyhow::Result<f64> {
    let queue = Queue::<Option<u64>>::new(0)?;
    let got = ShmBox::new(AtomicU64::new(0))?;
    let start = Instant::now();
    let mut children = Vec::new();
    for c in 0..consumers {
        children.push(Process::start(
            format!("consumer{c}"),
            || -> Result<(), QueueError> {
                let mut count = 0;
                while queue.get()?.is_some() {
                    count += 1;
                }
                got.fetch_add(count, SeqCst);
                Ok(())
            },
        )?);
    }
    for p in 0..producers {
        children.push(Process::start(
            format!("producer{p}"),
            || -> Result<(), QueueError> {
                for i in 0..total / producers {
                    queue.put(&Some(i))?;
                }
                queue.put(&None)
            },
        )?);
    }
    for child in children.iter().rev() {
        child.join_ok()?;
    }
    let secs = start.elapsed().as_secs_f64();
    ensure!(
        got.load(SeqCst) == total,
        "queue lost or duplicated messages"
    );
    Ok(total as f64 / secs)
}

/// `n` round trips of an integer through a [`pipe::pipe`] to an echoing child: µs each.
pub fn pipe_rtt(n: u64) -> anyhow::Result<f64> {
    let (mut conn, child_conn) = pipe::pipe::<Option<u64>>()?;
    let echo = Process::start("echo", move || -> Result<(), PipeError> {
        let mut conn = child_conn;
        while let Some(x) = conn.recv()? {
            conn.send(&Some(x))?;
        }
        Ok(())
    })?;
    conn.send(&Some(0))?;
    conn.recv()?; // warm-up, as Python's
    let start = Instant::now();
    for i in 0..n {
        conn.send(&Some(i))?;
        ensure!(conn.recv()? == Some(i), "echo returned another message");
    }
    let us = per_op_us(start, n);
    conn.send(&None)?;
    echo.join_ok()?;
    Ok(us)
}

/// Two children each increment a locked [`Value`] `n` times: ns per increment, process
/// starts included (as in Python).
pub fn value_inc(n: u64) -> anyhow::Result<f64> {
    let value = Value::new(0i64)?;
    let start = Instant::now();
    let workers = (0..2)
        .map(|i| {
            Process::start(format!("adder{i}"), || -> anyhow::Result<()> {
                for _ in 0..n {
                    *value.get_lock()? += 1;
                }
                Ok(())
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for w in &workers {
        w.join_ok()?;
    }
    let ns = per_op_us(start, 2 * n) * 1e3;
    ensure!(value.value()? == 2 * i64::try_from(n)?, "lost increments");
    Ok(ns)
}

/// A child sets `n` keys of a [`Manager`] dict, timed in the child: µs per set.
pub fn manager_set(n: u64) -> anyhow::Result<f64> {
    let manager = Manager::start()?;
    let dict = manager.dict::<u64, u64>()?;
    let took_ns = ShmBox::new(AtomicU64::new(0))?;
    let setter = Process::start("setter", || -> anyhow::Result<()> {
        dict.len()?; // connect first: the floor's socket is connected before timing too
        let start = Instant::now();
        for i in 0..n {
            dict.set(&i, &i)?;
        }
        took_ns.store(u64::try_from(start.elapsed().as_nanos())?, SeqCst);
        Ok(())
    })?;
    setter.join_ok()?;
    ensure!(dict.len()? == usize::try_from(n)?, "the dict misses keys");
    Ok(took_ns.load(SeqCst) as f64 / 1e3 / n as f64)
}

fn double(x: u64) -> u64 {
    x * 2
}

/// `Pool(2)`: `map` of `n_map` tiny tasks and `imap_unordered` of `n_imap` with chunk size
/// 1, µs per task each (pool start not timed, as in Python).
pub fn pool(n_map: u64, n_imap: u64) -> anyhow::Result<(f64, f64)> {
    let pool = Pool::new(2)?;
    let start = Instant::now();
    let results = pool.map(double, 0..n_map)?;
    let map_us = per_op_us(start, n_map);
    ensure!(
        results.last() == Some(&(2 * (n_map - 1))),
        "map: wrong results"
    );
    let start = Instant::now();
    let mut sum = 0;
    for r in pool.imap_unordered(double, 0..n_imap, 1)? {
        sum += r?;
    }
    let imap_us = per_op_us(start, n_imap);
    ensure!(
        sum == n_imap * (n_imap - 1),
        "imap_unordered: wrong results"
    );
    pool.close();
    pool.join()?;
    Ok((map_us, imap_us))
}

/// Note 10.1's CPU-bound task for n = 1 000 000: ms, the result checked.
pub fn cpu_task() -> anyhow::Result<f64> {
    let (ms, sum) = time_cpu_task(1_000_000);
    ensure!(sum == 333_332_833_333_500_000, "wrong sum: {sum}");
    Ok(ms)
}

/// Checks that ten times the work takes several times as long (the loop is not folded into
/// a formula), comparing the fastest of five runs each.
pub fn cpu_task_scales() -> anyhow::Result<()> {
    let fastest = |n: u64| {
        (0..5)
            .map(|_| time_cpu_task(n).0)
            .fold(f64::INFINITY, f64::min)
    };
    let (one, ten) = (fastest(1_000_000), fastest(10_000_000));
    ensure!(
        ten > 4.0 * one,
        "cpu_bound_task(10^7) took {ten:.3} ms, cpu_bound_task(10^6) {one:.3} ms: not computed"
    );
    Ok(())
}

fn time_cpu_task(n: u64) -> (f64, u128) {
    let start = Instant::now();
    let sum = benchmark::cpu_bound_task(std::hint::black_box(n));
    (start.elapsed().as_secs_f64() * 1e3, sum)
}
