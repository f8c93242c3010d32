//! Note 6: 进程间数据共享的进阶技巧.
//!
//! `cargo run -p shared-array` runs note 6.1; `cargo run -p shared-array -- 6.1` too.

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod numpy_shared;

fn main() -> ExitCode {
    sections(
        "shared-array",
        &[Program {
            id: "6.1",
            title: "使用共享内存和NumPy",
            run: numpy_shared::main,
        }],
    )
}
