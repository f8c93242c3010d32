//! Note 4.1 使用Lock进行同步: three processes each add 1 to a shared number three times. The
//! read and the write are 0.1 s apart, so without the lock updates would be lost; with it the
//! final value is always 9.
//!
//! `cargo run -p lock` runs the program (`cargo run -p lock -- 4.1` too).

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod lock_sync;

fn main() -> ExitCode {
    sections(
        "lock",
        &[Program {
            id: "4.1",
            title: "使用Lock进行同步",
            run: lock_sync::main,
        }],
    )
}
