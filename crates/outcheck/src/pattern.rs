//! One pattern line: literal text, placeholders, and the backtracking matcher.

use crate::ParseErrorKind;

/// The kind of a placeholder: which values it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `[PID]`: a process id (digits).
    Pid,
    /// `[TID]`: a thread id (digits).
    Tid,
    /// `[N]`: an integer, optionally negative.
    N,
    /// `[ELAPSED]`: a duration in seconds, e.g. `1.23`.
    Elapsed,
    /// `[CPU]`: a CPU percentage, e.g. `0.0`.
    Cpu,
    /// `[MEM]`: a memory size in MB, e.g. `12.3`.
    Mem,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Pid,
        Kind::Tid,
        Kind::N,
        Kind::Elapsed,
        Kind::Cpu,
        Kind::Mem,
    ];

    /// The name written between the brackets, e.g. `PID`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pid => "PID",
            Kind::Tid => "TID",
            Kind::N => "N",
            Kind::Elapsed => "ELAPSED",
            Kind::Cpu => "CPU",
            Kind::Mem => "MEM",
        }
    }

    /// The kind written `name` between brackets, if there is one.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// A bit of its own, so that a set of kinds fits in a `u8`.
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The lengths of the prefixes of `text` this kind can match, longest first.
    fn prefix_lengths(self, text: &str) -> Vec<usize> {
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        match self {
            Kind::Pid | Kind::Tid => (1..=digits(text)).rev().collect(),
            Kind::N => {
                let sign = usize::from(text.starts_with('-'));
                (1..=digits(&text[sign..]))
                    .rev()
                    .map(|n| n + sign)
                    .collect()
            }
            Kind::Elapsed | Kind::Cpu | Kind::Mem => {
                let int = digits(text);
                let frac = match text[int..].strip_prefix('.') {
                    Some(rest) if int > 0 => digits(rest),
                    _ => 0,
                };
                let decimals = (1..=frac).rev().map(|f| int + 1 + f);
                decimals.chain((1..=int).rev()).collect()
            }
        }
    }
}

/// One piece of a pattern line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Text that must appear as written.
    Literal(String),
    /// `[..]`: any text, possibly empty.
    Any,
    /// `[KIND]` or `[KIND:label]`.
    Slot { kind: Kind, label: Option<String> },
}

/// A parsed pattern line (without its `~` block prefix).
///
/// ```
/// use outcheck::Pattern;
/// let p = Pattern::parse("进程 [PID:w1] 完成, 用时 [ELAPSED] 秒 [..]").unwrap();
/// assert!(p.matches("进程 4242 完成, 用时 1.25 秒 (ok)"));
/// assert!(!p.matches("进程 abc 完成, 用时 1.25 秒"));
/// // Brackets that are not placeholders are literal text.
/// assert!(Pattern::parse("['Process-0'] [5, 5]").unwrap().matches("['Process-0'] [5, 5]"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses a line; an `[UPPERCASE]` word that is not a known kind is an error (a typo).
    pub fn parse(text: &str) -> Result<Pattern, ParseErrorKind> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let slot = if c == '[' {
                placeholder_at(rest)?
            } else {
                None
            };
            match slot {
                Some((segment, len)) => {
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(segment);
                    rest = &rest[len..];
                }
                None => {
                    literal.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Pattern { segments })
    }

    /// Whether `text` matches on its own (labels bound only within this line).
    pub fn matches(&self, text: &str) -> bool {
        self.match_with(text, &mut Vec::new(), &mut |_| true)
    }

    /// Whether the pattern is exactly one placeholder: `[KIND]`, `[KIND:label]` or `[..]`.
    pub(crate) fn is_single_slot(&self) -> bool {
        matches!(
            self.segments.as_slice(),
            [Segment::Slot { .. } | Segment::Any]
        )
    }

    /// The set of kinds (as bits of [`Kind::bit`]) that carry a label in this line.
    pub(crate) fn labelled_kinds(&self) -> u8 {
        self.segments.iter().fold(0, |bits, s| match s {
            Segment::Slot {
                kind,
                label: Some(_),
            } => bits | kind.bit(),
            _ => bits,
        })
    }

    /// Matches `text`, calling `then` with the extended bindings for each way it matches
    /// until `then` accepts one. On success the new bindings stay in `bindings`.
    pub(crate) fn match_with<'a>(
        &'a self,
        text: &'a str,
        bindings: &mut Vec<Binding<'a>>,
        then: &mut dyn FnMut(&mut Vec<Binding<'a>>) -> bool,
    ) -> bool {
        match_segments(&self.segments, text, bindings, then)
    }
}

/// Reads `[..]`, `[KIND]` or `[KIND:label]` at the start of `text` (which starts with `[`).
fn placeholder_at(text: &str) -> Result<Option<(Segment, usize)>, ParseErrorKind> {
    let Some(end) = text.find(']') else {
        return Ok(None);
    };
    let inner = &text[1..end];
    if inner == ".." {
        return Ok(Some((Segment::Any, end + 1)));
    }
    let (name, label) = match inner.split_once(':') {
        Some((name, label)) => (name, Some(label)),
        None => (inner, None),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(None);
    }
    let kind = Kind::from_name(name)
        .ok_or_else(|| ParseErrorKind::UnknownPlaceholder(format!("[{inner}]")))?;
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    };
    if label.is_some_and(|l| !label_ok(l)) {
        return Err(ParseErrorKind::UnknownPlaceholder(format!(
            "[{inner}] (a label is letters, digits, _ or -)"
        )));
    }
    let label = label.map(str::to_owned);
    Ok(Some((Segment::Slot { kind, label }, end + 1)))
}

/// The text a labelled placeholder matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Binding<'a> {
    pub(crate) kind: Kind,
    pub(crate) label: &'a str,
    pub(crate) value: &'a str,
}

impl Binding<'_> {
    /// The placeholder as written, e.g. `[PID:main]`.
    pub(crate) fn tag(&self) -> String {
        format!("[{}:{}]", self.kind.name(), self.label)
    }
}

/// Whether binding `label` to `value` agrees with `bindings`; `Some(true)` if it is new.
fn bind_check(bindings: &[Binding<'_>], kind: Kind, label: &str, value: &str) -> Option<bool> {
    let same_kind = bindings.iter().filter(|b| b.kind == kind);
    let mut new = true;
    for b in same_kind {
        match (b.label == label, b.value == value) {
            (true, true) => new = false,
            (true, false) | (false, true) => return None,
            (false, false) => {}
        }
    }
    Some(new)
}

fn match_segments<'a>(
    segments: &'a [Segment],
    text: &'a str,
    bindings: &mut Vec<Binding<'a>>,
    then: &mut dyn FnMut(&mut Vec<Binding<'a>>) -> bool,
) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return text.is_empty() && then(bindings);
    };
    match first {
        Segment::Literal(lit) => text
            .strip_prefix(lit.as_str())
            .is_some_and(|tail| match_segments(rest, tail, bindings, then)),
        Segment::Any => any_ends(text, rest.first())
            .into_iter()
            .any(|end| match_segments(rest, &text[end..], bindings, then)),
        Segment::Slot { kind, label } => kind.prefix_lengths(text).into_iter().any(|len| {
            let value = &text[..len];
            let Some(label) = label else {
                return match_segments(rest, &text[len..], bindings, then);
            };
            let Some(new) = bind_check(bindings, *kind, label, value) else {
                return false;
            };
            if new {
                bindings.push(Binding {
                    kind: *kind,
                    label,
                    value,
                });
            }
            let ok = match_segments(rest, &text[len..], bindings, then);
            if new && !ok {
                bindings.pop();
            }
            ok
        }),
    }
}

/// Where `[..]` may end in `text`, shortest first, given the segment after it.
fn any_ends(text: &str, next: Option<&Segment>) -> Vec<usize> {
    match next {
        None => vec![text.len()],
        Some(Segment::Literal(lit)) => {
            let starts = text.char_indices().map(|(i, _)| i);
            starts
                .filter(|&i| text[i..].starts_with(lit.as_str()))
                .collect()
        }
        Some(_) => (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Pattern::parse(pattern)
            .expect("pattern parses")
            .matches(text)
    }

    #[test]
    fn placeholders_match_their_kinds() {
        assert!(m("[PID] [TID] [N] [N]", "12 34 -5 6"));
        assert!(!m("[PID]", "-12"));
        assert!(!m("[PID]", ""));
        assert!(m("[ELAPSED]s [CPU]% [MEM]", "1.25s 0% 12.0"));
        assert!(!m("[ELAPSED]", "1."));
        assert!(!m("[ELAPSED]", ".5"));
        assert!(m("[N][N]", "123"));
    }

    #[test]
    fn any_backtracks_within_the_line() {
        assert!(m("[..]", ""));
        assert!(m("a[..]b[..]b", "a b b b"));
        assert!(m("[..]: [N]", "x: y: 3"));
        assert!(!m("[..]: [N]", "x: y: z"));
        assert!(m("值 [..][N] 结束", "值 abc12 结束"));
    }

    #[test]
    fn literal_brackets_stay_literal() {
        assert!(m("[[  0.   1.   2.]", "[[  0.   1.   2.]"));
        assert!(m(
            "['Process-0', 'Process-1']",
            "['Process-0', 'Process-1']"
        ));
        assert!(m("[[PID]]", "[42]"));
        assert!(m("[5, 5, 5, 5, 5]", "[5, 5, 5, 5, 5]"));
        assert!(!m("[5, 5, 5, 5, 5]", "[5, 5, 4, 5, 5]"));
    }

    #[test]
    fn unknown_kinds_are_errors() {
        assert!(Pattern::parse("x [FOO] y").is_err());
        assert!(Pattern::parse("[PID:]").is_err());
        assert!(Pattern::parse("[Pid] [foo] [..x]").is_ok());
    }

    #[test]
    fn labels_bind_within_a_line() {
        assert!(m("[PID:a] [PID:a]", "7 7"));
        assert!(!m("[PID:a] [PID:a]", "7 8"));
        assert!(!m("[PID:a] [PID:b]", "7 7"));
        assert!(m("[PID:a] [TID:a]", "7 7"));
    }
}
