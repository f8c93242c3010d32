//! Note 9.2 死锁和资源竞争: A and B take two locks in opposite order and deadlock; C and D do
//! the same with timeouts, and one gives way.
//!
//! `cargo run -p deadlock` runs the program (`cargo run -p deadlock -- 9.2` too).

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod deadlock_and_timeouts;

fn main() -> ExitCode {
    sections(
        "deadlock",
        &[Program {
            id: "9.2",
            title: "死锁和资源竞争",
            run: deadlock_and_timeouts::main,
        }],
    )
}
