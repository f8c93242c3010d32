# The section crates in the notes' order, each with the notes it runs.
# Sourced by run_all.sh and check_output.sh; a new section adds its line here.
SECTIONS=(
  "basics:1.1 1.2 2.1 2.2"
  "queue:3.1"
  "pipe:3.2"
  "shm:3.3 9.1"
  "manager:3.4"
  "lock:4.1"
  "semaphore:4.2"
  "event:4.3"
  "pool:5.1 5.2"
  "shared-array:6.1"
  "monitor:7.1"
  "custom-worker:8.1"
  "deadlock:9.2"
  "benchmark:10.1"
)
