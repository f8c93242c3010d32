//! `outcheck`: checks a program's printed output against a recorded expected-output file.
//!
//! The file format is described in `expected-output/README.md`: ordinary lines must match in
//! order; lines starting with `~` form an unordered block (`~name` lines form a chain that
//! keeps its order); placeholders such as `[PID:main]`, `[N]` and `[..]` stand for values that
//! change from run to run; `#! redact` rules say how [`Expected::bless`] re-records a line.
//!
//! The binary: `outcheck EXPECTED_FILE ACTUAL_FILE` (exit 0 on a match, 1 with a report on
//! stderr otherwise, 2 on usage or parse errors; `-` reads stdin) and
//! `outcheck --bless EXPECTED_FILE ACTUAL_FILE` (rewrites the expected file).
//!
//! ```
//! let expected = outcheck::Expected::parse(
//!     "主进程 PID: [PID:main]\n\
//!      ~ 进程 Worker1 (PID: [PID:w1]) 开始工作\n\
//!      ~ 进程 Worker2 (PID: [PID:w2]) 开始工作\n\
//!      ~ 主进程继续执行...\n\
//!      所有子进程执行完毕\n",
//! )?;
//! let run = "主进程 PID: 100\n主进程继续执行...\n进程 Worker2 (PID: 102) 开始工作\n\
//!            进程 Worker1 (PID: 101) 开始工作\n所有子进程执行完毕\n";
//! assert!(expected.check(run).is_ok());
//! let report = expected.check("主进程 PID: 100\n所有子进程执行完毕\n").unwrap_err();
//! println!("{report}");
//! # Ok::<(), outcheck::ParseError>(())
//! ```

mod bless;
mod check;
mod expected;
mod pattern;

pub use bless::Blessed;
pub use check::{Mismatch, NumberedLine};
pub use expected::{Expected, ParseError, ParseErrorKind};
pub use pattern::{Kind, Pattern};
