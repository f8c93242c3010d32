//! The command line shared by every section binary.
//!
//! A section crate holds one or more of the notes' programs. `cargo run -p basics` runs them
//! all in the notes' order, `cargo run -p basics -- 2.2` runs one, `--help` prints the choices,
//! and anything else prints them on stderr and exits with status 2.
//!
//! ```no_run
//! use std::process::ExitCode;
//! use ipc_common::cli::{Program, sections};
//!
//! fn what_is_a_process() -> anyhow::Result<()> {
//!     println!("当前进程ID: {}", std::process::id());
//!     Ok(())
//! }
//!
//! fn main() -> ExitCode {
//!     sections("basics", &[Program { id: "1.1", title: "什么是进程", run: what_is_a_process }])
//! }
//! ```

use std::process::ExitCode;

/// One of the notes' programs.
#[derive(Clone, Copy, Debug)]
pub struct Program {
    /// The note's number, as typed on the command line (`"2.2"`).
    pub id: &'static str,
    /// The note's title, shown by `--help`.
    pub title: &'static str,
    /// The program itself.
    pub run: fn() -> anyhow::Result<()>,
}

/// Parses the command line and runs the chosen programs; returns the process's exit code.
///
/// No argument runs every program in order; one argument equal to a program's `id` runs that
/// one; `-h`/`--help` prints usage on stdout (exit 0); anything else prints usage on stderr
/// (exit 2). A program that returns an error stops the run: the error goes to stderr and the
/// exit code is 1.
pub fn sections(crate_name: &str, programs: &[Program]) -> ExitCode {
    quiet_on_broken_pipe();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let chosen: Vec<&Program> = match args.as_slice() {
        [] => programs.iter().collect(),
        [flag] if flag == "-h" || flag == "--help" => {
            print!("{}", usage(crate_name, programs));
            return ExitCode::SUCCESS;
        }
        [id] if programs.iter().any(|p| p.id == id) => {
            programs.iter().filter(|p| p.id == id).collect()
        }
        _ => {
            eprintln!("error: unknown arguments: {}", args.join(" "));
            eprint!("{}", usage(crate_name, programs));
            return ExitCode::from(2);
        }
    };
    for program in chosen {
        if let Err(e) = (program.run)() {
            eprintln!("error in {} {}: {e:#}", program.id, program.title);
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Lets `SIGPIPE` end the program, as it ends `cat` or `grep`: `cargo run -p monitor | head`
/// then stops quietly instead of panicking in `println!` (Rust ignores `SIGPIPE` by default).
/// Children started later inherit it.
///
/// The workspace's own pipes are not affected: they write inside
/// [`without_sigpipe`](crate::sigpipe::without_sigpipe), and a vanished reader is an error.
fn quiet_on_broken_pipe() {
    crate::sigpipe::set_default();
}

/// The usage text: how to call the binary, and one line per program.
pub fn usage(crate_name: &str, programs: &[Program]) -> String {
    let mut text = format!(
        "usage: cargo run -p {crate_name} [-- PROGRAM]\n\nRuns every program below in order, or only PROGRAM:\n"
    );
    for p in programs {
        text.push_str(&format!("  {:<6} {}\n", p.id, p.title));
    }
    text
}
