//! The queue soak (guarantee 6): a million messages through `queue::Queue`, from 4 producer
//! processes to 4 consumer processes, in rounds that each make a fresh queue and fresh
//! processes. It checks that
//!
//! - every message arrives exactly once: the consumers' counts and checksums add up to what
//!   the producers sent;
//! - each consumer sees each producer's messages in the order they were put (FIFO);
//! - nothing leaks: the parent's open file descriptors (`/proc/self/fd`) and `/dev/shm` are
//!   the same after every round as before the first.
//!
//! It takes seconds in a release build and minutes in a debug one, so it is not part of
//! `cargo test`: run `scripts/soak.sh [MESSAGES [ROUNDS]]` (a release build; defaults
//! 1000000 and 4).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use ipc_common::Process;
use ipc_common::process::join_all;
use queue::Queue;
use reliability::{open_fds, shm_entries};
use serde::{Deserialize, Serialize};

const PRODUCERS: u32 = 4;
const CONSUMERS: u32 = 4;
/// A bounded queue, so that producers also wait for room and wake up, not only consumers.
const MAXSIZE: usize = 1000;

/// One message: which producer, and its sequence number there.
type Message = Option<(u32, u64)>;

/// What one consumer saw.
#[derive(Serialize, Deserialize, Debug, Default)]
struct Tally {
    count: u64,
    checksum: u64,
    /// A producer's message came after a later one of the same producer.
    out_of_order: u64,
}

/// A message's contribution to the checksum (a sum, so the order of arrival does not matter,
/// but a lost or duplicated message changes it).
fn mix(producer: u32, seq: u64) -> u64 {
    (u64::from(producer) << 48 ^ seq).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn consume(queue: &Queue<Message>, tallies: &Queue<Tally>) -> anyhow::Result<()> {
    let mut tally = Tally::default();
    let mut next = [0u64; PRODUCERS as usize];
    while let Some((producer, seq)) = queue.get()? {
        let slot = next
            .get_mut(producer as usize)
            .context("unknown producer")?;
        if seq < *slot {
            tally.out_of_order += 1;
        }
        *slot = seq + 1;
        tally.count += 1;
        tally.checksum = tally.checksum.wrapping_add(mix(producer, seq));
    }
    tallies.put(&tally)?;
    Ok(())
}

/// One round: `per_producer` messages from each producer. Returns the elapsed time.
fn round(per_producer: u64) -> anyhow::Result<Duration> {
    let queue = Queue::<Message>::new(MAXSIZE)?;
    let tallies = Queue::<Tally>::new(0)?;
    let start = Instant::now();
    let consumers: Vec<Process> = (0..CONSUMERS)
        .map(|c| Process::start(format!("consumer{c}"), || consume(&queue, &tallies)))
        .collect::<Result<_, _>>()?;
    let producers: Vec<Process> = (0..PRODUCERS)
        .map(|p| {
            let queue = &queue;
            Process::start(format!("producer{p}"), move || -> anyhow::Result<()> {
                for seq in 0..per_producer {
                    queue.put(&Some((p, seq)))?;
                }
                Ok(())
            })
        })
        .collect::<Result<_, _>>()?;
    join_all(&producers)?;
    // One stop signal per consumer, behind every message.
    consumers.iter().try_for_each(|_| queue.put(&None))?;
    let mut total = Tally::default();
    for _ in &consumers {
        let t = tallies.get_timeout(Duration::from_secs(60))?;
        total.count += t.count;
        total.checksum = total.checksum.wrapping_add(t.checksum);
        total.out_of_order += t.out_of_order;
    }
    join_all(&consumers)?;
    let took = start.elapsed();
    let expected: u64 = (0..PRODUCERS)
        .flat_map(|p| (0..per_producer).map(move |seq| mix(p, seq)))
        .fold(0, u64::wrapping_add);
    let sent = per_producer * u64::from(PRODUCERS);
    ensure!(
        total.count == sent,
        "{sent} messages sent, {} received",
        total.count
    );
    ensure!(total.checksum == expected, "checksums differ");
    ensure!(
        total.out_of_order == 0,
        "{} messages out of order",
        total.out_of_order
    );
    ensure!(
        queue.empty(),
        "{} messages left in the queue",
        queue.qsize()
    );
    Ok(took)
}

fn arg(n: usize, default: u64) -> anyhow::Result<u64> {
    match std::env::args().nth(n) {
        Some(text) => text
            .parse()
            .with_context(|| format!("usage: soak [MESSAGES [ROUNDS]] (got {text:?})")),
        None => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let messages = arg(1, 1_000_000)?;
    let rounds = arg(2, 4)?.max(1);
    let per_producer = messages / rounds / u64::from(PRODUCERS);
    if per_producer == 0 {
        bail!("too few messages for {rounds} rounds of {PRODUCERS} producers");
    }
    let fds_before = open_fds()?;
    let shm_before = shm_entries()?;
    let mut took = Duration::ZERO;
    for r in 1..=rounds {
        let t = round(per_producer)?;
        took += t;
        let (fds, shm) = (open_fds()?, shm_entries()?);
        let sent = per_producer * u64::from(PRODUCERS);
        println!(
            "round {r}/{rounds}: {sent} messages in {t:.2?} ({:.0} msgs/s); open fds {fds}, /dev/shm entries {}",
            sent as f64 / t.as_secs_f64(),
            shm.len()
        );
        ensure!(
            fds == fds_before,
            "open fds: {fds_before} before, {fds} after round {r}"
        );
        ensure!(
            shm == shm_before,
            "/dev/shm changed: {shm_before:?} before, {shm:?} after round {r}"
        );
    }
    let total = per_producer * u64::from(PRODUCERS) * rounds;
    println!(
        "soak ok: {total} messages, {PRODUCERS} producers, {CONSUMERS} consumers, {rounds} rounds, \
         {:.2?} ({:.0} msgs/s); every message once, in order per producer; open fds {fds_before} \
         before and {} after; /dev/shm entries {} before and {} after",
        took,
        total as f64 / took.as_secs_f64(),
        open_fds()?,
        shm_before.len(),
        shm_entries()?.len()
    );
    Ok(())
}
