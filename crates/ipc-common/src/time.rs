//! Deadlines, and the longest a waiter sleeps before it looks again.
//!
//! Every timed call of this crate takes a [`Duration`] and turns it into a deadline with
//! [`deadline_after`]: a timeout too large for [`Instant`] (`Duration::MAX`, say) means "wait
//! forever", as `None` does, instead of a panic on overflow.
//!
//! A waiter never sleeps longer than [`LIVENESS_SLICE`] at a time. Another process may die
//! between changing a shared word and waking the sleepers (killed by a signal, at any
//! instruction), or the one process a wake-up went to may die before it acts on it. The kernel
//! cannot pass such a wake-up on, so after each slice the waiter looks at the shared state
//! itself: an item or a permit that is there is taken within one slice, whoever died.

use std::time::{Duration, Instant};

/// The longest one sleep of a waiter lasts before it looks at the shared state again.
pub const LIVENESS_SLICE: Duration = Duration::from_millis(50);

/// The deadline `timeout` from now, or `None` ("never") when `now + timeout` does not fit in
/// an [`Instant`].
///
/// ```
/// use std::time::Duration;
/// use ipc_common::time::deadline_after;
///
/// assert!(deadline_after(Duration::from_millis(10)).is_some());
/// assert_eq!(deadline_after(Duration::MAX), None); // waits forever, never panics
/// ```
pub fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The end of the next sleep of a waiter whose own deadline is `deadline` (`None`: none):
/// one [`LIVENESS_SLICE`] from now, or the deadline if that comes first.
pub fn next_wake(deadline: Option<Instant>) -> Instant {
    let slice = Instant::now() + LIVENESS_SLICE;
    deadline.map_or(slice, |d| d.min(slice))
}

/// Whether `deadline` has passed (never, for `None`).
pub fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_mean_forever() {
        assert_eq!(deadline_after(Duration::MAX), None);
        assert_eq!(deadline_after(Duration::from_secs(u64::MAX)), None);
        assert!(!expired(None));
    }

    #[test]
    fn a_sleep_never_passes_the_deadline_or_the_slice() {
        let d = Instant::now() + Duration::from_millis(5);
        assert!(next_wake(Some(d)) <= d);
        assert!(next_wake(None) <= Instant::now() + LIVENESS_SLICE);
    }
}
