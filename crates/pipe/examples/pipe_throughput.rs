//! How fast a `pipe::pipe()` carries messages of 1 KiB to 64 MiB, beside Python's
//! `multiprocessing.Pipe()` measured in the same run.
//!
//! ```text
//! cargo run --release -p pipe --example pipe_throughput            # echo and stream, best of 3
//! cargo run --release -p pipe --example pipe_throughput -- --quick # fewer messages, one run
//! cargo run --release -p pipe --example pipe_throughput -- 64 1024  # only 64 KiB and 1 MiB
//! ```
//!
//! Two ways of measuring, each on both sides:
//! - **echo**: the parent sends a message and a child sends it back; MB/s is the message's
//!   size over the round trip (the way the notes' numbers for Python were taken);
//! - **stream**: a child sends messages as fast as it can and the parent receives them.
//!
//! MB is 10^6 bytes. Rust sends `Vec<u8>` and `Vec<f64>` as typed messages (`send`/`recv`)
//! and raw bytes with `send_bytes`/`recv_bytes`; Python sends `bytes` with `send`/`recv`
//! (pickled) and with `send_bytes`/`recv_bytes`. The Python side is
//! `crates/pipe/examples/pipe_throughput.py`, run with `python3` if there is one.

use std::process::Command;
use std::time::Instant;

use anyhow::ensure;
use ipc_common::Process;
use pipe::{Connection, PipeError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Message sizes in bytes, and how many messages each is measured with.
const SIZES: [(usize, usize); 5] = [
    (1 << 10, 20_000),
    (64 << 10, 4_000),
    (1 << 20, 400),
    (8 << 20, 60),
    (64 << 20, 8),
];

/// A message type measured here.
trait Message: Serialize + DeserializeOwned + PartialEq + 'static {
    /// A message of about `bytes` bytes.
    fn make(bytes: usize) -> Self;
    /// Its size in bytes.
    fn bytes(&self) -> usize;
}

impl Message for Vec<u8> {
    fn make(bytes: usize) -> Self {
        (0..bytes).map(|i| i as u8).collect()
    }
    fn bytes(&self) -> usize {
        self.len()
    }
}

impl Message for Vec<f64> {
    fn make(bytes: usize) -> Self {
        (0..bytes / 8).map(|i| i as f64 * 0.5).collect()
    }
    fn bytes(&self) -> usize {
        self.len() * 8
    }
}

/// How a message goes through a connection: typed, or as raw bytes.
struct Way<T> {
    send: fn(&mut Connection<T>, &T) -> Result<(), PipeError>,
    recv: fn(&mut Connection<T>) -> Result<T, PipeError>,
}

impl<T> Clone for Way<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Way<T> {}

fn typed<T: Message>() -> Way<T> {
    Way {
        send: Connection::send,
        recv: Connection::recv,
    }
}

fn raw() -> Way<Vec<u8>> {
    Way {
        send: |conn, message| conn.send_bytes(message, 0, None),
        recv: |conn| conn.recv_bytes(None),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Echo,
    Stream,
}

/// MB/s of `count` messages of `size` bytes sent `way`, measured in `mode`.
fn measure<T: Message>(mode: Mode, way: Way<T>, size: usize, count: usize) -> anyhow::Result<f64> {
    let (mut conn, mut child_conn) = pipe::pipe::<T>()?;
    let message = T::make(size);
    let child = Process::start("peer", move || -> Result<(), PipeError> {
        if mode == Mode::Stream {
            let message = T::make(size);
            for _ in 0..=count {
                (way.send)(&mut child_conn, &message)?;
            }
            return Ok(());
        }
        // Echo until an empty message.
        loop {
            let message = (way.recv)(&mut child_conn)?;
            if message.bytes() == 0 {
                return Ok(());
            }
            (way.send)(&mut child_conn, &message)?;
        }
    })?;
    // A first message, not timed: it grows the pipes, and checks the bytes.
    if mode == Mode::Echo {
        (way.send)(&mut conn, &message)?;
    }
    ensure!((way.recv)(&mut conn)? == message, "the message changed");
    let start = Instant::now();
    for _ in 0..count {
        if mode == Mode::Echo {
            (way.send)(&mut conn, &message)?;
        }
        ensure!(
            (way.recv)(&mut conn)?.bytes() == size,
            "a message's size changed"
        );
    }
    let secs = start.elapsed().as_secs_f64();
    if mode == Mode::Echo {
        (way.send)(&mut conn, &T::make(0))?;
    }
    child.join_ok()?;
    Ok((size * count) as f64 / secs / 1e6)
}

/// Python's MB/s for one size, `(send, send_bytes)`, or `None` without `python3`.
fn python(mode: &str, size: usize, count: usize) -> Option<(f64, f64)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/pipe_throughput.py");
    let out = Command::new("python3")
        .args([script, mode, "1", &format!("{size}:{count}")])
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut cols = text.split_whitespace().skip(1).map(str::parse::<f64>);
    Some((cols.next()?.ok()?, cols.next()?.ok()?))
}

/// The best of each column over the runs.
fn best_of<const N: usize>(runs: &[[f64; N]]) -> [f64; N] {
    std::array::from_fn(|i| runs.iter().map(|r| r[i]).fold(0f64, f64::max))
}

fn size_name(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let reps = if quick { 1 } else { 3 };
    let sizes: Vec<(usize, usize)> = SIZES
        .iter()
        .filter(|(s, _)| only.is_empty() || only.contains(&(s >> 10)))
        .map(|&(s, c)| (s, if quick { c.div_ceil(10).max(2) } else { c }))
        .collect();
    for (mode, name) in [(Mode::Echo, "echo"), (Mode::Stream, "stream")] {
        println!("\n{name}: MB/s, best of {reps}");
        println!(
            "{:>8} {:>9} {:>9} {:>10} | {:>11} {:>17} | {:>12} {:>13} {:>16}",
            "size",
            "Vec<u8>",
            "Vec<f64>",
            "send_bytes",
            "Python send",
            "Python send_bytes",
            "Vec<u8>/send",
            "Vec<f64>/send",
            "bytes/send_bytes"
        );
        for &(size, count) in &sizes {
            // Python and Rust take turns, so that both see the same load on the machine.
            let mut runs = Vec::new();
            let mut py_runs = Vec::new();
            for rep in 0..reps {
                py_runs.extend(python(name, size, count).map(|(a, b)| [a, b]));
                // Each run starts with another kind: the first after Python's run pays for it.
                let mut run = [0f64; 3];
                for kind in (0..3).map(|k| (k + rep) % 3) {
                    run[kind] = match kind {
                        0 => measure(mode, typed::<Vec<u8>>(), size, count)?,
                        1 => measure(mode, typed::<Vec<f64>>(), size, count)?,
                        _ => measure(mode, raw(), size, count)?,
                    };
                }
                runs.push(run);
            }
            let [bytes, floats, raw_bytes] = best_of(&runs);
            let line = format!(
                "{:>8} {bytes:>9.0} {floats:>9.0} {raw_bytes:>10.0}",
                size_name(size)
            );
            if py_runs.is_empty() {
                println!("{line} | (no python3)");
            } else {
                let [send, send_bytes] = best_of(&py_runs);
                println!(
                    "{line} | {send:>11.0} {send_bytes:>17.0} | {:>11.2}x {:>12.2}x {:>15.2}x",
                    bytes / send,
                    floats / send,
                    raw_bytes / send_bytes
                );
            }
        }
    }
    Ok(())
}
