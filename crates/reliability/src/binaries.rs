//! Finding the section binaries and the list of sections, and becoming the subreaper.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Makes this process the subreaper of its descendants: an orphan among them (a child whose
/// parent died) becomes this process's child, to be seen and reaped here.
///
/// # Errors
///
/// Fails if `prctl(PR_SET_CHILD_SUBREAPER)` fails.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// The path of the workspace binary `name`, in the directory cargo built the running program
/// into (`target/<profile>/`, the parent of `deps/` or `examples/`).
///
/// # Errors
///
/// Fails with a message naming `cargo build --workspace --bins` if the binary is not there:
/// `cargo test` builds a package's binaries only for that package's own integration tests, so
/// `scripts/test_all.sh` builds every binary before it runs the tests.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("current_exe")?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test program is not in target/<profile>/deps")?;
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{} does not exist: build every binary first (`cargo build --workspace --bins`, \
             as scripts/test_all.sh does)",
            path.display()
        );
    }
    Ok(path)
}

/// The section crates and their programs, read from `scripts/sections.sh` (the list that
/// `check_output.sh` runs), in the notes' order.
///
/// # Errors
///
/// Fails if the file cannot be read or lists nothing.
pub fn sections() -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/sections.sh");
    let text = fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let list: Vec<(String, Vec<String>)> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix('"')?.strip_suffix('"'))
        .filter_map(|entry| entry.split_once(':'))
        .map(|(name, ids)| {
            let ids = ids.split_whitespace().map(str::to_string).collect();
            (name.to_string(), ids)
        })
        .collect();
    if list.is_empty() {
        bail!("{path} lists no section");
    }
    Ok(list)
}
