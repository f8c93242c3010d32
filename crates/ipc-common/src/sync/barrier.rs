//! A process-shared barrier: Python's `multiprocessing.Barrier`.
//!
//! # Generations
//!
//! Each round of the barrier is a *generation*. Parties arrive into the current generation;
//! the last one to arrive ends it (*released*): the generation number goes up and every
//! waiter of the ended generation returns. [`abort`](Barrier::abort), or a waiter's timeout,
//! marks the current generation *broken*: its waiters and every later arrival fail until
//! [`reset`](Barrier::reset) ends it (as broken) and starts a fresh one. Since a new
//! generation starts at once, nobody has to wait for the last waiters of the previous one
//! to leave (Python's "draining" state), and a waiter that dies does not hold anybody up.
//!
//! A waiter learns how its generation ended from a bitmap of the last 4096 outcomes. One that
//! looks only after 4096 later generations have ended (it was stopped that long) can no
//! longer tell, and reports [`SyncError::BrokenBarrier`].
//!
//! # Shared state
//!
//! | word | meaning | written by |
//! |---|---|---|
//! | `lock` | a robust mutex taken by every change below, never while waiting | all |
//! | `state` bits 32..64 | the current generation | the releaser, `reset` |
//! | `state` bits 1..32 | parties arrived in it | arrivals |
//! | `state` bit 0 | it is broken | `abort`, timeouts |
//! | `outcomes` | bit `g % 4096`: generation `g` ended broken (1) or released (0) | whoever ends `g` |
//! | `seq` | bumped after every change waiters must see; the futex they sleep on | all |
//! | `parties` | the number of parties | the creator, before sharing |
//!
//! Each change is made under the lock and published with *one* store of `state`, preceded
//! by its outcome bit: a process killed in between leaves the barrier as it was (the bit of
//! a generation still running is rewritten when it ends), and the robust lock passes on.
//!
//! # Orderings
//!
//! The lock orders the changes among themselves. Waiters read without the lock: `state` is
//! stored with Release and loaded with Acquire, so a waiter that sees generation `g` ended
//! also sees the outcome bit written before that store. An outcome bit is rewritten 4096
//! generations later, so a waiter reads it and then `state` again (after an Acquire fence,
//! the bit being written with a Release read-modify-write after the generation that reuses
//! it began): if `state` is still less than 4096 generations past its own, the bit it read
//! was its own generation's. `seq` works as in [`Condition`](super::Condition): bumped
//! (Release) after `state`, read (Acquire) before it, and the futex call compares it again.
//!
//! # Deaths
//!
//! A party killed while waiting has arrived: the others are released when the rest arrive.
//! A party killed before it arrives never arrives: the others wait for a replacement, or, if
//! they wait with a timeout, break the barrier when it passes (use timeouts when a party may
//! die). The last arrival killed between its release and its wake-up delays the others by at
//! most a slice.

use std::fmt;
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
    fence,
};
use std::time::{Duration, Instant};

use super::SyncError;
use super::futex::{self, Slept};
use super::raw::RawLock;
use crate::fault;
use crate::shm::{ShmBox, ShmSafe};
use crate::time::deadline_after;

/// How many generations' outcomes are kept.
const HISTORY: u32 = 4096;
/// The most parties a barrier may have (the arrival count has 31 bits).
const MAX_PARTIES: u32 = (1 << 31) - 1;

/// `state`, unpacked.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Round {
    generation: u32,
    arrived: u32,
    broken: bool,
}

impl Round {
    fn unpack(word: u64) -> Self {
        Self {
            generation: (word >> 32) as u32,
            arrived: (word as u32) >> 1,
            broken: word & 1 != 0,
        }
    }

    fn pack(self) -> u64 {
        u64::from(self.generation) << 32 | u64::from(self.arrived) << 1 | u64::from(self.broken)
    }

    /// The first round of the next generation.
    fn next(self) -> Self {
        Self {
            generation: self.generation.wrapping_add(1),
            arrived: 0,
            broken: false,
        }
    }
}

/// The barrier's shared state (see the module docs for the legend).
struct Shared {
    lock: RawLock,
    state: AtomicU64,
    outcomes: [AtomicU64; (HISTORY / 64) as usize],
    seq: AtomicU32,
    parties: AtomicU32,
}

// SAFETY: a robust mutex (no pointer another process follows; it is never held when a method
// returns, so the mapping is never unmapped while it is held) and atomics; valid when zeroed
// (the mutex is initialised in place before sharing); no destructor.
unsafe impl ShmSafe for Shared {}

impl Shared {
    /// Runs `change` under the lock. A previous holder's death needs no repair (module docs).
    fn locked<R>(&self, change: impl FnOnce(Round) -> R) -> Result<R, SyncError> {
        self.lock.lock(None)?;
        let result = change(Round::unpack(self.state.load(Relaxed)));
        self.lock.unlock();
        Ok(result)
    }

    /// Ends `round`'s generation (under the lock): records how, publishes the next one.
    fn end(&self, round: Round, broken: bool) {
        let (word, bit) = outcome_slot(round.generation);
        if broken {
            self.outcomes[word].fetch_or(bit, Release);
        } else {
            self.outcomes[word].fetch_and(!bit, Release);
        }
        self.publish(round.next());
    }

    /// Stores `round` (under the lock) for the waiters to see.
    fn publish(&self, round: Round) {
        self.state.store(round.pack(), Release);
    }

    /// Wakes every waiter to look at `state` (after the lock is released).
    fn wake_all(&self) {
        self.seq.fetch_add(1, Release);
        futex::wake(&self.seq, i32::MAX);
    }

    /// How generation `mine`, which has ended, ended: `true` if released.
    fn released(&self, mine: u32) -> bool {
        let (word, bit) = outcome_slot(mine);
        let bits = self.outcomes[word].load(Relaxed);
        fence(Acquire);
        let now = Round::unpack(self.state.load(Relaxed)).generation;
        now.wrapping_sub(mine) < HISTORY && bits & bit == 0
    }
}

/// The word and bit of generation `g`'s outcome.
fn outcome_slot(g: u32) -> (usize, u64) {
    let at = g % HISTORY;
    ((at / 64) as usize, 1 << (at % 64))
}

/// A barrier for a fixed number of parties, shared by this process and every child started
/// after it was made: Python's `multiprocessing.Barrier`.
///
/// Each party calls [`wait`](Barrier::wait); all of them wait until the last one arrives, and
/// then all return together, each with its arrival index (`0..parties`, different for each;
/// Python's return value). The barrier can be used again at once.
///
/// A timeout, [`abort`](Barrier::abort) or [`reset`](Barrier::reset) *breaks* the round: every
/// waiter gets [`SyncError::BrokenBarrier`] (Python's `BrokenBarrierError`), and after a
/// timeout or `abort` every later `wait` too, until `reset`.
///
/// # When a party dies
///
/// A party killed while waiting has arrived: the others are released when the rest arrive.
/// A party killed before arriving never arrives: the others wait for a replacement (another
/// process may call `wait` in its place), or break the barrier when their timeout passes.
/// Use [`wait_timeout`](Barrier::wait_timeout) when a party may die.
///
/// Python's `action` and default `timeout` arguments are not provided: run the action in the
/// party that gets index 0, and pass the timeout to each wait.
///
/// # Example
///
/// ```
/// use ipc_common::{Barrier, Process};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let start = Barrier::new(3)?;
/// let kids: Vec<Process> = (0..2)
///     .map(|i| Process::start(format!("p{i}"), || start.wait().map(|_| ())))
///     .collect::<Result<_, _>>()?;
/// let index = start.wait()?; // returns once all three have arrived
/// assert!(index < 3);
/// for k in &kids {
///     assert_eq!(k.join()?, 0);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Barrier {
    shared: std::sync::Arc<ShmBox<Shared>>,
}

impl Barrier {
    /// A barrier for `parties` processes (Python's `Barrier(parties)`).
    ///
    /// # Errors
    ///
    /// [`SyncError::BadParties`] if `parties` is 0 or above 2³¹ − 1; otherwise fails if the
    /// shared mapping or its lock cannot be made.
    pub fn new(parties: u32) -> Result<Self, SyncError> {
        if parties == 0 || parties > MAX_PARTIES {
            return Err(SyncError::BadParties { parties });
        }
        let shared = ShmBox::<Shared>::zeroed().map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        shared.lock.init()?;
        shared.parties.store(parties, Relaxed);
        Ok(Self {
            shared: std::sync::Arc::new(shared),
        })
    }

    /// Arrives, and waits until all parties have (Python's `wait()`). Returns this party's
    /// arrival index, from 0 to `parties - 1`.
    ///
    /// # Errors
    ///
    /// [`SyncError::BrokenBarrier`] if the round is or becomes broken (by [`abort`], a
    /// timeout, or [`reset`]); otherwise only on an operating-system error.
    ///
    /// [`abort`]: Barrier::abort
    /// [`reset`]: Barrier::reset
    pub fn wait(&self) -> Result<u32, SyncError> {
        self.wait_until(None)
    }

    /// Like [`wait`](Barrier::wait), but when `timeout` passes before every party has arrived,
    /// breaks the barrier (Python's `wait(timeout)`): this and every other waiter get
    /// [`SyncError::BrokenBarrier`]. The wait is exact; `Duration::MAX` waits forever.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Barrier::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, SyncError> {
        self.wait_until(deadline_after(timeout))
    }

    /// Breaks the barrier (Python's `abort()`): every waiter and every later `wait` gets
    /// [`SyncError::BrokenBarrier`] until [`reset`](Barrier::reset).
    ///
    /// # Errors
    ///
    /// Only on an operating-system error of the internal lock.
    pub fn abort(&self) -> Result<(), SyncError> {
        self.break_round(None).map(drop)
    }

    /// Breaks the current round, if it is generation `only` (when given) and not broken
    /// already, and wakes its waiters; tells whether it did.
    fn break_round(&self, only: Option<u32>) -> Result<bool, SyncError> {
        let s = &*self.shared;
        let broke = s.locked(|round| {
            if round.broken || only.is_some_and(|g| g != round.generation) {
                return false;
            }
            s.publish(Round {
                broken: true,
                ..round
            });
            true
        })?;
        if broke {
            s.wake_all();
        }
        Ok(broke)
    }

    /// Returns the barrier to its empty, unbroken state (Python's `reset()`): processes
    /// waiting in it get [`SyncError::BrokenBarrier`].
    ///
    /// # Errors
    ///
    /// Only on an operating-system error of the internal lock.
    pub fn reset(&self) -> Result<(), SyncError> {
        let s = &*self.shared;
        let changed = s.locked(|round| {
            if !round.broken && round.arrived == 0 {
                return false; // already empty
            }
            s.end(round, true);
            true
        })?;
        if changed {
            s.wake_all();
        }
        Ok(())
    }

    /// The number of parties (Python's `parties`).
    pub fn parties(&self) -> u32 {
        self.shared.parties.load(Relaxed)
    }

    /// The number of parties waiting in the current round (Python's `n_waiting`); 0 when it
    /// is broken. A snapshot.
    pub fn n_waiting(&self) -> u32 {
        let round = Round::unpack(self.shared.state.load(Acquire));
        if round.broken { 0 } else { round.arrived }
    }

    /// Whether the barrier is broken (Python's `broken`).
    pub fn broken(&self) -> bool {
        Round::unpack(self.shared.state.load(Acquire)).broken
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<u32, SyncError> {
        let s = &*self.shared;
        let parties = self.parties();
        // Arrive: become the next index of the current generation, or end it.
        let arrival = s.locked(|round| {
            if round.broken {
                return Err(SyncError::BrokenBarrier);
            }
            let index = round.arrived;
            if index + 1 == parties {
                s.end(round, false);
                Ok((index, None))
            } else {
                s.publish(Round {
                    arrived: index + 1,
                    ..round
                });
                Ok((index, Some(round.generation)))
            }
        })??;
        let (index, mine) = match arrival {
            (index, None) => {
                // Dying here leaves the others asleep until their slice ends.
                fault::point("barrier.release.before_wake");
                s.wake_all();
                return Ok(index);
            }
            (index, Some(generation)) => (index, generation),
        };
        fault::point("barrier.wait.arrived");
        loop {
            let seen = s.seq.load(Acquire);
            let round = Round::unpack(s.state.load(Acquire));
            if round.generation != mine {
                return self.outcome(mine, index);
            }
            if round.broken {
                return Err(SyncError::BrokenBarrier);
            }
            if futex::sleep(&s.seq, seen, deadline) == Slept::Deadline {
                return self.time_out(mine, index);
            }
        }
    }

    /// How generation `mine`, which has ended, ended, for the party with `index`.
    fn outcome(&self, mine: u32, index: u32) -> Result<u32, SyncError> {
        if self.shared.released(mine) {
            Ok(index)
        } else {
            Err(SyncError::BrokenBarrier)
        }
    }

    /// The deadline of the party with `index` in generation `mine` passed: break the round,
    /// unless it ended just now.
    fn time_out(&self, mine: u32, index: u32) -> Result<u32, SyncError> {
        if self.break_round(Some(mine))? {
            return Err(SyncError::BrokenBarrier);
        }
        let round = Round::unpack(self.shared.state.load(Acquire));
        if round.generation == mine {
            Err(SyncError::BrokenBarrier) // broken by someone else
        } else {
            self.outcome(mine, index)
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}
