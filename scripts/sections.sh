# The section crates in the notes' order, each with the notes it runs.
# Sourced by run_all.sh and check_output.sh; a new section adds its line here.
SECTIONS=(
  "basics:1.1 1.2 2.1 2.2"
  "pool:5.1 5.2"
  "shared-array:6.1"
  "monitor:7.1"
)
