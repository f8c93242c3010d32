//! Note 8.1 继承Process类: a custom process class (the `Worker` trait), three workers fed by a
//! task queue and answering on a result queue.
//!
//! `cargo run -p custom-worker` runs the program (`cargo run -p custom-worker -- 8.1` too).

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod custom_process;

fn main() -> ExitCode {
    sections(
        "custom-worker",
        &[Program {
            id: "8.1",
            title: "继承Process类",
            run: custom_process::main,
        }],
    )
}
