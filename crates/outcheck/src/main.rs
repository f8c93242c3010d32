//! `outcheck [--bless] EXPECTED_FILE ACTUAL_FILE`: checks or re-records an expected-output file.

use anyhow::Context;
use outcheck::Expected;
use std::io::Read;
use std::process::ExitCode;

const USAGE: &str = "\
usage: outcheck EXPECTED_FILE ACTUAL_FILE          check the output (ACTUAL_FILE may be -)
       outcheck --bless EXPECTED_FILE ACTUAL_FILE  re-record EXPECTED_FILE from the output
exit status: 0 match (or blessed), 1 mismatch (report on stderr), 2 usage or parse error
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (bless, expected, actual) = match args.as_slice() {
        ["--help" | "-h"] => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        ["--bless", expected, actual] => (true, *expected, *actual),
        [expected, actual] if !expected.starts_with("--") => (false, *expected, *actual),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(bless, expected, actual) {
        Ok(matched) => ExitCode::from(if matched { 0 } else { 1 }),
        Err(error) => {
            eprintln!("outcheck: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Checks or blesses; `Ok(false)` means the output does not match.
fn run(bless: bool, expected_path: &str, actual_path: &str) -> anyhow::Result<bool> {
    let source = std::fs::read_to_string(expected_path)
        .with_context(|| format!("reading {expected_path}"))?;
    let expected = Expected::parse(&source).with_context(|| expected_path.to_owned())?;
    let actual = read_actual(actual_path).with_context(|| format!("reading {actual_path}"))?;
    if !bless {
        let result = expected.check(&actual);
        if let Err(report) = &result {
            eprint!("outcheck: {actual_path} does not match {expected_path}:\n{report}");
        }
        return Ok(result.is_ok());
    }
    let blessed = expected.bless(&actual);
    if blessed.changed {
        std::fs::write(expected_path, &blessed.text)
            .with_context(|| format!("writing {expected_path}"))?;
    }
    println!(
        "{expected_path}: {}",
        if blessed.changed {
            "updated"
        } else {
            "unchanged"
        }
    );
    if blessed.restructured {
        eprintln!(
            "warning: {expected_path}: lines were added or removed; new lines became ordinary lines (or `~ ` lines inside a block): review the block and chain markers"
        );
    }
    match Expected::parse(&blessed.text).map(|new| new.check(&actual)) {
        Ok(Ok(())) => {}
        Ok(Err(report)) => {
            eprint!("warning: {expected_path} does not match this output yet:\n{report}")
        }
        Err(error) => eprintln!("warning: {expected_path} no longer parses: {error}"),
    }
    Ok(true)
}

/// Reads the output to check; `-` is stdin. Invalid UTF-8 is kept (as U+FFFD), to fail the check.
fn read_actual(path: &str) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    if path == "-" {
        std::io::stdin().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(path)?;
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
