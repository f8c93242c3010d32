//! Note 3.2: 使用Pipe进行进程间通信 (communicating between processes with a Pipe).

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod pipe_communication;

fn main() -> ExitCode {
    sections(
        "pipe",
        &[Program {
            id: "3.2",
            title: "使用Pipe进行进程间通信",
            run: pipe_communication::main,
        }],
    )
}
