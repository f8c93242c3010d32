//! Reading an expected-output file: lines, unordered blocks, chains, comments, directives.

use crate::pattern::Pattern;
use regex::Regex;

/// What is wrong with a line of an expected file.
#[derive(Debug, thiserror::Error)]
pub enum ParseErrorKind {
    /// An `[UPPERCASE]` word that is not a known placeholder, or a malformed label.
    #[error("unknown placeholder {0} (known: [PID] [TID] [N] [ELAPSED] [CPU] [MEM] [..])")]
    UnknownPlaceholder(String),
    /// A `~name` line whose chain name is not a word.
    #[error("a block line is `~ text`, `~name text` or `~~`")]
    BadBlockLine,
    /// A `#!` line that is not `#! redact [KIND] REGEX`.
    #[error("a directive is `#! redact [KIND] REGEX` with one capture group")]
    BadDirective,
    /// The regex of a `#! redact` directive does not compile.
    #[error("bad regex: {0}")]
    BadRegex(#[from] regex::Error),
}

/// A parse error, with the 1-based line number in the expected file.
///
/// ```
/// let err = outcheck::Expected::parse("ok\n进程 [FOO] 结束\n").unwrap_err();
/// assert_eq!(err.line, 2);
/// assert!(err.to_string().contains("[FOO]"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// The line number (1-based).
    pub line: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// One pattern line of the file, with where it came from.
#[derive(Debug)]
pub(crate) struct PatternLine {
    /// 1-based line number in the file.
    pub(crate) line_no: usize,
    /// `Some("")` for `~ text`, `Some(name)` for `~name text`, `None` outside blocks.
    pub(crate) chain: Option<String>,
    /// The text after the block prefix.
    pub(crate) text: String,
    pub(crate) pattern: Pattern,
}

impl PatternLine {
    /// The block prefix to write before a new text in this line's place.
    pub(crate) fn prefix(&self) -> String {
        self.chain
            .as_ref()
            .map_or(String::new(), |c| format!("~{c} "))
    }

    /// The line as written in the file.
    pub(crate) fn source(&self) -> String {
        format!("{}{}", self.prefix(), self.text)
    }
}

/// An ordinary line, or an unordered block.
#[derive(Debug)]
pub(crate) enum Item {
    Line(PatternLine),
    Block(Vec<PatternLine>),
}

impl Item {
    pub(crate) fn lines(&self) -> &[PatternLine] {
        match self {
            Item::Line(line) => std::slice::from_ref(line),
            Item::Block(lines) => lines,
        }
    }
}

/// A `#! redact [KIND] REGEX` rule: the regex's first group becomes the placeholder.
#[derive(Debug)]
pub(crate) struct Redaction {
    placeholder: String,
    regex: Regex,
}

impl Redaction {
    fn parse(rest: &str) -> Result<Redaction, ParseErrorKind> {
        let (placeholder, regex) = rest.split_once(' ').ok_or(ParseErrorKind::BadDirective)?;
        let is_slot = Pattern::parse(placeholder)?.is_single_slot();
        let regex = Regex::new(regex)?;
        if !is_slot || regex.captures_len() < 2 {
            return Err(ParseErrorKind::BadDirective);
        }
        Ok(Redaction {
            placeholder: placeholder.to_owned(),
            regex,
        })
    }

    pub(crate) fn apply(&self, line: &str) -> String {
        let replace = |caps: &regex::Captures<'_>| {
            let all = caps.get(0).map_or(0..0, |m| m.range());
            match caps.get(1) {
                Some(g) => format!(
                    "{}{}{}",
                    &line[all.start..g.start()],
                    self.placeholder,
                    &line[g.end()..all.end]
                ),
                None => line[all].to_owned(),
            }
        };
        self.regex.replace_all(line, replace).into_owned()
    }
}

/// A parsed expected-output file (see `expected-output/README.md`).
///
/// ```
/// use outcheck::Expected;
/// let expected = Expected::parse(
///     "主进程 PID: [PID:main]\n\
///      ~ 进程 Worker1 (PID: [PID:w1]) 开始工作\n\
///      ~ 进程 Worker2 (PID: [PID:w2]) 开始工作\n\
///      所有子进程执行完毕\n",
/// )?;
/// let run = "主进程 PID: 10\n进程 Worker2 (PID: 12) 开始工作\n进程 Worker1 (PID: 11) 开始工作\n所有子进程执行完毕\n";
/// assert!(expected.check(run).is_ok());
/// let wrong = "主进程 PID: 10\n进程 Worker2 (PID: 12) 开始工作\n进程 Worker1 (PID: 12) 开始工作\n所有子进程执行完毕\n";
/// assert!(expected.check(wrong).is_err());
/// # Ok::<(), outcheck::ParseError>(())
/// ```
#[derive(Debug)]
pub struct Expected {
    pub(crate) source: String,
    pub(crate) items: Vec<Item>,
    pub(crate) redactions: Vec<Redaction>,
}

impl Expected {
    /// Parses the text of an expected file.
    pub fn parse(source: &str) -> Result<Expected, ParseError> {
        let mut items = Vec::new();
        let mut block = Vec::new();
        let mut redactions = Vec::new();
        for (index, raw) in split_lines(source).into_iter().enumerate() {
            let line_no = index + 1;
            let error = |kind| ParseError {
                line: line_no,
                kind,
            };
            if raw == "#" || raw.starts_with("# ") {
                continue;
            }
            if let Some(rest) = raw.strip_prefix("#!") {
                let rule = rest
                    .strip_prefix(" redact ")
                    .ok_or(ParseErrorKind::BadDirective);
                redactions.push(rule.and_then(Redaction::parse).map_err(error)?);
                continue;
            }
            let (chain, text) = split_prefix(raw).map_err(error)?;
            if chain.is_none() || raw == "~~" {
                close_block(&mut block, &mut items);
            }
            if raw == "~~" {
                continue;
            }
            let pattern = Pattern::parse(text).map_err(error)?;
            let (chain, text) = (chain.map(str::to_owned), text.to_owned());
            let line = PatternLine {
                line_no,
                chain,
                text,
                pattern,
            };
            match line.chain {
                Some(_) => block.push(line),
                None => items.push(Item::Line(line)),
            }
        }
        close_block(&mut block, &mut items);
        Ok(Expected {
            source: source.to_owned(),
            items,
            redactions,
        })
    }

    /// All pattern lines in file order.
    pub(crate) fn pattern_lines(&self) -> impl Iterator<Item = &PatternLine> {
        self.items.iter().flat_map(Item::lines)
    }

    /// Applies the `#! redact` rules, in order, to an output line.
    pub(crate) fn redact(&self, line: &str) -> String {
        self.redactions
            .iter()
            .fold(line.to_owned(), |acc, r| r.apply(&acc))
    }
}

fn close_block(block: &mut Vec<PatternLine>, items: &mut Vec<Item>) {
    if !block.is_empty() {
        items.push(Item::Block(std::mem::take(block)));
    }
}

/// Splits `~ text` / `~name text` into (chain, text); an ordinary line has no chain.
fn split_prefix(raw: &str) -> Result<(Option<&str>, &str), ParseErrorKind> {
    let Some(rest) = raw.strip_prefix('~') else {
        return Ok((None, raw));
    };
    if rest.is_empty() || rest == "~" {
        return Ok((Some(""), ""));
    }
    // `~name` alone is an empty line in chain `name`.
    let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    if !name.chars().all(word) {
        return Err(ParseErrorKind::BadBlockLine);
    }
    Ok((Some(name), text))
}

/// The lines of a text: each ends with `\n`, except perhaps the last.
pub(crate) fn split_lines(text: &str) -> Vec<&str> {
    text.split_terminator('\n').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_carry_line_numbers() {
        let line_of = |text: &str| Expected::parse(text).map(|_| 0).unwrap_or_else(|e| e.line);
        assert_eq!(line_of("a\n# c\nb [TYPO] c\n"), 3);
        assert_eq!(line_of("a\n#! redact [PID] (\\d+\n"), 2);
        assert_eq!(line_of("#! redact [PID] \\d+\n"), 1);
        assert_eq!(line_of("#! redact [FOO] (\\d+)\n"), 1);
        assert_eq!(line_of("#! frobnicate\n"), 1);
        assert_eq!(line_of("x\n~name\n"), 0, "an empty line in chain name");
        assert_eq!(line_of("x\n~na!me\n"), 2);
        assert_eq!(line_of("~a.b text\n"), 1);
        assert_eq!(
            line_of("# [FOO] in a comment is fine\n~w1 ok [PID:w1]\n"),
            0
        );
    }

    #[test]
    fn blocks_separators_and_comments() {
        let e = Expected::parse("a\n~ b\n# note\n~w c\n~~\n~ d\n\ne\n").expect("parses");
        let shape: Vec<usize> = e.items.iter().map(|i| i.lines().len()).collect();
        assert_eq!(shape, [1, 2, 1, 1, 1]);
        assert_eq!(
            e.pattern_lines().map(|l| l.line_no).collect::<Vec<_>>(),
            [1, 2, 4, 6, 7, 8]
        );
    }

    #[test]
    fn redactions_replace_the_first_group_in_order() {
        let e =
            Expected::parse("#! redact [PID] PID: (\\d+)\n#! redact [ELAPSED] (\\d+\\.\\d+)s\n")
                .expect("parses");
        assert_eq!(
            e.redact("PID: 12 PID: 13 took 1.50s"),
            "PID: [PID] PID: [PID] took [ELAPSED]s"
        );
    }
}
