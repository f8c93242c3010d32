//! `benchmark ipc`: every primitive of the workspace, the same operation in CPython's
//! multiprocessing (`scripts/bench_python.py`, run as a child process) and the raw OS floor
//! under it, all in one run; printed as a Markdown table for the README.
//!
//! Blocking hand-offs on a small VM are bimodal (measured on the 2-vCPU KVM machine these
//! numbers come from: ~5 µs when both processes share a vCPU, 45–60 µs across vCPUs, where
//! waking a halted vCPU costs most of it), so ours and the floor are
//! measured in alternating repetitions, and the latency rows once more with every process
//! pinned to one CPU, where the numbers are stable.
//!
//! `benchmark ipc [--quick] [--charts DIR]`: `--quick` is a smoke run (3 repetitions, a tenth
//! of the counts, smaller message-size cells; not numbers to quote); `--charts DIR` also writes
//! `DIR/ipc-throughput.svg` (see `charts.rs`). `BENCHMARK_NO_PYTHON=1` leaves Python out.
//!
//! # What the newer rows measure, against which floor, and why
//!
//! - **start + join an empty child (spawn)**: `Process::new(empty, ()).start_method(Spawn)`,
//!   started and joined, 20 times per repetition; Python's `get_context('spawn')` the same.
//!   Floor: `posix_spawn` of this same executable with [`EXIT_AT_ONCE`] set, so it leaves in
//!   the first line of `main`, and `waitpid`. That is what a spawn cannot avoid: an exec of
//!   this program, its loader and runtime start-up; ours adds the start message on a socket
//!   and running the target. Goal: ≤ 1/10 of Python's (which starts an interpreter and
//!   imports the main module in the child).
//! - **start + join an empty child (forkserver)**: the same under Forkserver; the first start
//!   of each repetition, which launches the server, is not timed (on both sides). Floor: a
//!   bare `fork` + `_exit` + `waitpid`, since a forkserver child is a fork of the server
//!   (posix_spawn would be no floor here: it execs). Ours adds the request to the server and
//!   the child's exit status coming back through it. Goal: ≤ 1/3 of Python's.
//! - **The message-size table** (`sizes.rs`): 1 KiB to 64 MiB, `Vec<u8>` and `Vec<f64>`
//!   (Python: `bytes`, and `array('d')` for floats, which pickles as one buffer: Python's best
//!   case, where a naive `list` of floats would be several times slower, so the fair
//!   comparison). Queue (default size, 1 producer → 1 consumer) and Pipe (`pipe_oneway`):
//!   the parent sends, a forked child receives, timed from the child waiting to its last
//!   message (its time comes back on the clock every process shares). Pool.map: an identity
//!   task on a started `Pool(2)`, counting the arguments' bytes (results as large come
//!   back). Floor: single-thread `memcpy` of the same size between two touched buffers, as
//!   many times, in the same run: a message must be copied at least once into the channel
//!   and once out of it, so one copy is a bound that no channel reaches. Counts per cell
//!   keep a fixed volume (64 MiB; 2 to 16 384 messages), 3 runs each, median. A cell whose
//!   operation fails shows `fails: <error>` and misses its goals. Goals: ≥ Python at 1 KiB,
//!   ≥ 2× Python from 64 KiB, and the Queue at 8 MiB ≥ 25 % of memcpy. Its columns are those
//!   of the README's speed table (`operation | unit | Rust | Python | floor | Rust/Python |
//!   Rust/floor | goal met`), so its rows can be added to that table as they are.
//! - **Tracing off** (`tracing.rs`): the trace hooks as the primitives run them when no trace
//!   is recorded (a Lock's two `trace::span`s; a queue message's two `trace::enabled()`
//!   checks, at the put and the get), timed alone against the operation they are part of
//!   (an uncontended Lock acquire + release; a put + get of a small message in one
//!   process), both in this run. The hooks cannot be compiled out of the primitive, so the
//!   reference is the operation with its hooks and the overhead is their share of it. Goal:
//!   ≤ 2 %. Tracing on (every event recorded to a temporary file) is printed for
//!   information.

use std::path::PathBuf;
use std::time::Instant;

use ipc_common::StartMethod;

mod charts;
mod floor;
mod measure;
mod ours;
mod python;
mod sizes;
mod table;
mod tracing;
mod wake;

pub use floor::EXIT_AT_ONCE;
use measure::{PinnedToOneCpu, fastest, interleaved, paired, quick, repeated, reps, scaled};
use table::{Against, Better, Goal, Pinned, Row};

/// The options of `benchmark ipc`.
#[derive(Debug, Default, PartialEq)]
pub struct Options {
    /// `--quick`: a smoke run (fewer repetitions, a tenth of the counts).
    pub quick: bool,
    /// `--charts DIR`: where to write `ipc-throughput.svg`.
    pub charts: Option<PathBuf>,
}

impl Options {
    /// The options after `ipc`; `None` (after saying why on stderr) for anything else.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Option<Options> {
        let mut options = Options::default();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--charts" => match args.next() {
                    Some(dir) => options.charts = Some(dir.into()),
                    None => {
                        eprintln!("error: --charts needs a directory");
                        return None;
                    }
                },
                other => {
                    eprintln!("error: ipc does not take {other:?}");
                    return None;
                }
            }
        }
        Some(options)
    }
}

/// Starts per run, messages per queue run, round trips per pipe run and so on: the counts of
/// `scripts/bench_python.py`. The whole run takes 40–70 s (Python's side about 30 s).
const SPAWNS: u64 = 200;
/// Starts per run under spawn and forkserver, which take milliseconds each in Python.
const METHOD_STARTS: u64 = 20;
const QUEUE_MSGS: u64 = 100_000;
const PIPE_RTTS: u64 = 20_000;
const INCREMENTS: u64 = 1_000_000;
const MANAGER_SETS: u64 = 10_000;
const MAP_TASKS: u64 = 100_000;
const IMAP_TASKS: u64 = 10_000;

fn goal(against: Against, factor: f64, text: &'static str) -> Goal {
    Goal {
        against,
        factor,
        text,
    }
}

/// A wake-up row: goals "≤ Python" and "≤ 1.2× the floor".
fn wake_row(
    name: &'static str,
    python: Option<f64>,
    floor: &'static str,
    (ours, floor_us): (f64, f64),
    pinned: Pinned,
) -> Row {
    Row {
        name,
        unit: "µs",
        better: Better::Lower,
        ours,
        python,
        floor: Some((floor, floor_us)),
        pinned: Some(pinned),
        goals: vec![
            goal(Against::Python, 1.0, "≤ Python"),
            goal(Against::Floor, 1.2, "≤ 1.2× the floor"),
        ],
    }
}

/// The machine line: CPUs, CPU model, kernel.
fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_string());
    format!("`nproc` = {nproc}, {model}, Linux {kernel}")
}

/// Rounds of the pinned latency rows, ours and Python's (see `main`).
const PINNED_ROUNDS: usize = 2;

/// The Python operations of the latency rows, in the order of [`Latencies`].
const LATENCY_OPS: [&str; 4] = ["pipe_rtt", "manager_set", "event_wake", "semaphore_wake"];

/// The four latency rows, ours and the floor: (pipe, manager, event, semaphore).
type Latencies = ((f64, f64), (f64, f64), (f64, f64), (f64, f64));

fn latencies() -> anyhow::Result<Latencies> {
    Ok((
        interleaved(
            "pipe round trip",
            || ours::pipe_rtt(scaled(PIPE_RTTS)),
            || floor::pipe_rtt(scaled(PIPE_RTTS)),
        )?,
        interleaved(
            "Manager dict set",
            || ours::manager_set(scaled(MANAGER_SETS)),
            || floor::unix_rtt(scaled(MANAGER_SETS)),
        )?,
        paired("Event wake", wake::event_vs_futex)?,
        paired("Semaphore wake", wake::semaphore_vs_sem_t)?,
    ))
}

pub fn main(options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let machine = machine();
    if options.quick {
        measure::set_quick();
    }

    eprintln!("benchmark ipc: the Python side first (scripts/bench_python.py)");
    let py = python::run(&[], quick());
    if let Some(why) = &py.missing {
        eprintln!("  no Python column: {why}");
    }

    eprintln!("ours and the raw floors, alternating repetitions:");
    let (spawn, spawn_floor) = interleaved(
        "start + join",
        || ours::spawn(scaled(SPAWNS)),
        || floor::spawn(scaled(SPAWNS)),
    )?;
    let (spawned, spawned_floor) = interleaved(
        "start + join (spawn)",
        || ours::start_method(StartMethod::Spawn, scaled(METHOD_STARTS)),
        || floor::spawn_self(scaled(METHOD_STARTS)),
    )?;
    let (served, served_floor) = interleaved(
        "start + join (forkserver)",
        || ours::start_method(StartMethod::Forkserver, scaled(METHOD_STARTS)),
        || floor::spawn(scaled(METHOD_STARTS)),
    )?;
    let (q11, q11_floor) = interleaved(
        "queue 1 -> 1",
        || ours::queue(1, 1, scaled(QUEUE_MSGS)),
        || floor::pipe_stream(scaled(QUEUE_MSGS)),
    )?;
    let q22 = repeated("queue 2 -> 2", || ours::queue(2, 2, scaled(QUEUE_MSGS)))?;
    let (value, value_floor) = interleaved(
        "Value increment",
        || ours::value_inc(scaled(INCREMENTS)),
        || floor::mutex_inc(scaled(INCREMENTS)),
    )?;
    let (mut maps, mut imaps) = (Vec::new(), Vec::new());
    let reps = reps();
    for rep in 0..reps {
        eprintln!("  Pool map / imap_unordered: repetition {}/{reps}", rep + 1);
        let (m, i) = ours::pool(scaled(MAP_TASKS), scaled(IMAP_TASKS))?;
        maps.push(m);
        imaps.push(i);
    }
    let (map, imap) = (measure::median(maps), measure::median(imaps));
    let cpu = fastest("10.1 CPU task", ours::cpu_task)?;
    ours::cpu_task_scales()?;
    let (pipe, manager, event, sem) = latencies()?;

    // Pinned, the VM still shifts now and then, for seconds, into a mode where every wake-up
    // takes twice as long; a shift between our round and Python's would decide the ratio. So
    // there are two rounds, ours then Python's each time, and each side keeps its better one:
    // ours (with its floor) from the round whose floor was lower, Python's lower median.
    let rounds = {
        let (_pin, cpu) = PinnedToOneCpu::first_allowed()?;
        let mut rounds = Vec::new();
        for round in 1..=PINNED_ROUNDS {
            eprintln!(
                "the latency rows again, every process pinned to CPU {cpu} (round {round}/{PINNED_ROUNDS}):"
            );
            let ours = latencies()?;
            let python = match &py.missing {
                None => {
                    eprintln!("  and Python's, pinned too:");
                    python::run(&LATENCY_OPS, quick())
                }
                Some(why) => python::Python::missing(why.clone()),
            };
            rounds.push((ours, python));
        }
        rounds
    };
    let pin = |pick: fn(&Latencies) -> (f64, f64), op: &str| {
        let (ours, floor) = rounds
            .iter()
            .map(|(ours, _)| pick(ours))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((f64::NAN, f64::NAN));
        let python = rounds
            .iter()
            .filter_map(|(_, py)| py.get(op))
            .min_by(f64::total_cmp);
        Pinned {
            ours,
            floor,
            python,
        }
    };
    let (pipe_pin, manager_pin, event_pin, sem_pin) = (
        pin(|l| l.0, LATENCY_OPS[0]),
        pin(|l| l.1, LATENCY_OPS[1]),
        pin(|l| l.2, LATENCY_OPS[2]),
        pin(|l| l.3, LATENCY_OPS[3]),
    );

    let rows = vec![
        Row {
            name: "start + join an empty child process",
            unit: "µs/process",
            better: Better::Lower,
            ours: spawn,
            python: py.get("spawn"),
            floor: Some(("fork + _exit + waitpid", spawn_floor)),
            pinned: None,
            goals: vec![goal(Against::Python, 0.2, "≤ 1/5 of Python")],
        },
        Row {
            name: "start + join an empty child (spawn)",
            unit: "µs/process",
            better: Better::Lower,
            ours: spawned,
            python: py.get("start_spawn"),
            floor: Some((
                "posix_spawn of this program, which exits at once + waitpid",
                spawned_floor,
            )),
            pinned: None,
            goals: vec![goal(Against::Python, 0.1, "≤ 1/10 of Python")],
        },
        Row {
            name: "start + join an empty child (forkserver)",
            unit: "µs/process",
            better: Better::Lower,
            ours: served,
            python: py.get("start_forkserver"),
            floor: Some(("fork + _exit + waitpid", served_floor)),
            pinned: None,
            goals: vec![goal(Against::Python, 1.0 / 3.0, "≤ 1/3 of Python")],
        },
        Row {
            name: "Queue 1 producer → 1 consumer, small messages",
            unit: "k msgs/s",
            better: Better::Higher,
            ours: q11 / 1e3,
            python: py.get("queue_1_1").map(|x| x / 1e3),
            floor: Some(("pipe stream, one write per 64 B message", q11_floor / 1e3)),
            pinned: None,
            goals: vec![
                goal(Against::Python, 5.0, "≥ 5× Python"),
                goal(Against::Floor, 0.3, "≥ 30% of the floor"),
            ],
        },
        Row {
            name: "Queue 2 → 2",
            unit: "k msgs/s",
            better: Better::Higher,
            ours: q22 / 1e3,
            python: py.get("queue_2_2").map(|x| x / 1e3),
            floor: None,
            pinned: None,
            goals: vec![goal(Against::Python, 5.0, "≥ 5× Python")],
        },
        Row {
            name: "Pipe round trip of a small message",
            unit: "µs",
            better: Better::Lower,
            ours: pipe.0,
            python: py.get("pipe_rtt"),
            floor: Some(("pipe ping-pong, 64 B", pipe.1)),
            pinned: Some(pipe_pin),
            goals: vec![goal(Against::Floor, 1.2, "≤ 1.2× the floor")],
        },
        Row {
            name: "locked Value increment, 2 processes × 1 000 000",
            unit: "ns/increment",
            better: Better::Lower,
            ours: value,
            python: py.get("value_inc"),
            floor: Some(("process-shared pthread mutex", value_floor)),
            pinned: None,
            goals: vec![
                goal(Against::Python, 0.05, "≥ 20× Python"),
                goal(Against::Floor, 2.0, "≤ 2× the floor"),
            ],
        },
        Row {
            name: "Manager dict set from a child",
            unit: "µs/op",
            better: Better::Lower,
            ours: manager.0,
            python: py.get("manager_set"),
            floor: Some(("Unix socket round trip, 64 B", manager.1)),
            pinned: Some(manager_pin),
            goals: vec![goal(Against::Floor, 1.3, "≤ 1.3× the floor")],
        },
        Row {
            name: "Pool.map of 100 000 tiny tasks (2 workers)",
            unit: "µs/task",
            better: Better::Lower,
            ours: map,
            python: py.get("pool_map"),
            floor: None,
            pinned: None,
            goals: vec![goal(Against::Python, 1.0, "≤ Python")],
        },
        Row {
            name: "imap_unordered, chunk size 1 (10 000 tasks)",
            unit: "µs/task",
            better: Better::Lower,
            ours: imap,
            python: py.get("pool_imap_unordered"),
            floor: None,
            pinned: None,
            goals: vec![goal(Against::Python, 0.5, "≤ 1/2 of Python")],
        },
        wake_row(
            "Event set → waiter wakes",
            py.get("event_wake"),
            "futex store + FUTEX_WAKE",
            event,
            event_pin,
        ),
        wake_row(
            "Semaphore release → waiter acquires",
            py.get("semaphore_wake"),
            "sem_post → sem_wait",
            sem,
            sem_pin,
        ),
        Row {
            name: "the 10.1 CPU task, n = 1 000 000",
            unit: "ms/task",
            better: Better::Lower,
            ours: cpu,
            python: py.fastest("cpu_task"),
            floor: None,
            pinned: None,
            goals: vec![goal(Against::Python, 0.02, "≥ 50× Python")],
        },
    ];

    println!("Machine: {machine}; {}.", py.version);
    println!();
    print!("{}", table::render(&rows));
    println!();
    let (met, missed, unmeasured) = rows
        .iter()
        .map(Row::tally)
        .fold((0, 0, 0), |a, t| (a.0 + t.0, a.1 + t.1, a.2 + t.2));
    println!(
        "Goals met: {met}; missed (in the unpinned or the pinned column): {missed}; not measured: {unmeasured}."
    );
    println!();
    print_notes(&py);

    // Sections measured after the table's rows; they print once everything is measured.
    let size_rows = sizes::measure(quick(), &py);
    let overhead = tracing::measure()?;
    println!();
    println!(
        "Throughput by message size (MB/s = 10^6 bytes per second; Python's `Vec<f64>` counterpart is `array('d')`, its best case):"
    );
    println!();
    print!("{}", sizes::render(&size_rows));
    println!();
    let (met, missed, unmeasured) = size_rows
        .iter()
        .map(sizes::SizeRow::tally)
        .fold((0, 0, 0), |a, t| (a.0 + t.0, a.1 + t.1, a.2 + t.2));
    println!(
        "Goals met: {met}; missed (failing cells included): {missed}; not measured: {unmeasured}. Each cell is the median of {} runs with fresh processes; messages per run: {} (1 KiB) to {} (64 MiB), a fixed volume per cell; Queue and Pipe are timed from the consumer waiting to its last message, Pool.map (identity task, results as large as the arguments) counts the argument bytes; memcpy: one thread copying the same size between two buffers, as many times.",
        sizes::SIZE_REPS,
        sizes::count(sizes::SIZES[0], quick()),
        sizes::count(sizes::SIZES[4], quick()),
    );
    println!();
    println!("{}", overhead.line());
    if let Some(dir) = &options.charts {
        let file = charts::write(dir, &size_rows)?;
        eprintln!("benchmark ipc: wrote {}", file.display());
    }
    eprintln!(
        "benchmark ipc: done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_notes(py: &python::Python) {
    println!("Notes:");
    println!(
        "- Every cell is the median of {reps} repetitions, each with freshly started processes, except the CPU task's: the fastest of {reps} on both sides, since noise can only slow a fixed computation down. Ratios are Rust / other in the row's unit: below 1× is faster for times, above 1× is faster for rates.",
        reps = reps()
    );
    if quick() {
        println!(
            "- A quick run (`--quick`): fewer repetitions and a tenth of the counts; a smoke test, not numbers to quote."
        );
    }
    if let Some(why) = &py.missing {
        println!("- Python column: n/a ({why}).");
    } else {
        println!(
            "- Python: CPython's multiprocessing (start method `fork`, except in the spawn and forkserver rows), measured in this same run by `scripts/bench_python.py`: the same operations, counts and methods as the Rust column."
        );
    }
    println!(
        "- Raw OS floor: the bare kernel mechanism, written in Rust with no framing or encoding (the methods of ipc-floor.md). Ours and the floor run in alternating repetitions, so that both see the same placement of processes on the vCPUs."
    );
    println!(
        "- Blocking hand-offs are bimodal on this VM: about 5 µs when both processes share a vCPU, 45–60 µs across vCPUs, and the scheduler chooses per run. The pinned column runs the latency rows again, ours, the floor's and Python's (the script run again), with every process on one CPU (sched_setaffinity): the same-vCPU mode, where ratios do not depend on which mode each side happened to get. Even pinned, the VM shifts now and then, for seconds, into a mode where every wake-up takes twice as long, so there are {PINNED_ROUNDS} pinned rounds, ours then Python's each time; ours and the floor come from the round whose floor was lower, Python's from its lower median."
    );
    println!(
        "- Counts per repetition: {} starts ({} under spawn and forkserver, where the first start that launches the server is not timed, on both sides); {} messages per queue run (process starts included); {} pipe round trips; 2 × {} increments (process starts included); {} dict sets, timed in the child after it connected; {} map and {} imap_unordered tasks on a started Pool(2); wake-ups: the median of {} firings, 1 ms apart, ours and the floor's alternating with the same waiting child.",
        scaled(SPAWNS),
        scaled(METHOD_STARTS),
        scaled(QUEUE_MSGS),
        scaled(PIPE_RTTS),
        scaled(INCREMENTS),
        scaled(MANAGER_SETS),
        scaled(MAP_TASKS),
        scaled(IMAP_TASKS),
        wake::SAMPLES
    );
}

#[cfg(test)]
mod tests {
    use super::Options;

    fn parse(args: &[&str]) -> Option<Options> {
        Options::parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn options() {
        assert_eq!(parse(&[]), Some(Options::default()));
        let both = parse(&["--charts", "out", "--quick"]).expect("valid");
        assert!(both.quick);
        assert_eq!(both.charts.as_deref(), Some(std::path::Path::new("out")));
        assert_eq!(parse(&["--charts"]), None);
        assert_eq!(parse(&["--slow"]), None);
    }
}
