//! Waiting for the other side: a brief spin, then sleeps of at most one liveness slice.
//!
//! Each side has one waiter at most, the holder of its lock, so "someone sleeps" is a flag
//! rather than a count: a sleeper that dies with its flag set leaves nothing behind that the
//! next sleeper does not overwrite.
//!
//! The sleeper and the waker follow Dekker's pattern, with `SeqCst` on both sides:
//!
//! | sleeper | waker |
//! |---|---|
//! | reads `seq`, stores `asleep = 1` | commits its offset |
//! | reads the other side's offset | reads `asleep` |
//! | `futex_wait(seq, value read)` | if 1: bumps `seq`, `futex_wake` |
//!
//! Either the sleeper sees the commit, or the waker sees the flag (both are `SeqCst`, so they
//! cannot both read the old value); and a bump between the sleeper's read of `seq` and its
//! `futex_wait` makes the wait return at once. A waker that dies between its commit and its
//! wake-up costs the sleeper at most one [`LIVENESS_SLICE`](crate::time::LIVENESS_SLICE).

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Instant;

use super::RingError;
use crate::fault;
use crate::sync::futex;
use crate::time::{expired, next_wake};

/// How many times a waiter looks before it sleeps: about 10 µs, the time another process
/// takes to copy a small message in or out, so that a steady stream never sleeps, and short
/// enough to cost nothing worth counting when it does.
const SPINS: u32 = 256;

/// A futex word and its sleeper flag.
pub(super) struct Sleep<'a> {
    pub(super) seq: &'a AtomicU32,
    pub(super) asleep: &'a AtomicU32,
    /// The fault point hit when a sleep ends with the condition true.
    pub(super) woken: &'static str,
}

impl Sleep<'_> {
    /// Waits until `ready()` or the deadline; returns whether `ready()` held. After each sleep
    /// that did not make it true, `between` runs (and may make it true, or fail).
    pub(super) fn until(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> bool,
        mut between: impl FnMut() -> Result<(), RingError>,
    ) -> Result<bool, RingError> {
        if deadline.is_none_or(|d| d > Instant::now()) {
            for _ in 0..SPINS {
                if ready() {
                    return Ok(true);
                }
                std::hint::spin_loop();
            }
        }
        loop {
            let seen = self.seq.load(SeqCst);
            self.asleep.store(1, SeqCst);
            if ready() {
                self.asleep.store(0, SeqCst);
                return Ok(true);
            }
            if expired(deadline) {
                self.asleep.store(0, SeqCst);
                return Ok(false);
            }
            futex::wait(self.seq, seen, Some(next_wake(deadline)));
            self.asleep.store(0, SeqCst);
            if ready() {
                fault::point(self.woken);
                return Ok(true);
            }
            between()?;
        }
    }
}

/// The waker's half: after a commit, wakes the other side's sleeper if it has one.
pub(super) fn wake(seq: &AtomicU32, asleep: &AtomicU32) {
    if asleep.load(SeqCst) != 0 {
        seq.fetch_add(1, SeqCst);
        futex::wake(seq, 1);
    }
}
