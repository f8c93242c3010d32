//! Re-recording an expected file from a new transcript.

use crate::check::Pairing;
use crate::expected::{Expected, PatternLine, split_lines};

/// A block may grow by its own size plus this many lines when re-recorded.
const BLOCK_GROWTH: usize = 4;

/// The result of [`Expected::bless`].
///
/// ```
/// let expected = outcheck::Expected::parse("#! redact [PID] PID: (\\d+)\n主进程 PID: [PID]\n最终值: 9\n")?;
/// let same = expected.bless("主进程 PID: 77\n最终值: 9\n");
/// assert!(!same.changed);
/// let new = expected.bless("主进程 PID: 77\n最终值: 10\n");
/// assert_eq!(new.text, "#! redact [PID] PID: (\\d+)\n主进程 PID: [PID]\n最终值: 10\n");
/// # Ok::<(), outcheck::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blessed {
    /// The new text of the expected file.
    pub text: String,
    /// Whether `text` differs from the old file.
    pub changed: bool,
    /// Lines were added, removed or moved between items: new output lines became ordinary
    /// lines (or `~ ` lines inside a block), so the block markers need a human review.
    pub restructured: bool,
}

/// One step of the alignment of the items with the output lines.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The next item takes the next `n` output lines.
    Take(usize),
    /// The next output line is new: it becomes an ordinary line.
    Insert,
}

/// The new file, as edits to the old file's lines.
struct Edits<'s> {
    old: Vec<&'s str>,
    replaced: Vec<Option<Vec<String>>>,
    /// `after[i]`: new lines after old line `i` (1-based; 0 is the top of the file).
    after: Vec<Vec<String>>,
}

impl<'s> Edits<'s> {
    fn new(source: &'s str) -> Edits<'s> {
        let old = split_lines(source);
        let (replaced, after) = (vec![None; old.len()], vec![Vec::new(); old.len() + 1]);
        Edits {
            old,
            replaced,
            after,
        }
    }

    fn replace(&mut self, line: &PatternLine, new: Option<String>) {
        self.replaced[line.line_no - 1] = Some(new.into_iter().collect());
    }

    fn render(self, final_newline: bool) -> String {
        let mut lines: Vec<String> = self.after[0].clone();
        for (i, old) in self.old.iter().enumerate() {
            match &self.replaced[i] {
                Some(new) => lines.extend(new.iter().cloned()),
                None => lines.push((*old).to_owned()),
            }
            lines.extend(self.after[i + 1].iter().cloned());
        }
        let mut text = lines.join("\n");
        if final_newline && !lines.is_empty() {
            text.push('\n');
        }
        text
    }
}

impl Expected {
    /// Re-records this file from `transcript`: lines that still match keep their pattern
    /// (and their block or chain), a changed line gets the new text with the `#! redact`
    /// rules applied. A transcript that already matches gives back the file, byte for byte.
    ///
    /// Items are aligned with the output lines by a smallest-edit alignment in which a block
    /// takes any run of lines (paired with its patterns in any order, chains in order).
    pub fn bless(&self, transcript: &str) -> Blessed {
        if self.check(transcript).is_ok() {
            let text = self.source.clone();
            return Blessed {
                text,
                changed: false,
                restructured: false,
            };
        }
        let actual = split_lines(transcript);
        let fits: Vec<Vec<bool>> = (self.items.iter())
            .map(|item| {
                let lines = item.lines().iter();
                lines
                    .flat_map(|l| actual.iter().map(|a| l.pattern.matches(a)))
                    .collect()
            })
            .collect();
        let mut edits = Edits::new(&self.source);
        let restructured = self.apply(&self.align(&fits, actual.len()), &fits, &actual, &mut edits);
        let text = edits.render(self.source.is_empty() || self.source.ends_with('\n'));
        Blessed {
            changed: text != self.source,
            text,
            restructured,
        }
    }

    /// The ways item `i` can take output lines `j..`, as (lines taken, edits), in order of
    /// preference; `fits[p * m + j]` says whether the item's line `p` matches line `j`.
    fn item_choices(&self, i: usize, j: usize, m: usize, fits: &[bool]) -> Vec<(usize, usize)> {
        let lines = self.items[i].lines();
        let k = lines.len();
        let most = if lines[0].chain.is_some() {
            2 * k + BLOCK_GROWTH
        } else {
            1
        };
        let mut pairing = Pairing::new(lines);
        let mut choices = vec![(0, k)];
        for (taken, jj) in (j..m.min(j + most)).enumerate() {
            pairing.push(jj, |p| fits[p * m + jj]);
            let edits = pairing
                .unmatched
                .len()
                .max(pairing.unmatched_patterns().len());
            choices.push((taken + 1, edits));
        }
        choices.sort_by_key(|&(taken, _)| (taken == 0, taken));
        choices
    }

    /// The alignment with the fewest edited, removed and inserted lines.
    fn align(&self, fits: &[Vec<bool>], m: usize) -> Vec<Step> {
        let n = self.items.len();
        let at = |i: usize, j: usize| i * (m + 1) + j;
        let mut cost: Vec<usize> = vec![0; (n + 1) * (m + 1)];
        let mut choice = vec![Step::Insert; (n + 1) * (m + 1)];
        for j in 0..=m {
            cost[at(n, j)] = m - j;
        }
        for i in (0..n).rev() {
            for j in (0..=m).rev() {
                let mut best = (usize::MAX, Step::Insert);
                for (taken, edits) in self.item_choices(i, j, m, &fits[i]) {
                    let total = edits + cost[at(i + 1, j + taken)];
                    if total < best.0 {
                        best = (total, Step::Take(taken));
                    }
                }
                if j < m && 1 + cost[at(i, j + 1)] < best.0 {
                    best = (1 + cost[at(i, j + 1)], Step::Insert);
                }
                (cost[at(i, j)], choice[at(i, j)]) = best;
            }
        }
        let (mut i, mut j, mut steps) = (0, 0, Vec::new());
        while i < n || j < m {
            let step = choice[at(i, j)];
            steps.push(step);
            match step {
                Step::Take(taken) => (i, j) = (i + 1, j + taken),
                Step::Insert => j += 1,
            }
        }
        steps
    }

    /// Writes the alignment as edits; returns whether the structure changed.
    fn apply(
        &self,
        steps: &[Step],
        fits: &[Vec<bool>],
        actual: &[&str],
        edits: &mut Edits<'_>,
    ) -> bool {
        let first = self.pattern_lines().next();
        let mut anchor = first.map_or(edits.old.len(), |l| l.line_no - 1);
        let (mut i, mut j, mut restructured) = (0, 0, false);
        for step in steps {
            let Step::Take(taken) = *step else {
                edits.after[anchor].push(self.redact(actual[j]));
                (j, restructured) = (j + 1, true);
                continue;
            };
            let lines = self.items[i].lines();
            let mut pairing = Pairing::new(lines);
            for jj in j..j + taken {
                pairing.push(jj, |p| fits[i][p * actual.len() + jj]);
            }
            let patterns = pairing.unmatched_patterns();
            for (&p, &jj) in patterns.iter().zip(&pairing.unmatched) {
                let new = format!("{}{}", lines[p].prefix(), self.redact(actual[jj]));
                edits.replace(&lines[p], Some(new));
            }
            for &p in patterns.iter().skip(pairing.unmatched.len()) {
                edits.replace(&lines[p], None);
            }
            anchor = lines[lines.len() - 1].line_no;
            for &jj in pairing.unmatched.iter().skip(patterns.len()) {
                edits.after[anchor].push(format!("~ {}", self.redact(actual[jj])));
            }
            restructured |= taken != lines.len();
            (i, j) = (i + 1, j + taken);
        }
        restructured
    }
}
