//! A process-shared event flag: Python's `multiprocessing.Event`.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use super::SyncError;
use super::futex::{self, Wake};
use crate::shm::{ShmBox, ShmSafe};

#[derive(Default)]
struct State {
    /// 0 = clear, 1 = set; also the futex word the waiters sleep on.
    flag: AtomicU32,
    /// Processes sleeping in `wait`; `set` only calls the kernel when there are some.
    sleepers: AtomicU32,
}

// SAFETY: two atomics: no pointers, valid when zeroed, no destructor.
unsafe impl ShmSafe for State {}

/// A flag shared by this process and every child started after it was made; processes can
/// [`wait`](Event::wait) until another one [`set`](Event::set)s it.
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
pub struct Event {
    state: ShmBox<State>,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Errors
    ///
    /// Fails if the shared mapping cannot be made.
    pub fn new() -> Result<Self, SyncError> {
        let state = ShmBox::new(State::default()).map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        Ok(Self { state })
    }

    /// Sets the flag and wakes every waiting process.
    pub fn set(&self) {
        let s = &*self.state;
        s.flag.store(1, SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            futex::wake(&s.flag, i32::MAX);
        }
    }

    /// Clears the flag: later waits block again.
    pub fn clear(&self) {
        self.state.flag.store(0, SeqCst);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.state.flag.load(SeqCst) == 1
    }

    /// Waits until the flag is set (at once if it already is).
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout` for the flag; returns whether it is set (Python's
    /// `wait(timeout)`). The wait is exact: it ends neither early nor later than the scheduler
    /// makes it.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(Instant::now() + timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let s = &*self.state;
        if self.is_set() {
            return true;
        }
        s.sleepers.fetch_add(1, SeqCst);
        while !self.is_set() {
            if futex::wait(&s.flag, 0, deadline) == Wake::TimedOut {
                break;
            }
        }
        s.sleepers.fetch_sub(1, SeqCst);
        self.is_set()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
