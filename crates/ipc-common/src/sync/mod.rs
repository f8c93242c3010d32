//! Process-shared synchronisation: Python's `multiprocessing` locks, semaphores, events,
//! conditions and barriers.
//!
//! Each object lives in its own anonymous shared mapping, made before the children are
//! started and inherited by them (Python passes its locks to `Process(args=...)`; here the
//! child's closure borrows them). All shared state of an object is one plain struct of
//! atomics and pthread mutexes in that mapping, with no pointers.
//!
//! # Python ↔ Rust
//!
//! | Python (`multiprocessing.`) | Rust | notes |
//! |---|---|---|
//! | `Lock()` | [`Lock::new`] | |
//! | `lock.acquire()` / `release()` | [`Lock::acquire`] → [`LockGuard`], dropped to release | |
//! | `acquire(timeout=t)` | [`Lock::acquire_timeout`] → `Option` | `None` for Python's `False` |
//! | `acquire(block=False)` | [`Lock::try_acquire`] | |
//! | `lock.locked()` (3.14) | [`Lock::locked`] | |
//! | `RLock()` | [`RLock::new`] | same methods, [`RLockGuard`] per level |
//! | `Semaphore(n)` | [`Semaphore::new`] | may be released above `n` |
//! | `BoundedSemaphore(n)` | [`BoundedSemaphore::new`] | release above `n`: [`SyncError::TooManyReleases`] |
//! | `sem.acquire()` / `release()` | `acquire` → [`SemaphoreGuard`]; [`Semaphore::release`] | [`SemaphoreGuard::forget`] keeps the permit taken |
//! | `sem.get_value()` | [`Semaphore::get_value`] (or `value`) | |
//! | `Event()`, `set`, `clear`, `is_set`, `wait(t)` | [`Event`]: the same names, [`Event::wait_timeout`] | |
//! | `Condition(lock=None)` | [`Condition::new`], [`Condition::with_lock`] | the default lock is an `RLock`, as in Python |
//! | `with cond:` | [`Condition::acquire`] → [`ConditionGuard`] | |
//! | `cond.wait(timeout)` | [`Condition::wait`], [`Condition::wait_timeout`] | take and give back the guard |
//! | `cond.wait_for(pred, timeout)` | [`Condition::wait_for`] | |
//! | `notify(n=1)`, `notify_all()` | [`Condition::notify`], [`Condition::notify_n`], [`Condition::notify_all`] | |
//! | `Barrier(parties)` | [`Barrier::new`] | no `action`, no default timeout |
//! | `barrier.wait(timeout)` | [`Barrier::wait`], [`Barrier::wait_timeout`] | the arrival index |
//! | `abort()`, `reset()`, `parties`, `n_waiting`, `broken` | the same names on [`Barrier`] | |
//! | `BrokenBarrierError` | [`SyncError::BrokenBarrier`] | |
//! | `threading.Lock` around data | [`Mutex`], [`MutexSlice`] | the data lives in the lock's mapping |
//!
//! # Timeouts
//!
//! Every wait can have a timeout, given as a [`Duration`](std::time::Duration). Timeouts are
//! exact: measured on the monotonic clock, so a wait never ends early, and ends late only by
//! the scheduler's delay; a timeout too large for the clock (`Duration::MAX`) waits forever
//! ([`crate::time::deadline_after`]).
//!
//! # Faults
//!
//! A process may die at any instruction while it holds, waits for or hands over one of these
//! objects. No survivor sleeps forever because of it: every sleep lasts at most
//! [`LIVENESS_SLICE`](crate::time::LIVENESS_SLICE), after which the sleeper looks at the
//! shared state itself, so a wake-up lost to a death (the waker killed before it woke, or
//! the woken killed before it acted) costs at most one slice. What a death does to each
//! object:
//!
//! | object | built on | when a process dies |
//! |---|---|---|
//! | [`Lock`], [`RLock`], [`Mutex`], [`MutexSlice`] | robust, process-shared pthread mutex | holding it: the next holder gets it, and is told |
//! | [`Semaphore`], [`BoundedSemaphore`] | futex | holding a permit: the permit stays taken (as in Python) |
//! | [`Event`] | futex | nothing is held, nothing is lost |
//! | [`Condition`] | the lock, and a futex | waiting: it may swallow one notification (as in Python) |
//! | [`Barrier`] | futex, under a robust mutex | waiting: its arrival counts; before arriving: see [`Barrier`] |
//!
//! Python's own objects freeze the survivors when a holder of a lock dies.
//!
//! # Memory orderings
//!
//! Each module documents its shared words (a legend) and why each access has its ordering;
//! in short, a hand-over from one process to another (a lock's unlock and lock, a permit, a
//! `set`) is always a Release/Acquire pair or stronger, and the "count myself as a sleeper,
//! then look" / "change, then look for sleepers" pairs of [`Semaphore`] and [`Event`] are
//! `SeqCst`, the only ordering that forbids both sides reading the old value.
//!
//! # A forgotten guard
//!
//! A held robust mutex is linked into its holder thread's robust list, through addresses in
//! the mutex's own mapping, so that mapping must stay mapped while the mutex is held. Guards
//! borrow their lock, so a lock cannot be dropped while a guard lives; a guard forgotten with
//! `std::mem::forget` keeps the lock held until the thread ends, and a lock dropped while a
//! thread of its process still holds it leaves its mapping mapped (it asks the mutex who
//! holds it).

mod barrier;
mod condition;
mod event;
pub mod futex;
mod lock;
mod mutex;
mod raw;
mod rlock;
mod robust;
mod semaphore;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard, ConditionLock};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use mutex::{Mutex, MutexGuard, MutexSlice};
pub(crate) use raw::RawLock;
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};

/// Why a synchronisation call failed. Timeouts are not errors: timed calls return `None` or
/// `false`, as Python returns `False` (except [`Barrier::wait_timeout`], where a timeout
/// breaks the barrier, as in Python).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A system call failed.
    #[error("{call} failed: {source}")]
    Os {
        /// The call that failed.
        call: &'static str,
        /// The error it gave.
        #[source]
        source: std::io::Error,
    },
    /// A release would take the count of free permits above its bound (Python's
    /// `ValueError` for a [`BoundedSemaphore`]).
    #[error("semaphore released too many times (it has {limit} permits)")]
    TooManyReleases {
        /// The most free permits the semaphore may have.
        limit: u32,
    },
    /// [`Condition::wait`] was given a guard that does not hold the condition's lock: the
    /// guard of another lock, or one whose thread no longer holds it (a guard a forked child
    /// inherited, or one left by a failed wait). Python's `RuntimeError`.
    #[error("the guard given to Condition::wait does not hold the condition's lock")]
    WrongLock,
    /// A [`Condition`] has as many waiters as it can count.
    #[error("too many waiters on one condition (at most {limit} in each group)")]
    TooManyWaiters {
        /// The most waiters a group may hold.
        limit: u32,
    },
    /// The [`Barrier`] was broken (by `abort`, a timeout or `reset`) before every party
    /// arrived: Python's `BrokenBarrierError`.
    #[error("the barrier is broken")]
    BrokenBarrier,
    /// A [`Barrier`] needs from 1 to 2³¹ − 1 parties.
    #[error("a barrier needs from 1 to 2147483647 parties, not {parties}")]
    BadParties {
        /// The number asked for.
        parties: u32,
    },
}
