//! Note 7.1 获取进程状态和信息: three children run for 2, 3 and 4 s while the parent prints
//! their CPU, memory and state every second (sysinfo in psutil's role).
//!
//! `cargo run -p monitor` runs the program (`cargo run -p monitor -- 7.1` too).

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod process_info;

fn main() -> ExitCode {
    sections(
        "monitor",
        &[Program {
            id: "7.1",
            title: "获取进程状态和信息",
            run: process_info::main,
        }],
    )
}
