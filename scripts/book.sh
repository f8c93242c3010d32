#!/usr/bin/env bash
# Builds the book, the learner's edition of the notes, into target/book (open
# target/book/index.html). A page per note, written in book/src/notes/, holds what the note
# teaches; the build adds, for each note:
#   - its Rust program, included from the crate's source (the section table in the crate's
#     src/main.rs says which file holds it, so the page follows the program wherever it is);
#   - the output of a real run made now (target/release/<crate> --trace ... <note>);
#   - the timeline of that run, drawn from its trace by crates/timeline (and any chart the
#     program drew beside its trace: 10.1's pool sizes);
#   - that note's rows of the README's errata table, and how to run it;
# and the speed and fault pages take their text and numbers from the README.
#
#   scripts/book.sh            build the book
#   scripts/book.sh --check    build it, then check that every note's page has its program,
#                              its output and its picture, and that no link is broken
#
# mdbook 0.5 is installed with `cargo install mdbook --locked` if it is missing. The build
# runs every note once, one at a time (about a minute of demos), after building the release
# binaries. scripts/book_check_browser.sh opens a page in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/sections.sh

check=false
case ${1:-} in
  --check) check=true ;;
  "") ;;
  *) echo "usage: scripts/book.sh [--check]" >&2; exit 2 ;;
esac

# mdbook: the 0.5 series, whose book.toml and templates book/ is written for.
if ! mdbook --version 2>/dev/null | grep -q '^mdbook v0\.5\.'; then
  echo "book: installing mdbook 0.5 (cargo install mdbook --locked)" >&2
  cargo install mdbook --locked --version '~0.5' --quiet
fi

cargo build --release --workspace --bins --quiet

root=$PWD
stage=target/book-src # book/ with the generated parts added; mdbook reads this copy
gen=$stage/src/gen
rm -rf "$stage" target/book
cp -r book "$stage"
mkdir -p "$gen"

# The file that holds note $2's program in crate $1: its section table names the function
# that runs it, `run: module::main` (the program is src/module.rs) or a function of main.rs.
note_source() {
  local dir=crates/$1/src run
  run=$(tr '\n' ' ' <"$dir/main.rs" | grep -oP "id:\s*\"${2//./\\.}\".*?run:\s*\K[\w:]+" | head -1)
  case $run in
    "") return 1 ;;
    *::*)
      local module=${run%%::*}
      if [[ -f $dir/$module.rs ]]; then echo "$dir/$module.rs"; else echo "$dir/$module/mod.rs"; fi ;;
    *) echo "$dir/main.rs" ;;
  esac
}

# The README's section whose heading starts with $1, without its heading; links made plain
# text, since they point into the repository, not into the book.
readme_section() {
  awk -v h="## $1" 'index($0, h) == 1 { on = 1; next } on && /^## / { exit } on' README.md |
    perl -pe 's/\[([^\]]*)\]\((?!https?:)[^)]*\)/$1/g'
}

# Note $1's rows of the README's errata table, as a table without the note column (the
# header is the README's own, so the columns follow it).
errata() {
  readme_section "Errata" | awk -F'|' -v note="$1" '
    function trim(s) { gsub(/^ +| +$/, "", s); return s }
    /^\|/ { n++ }
    /^\|/ && (n <= 2 || trim($2) == note) {
      row = "|"; for (i = 3; i < NF; i++) row = row $i "|"; print row; rows += (n > 2) }
    END { exit rows == 0 }'
}

# Relative path from directory $1 to file or directory $2.
rel() { realpath -m --relative-to="$1" "$2"; }

failures=0
for entry in "${SECTIONS[@]}"; do
  crate=${entry%%:*}
  for note in ${entry#*:}; do
    dir=$gen/$note
    mkdir -p "$dir"
    source_file=$(note_source "$crate" "$note") || {
      echo "book: no program $note in crates/$crate/src/main.rs" >&2
      exit 1
    }

    # The program, from its source file. (`noplayground`: it needs the workspace to run.)
    printf '源文件 (source): `%s`\n\n```rust,noplayground\n{{#include %s}}\n```\n' \
      "$source_file" "$(rel "$dir" "$source_file")" >"$dir/program.md"

    # A real run, alone, with its trace; then its timeline.
    start=$(date +%s%N)
    if ! timeout 300 "target/release/$crate" --trace "$dir/trace.json" "$note" \
      >"$dir/output.txt" 2>"$dir/stderr.txt"; then
      echo "book: $crate $note failed:" >&2
      sed 's/^/    /' "$dir/stderr.txt" >&2
      failures=$((failures + 1))
      continue
    fi
    echo "book: ran $note ($crate, $((($(date +%s%N) - start) / 1000000)) ms)"
    printf '```text\n{{#include output.txt}}\n```\n' >"$dir/output.md"
    target/release/timeline "$dir/trace.json" "$dir/timeline.svg"

    # The pictures, with links relative to the note's page (book/src/notes/<note>.md): the
    # timeline, the trace it was drawn from, then any chart the program drew beside its
    # trace (trace.<name>.svg).
    {
      printf '![%s 一次运行的时间线 (timeline of one run)](../gen/%s/timeline.svg)\n\n' "$note" "$note"
      printf '这张图画自这次运行的记录 [trace.json](../gen/%s/trace.json)（Chrome 的 trace 格式，' "$note"
      printf '也可以在 Perfetto 里打开 / a Chrome trace, which Perfetto opens too）。\n'
      for chart in "$dir"/trace.*.svg; do
        [[ -e $chart ]] || continue
        printf '\n![%s 程序画的图 (chart drawn by the program)](../gen/%s/%s)\n' "$note" "$note" "${chart##*/}"
      done
    } >"$dir/pictures.md"

    if ! errata "$note" >"$dir/errata.md"; then
      echo '*README 的勘误表里没有这一节的条目。 (No rows for this note in the README'"'"'s errata table.)*' >"$dir/errata.md"
    fi

    cat >"$dir/run.md" <<EOF
\`\`\`sh
# 运行这一节 (run this note)
cargo run -p $crate -- $note
# 子进程用 spawn 启动；也可以是 fork（默认）或 forkserver (start children another way)
cargo run -p $crate -- --start-method spawn $note
# 同时记录各进程做了什么，再画成时间线 (record a trace, then draw it)
cargo run -p $crate -- --trace run.json $note
cargo run -p timeline -- run.json run.svg
\`\`\`
EOF
  done
done
((failures == 0)) || { echo "book: $failures note(s) failed" >&2; exit 1; }

# The speed page: the README's Speed section, and its table as charts.
readme_section "Speed" >"$gen/speed.md"
readme_section "Guarantees under faults" >"$gen/faults.md"
for part in speed faults; do
  [[ -s $gen/$part.md ]] || { echo "book: README.md has no section for $part.md" >&2; exit 1; }
done
# Each row of the speed table (the section's first table; the message-size table has its own
# chart from the benchmark): name, unit, Rust/Python, Rust/floor (the columns found by
# their headers). How many times faster than Python: Rust/Python for a rate (higher is
# better), Python/Rust for a time.
awk -F'|' -v gen="$gen" '
  function trim(s) { gsub(/^ +| +$/, "", s); return s }
  function num(s) { s = trim(s); sub(/×$/, "", s); return s ~ /^[0-9.]+$/ ? s + 0 : "null" }
  function json(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
  /^\|/ && !head {
    for (i = 2; i < NF; i++) col[trim($i)] = i
    head = 1
    if (!("operation" in col && "unit" in col && "Rust/Python" in col && "Rust/floor" in col)) {
      print "book: the README'"'"'s speed table has no column operation, unit, Rust/Python or Rust/floor" > "/dev/stderr"
      bad = 1; exit 1
    }
    next
  }
  /^\|---/ { next }
  /^\|/ {
    name[++n] = json(trim($col["operation"]))
    r = num($col["Rust/Python"]); f = num($col["Rust/floor"])
    faster[n] = r == "null" || r <= 0 ? "null" : (trim($col["unit"]) ~ /\/s$/ ? r : 1 / r)
    floor[n] = f
  }
  function list(a,   s, i) { for (i = 1; i <= n; i++) s = s (i > 1 ? ", " : "") a[i]; return "[" s "]" }
  function figure(title, label, values, marker, logscale) {
    return "{\"width\": 900, \"height\": " (120 + 34 * n) ", \"charts\": [{\"bars\": {" \
      "\"title\": " json(title) ", \"value_label\": " json(label) ", \"unit\": \"×\", " \
      "\"log_scale\": " logscale ", \"categories\": " list(name) ", " \
      "\"series\": [{\"name\": \"Rust\", \"values\": " values "}], " \
      "\"markers\": [{\"at\": 1, \"label\": " json(marker) "}]}}]}"
  }
  END {
    if (bad) exit 1
    print figure("比 Python 快几倍 times faster than Python", "倍数（对数刻度） times, log scale", list(faster), "一样快 as fast", "true") > (gen "/speed-python.json")
    print figure("是系统调用下限的几倍 Rust / the raw OS floor", "倍数 times the floor", list(floor), "下限 the floor", "false") > (gen "/speed-floor.json")
  }' < <(readme_section "Speed" | awk '/^\|/ { t = 1; print; next } t { exit }')
for chart in speed-python speed-floor; do
  target/release/timeline chart "$gen/$chart.json" "$gen/$chart.svg"
done

# @REPO@ in a page: the repository's root, relative to that page (for includes of files
# that are not a note's program, such as 10.1's tasks in crates/benchmark/src/lib.rs).
while IFS= read -r -d '' page; do
  sed -i "s#@REPO@#$(rel "$(dirname "$page")" "$root")#g" "$page"
done < <(find "$stage/src" -name '*.md' -print0)

# mdbook logs a missing include as an error and goes on: any error fails the build.
if ! mdbook build "$stage" -d "$root/target/book" >"$stage/mdbook.log" 2>&1 ||
  grep -q ERROR "$stage/mdbook.log"; then
  cat "$stage/mdbook.log" >&2
  echo "book: mdbook failed" >&2
  exit 1
fi
grep -v ' INFO ' "$stage/mdbook.log" || true
echo "book: target/book/index.html"

$check || exit 0

# ---- The check ----
failures=0
fail() { echo "FAIL $1" >&2; failures=$((failures + 1)); }
# HTML text of a line, as mdbook writes code (it escapes &, < and >).
html() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }

# Every note's page: its program (a line of its source), its output (its first line) and
# its timeline (an SVG with the program's own row).
for entry in "${SECTIONS[@]}"; do
  crate=${entry%%:*}
  for note in ${entry#*:}; do
    page=target/book/notes/$note.html
    [[ -f $page ]] || { fail "$note: no page $page"; continue; }
    source_file=$(note_source "$crate" "$note")
    code=$(grep -m1 -E 'println!|fn main' "$source_file" | sed 's/^ *//' | html)
    grep -q 'class="language-rust' "$page" && grep -qF -- "$code" "$page" ||
      fail "$note: the page lacks its program ($source_file)"
    first=$(grep -m1 . "$gen/$note/output.txt" | html)
    grep -q 'class="language-text' "$page" && grep -qF -- "$first" "$page" ||
      fail "$note: the page lacks the run's output"
    svg=target/book/gen/$note/timeline.svg
    grep -qF "src=\"../gen/$note/timeline.svg\"" "$page" || fail "$note: the page shows no timeline"
    [[ -f $svg ]] && grep -q '^<svg' "$svg" && grep -q 'MainProcess' "$svg" ||
      fail "$note: $svg is not a timeline of the run"
  done
done
grep -q '<table>' target/book/speed.html || fail "speed: the README's table is missing"
grep -q '<li>' target/book/faults.html || fail "faults: the README's list is missing"
grep -qF 'src="gen/speed-python.svg"' target/book/speed.html || fail "speed: no chart"

# No broken link: every href and src of every page names a file of the book, and every
# #fragment an id of its page. Addresses outside the book (http:, mailto:) are not followed.
links=0
while IFS= read -r -d '' page; do
  dir=$(dirname "$page")
  while IFS= read -r link; do
    links=$((links + 1))
    case $link in
      http:* | https:* | mailto:* | data:* | javascript:*) continue ;;
    esac
    path=${link%%#*}
    path=${path%%\?*}
    fragment=""
    [[ $link == *#* ]] && fragment=${link#*#}
    target=$page
    [[ -n $path ]] && target=$dir/$path
    [[ -d $target ]] && target=$target/index.html
    if [[ ! -f $target ]]; then
      fail "${page#target/book/}: broken link $link"
    elif [[ -n $fragment && $target == *.html ]] && ! grep -qF "id=\"$fragment\"" "$target"; then
      fail "${page#target/book/}: no id \"$fragment\" for link $link"
    fi
  done < <(grep -oE '(href|src)="[^"]*"' "$page" | sed -E 's/^(href|src)="(.*)"$/\2/')
done < <(find target/book -name '*.html' -print0)

if ((failures)); then
  echo "book check: $failures failure(s)" >&2
  exit 1
fi
echo "book check: every note has its program, output and timeline; $links links, none broken"
