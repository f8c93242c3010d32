#!/usr/bin/env bash
# Runs every test: the unit and process tests of every crate, then the output check of every
# section against expected-output/, under each start method (fork, spawn, forkserver).
set -euo pipefail
cd "$(dirname "$0")/.."
# The reliability tests run the section binaries; `cargo test` alone builds a package's binaries
# only for that package's own integration tests, so build them all first.
cargo build --workspace --bins
cargo test --workspace
for method in fork spawn forkserver; do
  scripts/check_output.sh --start-method "$method"
done
# The book: builds it (installing mdbook if it is missing) and checks every page's program,
# output and timeline, and every link.
scripts/book.sh --check
