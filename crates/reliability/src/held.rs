//! A section's stdout held in a one-page pipe, to stop its processes at a known print.

use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::process::Stdio;
use std::thread::JoinHandle;

use anyhow::Context as _;
use nix::fcntl::{FcntlArg, fcntl};

use crate::{NORMAL_RUN, Run, binary};

/// A one-page pipe for a section's stdout, filled in advance so that only the first `room`
/// bytes the section prints fit in it: the next write blocks, and holds the process that makes
/// it still (alive, and easy to catch) until the pipe is read. For sections whose children
/// live too briefly to be caught otherwise, and for tests that need a child to be still there,
/// at a known point, when they act, however slowly the test itself runs.
///
/// ```no_run
/// use std::time::Duration;
/// use reliability::{HeldStdout, Run, binary};
///
/// // The pipe demo's parent prints one line before it forks; its child's first line blocks.
/// let room = HeldStdout::room_before("pipe", &[], "子进程 Child-1 启动")?;
/// let (mut run, held) = Run::spawn_held(&binary("pipe")?, &[], room)?;
/// assert!(run.wait_until(Duration::from_secs(10), |r| r.named("Child-1").is_some()));
/// let printed = held.release(); // the child goes on
/// run.finish(Duration::from_secs(5));
/// assert!(printed.join().expect("reader")?.starts_with("=== "));
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct HeldStdout {
    reader: PipeReader,
    writer: Option<PipeWriter>,
    filler: usize,
}

impl HeldStdout {
    /// The size of the pipe: one page, the smallest a pipe can be.
    const PAGE: usize = 4096;

    /// A held pipe with `room` bytes free.
    ///
    /// # Errors
    ///
    /// Fails if `room` is above a page, or if the pipe cannot be made, shrunk or filled.
    pub fn new(room: usize) -> anyhow::Result<HeldStdout> {
        let filler = Self::PAGE
            .checked_sub(room)
            .context("more room asked for than a page")?;
        let (reader, mut writer) = io::pipe()?;
        fcntl(&writer, FcntlArg::F_SETPIPE_SZ(Self::PAGE as i32)).context("F_SETPIPE_SZ")?;
        // One write: the page's one buffer, which the section's writes then join while they fit.
        writer.write_all(&vec![b'.'; filler])?;
        Ok(HeldStdout {
            reader,
            writer: Some(writer),
            filler,
        })
    }

    /// The number of bytes `section` prints, run normally with `args`, before the line
    /// `line`: hold it there, and the process that prints `line` blocks on it.
    ///
    /// # Errors
    ///
    /// Fails if the section cannot be run or does not print `line`.
    pub fn room_before(section: &str, args: &[&str], line: &str) -> anyhow::Result<usize> {
        let mut run = Run::spawn(&binary(section)?, args)?;
        let end = run.finish(NORMAL_RUN);
        end.stdout
            .find(&format!("{line}\n"))
            .with_context(|| format!("{section} does not print {line:?}\n{}", end.describe()))
    }

    /// The number of bytes `section` prints, run normally with `args`, up to the end of the
    /// line `line`: hold it there, and every process blocks at its first print after `line`
    /// (which must be printed before any other process prints, for the room to be the same in
    /// every run).
    ///
    /// # Errors
    ///
    /// As for [`room_before`](HeldStdout::room_before).
    pub fn room_after(section: &str, args: &[&str], line: &str) -> anyhow::Result<usize> {
        Ok(HeldStdout::room_before(section, args, line)? + line.len() + 1)
    }

    /// The pipe's writing end, for the section's stdout (only once).
    ///
    /// # Errors
    ///
    /// Fails if it was already taken.
    pub fn stdio(&mut self) -> anyhow::Result<Stdio> {
        Ok(self.writer.take().context("stdout already taken")?.into())
    }

    /// Reads the pipe until every writer has closed it, on a thread of its own, so that the
    /// section goes on; the thread returns what the section printed.
    pub fn release(self) -> JoinHandle<io::Result<String>> {
        let HeldStdout {
            mut reader,
            writer,
            filler,
        } = self;
        drop(writer);
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(bytes.get(filler..).unwrap_or_default()).into_owned())
        })
    }
}
