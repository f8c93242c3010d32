//! Queue throughput, measured the way the Python baseline does it (as `scripts/bench_python.py` times Python's queue):
//! P producers put TOTAL/P small messages each and then a `None`, C consumers get until they
//! see a `None` (one per consumer is put by the parent after the producers finish, since
//! producers and consumers may differ in number); the time covers starting and joining them.
//!
//! `cargo run --release -p queue --example throughput -- [PRODUCERS CONSUMERS [TOTAL [str]]]`
//! prints the median of 5 runs in messages per second.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Instant;

use anyhow::Context as _;
use ipc_common::{Process, ShmBox};
use queue::Queue;
use serde::{Serialize, de::DeserializeOwned};

fn run<T: Serialize + DeserializeOwned + 'static>(
    producers: u64,
    consumers: u64,
    total: u64,
    make: impl Fn(u64) -> T,
) -> anyhow::Result<f64> {
    let queue = Queue::<Option<T>>::new(0)?;
    let count = ShmBox::new(AtomicU64::new(0))?;
    let start = Instant::now();
    let consumers: Vec<Process> = (0..consumers)
        .map(|c| {
            Process::start(format!("consumer{c}"), || -> anyhow::Result<()> {
                let mut n = 0;
                while queue.get()?.is_some() {
                    n += 1;
                }
                count.fetch_add(n, SeqCst);
                Ok(())
            })
        })
        .collect::<Result<_, _>>()?;
    let producers: Vec<Process> = (0..producers)
        .map(|p| {
            let make = &make;
            let queue = &queue;
            Process::start(format!("producer{p}"), move || -> anyhow::Result<()> {
                let mut item = None;
                for i in 0..total / producers {
                    item = Some(make(i));
                    queue.put(&item)?;
                }
                drop(item);
                Ok(())
            })
        })
        .collect::<Result<_, _>>()?;
    for p in &producers {
        p.join_ok()?;
    }
    for _ in &consumers {
        queue.put(&None)?;
    }
    for c in &consumers {
        c.join_ok()?;
    }
    let secs = start.elapsed().as_secs_f64();
    let got = count.load(SeqCst);
    anyhow::ensure!(got == total, "{got} messages consumed, {total} expected");
    Ok(total as f64 / secs)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> anyhow::Result<u64> {
        args.get(i)
            .map_or(Ok(default), |a| a.parse().context("a number"))
    };
    let (p, c, total) = (num(0, 1)?, num(1, 1)?, num(2, 100_000)?);
    let text = args.get(3).is_some_and(|a| a == "str");
    let mut rates = (0..5)
        .map(|_| {
            if text {
                run(p, c, total, |_| "hello".to_string())
            } else {
                run(p, c, total, |i| i)
            }
        })
        .collect::<anyhow::Result<Vec<f64>>>()?;
    rates.sort_by(f64::total_cmp);
    let list: Vec<String> = rates.iter().map(|r| format!("{:.0}k", r / 1e3)).collect();
    println!(
        "queue {p} -> {c}, {total} x {}: median {:.0}k msg/s (runs: {})",
        if text { "'hello'" } else { "int" },
        rates[2] / 1e3,
        list.join(" ")
    );
    Ok(())
}
