#!/usr/bin/env bash
# Runs every test: the unit and process tests of every crate, then the output check of every
# section against expected-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
scripts/check_output.sh
