//! Notes 1 and 2: processes, threads, starting processes and their separate memory.
//!
//! `cargo run -p basics` runs the four programs in the notes' order;
//! `cargo run -p basics -- 2.2` runs one.

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod create_process;
mod memory_isolation;
mod process_vs_thread;
mod what_is_a_process;

fn main() -> ExitCode {
    sections(
        "basics",
        &[
            Program {
                id: "1.1",
                title: "什么是进程",
                run: what_is_a_process::main,
            },
            Program {
                id: "1.2",
                title: "进程与线程的区别",
                run: process_vs_thread::main,
            },
            Program {
                id: "2.1",
                title: "基本进程创建",
                run: create_process::main,
            },
            Program {
                id: "2.2",
                title: "进程间内存隔离",
                run: memory_isolation::main,
            },
        ],
    )
}
