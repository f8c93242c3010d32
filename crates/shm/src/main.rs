//! Notes 3.3 and 9.1: numbers in shared memory, and the global-variable pitfall they solve.
//!
//! `cargo run -p shm` runs both programs in the notes' order; `cargo run -p shm -- 9.1` runs
//! one.

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod global_variable;
mod shared_memory;

fn main() -> ExitCode {
    sections(
        "shm",
        &[
            Program {
                id: "3.3",
                title: "使用共享内存进行进程间通信",
                run: shared_memory::main,
            },
            Program {
                id: "9.1",
                title: "全局变量问题",
                run: global_variable::main,
            },
        ],
    )
}
