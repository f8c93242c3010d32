//! Note 4.2 使用Semaphore控制并发数量: five processes, at most two at work at once.
//!
//! `cargo run -p semaphore` runs the program (`cargo run -p semaphore -- 4.2` too). The last
//! line, `同时持有信号量的进程数最多为: 2`, is an addition to the note's program: it reports
//! the most holders at once, counted in shared memory, which shows the bound at work.

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod limit_concurrency;

fn main() -> ExitCode {
    sections(
        "semaphore",
        &[Program {
            id: "4.2",
            title: "使用Semaphore控制并发数量",
            run: limit_concurrency::main,
        }],
    )
}
