//! A tiny test runner for tests that fork.
//!
//! `#[test]` functions run on several threads of one process, and `fork` must not be called
//! while other threads exist (see [`Process`](crate::Process)). Tests that start processes are
//! therefore written as test targets with `harness = false`, whose `main` calls [`run`]: every
//! test runs in turn on the main thread.
//!
//! Which tests still need it: those that fork on purpose, because fork is what they test (a
//! child that shares its parent's memory, a closure run by `Process::start`, a fault point
//! armed in the parent and inherited by the child, the fork start method's speed and
//! descriptor rules). Tests that start their children with spawn or forkserver are ordinary
//! `#[test]` functions (each crate's `tests/start_methods.rs`, the manager's and the pipe's
//! socket tests): the harness's threads are no obstacle to those methods, and running them
//! there also proves that a threaded program can use them.
//!
//! ```no_run
//! fn adds() {
//!     assert_eq!(1 + 1, 2);
//! }
//!
//! fn main() {
//!     ipc_common::testing::run(&[("adds", adds)]);
//! }
//! ```

use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

/// One test: its name and its function. A test fails by panicking.
pub type Test = (&'static str, fn());

/// Runs the tests whose name contains the first non-flag command-line argument (all of them
/// without one), prints a line per test and a summary in `cargo test`'s format, and exits with
/// status 1 if any failed.
pub fn run(tests: &[Test]) -> ! {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let chosen: Vec<&Test> = tests
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, test) in chosen {
        print!("test {name} ... ");
        let _ = std::io::stdout().flush();
        let start = Instant::now();
        match panic::catch_unwind(AssertUnwindSafe(test)) {
            Ok(()) => {
                passed += 1;
                println!("ok ({:.2?})", start.elapsed());
            }
            Err(_) => {
                failed.push(*name);
                println!("FAILED");
            }
        }
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out\n",
        failed.len()
    );
    std::process::exit(if failed.is_empty() { 0 } else { 1 })
}
