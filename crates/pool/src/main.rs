//! Note 5: 进程池 (process pools).
//!
//! `cargo run -p pool` runs both programs in the notes' order; `cargo run -p pool -- 5.2`
//! runs one.

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod error_handling;
mod process_pool;

fn main() -> ExitCode {
    sections(
        "pool",
        &[
            Program {
                id: "5.1",
                title: "使用进程池执行任务",
                run: process_pool::main,
            },
            Program {
                id: "5.2",
                title: "进程池中的异常处理",
                run: error_handling::main,
            },
        ],
    )
}
