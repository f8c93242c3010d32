//! Linux futexes on a shared word: the kernel's "sleep until this word changes" call.
//!
//! [`Semaphore`](super::Semaphore), [`Event`](super::Event) and the message
//! [`Ring`](crate::ring::Ring) are built on these two calls. The futexes are *shared* (no
//! `FUTEX_PRIVATE_FLAG`), so a process can wake a process sleeping on the same word of a
//! shared mapping.

use std::sync::atomic::AtomicU32;
use std::time::Instant;

use crate::time::{expired, next_wake};

/// How a [`wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Woken by [`wake`], by a signal, or the word no longer held the expected value: look
    /// at the word again.
    Retry,
    /// The deadline passed.
    TimedOut,
}

/// Sleeps while `word` holds `expected`, until [`wake`] is called on it or `deadline` (if
/// any) passes. The check and the sleep are one atomic step, so a wake-up that comes after
/// the caller last looked at the word cannot be missed.
///
/// Spurious returns are possible: callers always re-check their condition in a loop.
pub fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wake {
    match wait_raw(word, expected, deadline) {
        Raw::TimedOut => Wake::TimedOut,
        Raw::Woken | Raw::Other => Wake::Retry,
    }
}

/// How the futex call itself ended.
enum Raw {
    /// It returned 0: a [`wake`] on the word woke this very caller.
    Woken,
    /// `ETIMEDOUT`.
    TimedOut,
    /// The word did not hold `expected` (`EAGAIN`), or a signal came (`EINTR`).
    Other,
}

fn wait_raw(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Raw {
    let timeout = deadline.map(monotonic_timespec);
    let ts_ptr = timeout
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT_BITSET reads the u32 at `word` (a live, aligned AtomicU32) and, when
    // given, an absolute CLOCK_MONOTONIC timespec that lives until the call returns. It writes
    // no memory of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT_BITSET,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    if rc == 0 {
        Raw::Woken
    } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        Raw::TimedOut
    } else {
        Raw::Other
    }
}

/// How one [`sleep`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slept {
    /// A [`wake`] on the word woke this very caller (the kernel chose it among the sleepers).
    Woken,
    /// The word no longer held the expected value, or a signal interrupted the sleep.
    Changed,
    /// The slice ended; the caller's deadline has not passed.
    Slice,
    /// The caller's deadline passed.
    Deadline,
}

/// One sleep of a waiter with deadline `deadline` (`None`: none): like [`wait`], but never
/// longer than [`LIVENESS_SLICE`](crate::time::LIVENESS_SLICE), so that a waiter whose
/// wake-up was lost (its sender, or the process it went to, died) looks at the shared state
/// again within one slice. Callers loop, re-checking their condition after every return.
pub(crate) fn sleep(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Slept {
    match wait_raw(word, expected, Some(next_wake(deadline))) {
        Raw::Woken => Slept::Woken,
        Raw::Other => Slept::Changed,
        Raw::TimedOut if expired(deadline) => Slept::Deadline,
        Raw::TimedOut => Slept::Slice,
    }
}

/// Wakes up to `count` processes sleeping in [`wait`] on `word` (`i32::MAX` wakes all).
/// Returns how many were woken.
pub fn wake(word: &AtomicU32, count: i32) -> usize {
    // SAFETY: FUTEX_WAKE only uses the address of `word` as a key; it reads and writes no
    // memory of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            count,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0,
        )
    };
    usize::try_from(rc).unwrap_or(0)
}

/// `deadline` as an absolute CLOCK_MONOTONIC time (the clock behind `Instant` on Linux).
fn monotonic_timespec(deadline: Instant) -> libc::timespec {
    let now = clock_now(libc::CLOCK_MONOTONIC);
    add_to_timespec(now, deadline.saturating_duration_since(Instant::now()))
}

/// The current time of `clock`.
pub(crate) fn clock_now(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid local `ts`; the clocks used
    // here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts
}

/// `ts + d`, with the nanoseconds carried into seconds: a `tv_nsec` of a billion or more is
/// EINVAL for every timed call (the bug measured in raw_sync 0.1.5).
pub(crate) fn add_to_timespec(ts: libc::timespec, d: std::time::Duration) -> libc::timespec {
    let nanos = ts.tv_nsec as u64 + u64::from(d.subsec_nanos());
    let secs = (ts.tv_sec as u64)
        .saturating_add(d.as_secs())
        .saturating_add(nanos / 1_000_000_000);
    libc::timespec {
        tv_sec: secs.min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: (nanos % 1_000_000_000) as _,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn nanoseconds_carry_into_seconds() {
        let ts = libc::timespec {
            tv_sec: 10,
            tv_nsec: 900_000_000,
        };
        let sum = add_to_timespec(ts, Duration::from_millis(300));
        assert_eq!((sum.tv_sec, sum.tv_nsec), (11, 200_000_000));
        let sum = add_to_timespec(ts, Duration::from_nanos(100_000_000));
        assert_eq!((sum.tv_sec, sum.tv_nsec), (11, 0));
    }

    #[test]
    fn wait_with_wrong_expected_value_returns_at_once() {
        let word = AtomicU32::new(1);
        assert_eq!(wait(&word, 0, None), Wake::Retry);
    }

    #[test]
    fn wait_times_out_at_the_deadline() {
        let word = AtomicU32::new(0);
        let start = Instant::now();
        let got = wait(&word, 0, Some(start + Duration::from_millis(50)));
        assert_eq!(got, Wake::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
