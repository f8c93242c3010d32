//! Note 3.1: 使用Queue进行进程间通信 (producers and consumers around a Queue).

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod producer_consumer;

fn main() -> ExitCode {
    sections(
        "queue",
        &[Program {
            id: "3.1",
            title: "使用Queue进行进程间通信",
            run: producer_consumer::main,
        }],
    )
}
