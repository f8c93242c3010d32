#!/usr/bin/env bash
# Runs every section (or the ones named) and compares its stdout with
# expected-output/<crate>.txt using outcheck. Each section runs in its own session, and the
# check fails if a process of that session (a zombie included) outlives it, or if it adds
# anything to /dev/shm.
#
#   scripts/check_output.sh                           check every section
#   scripts/check_output.sh pipe lock                 check some
#   scripts/check_output.sh --start-method spawn      every section, children started by spawn
#   scripts/check_output.sh --bless [crate]           re-record expected output (then read git diff)
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/sections.sh

bless=""
method_args=()
while (($#)); do
  case $1 in
    --bless) bless=--bless; shift ;;
    --start-method) method_args=(--start-method "$2"); shift 2 ;;
    *) break ;;
  esac
done
if (($#)); then
  chosen=("$@")
else
  chosen=()
  for entry in "${SECTIONS[@]}"; do chosen+=("${entry%%:*}"); done
fi

cargo build --release --workspace --bins --quiet || exit 1

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failures=0
fail() { echo "FAIL $1: $2" >&2; failures=$((failures + 1)); }

for crate in "${chosen[@]}"; do
  expected="expected-output/$crate.txt"
  [[ -f $expected ]] || { fail "$crate" "no $expected"; continue; }
  shm_before=$(ls /dev/shm)
  start=$(date +%s%N)
  # setsid: the section leads a new session, so its leftovers can be found by session id.
  setsid timeout 300 "target/release/$crate" "${method_args[@]}" >"$out/$crate.txt" 2>"$out/$crate.err" &
  sid=$!
  wait "$sid"
  rc=$?
  took_ms=$((($(date +%s%N) - start) / 1000000))
  took="$((took_ms / 1000)).$((took_ms % 1000 / 100))"
  if ((rc != 0)); then
    fail "$crate" "exited with status $rc; stderr:"
    sed 's/^/    /' "$out/$crate.err" >&2
    continue
  fi
  left=$(ps -eo sid=,pid=,stat=,comm= | awk -v s="$sid" '$1 == s')
  [[ -z $left ]] || fail "$crate" "processes left behind: $left"
  [[ $(ls /dev/shm) == "$shm_before" ]] || fail "$crate" "new entries in /dev/shm"
  if [[ -n $bless ]]; then
    target/release/outcheck --bless "$expected" "$out/$crate.txt" || fail "$crate" "bless failed"
  elif target/release/outcheck "$expected" "$out/$crate.txt"; then
    echo "ok   $crate ${method_args[*]} (${took}s)"
  else
    fail "$crate" "output differs from $expected (transcript kept as $crate.actual)"
    cp "$out/$crate.txt" "$crate.actual"
  fi
done

if ((failures)); then
  echo "check_output: $failures failure(s)" >&2
  exit 1
fi
echo "check_output: all ${#chosen[@]} sections match ${method_args[*]}"
