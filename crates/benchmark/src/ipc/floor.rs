//! The raw OS floors under our primitives: the cheapest way the kernel offers to do the same
//! thing (a bare `fork`, a pipe ping-pong, a process-shared mutex, a futex, a `sem_t`), with no
//! framing, no encoding and no robustness.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::time::Instant;

use anyhow::ensure;
use ipc_common::floor::{PlainMutex, fork_exit_wait};
use ipc_common::{Process, ShmBox};

use super::measure::per_op_us;

/// Bytes of one message in the streaming and ping-pong floors.
const MSG: usize = 64;

/// `fork`, `_exit(0)`, `waitpid`, `n` times: µs per process.
pub fn spawn(n: u64) -> anyhow::Result<f64> {
    let start = Instant::now();
    for _ in 0..n {
        fork_exit_wait()?;
    }
    Ok(per_op_us(start, n))
}

/// The environment variable that makes the benchmark program exit at once, first thing in
/// `main` (see `main.rs`): the floor of the spawn row runs the program with it.
pub const EXIT_AT_ONCE: &str = "BENCHMARK_EXIT_AT_ONCE";

/// `posix_spawn` of this very program (`/proc/self/exe`, as our spawn runs it) told to exit
/// at once, and a wait for it, `n` times: µs per process. `std::process::Command` uses
/// `posix_spawn` when, as here, nothing runs between fork and exec.
pub fn spawn_self(n: u64) -> anyhow::Result<f64> {
    let start = Instant::now();
    for _ in 0..n {
        let status = Command::new("/proc/self/exe")
            .env(EXIT_AT_ONCE, "1")
            .status()?;
        ensure!(
            status.success(),
            "the program told to exit at once: {status}"
        );
    }
    Ok(per_op_us(start, n))
}

/// A child writes `n` 64-byte messages into a pipe, one `write` each; the parent reads
/// 64 KiB at a time until end-of-file: messages per second, the fork included.
pub fn pipe_stream(n: u64) -> anyhow::Result<f64> {
    let (mut reader, writer) = io::pipe()?;
    let start = Instant::now();
    let child = Process::start("writer", move || -> io::Result<()> {
        let mut writer = writer;
        let msg = [7u8; MSG];
        for _ in 0..n {
            writer.write_all(&msg)?;
        }
        Ok(())
    })?;
    let mut buf = vec![0u8; 64 << 10];
    let mut bytes = 0u64;
    loop {
        match reader.read(&mut buf)? {
            0 => break,
            k => bytes += k as u64,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    child.join_ok()?;
    ensure!(bytes == n * MSG as u64, "the pipe lost bytes");
    Ok(n as f64 / secs)
}

/// `n` round trips of a 64-byte message through two pipes to an echoing child: µs each.
pub fn pipe_rtt(n: u64) -> anyhow::Result<f64> {
    let (mut from_child, child_writer) = io::pipe()?;
    let (child_reader, mut to_child) = io::pipe()?;
    let echo = Process::start("echo", move || -> io::Result<()> {
        let (mut reader, mut writer) = (child_reader, child_writer);
        echo_until_stop(&mut reader, &mut writer)
    })?;
    let us = ping_pong(&mut from_child, &mut to_child, n)?;
    // The child holds a copy of `to_child` (fork copies every descriptor), so it would never
    // see end-of-file: a message says stop.
    to_child.write_all(&STOP)?;
    echo.join_ok()?;
    Ok(us)
}

/// `n` round trips of a 64-byte message over a Unix stream socket pair: µs each.
pub fn unix_rtt(n: u64) -> anyhow::Result<f64> {
    let (mut mine, theirs) = UnixStream::pair()?;
    let echo = Process::start("echo", move || -> io::Result<()> {
        let mut theirs = theirs;
        let mut writer = theirs.try_clone()?;
        echo_until_stop(&mut theirs, &mut writer)
    })?;
    let mut writer = mine.try_clone()?;
    let us = ping_pong(&mut mine, &mut writer, n)?;
    writer.write_all(&STOP)?;
    echo.join_ok()?;
    Ok(us)
}

/// The message that ends an echo loop.
const STOP: [u8; MSG] = [0; MSG];

fn echo_until_stop(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<()> {
    let mut msg = [0u8; MSG];
    loop {
        reader.read_exact(&mut msg)?;
        if msg == STOP {
            return Ok(());
        }
        writer.write_all(&msg)?;
    }
}

fn ping_pong(reader: &mut impl Read, writer: &mut impl Write, n: u64) -> anyhow::Result<f64> {
    let mut msg = [7u8; MSG];
    writer.write_all(&msg)?;
    reader.read_exact(&mut msg)?; // warm-up
    let start = Instant::now();
    for _ in 0..n {
        writer.write_all(&msg)?;
        reader.read_exact(&mut msg)?;
    }
    Ok(per_op_us(start, n))
}

/// Two children each increment a counter `n` times under a plain process-shared pthread
/// mutex: ns per increment, process starts included.
pub fn mutex_inc(n: u64) -> anyhow::Result<f64> {
    let mutex = PlainMutex::new()?;
    let counter = ShmBox::new(AtomicU64::new(0))?;
    let start = Instant::now();
    let workers = (0..2)
        .map(|i| {
            Process::start(format!("adder{i}"), || {
                for _ in 0..n {
                    // A plain read-modify-write: the mutex is what makes it safe.
                    mutex.with(|| counter.store(counter.load(Relaxed) + 1, Relaxed));
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for w in &workers {
        w.join_ok()?;
    }
    let ns = per_op_us(start, 2 * n) * 1e3;
    ensure!(counter.load(SeqCst) == 2 * n, "lost increments");
    Ok(ns)
}
