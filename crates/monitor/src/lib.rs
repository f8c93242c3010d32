//! psutil's role for note 7.1: CPU, memory and state of other processes, through sysinfo.
//!
//! A [`Monitor`] remembers each process's CPU time at the previous sample, so each
//! [`sample`](Monitor::sample) reports the CPU a process used *since then*, as psutil's
//! `cpu_percent()` does on the same object. (The note's program makes a new `psutil.Process`
//! for every sample, and a new object's first `cpu_percent()` is always 0.0.) The percentage is
//! computed here from sysinfo's accumulated CPU time: sysinfo's own `cpu_usage()` stays at 0
//! for a process that had used no CPU time when it was first seen, which is every freshly
//! started child.
//!
//! ```
//! use monitor::Monitor;
//!
//! # fn main() -> anyhow::Result<()> {
//! let mut monitor = Monitor::new()?;
//! let me = std::process::id() as i32;
//! let samples = monitor.sample(&[me]);
//! let sample = samples[0].as_ref().expect("this process exists");
//! assert!(sample.rss_mb > 0.0);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::Instant;

use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System};

/// One process's state at one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// CPU used since the previous sample, in percent of one core (psutil's `cpu_percent()`).
    pub cpu_percent: f32,
    /// Resident memory in MiB (psutil's `memory_info().rss / 1024 / 1024`).
    pub rss_mb: f64,
    /// psutil's name for the state: `running`, `sleeping`, `zombie`, ...
    pub status: &'static str,
}

/// Why a [`Monitor`] could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot read this system's process table: {0}")]
pub struct MonitorError(String);

/// Samples processes again and again; see the [crate docs](crate).
pub struct Monitor {
    system: System,
    /// Each process's CPU time (ms) and when it was read, at its previous sample.
    previous: HashMap<Pid, (u64, Instant)>,
}

impl Monitor {
    /// A monitor that has sampled nothing yet.
    ///
    /// # Errors
    ///
    /// Fails if sysinfo cannot read this system's process table.
    pub fn new() -> Result<Self, MonitorError> {
        Ok(Self {
            system: System::new().map_err(|e| MonitorError(e.to_string()))?,
            previous: HashMap::new(),
        })
    }

    /// Samples `pids` now; `None` for a pid that no longer exists. The first sample of a
    /// process reports 0% CPU, as there is nothing to compare with yet.
    pub fn sample(&mut self, pids: &[i32]) -> Vec<Option<Sample>> {
        let pids: Vec<Pid> = pids.iter().map(|&p| Pid::from_u32(p as u32)).collect();
        let what = ProcessRefreshKind::nothing().with_cpu().with_memory();
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::Some(&pids), true, what);
        let now = Instant::now();
        pids.iter()
            .map(|pid| {
                let p = self.system.process(*pid)?;
                let cpu_ms = p.accumulated_cpu_time();
                let cpu_percent = match self.previous.insert(*pid, (cpu_ms, now)) {
                    Some((before, then)) => {
                        let wall_ms = now.duration_since(then).as_secs_f32() * 1000.0;
                        cpu_ms.saturating_sub(before) as f32 / wall_ms.max(1.0) * 100.0
                    }
                    None => 0.0,
                };
                Some(Sample {
                    cpu_percent,
                    rss_mb: p.memory() as f64 / 1024.0 / 1024.0,
                    status: status_name(p.status()),
                })
            })
            .collect()
    }

    /// Samples one process now; `None` if it no longer exists (psutil's `NoSuchProcess`).
    /// As [`sample`](Monitor::sample) for a single pid.
    pub fn sample_one(&mut self, pid: i32) -> Option<Sample> {
        self.sample(&[pid]).pop().flatten()
    }
}

/// psutil's name for a process state.
pub fn status_name(status: ProcessStatus) -> &'static str {
    match status {
        ProcessStatus::Run => "running",
        ProcessStatus::Sleep => "sleeping",
        ProcessStatus::Idle => "idle",
        ProcessStatus::Stop => "stopped",
        ProcessStatus::Zombie => "zombie",
        ProcessStatus::Tracing => "tracing-stop",
        ProcessStatus::Dead => "dead",
        ProcessStatus::UninterruptibleDiskSleep => "disk-sleep",
        _ => "unknown",
    }
}
