//! The Python column: `scripts/bench_python.py` run as a child process, one JSON line per
//! operation on its stdout.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What the Python side measured, or why there is no Python column.
pub struct Python {
    /// Median per operation name (`spawn`, `queue_1_1`, ...), in the script's units.
    pub medians: HashMap<String, f64>,
    /// The fastest repetition per operation name, in the script's units.
    pub fastest: HashMap<String, f64>,
    /// Why an operation failed, per operation name (a cell of the message-size table).
    pub errors: HashMap<String, String>,
    /// `Python 3.11.7`, or why nothing was measured.
    pub version: String,
    /// Set when the Python column is "n/a": why.
    pub missing: Option<String>,
}

impl Python {
    /// The median of `op`, if the script measured it.
    pub fn get(&self, op: &str) -> Option<f64> {
        self.medians.get(op).copied()
    }

    /// The fastest repetition of `op`, if the script measured it.
    pub fn fastest(&self, op: &str) -> Option<f64> {
        self.fastest.get(op).copied()
    }

    /// Why `op` failed, if the script says it did.
    pub fn error(&self, op: &str) -> Option<&str> {
        self.errors.get(op).map(String::as_str)
    }

    /// No Python column, because of `why`.
    pub fn missing(why: String) -> Python {
        Python {
            medians: HashMap::new(),
            fastest: HashMap::new(),
            errors: HashMap::new(),
            version: "Python: n/a".into(),
            missing: Some(why),
        }
    }
}

/// `scripts/bench_python.py`, looked for under the workspace this crate was built in, then
/// under the current directory.
fn script() -> Option<PathBuf> {
    let from_manifest =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench_python.py");
    let from_cwd = PathBuf::from("scripts/bench_python.py");
    [from_manifest, from_cwd].into_iter().find(|p| p.is_file())
}

/// Runs the script for `ops` (all of them if empty; its progress goes to our stderr), with
/// `--quick` if `quick`, and collects its medians. Never fails:
/// a missing `python3` or script gives an empty result that says why. Setting
/// `BENCHMARK_NO_PYTHON` skips it (for quick runs of our side only).
pub fn run(ops: &[&str], quick: bool) -> Python {
    if std::env::var_os("BENCHMARK_NO_PYTHON").is_some() {
        return Python::missing("skipped: BENCHMARK_NO_PYTHON is set".into());
    }
    let Some(script) = script() else {
        return Python::missing("scripts/bench_python.py not found".into());
    };
    let version = match Command::new("python3").arg("--version").output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Err(e) => return Python::missing(format!("python3 could not be run: {e}")),
    };
    let out = match Command::new("python3")
        .arg(&script)
        .args(quick.then_some("--quick"))
        .args(ops)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
    {
        Ok(out) => out,
        Err(e) => return Python::missing(format!("python3 could not be run: {e}")),
    };
    if !out.status.success() {
        return Python::missing(format!("{} failed: {}", script.display(), out.status));
    }
    let (mut medians, mut fastest, mut errors) = (HashMap::new(), HashMap::new(), HashMap::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(op), Some(median)) = (v["op"].as_str(), v["median"].as_f64()) {
            medians.insert(op.to_string(), median);
        }
        if let (Some(op), Some(min)) = (v["op"].as_str(), v["fastest"].as_f64()) {
            fastest.insert(op.to_string(), min);
        }
        if let (Some(op), Some(why)) = (v["op"].as_str(), v["error"].as_str()) {
            errors.insert(op.to_string(), why.to_string());
        }
    }
    Python {
        medians,
        fastest,
        errors,
        version,
        missing: None,
    }
}
