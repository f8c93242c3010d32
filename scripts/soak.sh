#!/usr/bin/env bash
# The queue soak: 1 000 000 messages through queue::Queue, from 4 producer processes to 4
# consumer processes (crates/reliability/examples/soak.rs), in rounds that each make a fresh
# queue and fresh processes. It fails unless every message arrives exactly once (counts and
# checksums), each producer's messages arrive in order, the parent's open file descriptors
# (/proc/self/fd) and /dev/shm are the same after every round as before the first, and no
# process of its session outlives it. It prints the rate in messages per second.
#
# With its release build it takes about a minute (the messages themselves a few seconds; far
# longer in a debug build), so it is not part of scripts/test_all.sh: run it after changing
# ipc-common's ring or the queue, with more messages for a longer soak.
#
#   scripts/soak.sh                   1000000 messages in 4 rounds
#   scripts/soak.sh 10000000 20       MESSAGES ROUNDS
set -uo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p reliability --example soak --quiet || exit 1

shm_before=$(ls /dev/shm)
# setsid: the soak leads a new session, so its leftovers can be found by session id.
setsid target/release/examples/soak "$@" &
sid=$!
wait "$sid"
rc=$?
failures=0
if ((rc != 0)); then
  echo "soak: FAILED with status $rc" >&2
  failures=1
fi
left=$(ps -eo sid=,pid=,stat=,comm= | awk -v s="$sid" '$1 == s')
if [[ -n $left ]]; then
  echo "soak: processes left behind: $left" >&2
  failures=1
fi
if [[ $(ls /dev/shm) != "$shm_before" ]]; then
  echo "soak: new entries in /dev/shm" >&2
  failures=1
fi
((failures == 0)) && echo "soak: ok"
((failures == 0))
