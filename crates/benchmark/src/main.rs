//! Note 10: 性能优化 (performance).
//!
//! `cargo run -p benchmark` runs note 10.1 (pool size against CPU- and I/O-bound work);
//! `cargo run --release -p benchmark -- ipc` measures every primitive of the workspace against
//! CPython's multiprocessing and the raw OS floor, and prints a Markdown table (`--help` lists
//! the 10.1 program; `ipc` is the benchmark's own mode).

use std::process::ExitCode;

use ipc_common::cli::{Program, sections_with_usage, usage};

mod ipc;
mod pool_size;

const PROGRAMS: &[Program<anyhow::Error>] = &[Program {
    id: "10.1",
    title: "进程池大小优化",
    run: pool_size::main,
}];

fn main() -> ExitCode {
    // The floor of `benchmark ipc`'s spawn row: this program started and ended, nothing done.
    if std::env::var_os(ipc::EXIT_AT_ONCE).is_some() {
        return ExitCode::SUCCESS;
    }
    // `ipc` is the benchmark of every primitive; anything else is the section's command line
    // (`[--start-method M] [10.1]`, `--help`).
    if std::env::args().nth(1).as_deref() == Some("ipc") {
        let Some(options) = ipc::Options::parse(std::env::args().skip(2)) else {
            eprint!("{}{IPC_USAGE}", usage("benchmark", PROGRAMS));
            return ExitCode::from(2);
        };
        return match ipc::main(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error in ipc: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    sections_with_usage("benchmark", PROGRAMS, IPC_USAGE)
}

/// The `ipc` mode, in the usage text.
const IPC_USAGE: &str = "\nOr: cargo run --release -p benchmark -- ipc [--quick] [--charts DIR]\n  ipc           our primitives vs Python's multiprocessing vs the raw OS floor (Markdown tables)\n  --quick       fewer repetitions and smaller counts: a smoke run, not numbers to quote\n  --charts DIR  also write DIR/ipc-throughput.svg: throughput against message size\n";
