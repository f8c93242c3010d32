//! Matching a transcript against an expected file, and the report when it does not match.

use crate::expected::{Expected, Item, PatternLine, split_lines};
use crate::pattern::Binding;
use std::collections::HashSet;
use std::fmt;

/// The search gives up (and reports [`Mismatch::TooComplex`]) after this many steps.
const STEP_LIMIT: u64 = 5_000_000;

/// At most this many failed states are remembered (each holds a few bindings).
const MEMO_LIMIT: usize = 200_000;

type Bindings<'a> = Vec<Binding<'a>>;
/// What to do after an item matched: match the rest.
type Then<'a, 'k> = &'k mut dyn FnMut(&mut Search<'a>, &mut Bindings<'a>) -> bool;

/// A line with its 1-based line number (in the expected file or in the output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberedLine {
    /// The line number (1-based).
    pub line: usize,
    /// The line's text.
    pub text: String,
}

/// Why a transcript does not match an expected file: the first place where it goes wrong.
///
/// ```
/// let expected = outcheck::Expected::parse("开始\n最终值: 9\n")?;
/// let report = expected.check("开始\n最终值: 8\n").unwrap_err();
/// assert!(matches!(report, outcheck::Mismatch::Line { at: 2, .. }));
/// assert!(report.to_string().contains("最终值: 8"));
/// # Ok::<(), outcheck::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// An ordinary line did not match the output line at its place.
    Line {
        /// The expected line.
        expected: NumberedLine,
        /// The output line number where it should be.
        at: usize,
        /// That output line, or `None` if the output ended before it.
        actual: Option<String>,
        /// Why the text matched but labels did not, if that was the reason.
        note: Option<String>,
    },
    /// An unordered block did not match the output lines at its place.
    Block {
        /// The block's first line in the expected file.
        first: usize,
        /// The output line number where the block starts.
        at: usize,
        /// Pattern lines no output line could be paired with.
        expected: Vec<NumberedLine>,
        /// Output lines no pattern line could be paired with.
        actual: Vec<NumberedLine>,
        /// How many lines the output lacks to fill the block.
        missing: usize,
        /// Why an unmatched output line's text matched but its labels did not, if so.
        note: Option<String>,
    },
    /// The output goes on after the last expected line.
    Extra {
        /// The first few extra lines.
        lines: Vec<NumberedLine>,
        /// How many extra lines there are.
        count: usize,
    },
    /// The output's last line does not end with a newline.
    NoFinalNewline,
    /// The unordered blocks allow too many assignments to search.
    TooComplex,
}

impl std::error::Error for Mismatch {}

/// Shows a line, escaping it if it holds control characters such as `\r`.
fn show(text: &str) -> String {
    if text.chars().any(char::is_control) {
        format!("{text:?}")
    } else {
        text.to_owned()
    }
}

fn write_lines(f: &mut fmt::Formatter<'_>, title: &str, lines: &[NumberedLine]) -> fmt::Result {
    if !lines.is_empty() {
        writeln!(f, "  {title}:")?;
    }
    lines
        .iter()
        .try_for_each(|l| writeln!(f, "    {}: {}", l.line, show(&l.text)))
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Line {
                expected,
                at,
                actual,
                note,
            } => {
                match actual {
                    Some(_) => writeln!(
                        f,
                        "expected line {} does not match output line {at}",
                        expected.line
                    )?,
                    None => writeln!(
                        f,
                        "expected line {} is missing: the output ended",
                        expected.line
                    )?,
                }
                writeln!(f, "  expected: {}", show(&expected.text))?;
                if let Some(actual) = actual {
                    writeln!(f, "  output:   {}", show(actual))?;
                }
                note.as_ref().map_or(Ok(()), |n| writeln!(f, "  note: {n}"))
            }
            Mismatch::Block {
                first,
                at,
                expected,
                actual,
                missing,
                note,
            } => {
                writeln!(
                    f,
                    "the unordered block at expected line {first} does not match the output from line {at}"
                )?;
                write_lines(f, "expected lines left unmatched", expected)?;
                write_lines(f, "output lines left unmatched", actual)?;
                if *missing > 0 {
                    writeln!(f, "  the output ended {missing} line(s) short")?;
                }
                note.as_ref().map_or(Ok(()), |n| writeln!(f, "  note: {n}"))
            }
            Mismatch::Extra { lines, count } => {
                writeln!(
                    f,
                    "{count} unexpected output line(s) after the last expected line"
                )?;
                write_lines(f, "output", lines)
            }
            Mismatch::NoFinalNewline => writeln!(f, "the output's last line has no newline"),
            Mismatch::TooComplex => {
                writeln!(
                    f,
                    "gave up after {STEP_LIMIT} steps: split the unordered blocks or add chains"
                )
            }
        }
    }
}

/// The deepest place the search failed.
struct Failure<'a> {
    pos: usize,
    item: usize,
    bindings: Bindings<'a>,
}

/// Which pattern lines of a block are used, and which may be used next.
struct BlockState<'a> {
    lines: &'a [PatternLine],
    /// A line may be used only once this one is (chain order; identical lines in file order).
    after: Vec<Option<usize>>,
    used: Vec<bool>,
}

impl<'a> BlockState<'a> {
    fn new(lines: &'a [PatternLine]) -> BlockState<'a> {
        let same = |a: &PatternLine, b: &PatternLine| {
            a.chain == b.chain && (a.chain.as_deref() != Some("") || a.text == b.text)
        };
        let after = (0..lines.len())
            .map(|p| (0..p).rev().find(|&q| same(&lines[q], &lines[p])))
            .collect();
        BlockState {
            lines,
            after,
            used: vec![false; lines.len()],
        }
    }

    fn available(&self, p: usize) -> bool {
        !self.used[p] && self.after[p].is_none_or(|q| self.used[q])
    }
}

/// Pairs output lines with a block's pattern lines greedily, in output order.
pub(crate) struct Pairing<'a> {
    state: BlockState<'a>,
    /// The output lines (as pushed) that no pattern line took.
    pub(crate) unmatched: Vec<usize>,
}

impl<'a> Pairing<'a> {
    pub(crate) fn new(lines: &'a [PatternLine]) -> Pairing<'a> {
        let state = BlockState::new(lines);
        Pairing {
            state,
            unmatched: Vec::new(),
        }
    }

    /// Pairs output line `j` with the first available pattern line `p` that `fits(p)`.
    pub(crate) fn push(&mut self, j: usize, mut fits: impl FnMut(usize) -> bool) {
        let state = &mut self.state;
        match (0..state.lines.len()).find(|&p| state.available(p) && fits(p)) {
            Some(p) => state.used[p] = true,
            None => self.unmatched.push(j),
        }
    }

    /// The pattern lines no output line took.
    pub(crate) fn unmatched_patterns(&self) -> Vec<usize> {
        (0..self.state.lines.len())
            .filter(|&p| !self.state.used[p])
            .collect()
    }
}

/// Pairs `actual` with the block's lines greedily; returns the unpaired pattern indices
/// and output indices. The bindings made are kept in `bindings`.
fn diagnose<'a>(
    lines: &'a [PatternLine],
    actual: &[&'a str],
    bindings: &mut Bindings<'a>,
) -> (Vec<usize>, Vec<usize>) {
    let mut pairing = Pairing::new(lines);
    for (j, &text) in actual.iter().enumerate() {
        pairing.push(j, |p| {
            lines[p].pattern.match_with(text, bindings, &mut |_| true)
        });
    }
    (pairing.unmatched_patterns(), pairing.unmatched)
}

/// The backtracking search over the whole file.
struct Search<'a> {
    expected: &'a Expected,
    actual: &'a [&'a str],
    /// The first output line of each item (and the end).
    starts: Vec<usize>,
    /// The kinds labelled in items `i..` (bits of `Kind::bit`).
    later_kinds: Vec<u8>,
    failed: HashSet<(usize, Bindings<'a>)>,
    deepest: Option<Failure<'a>>,
    steps: u64,
}

impl<'a> Search<'a> {
    fn new(expected: &'a Expected, actual: &'a [&'a str]) -> Search<'a> {
        let lens = expected.items.iter().map(|i| i.lines().len());
        let starts = std::iter::once(0)
            .chain(lens.scan(0, |s, n| {
                *s += n;
                Some(*s)
            }))
            .collect();
        let kinds = |i: &Item| {
            i.lines()
                .iter()
                .fold(0, |k, l| k | l.pattern.labelled_kinds())
        };
        let mut later_kinds: Vec<u8> = expected.items.iter().map(kinds).chain([0]).collect();
        for i in (0..expected.items.len()).rev() {
            later_kinds[i] |= later_kinds[i + 1];
        }
        let (failed, deepest) = (HashSet::new(), None);
        Search {
            expected,
            actual,
            starts,
            later_kinds,
            failed,
            deepest,
            steps: 0,
        }
    }

    fn over_budget(&mut self) -> bool {
        self.steps += 1;
        self.steps > STEP_LIMIT
    }

    fn fail(&mut self, pos: usize, item: usize, bindings: &[Binding<'a>]) {
        if self.deepest.as_ref().is_none_or(|f| pos > f.pos) {
            self.deepest = Some(Failure {
                pos,
                item,
                bindings: bindings.to_vec(),
            });
        }
    }

    /// Matches items `i..` (remembering the states that failed).
    fn rest(&mut self, i: usize, bindings: &mut Bindings<'a>) -> bool {
        let mut key: Bindings<'a> = bindings
            .iter()
            .filter(|b| self.later_kinds[i] & b.kind.bit() != 0)
            .copied()
            .collect();
        key.sort_unstable();
        let key = (i, key);
        if self.failed.contains(&key) {
            return false;
        }
        let ok = self.rest_uncached(i, bindings);
        if !ok && self.failed.len() < MEMO_LIMIT {
            self.failed.insert(key);
        }
        ok
    }

    fn rest_uncached(&mut self, mut i: usize, bindings: &mut Bindings<'a>) -> bool {
        let items = &self.expected.items;
        loop {
            if self.over_budget() {
                return false;
            }
            let Some(item) = items.get(i) else {
                let end = self.starts[i];
                if end < self.actual.len() {
                    self.fail(end, i, bindings);
                }
                return end >= self.actual.len();
            };
            if item.lines().iter().any(|l| l.pattern.labelled_kinds() != 0) {
                return self.item(i, bindings, &mut |s, b| s.rest(i + 1, b));
            }
            // No labels: how this item matches cannot matter to the rest.
            if !self.item(i, bindings, &mut |_, _| true) {
                return false;
            }
            i += 1;
        }
    }

    fn item(&mut self, i: usize, bindings: &mut Bindings<'a>, then: Then<'a, '_>) -> bool {
        let expected = self.expected;
        match &expected.items[i] {
            Item::Line(line) => self.line(i, line, bindings, then),
            Item::Block(lines) => {
                let mut state = BlockState::new(lines);
                let entry = bindings.len();
                self.block(i, &mut state, 0, entry, bindings, then)
            }
        }
    }

    fn line(
        &mut self,
        i: usize,
        line: &'a PatternLine,
        bindings: &mut Bindings<'a>,
        then: Then<'a, '_>,
    ) -> bool {
        let pos = self.starts[i];
        let Some(&text) = self.actual.get(pos) else {
            self.fail(pos, i, bindings);
            return false;
        };
        let mut matched = false;
        let ok = line.pattern.match_with(text, bindings, &mut |b| {
            matched = true;
            then(self, b)
        });
        if !matched {
            self.fail(pos, i, bindings);
        }
        ok
    }

    /// Pairs output line `j` of block `i` with a pattern line, then the rest, backtracking.
    fn block(
        &mut self,
        i: usize,
        state: &mut BlockState<'a>,
        j: usize,
        entry: usize,
        bindings: &mut Bindings<'a>,
        then: Then<'a, '_>,
    ) -> bool {
        let lines = state.lines;
        if j == lines.len() {
            return then(self, bindings);
        }
        let pos = self.starts[i] + j;
        let text = match self.actual.get(pos) {
            Some(&text) if !self.over_budget() => text,
            _ => {
                self.fail(pos, i, &bindings[..entry]);
                return false;
            }
        };
        let mut matched = false;
        for (p, line) in lines.iter().enumerate() {
            if !state.available(p) {
                continue;
            }
            state.used[p] = true;
            let ok = line.pattern.match_with(text, bindings, &mut |b| {
                matched = true;
                self.block(i, state, j + 1, entry, b, then)
            });
            state.used[p] = false;
            if ok {
                return true;
            }
        }
        if !matched {
            self.fail(pos, i, &bindings[..entry]);
        }
        false
    }

    fn numbered(&self, index: usize) -> NumberedLine {
        NumberedLine {
            line: index + 1,
            text: self.actual[index].to_owned(),
        }
    }

    fn report(self) -> Mismatch {
        let Some(failure) = self.deepest.as_ref().filter(|_| self.steps <= STEP_LIMIT) else {
            return Mismatch::TooComplex;
        };
        let (pos, actual) = (failure.pos, self.actual);
        match self.expected.items.get(failure.item) {
            None => Mismatch::Extra {
                lines: (pos..actual.len().min(pos + 3))
                    .map(|j| self.numbered(j))
                    .collect(),
                count: actual.len() - pos,
            },
            Some(Item::Line(line)) => Mismatch::Line {
                expected: NumberedLine {
                    line: line.line_no,
                    text: line.source(),
                },
                at: pos + 1,
                actual: actual.get(pos).map(|t| (*t).to_owned()),
                note: actual
                    .get(pos)
                    .and_then(|t| label_note(line, t, &failure.bindings)),
            },
            Some(Item::Block(lines)) => {
                let start = self.starts[failure.item];
                let end = actual.len().min(start + lines.len());
                let mut bindings = failure.bindings.clone();
                let (patterns, outputs) = diagnose(lines, &actual[start..end], &mut bindings);
                let note = outputs.iter().find_map(|&j| {
                    let text = actual[start + j];
                    patterns
                        .iter()
                        .find_map(|&p| label_note(&lines[p], text, &bindings))
                });
                let source = |p: usize| NumberedLine {
                    line: lines[p].line_no,
                    text: lines[p].source(),
                };
                Mismatch::Block {
                    first: lines[0].line_no,
                    at: start + 1,
                    expected: patterns.into_iter().map(source).collect(),
                    actual: outputs
                        .into_iter()
                        .map(|j| self.numbered(start + j))
                        .collect(),
                    missing: start + lines.len() - end,
                    note,
                }
            }
        }
    }
}

/// If `text` matches `line` on its own, which labels disagree with the earlier `bindings`.
fn label_note(line: &PatternLine, text: &str, bindings: &[Binding<'_>]) -> Option<String> {
    let mut own = Vec::new();
    if !line.pattern.match_with(text, &mut own, &mut |_| true) {
        return None;
    }
    let clash = |o: &Binding<'_>| {
        let earlier = bindings
            .iter()
            .find(|e| e.kind == o.kind && (e.label == o.label) != (e.value == o.value))?;
        Some(if earlier.label == o.label {
            format!(
                "{} is {} here but was {} before",
                o.tag(),
                o.value,
                earlier.value
            )
        } else {
            format!(
                "{} is {} here, already the value of {}",
                o.tag(),
                o.value,
                earlier.tag()
            )
        })
    };
    let notes: Vec<String> = own.iter().filter_map(clash).collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

impl Expected {
    /// Checks a transcript (the program's whole stdout) against this file.
    pub fn check(&self, transcript: &str) -> Result<(), Mismatch> {
        let actual = split_lines(transcript);
        let mut search = Search::new(self, &actual);
        if !search.rest(0, &mut Vec::new()) {
            return Err(search.report());
        }
        if transcript.is_empty() || transcript.ends_with('\n') {
            Ok(())
        } else {
            Err(Mismatch::NoFinalNewline)
        }
    }
}
