//! Note 3.4: 使用Manager进行复杂数据共享 (sharing a dict and a list through a Manager).

use std::process::ExitCode;

use ipc_common::cli::{Program, sections};

mod manager_sharing;

fn main() -> ExitCode {
    sections(
        "manager",
        &[Program {
            id: "3.4",
            title: "使用Manager进行复杂数据共享",
            run: manager_sharing::main,
        }],
    )
}
