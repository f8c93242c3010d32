//! Round-trip costs against their raw floors, measured in the same run (median of 5):
//! a raw pipe ping-pong vs `pipe::Connection`, a raw Unix-socket ping-pong vs a dict set
//! from a child. `cargo run --release -p manager --example roundtrip`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ipc_common::{Process, ShmBox};

const N: u32 = 20_000;

/// Median of 5 runs of `f`, which returns µs per round trip.
fn median(mut f: impl FnMut() -> anyhow::Result<f64>) -> anyhow::Result<f64> {
    let mut v = (0..5).map(|_| f()).collect::<anyhow::Result<Vec<f64>>>()?;
    v.sort_by(f64::total_cmp);
    Ok(v[2])
}

/// Ping-pong of 64-byte messages over a raw byte stream pair (`a` parent side, `b` child side).
fn raw<S: Read + Write>(mut a: S, mut b: S) -> anyhow::Result<f64> {
    let child = Process::start("echo", move || {
        // Exactly N echoes: the child holds a copy of `a` too, so it would never see EOF.
        let mut m = [0u8; 64];
        for _ in 0..N {
            if b.read_exact(&mut m).is_err() || b.write_all(&m).is_err() {
                break;
            }
        }
    })?;
    let mut m = [7u8; 64];
    let t = Instant::now();
    for _ in 0..N {
        a.write_all(&m)?;
        a.read_exact(&mut m)?;
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    drop(a);
    child.join()?;
    Ok(us)
}

fn main() -> anyhow::Result<()> {
    let raw_pipe = median(|| {
        let (r1, w1) = std::io::pipe()?;
        let (r2, w2) = std::io::pipe()?;
        raw(Duplex(r1, w2), Duplex(r2, w1))
    })?;
    let conn = median(|| {
        let (mut a, mut b) = pipe::pipe::<Option<u64>>()?;
        let child = Process::start("echo", move || {
            while let Ok(Some(x)) = b.recv() {
                let _ = b.send(&Some(x));
            }
        })?;
        let t = Instant::now();
        for i in 0..u64::from(N) {
            a.send(&Some(i))?;
            anyhow::ensure!(a.recv()? == Some(i));
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(N);
        a.send(&None)?;
        child.join()?;
        Ok(us)
    })?;
    let raw_sock = median(|| {
        let (a, b) = UnixStream::pair()?;
        raw(a, b)
    })?;
    let dict_set = median(|| {
        let manager = manager::Manager::start()?;
        let d = manager.dict::<u32, u32>()?;
        let us_bits = ShmBox::new(AtomicU64::new(0))?;
        let child = Process::start("setter", || -> anyhow::Result<()> {
            d.set(&0, &0)?; // connect first
            let t = Instant::now();
            for i in 0..N {
                d.set(&i, &i)?;
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(N);
            us_bits.store(us.to_bits(), Ordering::Relaxed);
            Ok(())
        })?;
        anyhow::ensure!(child.join()? == 0, "setter failed");
        anyhow::ensure!(d.len()? == N as usize);
        Ok(f64::from_bits(us_bits.load(Ordering::Relaxed)))
    })?;
    println!("raw pipe ping-pong 64B     {raw_pipe:8.2} µs/RT");
    println!(
        "pipe::Connection round trip {conn:8.2} µs/RT  ({:.2}x)",
        conn / raw_pipe
    );
    println!("raw unix stream ping-pong   {raw_sock:8.2} µs/RT");
    println!(
        "manager dict set (child)    {dict_set:8.2} µs/RT  ({:.2}x)",
        dict_set / raw_sock
    );
    Ok(())
}

/// A read pipe and a write pipe as one stream.
struct Duplex(std::io::PipeReader, std::io::PipeWriter);

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
