//! Note 4.3 使用Event进行进程间协调: three waiters block until a setter sets the event.
//!
//! `cargo run -p event` runs the program (`cargo run -p event -- 4.3` too).

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod coordinate;

fn main() -> ExitCode {
    sections(
        "event",
        &[Program {
            id: "4.3",
            title: "使用Event进行进程间协调",
            run: coordinate::main,
        }],
    )
}
