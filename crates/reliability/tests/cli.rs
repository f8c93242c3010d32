//! Guarantee 4, the command line: every section binary of `scripts/sections.sh` (and
//! `benchmark`, if built) answers `--help` with its usage on stdout and status 0, and an
//! unknown program, an extra argument or an unknown flag with its usage on stderr and status 2,
//! without running anything or starting any process.

use std::time::Duration;

use reliability::{Finish, Run, become_subreaper, binary, sections};

/// Runs `bin` with `args` and waits for it (a binary that runs its programs by mistake takes
/// far longer than this, or is caught by the checks on its output).
fn call(bin: &str, args: &[&str]) -> Finish {
    let path = binary(bin).unwrap_or_else(|e| panic!("{e:#}"));
    let mut run = Run::spawn(&path, args).expect("spawn");
    let end = run.finish(Duration::from_secs(10));
    assert!(
        end.is_clean(),
        "{bin} {args:?} did not end\n{}",
        end.describe()
    );
    end
}

/// `--help` and `-h`: the usage on stdout, naming the crate and every program; status 0.
fn help_prints_usage_and_succeeds() {
    for (section, ids) in sections().expect("scripts/sections.sh") {
        for flag in ["--help", "-h"] {
            let end = call(&section, &[flag]);
            let what = format!("{section} {flag}\n{}", end.describe());
            assert_eq!(end.code(), Some(0), "{what}");
            assert!(
                end.stdout
                    .starts_with(&format!("usage: cargo run -p {section} ")),
                "{what}"
            );
            for id in &ids {
                assert!(
                    end.stdout
                        .lines()
                        .any(|l| l.trim_start().starts_with(&**id)),
                    "program {id} not listed: {what}"
                );
            }
            assert!(end.stderr.is_empty(), "{what}");
        }
    }
}

/// What must be refused: an unknown program, one too many arguments, an unknown flag.
fn refused(first_id: &str) -> [Vec<String>; 5] {
    [
        vec!["9.9".into()],
        vec![first_id.into(), "extra".into()],
        vec!["--bogus".into()],
        vec!["--help".into(), first_id.into()],
        vec!["--start-method".into(), "thread".into()],
    ]
}

/// Bad arguments: an `error: ...` line naming what is wrong and the usage on stderr, nothing
/// on stdout (so no program ran), status 2.
fn bad_arguments_print_usage_and_exit_2() {
    for (section, ids) in sections().expect("scripts/sections.sh") {
        let first = ids.first().expect("a section has programs");
        for args in refused(first) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let end = call(&section, &args);
            let what = format!("{section} {args:?}\n{}", end.describe());
            assert_eq!(end.code(), Some(2), "{what}");
            assert!(end.stdout.is_empty(), "{what}");
            let first = end.stderr.lines().next().unwrap_or("");
            assert!(first.starts_with("error: "), "{what}");
            // The line names the offending argument (the first one clap or we refuse).
            assert!(
                args.iter().any(|a| first.contains(*a)) || first.contains("--help"),
                "{what}"
            );
            assert!(
                end.stderr
                    .contains(&format!("usage: cargo run -p {section} ")),
                "{what}"
            );
        }
    }
}

/// `benchmark` takes `ipc` besides its programs; the same rules hold. Skipped (with a line)
/// if it has not been built.
fn benchmark_usage() {
    if binary("benchmark").is_err() {
        println!("    (no benchmark binary: skipped)");
        return;
    }
    let help = call("benchmark", &["--help"]);
    assert_eq!(help.code(), Some(0), "{}", help.describe());
    assert!(help.stdout.contains("-- ipc"), "{}", help.describe());
    for args in [&["ipc", "extra"][..], &["nope"], &["--bogus"]] {
        let end = call("benchmark", args);
        let what = format!("benchmark {args:?}\n{}", end.describe());
        assert_eq!(end.code(), Some(2), "{what}");
        assert!(end.stdout.is_empty(), "{what}");
        assert!(end.stderr.contains("usage: "), "{what}");
    }
}

fn main() {
    become_subreaper().expect("prctl(PR_SET_CHILD_SUBREAPER)");
    ipc_common::testing::run(&[
        (
            "help_prints_usage_and_succeeds",
            help_prints_usage_and_succeeds,
        ),
        (
            "bad_arguments_print_usage_and_exit_2",
            bad_arguments_print_usage_and_exit_2,
        ),
        ("benchmark_usage", benchmark_usage),
    ]);
}
