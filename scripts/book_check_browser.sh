#!/usr/bin/env bash
# Opens pages of the built book (target/book, from scripts/book.sh) in headless Chromium and
# checks that their timelines really render: on each note's page every picture has loaded
# with a size, and the timeline, opened as a document of its own, has its process rows,
# bars and legend laid out with real text (the labels have a width). It saves screenshots
# to target/book-check/ for a person to look at.
#
# Not part of scripts/test_all.sh: it needs a browser. On Debian (as root):
#   apt-get install chromium chromium-driver fonts-noto-cjk
# (fonts-noto-cjk: without a CJK font the Chinese labels render as empty boxes.)
#
#   scripts/book_check_browser.sh              pages 4.1 and 10.1
#   scripts/book_check_browser.sh 3.1 9.2      the pages of these notes
#
# Chromium is driven through chromedriver's WebDriver protocol (plain HTTP, with curl).
set -euo pipefail
cd "$(dirname "$0")/.."

notes=("$@")
((${#notes[@]})) || notes=(4.1 10.1)
for tool in chromium chromedriver curl base64; do
  command -v "$tool" >/dev/null || {
    echo "book_check_browser: $tool is missing (apt-get install chromium chromium-driver curl)" >&2
    exit 2
  }
done
[[ -f target/book/index.html ]] || { echo "book_check_browser: build the book first: scripts/book.sh" >&2; exit 2; }

out=target/book-check
mkdir -p "$out"
profile=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
chromedriver --port="$port" >"$out/chromedriver.log" 2>&1 &
driver=$!
cleanup() {
  [[ -n ${session:-} ]] && curl -s -X DELETE "$base/session/$session" >/dev/null || true
  kill "$driver" 2>/dev/null || true
  wait "$driver" 2>/dev/null || true
  rm -rf "$profile"
}
trap cleanup EXIT
base=http://127.0.0.1:$port
for _ in $(seq 50); do
  curl -s "$base/status" | grep -q '"ready":true' && break
  sleep 0.1
done

# POST $1 with JSON $2; prints the answer's "value".
call() { curl -s -X POST -H 'Content-Type: application/json' -d "$2" "$base/session/$session$1"; }
value() { sed -E 's/^\{"value":"?(.*[^"])"?\}$/\1/'; }

# The flags the machine's Chromium needs headless, as root, with no network but loopback.
args='"--headless=new","--no-sandbox","--disable-gpu","--disable-quic","--no-first-run",
  "--disable-background-networking","--disable-component-update","--disable-sync",
  "--hide-scrollbars","--window-size=1200,1000","--user-data-dir='"$profile"'"'
session=""
answer=$(curl -s -X POST -H 'Content-Type: application/json' "$base/session" -d '{"capabilities":
  {"alwaysMatch": {"goog:chromeOptions": {"binary": "'"$(command -v chromium)"'", "args": ['"$args"']}}}}')
session=$(grep -oE '"sessionId":"[^"]+"' <<<"$answer" | cut -d'"' -f4)
[[ -n $session ]] || { echo "book_check_browser: no browser session: $answer" >&2; exit 1; }

# Every picture of the page has loaded and has a size; the first timeline is scrolled into
# view for the screenshot.
page_script='const imgs = [...document.querySelectorAll("main img")];
const bad = imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute("src"));
const timelines = imgs.filter(i => i.getAttribute("src").endsWith("/timeline.svg"));
if (!timelines.length) return "FAIL no timeline on the page";
if (bad.length) return "FAIL not rendered: " + bad.join(" ");
timelines[0].scrollIntoView();
return "ok " + imgs.length + " pictures, timeline " + timelines[0].naturalWidth + "x" + timelines[0].naturalHeight;'
# In the timeline itself: the program's row, bars, and labels that the font really draws.
svg_script='const texts = [...document.querySelectorAll("text")];
const main = texts.find(t => t.textContent.trim() === "MainProcess");
if (!main) return "FAIL no MainProcess row";
const rects = document.querySelectorAll("rect").length;
const axis = texts.find(t => t.textContent.trim().startsWith("时间"));
if (!axis) return "FAIL no time axis";
const narrow = texts.filter(t => t.textContent.trim() && t.getComputedTextLength() <= 0);
if (narrow.length) return "FAIL labels not drawn: " + narrow.map(t => t.textContent).join(", ");
return "ok " + rects + " rectangles, " + texts.length + " labels, the axis label " +
  Math.round(axis.getComputedTextLength()) + " px wide";'

json_string() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr '\n' ' '; }
failures=0
for note in "${notes[@]}"; do
  page=$PWD/target/book/notes/$note.html
  [[ -f $page ]] || { echo "FAIL $note: no page $page" >&2; failures=$((failures + 1)); continue; }
  call /url '{"url": "file://'"$page"'"}' >/dev/null
  result=$(call /execute/sync '{"script": "'"$(json_string <<<"$page_script")"'", "args": []}' | value)
  curl -s "$base/session/$session/screenshot" | value | base64 -d >"$out/$note-page.png"
  echo "$note page: $result"
  [[ $result == ok* ]] || failures=$((failures + 1))

  call /url '{"url": "file://'"$PWD/target/book/gen/$note/timeline.svg"'"}' >/dev/null
  result=$(call /execute/sync '{"script": "'"$(json_string <<<"$svg_script")"'", "args": []}' | value)
  curl -s "$base/session/$session/screenshot" | value | base64 -d >"$out/$note-timeline.png"
  echo "$note timeline: $result"
  [[ $result == ok* ]] || failures=$((failures + 1))
done
echo "screenshots in $out/"
((failures == 0)) || { echo "book_check_browser: $failures failure(s)" >&2; exit 1; }
echo "book_check_browser: ${#notes[@]} page(s) render their timelines"
