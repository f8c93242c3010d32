//! Large-message bandwidth of a `Queue<Vec<u8>>`, beside this machine's single-thread
//! `memcpy` measured in the same run.
//!
//! One producer puts the same `Vec<u8>` again and again, one consumer gets each message (a
//! new `Vec<u8>` every time, as a real consumer would) and checks its length and its ends;
//! the time covers the whole transfer, process starts excluded. Each size moves about
//! `TOTAL_MIB` MiB; the best of 3 runs is printed.
//!
//! `cargo run --release -p queue --example bandwidth -- [RING_BYTES [TOTAL_MIB [SIZE ...]]]`
//! (sizes in bytes; by default 64 KiB, 1 MiB, 8 MiB and 64 MiB).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use ipc_common::{Process, ShmBox};
use queue::{DEFAULT_CAPACITY, Queue};

/// Bytes per second of one thread copying `size`-byte buffers (the source and the target
/// already touched, as the ring's are), best of a few rounds.
fn memcpy_rate(size: usize, total: usize) -> f64 {
    let src = vec![1u8; size];
    let mut dst = vec![0u8; size];
    let rounds = (total / size).max(1);
    (0..3)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..rounds {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
            }
            (rounds * size) as f64 / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// Bytes per second through a queue with a ring of `ring` bytes, `count` messages of `size`.
fn queue_rate(ring: usize, size: usize, count: u64) -> anyhow::Result<f64> {
    let queue = Queue::<Vec<u8>>::with_capacity(0, ring)?;
    let ready = ShmBox::new(AtomicU64::new(0))?;
    let nanos = ShmBox::new(AtomicU64::new(0))?;
    let consumer = Process::start("consumer", || -> anyhow::Result<()> {
        ready.fetch_add(1, SeqCst);
        let first = queue.get()?; // the start signal: one byte
        ensure!(first.len() == 1);
        let start = Instant::now();
        for i in 0..count {
            let m = queue.get()?;
            ensure!(
                m.len() == size && m[0] == i as u8 && m[size - 1] == 7,
                "message {i} bad"
            );
        }
        nanos.store(start.elapsed().as_nanos() as u64, SeqCst);
        Ok(())
    })?;
    let producer = Process::start("producer", || -> anyhow::Result<()> {
        let mut m = vec![7u8; size];
        while ready.load(SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        queue.put(&vec![0])?;
        for i in 0..count {
            m[0] = i as u8;
            queue.put(&m)?;
        }
        Ok(())
    })?;
    producer.join_ok()?;
    consumer.join_ok()?;
    Ok((count as f64 * size as f64) / (nanos.load(SeqCst) as f64 / 1e9))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |a: &String| a.parse::<usize>().context("a number");
    let ring = args
        .first()
        .map(num)
        .transpose()?
        .unwrap_or(DEFAULT_CAPACITY);
    let total_mib = args.get(1).map(num).transpose()?.unwrap_or(1024);
    let sizes: Vec<usize> = if args.len() > 2 {
        args[2..].iter().map(num).collect::<Result<_, _>>()?
    } else {
        vec![64 << 10, 1 << 20, 8 << 20, 64 << 20]
    };
    let memcpy = memcpy_rate(8 << 20, 1 << 30);
    println!(
        "memcpy (one thread, 8 MiB buffers): {:.0} MB/s; ring {} KiB",
        memcpy / 1e6,
        ring >> 10
    );
    for size in sizes {
        let count = ((total_mib << 20) / size).max(4) as u64;
        let best = (0..3)
            .map(|_| queue_rate(ring, size, count))
            .collect::<anyhow::Result<Vec<f64>>>()?
            .into_iter()
            .fold(0.0, f64::max);
        println!(
            "Queue<Vec<u8>> 1 -> 1, {:>6} KiB x {count:>5}: {:>6.0} MB/s = {:>3.0}% of memcpy",
            size >> 10,
            best / 1e6,
            100.0 * best / memcpy
        );
    }
    Ok(())
}
