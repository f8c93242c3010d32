//! The command line shared by every section binary.
//!
//! A section crate holds one or more of the notes' programs. `cargo run -p basics` runs them
//! all in the notes' order, `cargo run -p basics -- 2.2` runs one,
//! `--start-method spawn` starts every child with that [start method](crate::StartMethod),
//! `--trace run.json` records what the processes did ([`trace`](crate::trace)),
//! `--help` prints the choices, and anything else prints an error and the usage on stderr and
//! exits with status 2.
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

use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, Command};

use crate::process::{StartMethod, get_all_start_methods, set_start_method};

/// One of the notes' programs. `E` is the error type its programs return (the demos use
/// `anyhow::Error`); it is printed with `{:#}`, which shows an error's causes too.
#[derive(Clone, Copy, Debug)]
pub struct Program<E> {
    /// The note's number, as typed on the command line (`"2.2"`).
    pub id: &'static str,
    /// The note's title, shown by `--help`.
    pub title: &'static str,
    /// The program itself.
    pub run: fn() -> Result<(), E>,
}

/// Parses the command line and runs the chosen programs; returns the process's exit code.
///
/// No program argument runs every program in order; one equal to a program's `id` runs that
/// one; `--start-method M` sets the start method first; `-h`/`--help` prints usage on stdout
/// (exit 0); anything else prints an error and the usage on stderr (exit 2), running nothing.
/// A program that returns an error stops the run: the error goes to stderr and the exit code
/// is 1.
pub fn sections<E: std::fmt::Display>(crate_name: &str, programs: &[Program<E>]) -> ExitCode {
    sections_with_usage(crate_name, programs, "")
}

/// As [`sections`], with `more` appended to the usage text (a binary's other modes).
pub fn sections_with_usage<E: std::fmt::Display>(
    crate_name: &str,
    programs: &[Program<E>],
    more: &str,
) -> ExitCode {
    quiet_on_broken_pipe();
    let usage = || usage(crate_name, programs) + more;
    let refuse = |first_line: &str| {
        eprintln!("{first_line}");
        eprint!("{}", usage());
        ExitCode::from(2)
    };
    let matches = match command(crate_name, programs).try_get_matches() {
        Ok(matches) => matches,
        Err(e) => {
            let text = e.render().to_string();
            return refuse(text.lines().next().unwrap_or("error: bad arguments"));
        }
    };
    if matches.get_flag("help") {
        if matches.contains_id("program")
            || matches.contains_id("start-method")
            || matches.contains_id("trace")
        {
            return refuse("error: --help takes no other argument");
        }
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    if let Some(method) = matches.get_one::<String>("start-method") {
        let method: StartMethod = match method.parse() {
            Ok(method) => method,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = set_start_method(method) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let trace = matches.get_one::<std::path::PathBuf>("trace");
    if let Some((file, Err(e))) = trace.map(|file| (file, crate::trace::start(file))) {
        eprintln!("error: cannot record a trace in {}: {e}", file.display());
        return ExitCode::FAILURE;
    }
    let chosen = matches.get_one::<String>("program");
    let mut code = ExitCode::SUCCESS;
    for program in programs
        .iter()
        .filter(|p| chosen.is_none_or(|id| id == p.id))
    {
        if let Err(e) = (program.run)() {
            eprintln!("error in {} {}: {e:#}", program.id, program.title);
            code = ExitCode::FAILURE;
            break;
        }
    }
    if let Some(file) = trace {
        // Children still running would lose events: end them as the program's end would.
        crate::process::end_children();
        if let Err(e) = crate::trace::finish() {
            eprintln!("error: cannot write the trace {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    }
    code
}

/// The command line's grammar.
fn command<E>(crate_name: &str, programs: &[Program<E>]) -> Command {
    let ids: Vec<&'static str> = programs.iter().map(|p| p.id).collect();
    let methods: Vec<&'static str> = get_all_start_methods()
        .into_iter()
        .map(StartMethod::name)
        .collect();
    Command::new(crate_name.to_string())
        .disable_version_flag(true)
        .disable_help_flag(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("program")
                .value_name("PROGRAM")
                .value_parser(PossibleValuesParser::new(ids)),
        )
        .arg(
            Arg::new("start-method")
                .long("start-method")
                .value_name("METHOD")
                .value_parser(PossibleValuesParser::new(methods)),
        )
        .arg(
            Arg::new("trace")
                .long("trace")
                .value_name("FILE")
                .value_parser(clap::value_parser!(std::path::PathBuf)),
        )
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

/// The usage text: how to call the binary, the options, and one line per program.
pub fn usage<E>(crate_name: &str, programs: &[Program<E>]) -> String {
    let mut text = format!(
        "usage: cargo run -p {crate_name} [-- [--start-method METHOD] [--trace FILE] [PROGRAM]]\n\n\
         Runs every program below in order, or only PROGRAM:\n"
    );
    for p in programs {
        text.push_str(&format!("  {:<6} {}\n", p.id, p.title));
    }
    text.push_str(
        "\nOptions:\n  --start-method METHOD  how children start: fork (the default), spawn or \
         forkserver\n  --trace FILE           record what the processes did, as a Chrome trace \
         (open it in Perfetto)\n  -h, --help             print this help\n",
    );
    text
}
