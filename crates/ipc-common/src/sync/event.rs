//! A process-shared event flag: Python's `multiprocessing.Event`.
//!
//! # Shared state
//!
//! | word | meaning | written by |
//! |---|---|---|
//! | `state` | bit 0: the flag; bits 1..32: the generation, bumped by every `set` that finds the flag clear; also the futex waiters sleep on | `set`, `clear` |
//! | `sleepers` | waiters between their first look at `state` and the end of their wait | waiters |
//!
//! A waiter remembers the `state` it first saw (flag clear) and waits until `state` differs:
//! only a `set` changes a clear `state` (`clear` of a clear flag changes nothing), so a
//! changed word means "set was called since I started waiting", even if a `clear` followed
//! at once. That is Python's rule: every process waiting when `set()` is called wakes and
//! returns `true`. The generation has 31 bits; a waiter would be fooled only if exactly a
//! multiple of 2³¹ `set`/`clear` pairs happened between two of its looks, which are at most
//! one [`LIVENESS_SLICE`](crate::time::LIVENESS_SLICE) apart.
//!
//! # Orderings
//!
//! `set` publishes what the setter wrote before it: `state` is changed with read-modify-write
//! operations and read by the waiters, a Release/Acquire pair at least. `state` and
//! `sleepers` also form a store-then-load pair (a waiter counts itself in, then the kernel
//! reads `state`; a setter changes `state`, then reads `sleepers` to skip the wake-up call
//! when nobody waits): only `SeqCst` on all of them rules out both sides reading the old
//! value, so every access is `SeqCst`.
//!
//! # Deaths
//!
//! A setter killed between its change of `state` and its wake-up leaves the waiters asleep
//! until their slice ends: they then see the change themselves. A waiter killed while waiting
//! leaves `sleepers` one too high for good, which only costs later `set`s a needless wake-up
//! call.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use super::SyncError;
use super::futex::{self, Slept};
use crate::fault;
use crate::shm::{ShmBox, ShmSafe};
use crate::time::deadline_after;

/// The flag bit of `state`.
const SET: u32 = 1;
/// One step of the generation in `state`.
const GENERATION: u32 = 2;

#[derive(Default)]
struct State {
    state: AtomicU32,
    sleepers: AtomicU32,
}

// SAFETY: two atomics: no pointers, valid when zeroed, no destructor.
unsafe impl ShmSafe for State {}

/// A flag shared by this process and every child started after it was made; processes can
/// [`wait`](Event::wait) until another one [`set`](Event::set)s it (Python's
/// `multiprocessing.Event`).
///
/// Every process waiting when `set` is called wakes and returns `true`, even if the flag is
/// cleared again at once. Waits can have a timeout, and `Duration::MAX` means forever.
///
/// # Example
///
/// ```
/// use ipc_common::{Event, Process};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ready = Event::new()?;
/// let waiter = Process::start("waiter", || {
///     ready.wait();
///     assert!(ready.is_set());
/// })?;
/// ready.set();
/// assert_eq!(waiter.join()?, 0);
/// # Ok(()) }
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Event {
    shared: std::sync::Arc<ShmBox<State>>,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Errors
    ///
    /// Fails if the shared mapping cannot be made.
    pub fn new() -> Result<Self, SyncError> {
        let shared = ShmBox::new(State::default()).map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        Ok(Self {
            shared: std::sync::Arc::new(shared),
        })
    }

    /// Sets the flag and wakes every waiting process (Python's `set()`). Setting a flag that
    /// is already set changes nothing.
    pub fn set(&self) {
        let s = &*self.shared;
        let before = s.state.fetch_update(SeqCst, SeqCst, |w| {
            (w & SET == 0).then(|| w.wrapping_add(GENERATION) | SET)
        });
        if before.is_err() {
            return; // already set: every waiter has been (or is being) told
        }
        // Dying here leaves the waiters asleep until their slice ends.
        fault::point("event.set.before_wake");
        if s.sleepers.load(SeqCst) > 0 {
            futex::wake(&s.state, i32::MAX);
        }
    }

    /// Clears the flag (Python's `clear()`): later waits block again. Processes that were
    /// waiting when the flag was set still return `true`.
    pub fn clear(&self) {
        self.shared.state.fetch_and(!SET, SeqCst);
    }

    /// Whether the flag is set (Python's `is_set()`).
    pub fn is_set(&self) -> bool {
        self.shared.state.load(SeqCst) & SET != 0
    }

    /// Waits until the flag is set (at once if it already is): Python's `wait()`.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout` for the flag (Python's `wait(timeout)`): `true` if it is set,
    /// or was set while waiting; `false` on timeout. The wait is exact: it never ends early,
    /// and ends late only by the scheduler's delay. `Duration::MAX` waits forever.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline_after(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let s = &*self.shared;
        let _wait = crate::trace::span("event", "wait");
        let first = s.state.load(SeqCst);
        if first & SET != 0 {
            return true;
        }
        // Counted in before the kernel first compares `state` with `first` (module docs).
        s.sleepers.fetch_add(1, SeqCst);
        let set = loop {
            if s.state.load(SeqCst) != first {
                break true;
            }
            if futex::sleep(&s.state, first, deadline) == Slept::Deadline {
                // A set at the very deadline still counts.
                break s.state.load(SeqCst) != first;
            }
        };
        s.sleepers.fetch_sub(1, SeqCst);
        set
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
