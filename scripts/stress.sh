#!/usr/bin/env bash
# Runs the whole output check N times (default 10) while another process keeps a core busy,
# and counts the failures. The runs take the start methods in turn (fork, spawn,
# forkserver, fork, ...). Failed transcripts are kept as <crate>.actual by check_output.sh.
#
#   scripts/stress.sh 50
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}

cargo build --release --workspace --bins --quiet || exit 1

# The busy core: a shell loop, ended whatever way this script ends.
( while :; do :; done ) &
busy=$!
trap 'kill "$busy" 2>/dev/null' EXIT

failures=0
methods=(fork spawn forkserver)
for ((i = 1; i <= runs; i++)); do
  method=${methods[$(((i - 1) % 3))]}
  if scripts/check_output.sh --start-method "$method" >"stress-$i.log" 2>&1; then
    rm -f "stress-$i.log"
    echo "run $i/$runs ($method): ok"
  else
    failures=$((failures + 1))
    echo "run $i/$runs ($method): FAILED (see stress-$i.log)"
  fi
done
echo "stress: $runs runs, $failures failures"
((failures == 0))
