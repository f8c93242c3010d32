//! Guarantee 1: Ctrl-C or SIGTERM during any section ends the section and all its children,
//! leaving no process, no zombie and no `/dev/shm` entry. It takes milliseconds (each section
//! prints how long); the test allows [`LIMIT`], which only a hang needs.
//!
//! Each section of `scripts/sections.sh` is started as a shell starts a job (its own process
//! group), with this test as child subreaper: a child whose parent dies comes to us, to be
//! inspected and reaped. The signal is sent the moment the group holds as many processes as
//! the section ever has at once, so it finds every kind of child alive (producers and
//! consumers, the manager's server and workers, a pool's workers).

use std::fmt::Write as _;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use reliability::{Finish, HeldStdout, Run, become_subreaper, binary, sections, shm_entries};

/// The most processes each section has at once, its own included (measured with `ps`); a
/// section not listed here is signalled as soon as it has one child.
const CROWD: &[(&str, usize)] = &[
    ("basics", 3),
    ("queue", 6),
    ("pipe", 2),
    ("shm", 5),
    ("manager", 5),
    ("lock", 4),
    ("semaphore", 6),
    ("event", 5),
    ("pool", 5),
    ("shared-array", 5),
    ("monitor", 4),
    ("custom-worker", 4),
    ("deadlock", 3),
];

/// Sections whose crowd lasts microseconds: their stdout holds them at the line given
/// ([`HeldStdout`]), so that the signal finds them crowded.
const HELD: &[(&str, &str)] = &[("pipe", "子进程 Child-1 启动")];

/// How long the group may take to disappear after the signal: it takes milliseconds (at most
/// 0.16 s seen with eight busy loops on two cores), so only a hang takes this long.
const LIMIT: Duration = Duration::from_secs(10);

/// A short section (pipe's lasts milliseconds) may end before its crowd is seen: try again.
const ATTEMPTS: usize = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// `SIGINT` to the whole process group: what a terminal does on Ctrl-C.
    CtrlC,
    /// `SIGTERM` to the section's own process only (`kill PID`): its children must not be
    /// left running as orphans.
    TermParent,
}

/// Starts `section`, signals it `how` when it is crowded, and checks what is left. Returns
/// the finish (for summaries), or why it failed.
fn interrupt(section: &str, how: How) -> Result<Finish, String> {
    let bin = binary(section).map_err(|e| format!("{e:#}"))?;
    let crowd = CROWD
        .iter()
        .find(|(name, _)| *name == section)
        .map_or(2, |(_, n)| *n);
    let held_at = HELD.iter().find(|(name, _)| *name == section);
    let room = match held_at {
        Some((_, line)) => {
            Some(HeldStdout::room_before(section, &[], line).map_err(|e| format!("{e:#}"))?)
        }
        None => None,
    };
    for _ in 0..ATTEMPTS {
        let shm_before = shm_entries().map_err(|e| e.to_string())?;
        let (mut run, held) = match room {
            Some(room) => {
                let (run, held) = Run::spawn_held(&bin, &[], room).map_err(|e| format!("{e:#}"))?;
                (run, Some(held))
            }
            None => (Run::spawn(&bin, &[]).map_err(|e| e.to_string())?, None),
        };
        if !run.wait_until(Duration::from_secs(20), |r| r.descendants() + 1 >= crowd) {
            let end = run.finish(LIMIT);
            if end.code() == Some(0) {
                continue; // ended between two looks at it: too quick, try again
            }
            return Err(format!(
                "never had {crowd} processes at once\n{}",
                end.describe()
            ));
        }
        // Freeze the group to be sure the crowd is really there (one may have ended since we
        // looked); the signal then lands exactly at that instant once the group resumes.
        let running = run.freeze().map_err(|e| format!("SIGSTOP: {e}"))?;
        if running.len() < crowd || !running.iter().any(|p| p.pid == run.pid()) {
            continue; // dropping `run` kills and reaps the group
        }
        let sent = match how {
            How::CtrlC => run.signal_group(Signal::SIGINT),
            How::TermParent => run.signal_leader(Signal::SIGTERM),
        };
        sent.map_err(|e| format!("signal: {e}"))?;
        run.thaw().map_err(|e| format!("SIGCONT: {e}"))?;
        // A held section's children are blocked on stdout: let them write, to their end.
        let printed = held.map(HeldStdout::release);
        let end = run.finish(LIMIT);
        if let Some(printed) = printed {
            let _ = printed.join();
        }
        let expected = match how {
            How::CtrlC => Signal::SIGINT,
            How::TermParent => Signal::SIGTERM,
        };
        let mut problems = String::new();
        if end.signal() != Some(expected) {
            let _ = writeln!(problems, "the section was not ended by {expected}");
        }
        if !end.is_clean() {
            let _ = writeln!(problems, "processes left after {LIMIT:?}");
        }
        let shm_after = shm_entries().map_err(|e| e.to_string())?;
        let new: Vec<_> = shm_after.difference(&shm_before).collect();
        if !new.is_empty() {
            let _ = writeln!(problems, "new entries in /dev/shm: {new:?}");
        }
        return if problems.is_empty() {
            Ok(end)
        } else {
            Err(format!("{problems}{}", end.describe()))
        };
    }
    Err(format!(
        "never caught with {crowd} processes alive in {ATTEMPTS} attempts"
    ))
}

/// Runs `interrupt` for every section, prints one line each, and fails listing every section
/// that failed. Returns the finishes.
fn every_section(how: How) -> Vec<Finish> {
    become_subreaper().expect("prctl(PR_SET_CHILD_SUBREAPER)");
    let sections = sections().expect("scripts/sections.sh");
    let mut failures = Vec::new();
    let mut finishes = Vec::new();
    for (section, _) in &sections {
        match interrupt(section, how) {
            Ok(end) => {
                println!(
                    "    {section}: gone in {:?}, {} orphan(s) reaped",
                    end.took,
                    end.orphans.len()
                );
                finishes.push(end);
            }
            Err(why) => failures.push(format!("{section}: {why}")),
        }
    }
    assert!(failures.is_empty(), "{how:?}:\n{}", failures.join("\n\n"));
    finishes
}

/// Ctrl-C ends the section and every child at once (they are all in the foreground group).
fn ctrl_c_ends_every_section() {
    every_section(How::CtrlC);
}

/// SIGTERM to the parent alone: its children die of `PR_SET_PDEATHSIG` (SIGKILL), come to us
/// and are reaped; none keeps running as an orphan.
fn sigterm_to_the_parent_leaves_no_orphan() {
    let finishes = every_section(How::TermParent);
    // Children were alive when their parent died, so orphans must have come to us, and they
    // died of the death signal, not of old age.
    let killed = finishes
        .iter()
        .flat_map(|f| &f.orphans)
        .filter(|o| matches!(o.status, WaitStatus::Signaled(_, Signal::SIGKILL, _)))
        .count();
    assert!(
        killed >= finishes.len() / 2,
        "only {killed} orphans were killed by SIGKILL (PR_SET_PDEATHSIG) over {} sections",
        finishes.len()
    );
}

fn main() {
    ipc_common::testing::run(&[
        ("ctrl_c_ends_every_section", ctrl_c_ends_every_section),
        (
            "sigterm_to_the_parent_leaves_no_orphan",
            sigterm_to_the_parent_leaves_no_orphan,
        ),
    ]);
}
