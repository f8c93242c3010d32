//! The message-size table: Queue, Pipe and Pool.map moving `Vec<u8>` and `Vec<f64>` messages
//! of 1 KiB to 64 MiB, in MB/s, against Python's (`bytes` and `array('d')`) and the memcpy
//! bandwidth of this machine at the same size.

use std::fmt::Write as _;
use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use anyhow::ensure;
use ipc_common::Process;
use pool::Pool;
use queue::Queue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::measure::{median, now_ns};
use super::python::Python;
use super::table::num;

/// The message sizes of the table.
pub const SIZES: [usize; 5] = [1 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20];

/// Repetitions of every cell (each with fresh processes), ours and Python's; the median.
pub const SIZE_REPS: usize = 3;

/// Messages per cell: a fixed volume (64 MiB, 8 MiB quick), at least 2 messages and at most
/// 16 384 (2 048 quick). The same counts as `size_count` in `scripts/bench_python.py`.
pub fn count(size: usize, quick: bool) -> u64 {
    let (volume, most) = if quick {
        (8 << 20, 2048)
    } else {
        (64 << 20, 16384)
    };
    (volume / size).clamp(2, most) as u64
}

/// The primitives of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prim {
    Queue,
    Pipe,
    PoolMap,
}

impl Prim {
    pub const ALL: [Prim; 3] = [Prim::Queue, Prim::Pipe, Prim::PoolMap];

    /// The name in Python's op names (`size_queue_u8_1024`).
    pub fn key(self) -> &'static str {
        match self {
            Prim::Queue => "queue",
            Prim::Pipe => "pipe",
            Prim::PoolMap => "pool",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Prim::Queue => "Queue 1→1",
            Prim::Pipe => "Pipe, one way",
            Prim::PoolMap => "Pool(2).map identity",
        }
    }
}

/// A message type of the table.
pub trait Payload: Serialize + DeserializeOwned + Clone + 'static {
    /// `u8` or `f64`, as in Python's op names.
    const KEY: &'static str;
    /// A message of `bytes` bytes.
    fn of_bytes(bytes: usize) -> Self;
    /// Its size in bytes.
    fn bytes(&self) -> usize;
}

impl Payload for Vec<u8> {
    const KEY: &'static str = "u8";
    fn of_bytes(bytes: usize) -> Self {
        vec![7; bytes]
    }
    fn bytes(&self) -> usize {
        self.len()
    }
}

impl Payload for Vec<f64> {
    const KEY: &'static str = "f64";
    fn of_bytes(bytes: usize) -> Self {
        vec![1.5; bytes / 8]
    }
    fn bytes(&self) -> usize {
        self.len() * 8
    }
}

/// One measured value: MB/s, or why there is none.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Rate(f64),
    Fails(String),
    Missing,
}

impl Cell {
    /// The rate, if measured.
    pub fn rate(&self) -> Option<f64> {
        match self {
            Cell::Rate(x) => Some(*x),
            _ => None,
        }
    }

    fn show(&self) -> String {
        match self {
            Cell::Rate(x) => num(*x),
            Cell::Fails(why) => format!("fails: {}", why.replace('|', "/").replace('\n', " ")),
            Cell::Missing => "n/a".into(),
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct SizeRow {
    pub prim: Prim,
    pub payload: &'static str,
    pub size: usize,
    pub ours: Cell,
    pub python: Cell,
    /// memcpy at this size, MB/s.
    pub floor: f64,
}

/// A goal of a row: "≥ factor × Python" or "≥ factor × memcpy".
struct SizeGoal {
    floor: bool,
    factor: f64,
    text: &'static str,
}

impl SizeRow {
    fn goals(&self) -> Vec<SizeGoal> {
        let mut goals = vec![if self.size <= 1 << 10 {
            SizeGoal {
                floor: false,
                factor: 1.0,
                text: "≥ Python",
            }
        } else {
            SizeGoal {
                floor: false,
                factor: 2.0,
                text: "≥ 2× Python",
            }
        }];
        if self.prim == Prim::Queue && self.size == 8 << 20 {
            goals.push(SizeGoal {
                floor: true,
                factor: 0.25,
                text: "≥ 25% of memcpy",
            });
        }
        goals
    }

    /// "yes", "**no**", "n/a" (nothing to compare with) or "fails" per goal.
    fn verdicts(&self) -> Vec<&'static str> {
        self.goals()
            .iter()
            .map(|g| {
                let other = if g.floor {
                    Cell::Rate(self.floor)
                } else {
                    self.python.clone()
                };
                match (&self.ours, other.rate()) {
                    (Cell::Fails(_), _) => "fails",
                    (Cell::Rate(ours), Some(other)) if other.is_finite() => {
                        if *ours >= g.factor * other {
                            "yes"
                        } else {
                            "**no**"
                        }
                    }
                    _ => "n/a",
                }
            })
            .collect()
    }

    /// Goals met, missed (a failing cell misses its goals), not measured.
    pub fn tally(&self) -> (usize, usize, usize) {
        self.verdicts()
            .iter()
            .fold((0, 0, 0), |(m, x, u), v| match *v {
                "yes" => (m + 1, x, u),
                "n/a" => (m, x, u + 1),
                _ => (m, x + 1, u),
            })
    }
}

/// `1 KiB`, `64 MiB`.
pub fn size_name(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{} MiB", size >> 20)
    } else {
        format!("{} KiB", size >> 10)
    }
}

/// The table, with its header: the columns of the README's speed table (`operation | unit |
/// Rust | Python | floor | Rust/Python | Rust/floor | goal met`), so that its rows can join
/// that table, which the book's script reads by these headers.
pub fn render(rows: &[SizeRow]) -> String {
    let mut out = String::from(
        "| operation | unit | Rust | Python | floor | Rust/Python | Rust/floor | goal met |\n\
         |---|---|--:|--:|---|--:|--:|---|\n",
    );
    for r in rows {
        let ratio = |other: Option<f64>| match (r.ours.rate(), other) {
            (Some(a), Some(b)) => format!("{}×", num(a / b)),
            _ => "n/a".into(),
        };
        let python = if r.payload == "u8" {
            "bytes"
        } else {
            "array('d')"
        };
        let met: Vec<String> = r
            .goals()
            .iter()
            .zip(r.verdicts())
            .map(|(g, v)| format!("{v} ({})", g.text))
            .collect();
        let _ = writeln!(
            out,
            "| {}, `Vec<{}>` (Python `{python}`), {} | MB/s | {} | {} | {} (memcpy) | {} | {} | {} |",
            r.prim.title(),
            r.payload,
            size_name(r.size),
            r.ours.show(),
            r.python.show(),
            num(r.floor),
            ratio(r.python.rate()),
            ratio(Some(r.floor)),
            met.join("; "),
        );
    }
    out
}

/// MB/s (10^6 bytes per second) for `n` messages of `size` bytes in `ns` nanoseconds.
fn mbs(n: u64, size: usize, ns: f64) -> f64 {
    n as f64 * size as f64 / ns * 1e3
}

/// The parent sends `n` copies of one message with `send`; a forked child takes them with
/// `recv`. Timed from when the child is waiting (it says so on a control pipe) to when it has
/// the last one (the time it sends back, on the clock every process shares).
fn stream<P: Payload>(
    size: usize,
    n: u64,
    mut send: impl FnMut(&P) -> anyhow::Result<()>,
    recv: impl FnMut() -> anyhow::Result<P>,
) -> anyhow::Result<f64> {
    let msg = P::of_bytes(size);
    let (mut ctl_rx, ctl_tx) = pipe::pipe_oneway::<u64>()?;
    let child = Process::start("consumer", move || -> anyhow::Result<()> {
        let (mut ctl_tx, mut recv) = (ctl_tx, recv);
        ctl_tx.send(&0)?;
        for _ in 0..n {
            ensure!(recv()?.bytes() == size, "a message of another size");
        }
        ctl_tx.send(&now_ns()?)?;
        Ok(())
    })?;
    ctl_rx.recv()?;
    let start = now_ns()?;
    for _ in 0..n {
        send(&msg)?;
    }
    let end = ctl_rx.recv()?;
    child.join_ok()?;
    Ok(mbs(n, size, end.saturating_sub(start) as f64))
}

fn queue_cell<P: Payload>(size: usize, n: u64) -> anyhow::Result<f64> {
    let queue = Queue::<P>::new(0)?;
    let q = &queue;
    stream::<P>(size, n, |m| Ok(q.put(m)?), || Ok(q.get()?))
}

fn pipe_cell<P: Payload>(size: usize, n: u64) -> anyhow::Result<f64> {
    let (mut rx, mut tx) = pipe::pipe_oneway::<P>()?;
    stream::<P>(size, n, move |m| Ok(tx.send(m)?), move || Ok(rx.recv()?))
}

fn identity<P>(x: P) -> P {
    x
}

/// `map` of an identity task over `n` messages on a started `Pool(2)`: argument bytes per
/// second (the results, as large, come back too), pool start not timed, as in Python.
fn pool_cell<P: Payload>(size: usize, n: u64) -> anyhow::Result<f64> {
    let pool = Pool::new(2)?;
    let items = vec![P::of_bytes(size); usize::try_from(n)?];
    let start = Instant::now();
    let out = pool.map(identity::<P>, items)?;
    let ns = start.elapsed().as_nanos() as f64;
    ensure!(
        out.len() as u64 == n && out.iter().all(|m| m.bytes() == size),
        "map returned other results"
    );
    Ok(mbs(n, size, ns))
}

/// Single-thread memcpy of `size` bytes, `n` times between two buffers already touched: MB/s.
pub fn memcpy(size: usize, n: u64) -> f64 {
    let src = vec![7u8; size];
    let mut dst = vec![0u8; size];
    dst.copy_from_slice(&src);
    let start = Instant::now();
    for _ in 0..n {
        black_box(&mut dst).copy_from_slice(black_box(&src));
    }
    mbs(n, size, start.elapsed().as_nanos() as f64)
}

/// [`SIZE_REPS`] runs of one cell, the median; the first error (or panic) makes the cell
/// "fails: ...".
fn cell(mut run: impl FnMut() -> anyhow::Result<f64>) -> Cell {
    let mut runs = Vec::new();
    for _ in 0..SIZE_REPS {
        match catch_unwind(AssertUnwindSafe(&mut run)) {
            Ok(Ok(x)) => runs.push(x),
            Ok(Err(e)) => return Cell::Fails(format!("{e:#}")),
            Err(_) => return Cell::Fails("panicked".into()),
        }
    }
    Cell::Rate(median(runs))
}

fn rows_of<P: Payload>(prim: Prim, quick: bool, py: &Python, rows: &mut Vec<SizeRow>) {
    for size in SIZES {
        let n = count(size, quick);
        eprintln!(
            "ipc: {} {} Vec<{}> x {n} ...",
            prim.key(),
            size_name(size),
            P::KEY
        );
        let ours = cell(|| match prim {
            Prim::Queue => queue_cell::<P>(size, n),
            Prim::Pipe => pipe_cell::<P>(size, n),
            Prim::PoolMap => pool_cell::<P>(size, n),
        });
        if let Cell::Fails(why) = &ours {
            eprintln!("  fails: {why}");
        }
        let op = format!("size_{}_{}_{size}", prim.key(), P::KEY);
        let python = match (py.get(&op), py.error(&op)) {
            (Some(x), _) => Cell::Rate(x),
            (None, Some(why)) => Cell::Fails(why.to_string()),
            (None, None) => Cell::Missing,
        };
        let floor = median((0..SIZE_REPS).map(|_| memcpy(size, n)).collect());
        rows.push(SizeRow {
            prim,
            payload: P::KEY,
            size,
            ours,
            python,
            floor,
        });
    }
}

/// Every row of the table, ours measured now, Python's taken from `py`.
pub fn measure(quick: bool, py: &Python) -> Vec<SizeRow> {
    let mut rows = Vec::new();
    for prim in Prim::ALL {
        rows_of::<Vec<u8>>(prim, quick, py, &mut rows);
        rows_of::<Vec<f64>>(prim, quick, py, &mut rows);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(prim: Prim, size: usize, ours: Cell, python: Cell, floor: f64) -> SizeRow {
        SizeRow {
            prim,
            payload: "u8",
            size,
            ours,
            python,
            floor,
        }
    }

    #[test]
    fn goals_met_missed_failing_and_unmeasured() {
        use Cell::{Fails, Missing, Rate};
        let (kib, mib) = (1 << 10, 1 << 20);
        #[rustfmt::skip]
        let cases = [
            // 1 KiB: ≥ Python; larger: ≥ 2× Python.
            (Prim::Pipe, kib, Rate(100.0), Rate(100.0), &["yes"][..], (1, 0, 0)),
            (Prim::Pipe, 64 * kib, Rate(150.0), Rate(100.0), &["**no**"], (0, 1, 0)),
            // Queue at 8 MiB also: ≥ 25% of memcpy (10 000 MB/s here).
            (Prim::Queue, 8 * mib, Rate(3000.0), Rate(1000.0), &["yes", "yes"], (2, 0, 0)),
            (Prim::Queue, 8 * mib, Rate(2000.0), Rate(1000.0), &["yes", "**no**"], (1, 1, 0)),
            // A failing cell misses its goals; without Python the goal is not measured.
            (Prim::PoolMap, 64 * mib, Fails("ring too small".into()), Rate(200.0), &["fails"], (0, 1, 0)),
            (Prim::Pipe, mib, Rate(1.0), Missing, &["n/a"], (0, 0, 1)),
            (Prim::Pipe, mib, Rate(1.0), Fails("MemoryError".into()), &["n/a"], (0, 0, 1)),
        ];
        for (prim, size, ours, python, verdicts, tally) in cases {
            let r = row(prim, size, ours, python, 10_000.0);
            assert_eq!(r.verdicts(), verdicts, "{r:?}");
            assert_eq!(r.tally(), tally, "{r:?}");
        }
    }

    #[test]
    fn the_table_shows_every_cell() {
        let rows = [
            row(
                Prim::Queue,
                8 << 20,
                Cell::Rate(2000.0),
                Cell::Rate(400.0),
                8000.0,
            ),
            row(
                Prim::PoolMap,
                64 << 20,
                Cell::Fails("too big | for the ring".into()),
                Cell::Fails("MemoryError".into()),
                8000.0,
            ),
        ];
        let table = render(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[2],
            "| Queue 1→1, `Vec<u8>` (Python `bytes`), 8 MiB | MB/s | 2000 | 400 | 8000 (memcpy) | 5.00× | 0.250× | yes (≥ 2× Python); yes (≥ 25% of memcpy) |"
        );
        assert!(lines[3].contains("| fails: too big / for the ring | fails: MemoryError |"));
        assert!(lines[3].ends_with("| n/a | n/a | fails (≥ 2× Python) |"));
        // Every line has the header's number of columns.
        let columns = |l: &str| l.matches('|').count();
        assert!(lines.iter().all(|l| columns(l) == columns(lines[0])));
    }

    #[test]
    fn counts_keep_a_fixed_volume() {
        assert_eq!(count(1 << 10, false), 16384);
        assert_eq!(count(1 << 20, false), 64);
        assert_eq!(count(64 << 20, false), 2);
        assert_eq!(count(64 << 10, true), 128);
    }
}
