#!/usr/bin/env bash
# Runs every demo: builds the workspace once, then each section crate in the notes' order,
# with a header per section. Exits non-zero if any section fails.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/sections.sh

cargo build --release --workspace --bins --quiet || exit 1

failed=()
for entry in "${SECTIONS[@]}"; do
  crate=${entry%%:*}
  notes=${entry#*:}
  printf '\n========== %s (notes %s) ==========\n' "$crate" "$notes"
  if ! "target/release/$crate"; then
    failed+=("$crate")
  fi
done

if ((${#failed[@]})); then
  echo "FAILED sections: ${failed[*]}" >&2
  exit 1
fi
echo
echo "all ${#SECTIONS[@]} sections ran"
