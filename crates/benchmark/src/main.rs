//! Note 10: 性能优化 (performance).
//!
//! `cargo run -p benchmark` runs note 10.1 (pool size against CPU- and I/O-bound work);
//! `cargo run --release -p benchmark -- ipc` measures every primitive of the workspace against
//! CPython's multiprocessing and the raw OS floor, and prints a Markdown table.

use std::process::ExitCode;

use ipc_common::cli::{Program, sections, usage};

mod ipc;
mod pool_size;

const PROGRAMS: &[Program<anyhow::Error>] = &[Program {
    id: "10.1",
    title: "进程池大小优化",
    run: pool_size::main,
}];

/// The usage text of `cli::usage`, plus the `ipc` mode.
fn full_usage() -> String {
    usage("benchmark", PROGRAMS)
        + "\nOr: cargo run --release -p benchmark -- ipc\n  ipc    our primitives vs Python's multiprocessing vs the raw OS floor (Markdown table)\n"
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode] if mode == "ipc" => match ipc::main() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error in ipc: {e:#}");
                ExitCode::FAILURE
            }
        },
        [flag] if flag == "-h" || flag == "--help" => {
            print!("{}", full_usage());
            ExitCode::SUCCESS
        }
        [] => sections("benchmark", PROGRAMS),
        [id] if PROGRAMS.iter().any(|p| p.id == id) => sections("benchmark", PROGRAMS),
        _ => {
            eprintln!("error: unknown arguments: {}", args.join(" "));
            eprint!("{}", full_usage());
            ExitCode::from(2)
        }
    }
}
