//! A process-shared condition variable: Python's `multiprocessing.Condition`.
//!
//! # How waiters and notifications are counted
//!
//! Waiters are kept in two *groups*. A new waiter joins the younger group, G2. A
//! notification goes to the older group, G1: it turns unsignalled members of G1 into
//! *signals*, and any member of G1 that wakes may take a signal and return. When G1 has no
//! unsignalled member left, the next notification first *switches*: G2 becomes G1 and a new,
//! empty G2 opens. The members of the old G1 that have not taken their signal yet are then
//! released by the switch itself (their group is older than G1, and all its members were
//! signalled). So:
//!
//! - a notification only reaches waiters that were already waiting when it was made (a
//!   newcomer is in G2 and cannot take G1's signals), and `notify_n(n)` lets at most `n`
//!   waiters return;
//! - no waiter has to be woken in person: waking up every slice (for liveness) and finding
//!   no signal, a waiter simply sleeps again, so slices do not turn `notify()` into
//!   `notify_all()`; and if the waiter a notification woke dies before it takes its
//!   signal, another member of G1 takes it within a slice;
//! - a waiter that times out leaves its group: it takes a signal if one is there (it was
//!   notified in time), and otherwise counts itself out, so that no later notification is
//!   spent on it.
//!
//! # Shared state
//!
//! | word | meaning |
//! |---|---|
//! | `state` bits 0..14 | G1's unsignalled members |
//! | `state` bits 14..28 | G1's signals not taken yet |
//! | `state` bits 28..42 | G2's members |
//! | `state` bits 42..64 | G1's epoch (G2's is one more), modulo 2²² |
//! | `seq[p]` | bumped when members of the group with epoch parity `p` are signalled or released; the futex they sleep on |
//!
//! Every change of `state` is one compare-and-swap of the whole word, so a process killed
//! at any instruction leaves it consistent. A waiter whose epoch is neither G1's nor G2's
//! was released; it would be fooled only after exactly a multiple of 2²² switches between
//! two of its looks (at most a slice apart, unless it is stopped).
//!
//! # Orderings
//!
//! `state` is changed by read-modify-writes only, so the counts are exact under any ordering.
//! A notifier changes `state` and then bumps `seq[p]` (Release); a waiter reads `seq[p]`
//! (Acquire) and then `state` (Acquire), and sleeps only while `seq[p]` still holds what it
//! read. If it saw the bump, it sees the new `state`; if it did not, the kernel's compare
//! does (the futex call fails at once) or the wake-up reaches it. The data the condition is
//! about is handed over by the lock, which every waiter takes again before it returns.
//!
//! # Deaths
//!
//! A notifier killed between its change of `state` and its wake-up, or a waiter killed after
//! it was woken and before it took a signal: the other waiters find the signal within a
//! slice. A waiter killed while waiting stays counted in its group, and may swallow one
//! notification (Python has the same limit): a notification meant for the living then goes
//! to the dead.

use std::fmt;
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Release},
};
use std::time::{Duration, Instant};

use super::SyncError;
use super::futex::{self, Slept};
use super::lock::{Lock, LockGuard};
use super::raw::RawLock;
use super::rlock::{RLock, RLockGuard};
use crate::fault;
use crate::shm::{ShmBox, ShmSafe};
use crate::time::{deadline_after, expired};

/// Bits of each count in `state`.
const COUNT_BITS: u32 = 14;
/// The most waiters one group may hold.
const MAX_WAITERS: u32 = (1 << COUNT_BITS) - 1;
/// Bits of the epoch in `state`.
const EPOCH_BITS: u32 = 64 - 3 * COUNT_BITS;
const EPOCH_MASK: u32 = (1 << EPOCH_BITS) - 1;

/// `state`, unpacked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Groups {
    /// G1's members not signalled yet.
    g1: u32,
    /// G1's signals not taken yet.
    signals: u32,
    /// G2's members.
    g2: u32,
    /// G1's epoch.
    epoch: u32,
}

impl Groups {
    fn unpack(word: u64) -> Self {
        let count = |at: u32| (word >> at) as u32 & MAX_WAITERS;
        Self {
            g1: count(0),
            signals: count(COUNT_BITS),
            g2: count(2 * COUNT_BITS),
            epoch: (word >> (3 * COUNT_BITS)) as u32 & EPOCH_MASK,
        }
    }

    fn pack(self) -> u64 {
        u64::from(self.g1)
            | u64::from(self.signals) << COUNT_BITS
            | u64::from(self.g2) << (2 * COUNT_BITS)
            | u64::from(self.epoch) << (3 * COUNT_BITS)
    }

    /// G2's epoch.
    fn young(self) -> u32 {
        self.epoch.wrapping_add(1) & EPOCH_MASK
    }

    /// G2 becomes G1; the old G1's members still waiting are released by this.
    fn switch(self) -> Self {
        Self {
            g1: self.g2,
            signals: 0,
            g2: 0,
            epoch: self.young(),
        }
    }
}

/// Where a waiter of epoch `mine` stands.
enum Standing {
    /// In G1 with a signal to take, or in a group that was released.
    Notified,
    /// Still waiting.
    Waiting,
}

/// The condition's shared state (see the module docs for the legend).
#[derive(Default)]
struct Shared {
    state: AtomicU64,
    seq: [AtomicU32; 2],
}

// SAFETY: atomics only: no pointers, valid when zeroed, no destructor.
unsafe impl ShmSafe for Shared {}

/// The lock a [`Condition`] waits with: a [`Lock`] or an [`RLock`], owned by the condition or
/// borrowed from elsewhere (so that two conditions, or a condition and other code, share
/// one lock, as Python's `Condition(lock)` does). Made with `into()` from any of the four.
pub struct ConditionLock<'l>(Kind<'l>);

enum Kind<'l> {
    Lock(Lock),
    RLock(RLock),
    SharedLock(&'l Lock),
    SharedRLock(&'l RLock),
}

/// The lock of a [`ConditionLock`], owned or not.
enum LockRef<'a> {
    Lock(&'a Lock),
    RLock(&'a RLock),
}

impl ConditionLock<'_> {
    fn get(&self) -> LockRef<'_> {
        match &self.0 {
            Kind::Lock(l) => LockRef::Lock(l),
            Kind::SharedLock(l) => LockRef::Lock(l),
            Kind::RLock(l) => LockRef::RLock(l),
            Kind::SharedRLock(l) => LockRef::RLock(l),
        }
    }
}

impl From<Lock> for ConditionLock<'_> {
    fn from(lock: Lock) -> Self {
        Self(Kind::Lock(lock))
    }
}

impl From<RLock> for ConditionLock<'_> {
    fn from(lock: RLock) -> Self {
        Self(Kind::RLock(lock))
    }
}

impl<'l> From<&'l Lock> for ConditionLock<'l> {
    fn from(lock: &'l Lock) -> Self {
        Self(Kind::SharedLock(lock))
    }
}

impl<'l> From<&'l RLock> for ConditionLock<'l> {
    fn from(lock: &'l RLock) -> Self {
        Self(Kind::SharedRLock(lock))
    }
}

impl fmt::Debug for ConditionLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            LockRef::Lock(l) => l.fmt(f),
            LockRef::RLock(l) => l.fmt(f),
        }
    }
}

/// A condition variable shared by this process and every child started after it was made:
/// Python's `multiprocessing.Condition`.
///
/// Processes wait, holding the condition's lock, until another process notifies them:
/// [`wait`](Condition::wait) releases the lock, sleeps, and takes the lock again before it
/// returns. [`notify_n(n)`](Condition::notify_n) lets at most `n` of the processes that are
/// waiting when it is called return, oldest waiters first;
/// [`notify_all`](Condition::notify_all) lets them all return. As with every condition
/// variable, check the state you wait for in a loop, or use
/// [`wait_for`](Condition::wait_for).
///
/// Python requires the lock to be held to notify; here notifying without it is allowed and
/// loses nothing (a waiter registers before it releases the lock), but notify after changing,
/// under the lock, the state the waiters test.
///
/// The lock is robust: the guard returned by a wait tells whether a holder died in between
/// ([`ConditionGuard::previous_holder_died`]). A waiter killed while waiting may swallow one
/// notification (as in Python); any other death delays the survivors by at most a
/// [`LIVENESS_SLICE`](crate::time::LIVENESS_SLICE).
///
/// Waiters are counted in two groups, those a notification may reach and those that came
/// after the last group switch; each group counts at most 16383 (beyond, `wait` fails with
/// [`SyncError::TooManyWaiters`]).
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
/// use ipc_common::{Condition, Process, ShmBox};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ready = Condition::new()?;
/// let items = ShmBox::new(AtomicU32::new(0))?;
/// let consumer = Process::start("consumer", || -> Result<(), ipc_common::SyncError> {
///     let guard = ready.acquire()?;
///     let (_guard, ok) = ready.wait_for(guard, || items.load(SeqCst) > 0, None)?;
///     assert!(ok);
///     Ok(())
/// })?;
/// {
///     let _guard = ready.acquire()?;
///     items.store(1, SeqCst);
///     ready.notify();
/// }
/// assert_eq!(consumer.join()?, 0);
/// # Ok(()) }
/// ```
pub struct Condition<'l> {
    lock: ConditionLock<'l>,
    shared: std::sync::Arc<ShmBox<Shared>>,
}

impl Clone for ConditionLock<'_> {
    fn clone(&self) -> Self {
        Self(match &self.0 {
            Kind::Lock(l) => Kind::Lock(l.clone()),
            Kind::RLock(l) => Kind::RLock(l.clone()),
            Kind::SharedLock(l) => Kind::SharedLock(l),
            Kind::SharedRLock(l) => Kind::SharedRLock(l),
        })
    }
}

impl Clone for Condition<'_> {
    /// Another handle to the same condition, with the same lock.
    fn clone(&self) -> Self {
        Self {
            lock: self.lock.clone(),
            shared: std::sync::Arc::clone(&self.shared),
        }
    }
}

/// A condition as it travels to a child: its lock (whichever kind, by value) and its state.
#[derive(serde::Serialize, serde::Deserialize)]
enum Wire {
    Lock(Lock, std::sync::Arc<ShmBox<Shared>>),
    RLock(RLock, std::sync::Arc<ShmBox<Shared>>),
}

impl serde::Serialize for Condition<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let shared = std::sync::Arc::clone(&self.shared);
        match self.lock.get() {
            LockRef::Lock(l) => Wire::Lock(l.clone(), shared),
            LockRef::RLock(l) => Wire::RLock(l.clone(), shared),
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Condition<'static> {
    /// The condition a parent passed, owning (a handle to) its lock.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Wire::deserialize(deserializer)? {
            Wire::Lock(lock, shared) => Self {
                lock: lock.into(),
                shared,
            },
            Wire::RLock(lock, shared) => Self {
                lock: lock.into(),
                shared,
            },
        })
    }
}

impl Condition<'static> {
    /// A condition with a new [`RLock`] of its own (Python's `Condition()`).
    ///
    /// # Errors
    ///
    /// Fails if the shared mappings or the lock cannot be made.
    pub fn new() -> Result<Self, SyncError> {
        Self::with_lock(RLock::new()?)
    }
}

impl<'l> Condition<'l> {
    /// A condition that waits with `lock` (Python's `Condition(lock)`): a [`Lock`] or an
    /// [`RLock`], given to it or lent (`&lock`) so that others share it.
    ///
    /// # Errors
    ///
    /// Fails if the shared mapping cannot be made.
    pub fn with_lock(lock: impl Into<ConditionLock<'l>>) -> Result<Self, SyncError> {
        let shared = ShmBox::new(Shared::default()).map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        Ok(Self {
            lock: lock.into(),
            shared: std::sync::Arc::new(shared),
        })
    }

    /// Takes the condition's lock (Python's `acquire()`, or `with cond:`).
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn acquire(&self) -> Result<ConditionGuard<'_>, SyncError> {
        Ok(match self.lock.get() {
            LockRef::Lock(l) => l.acquire()?.into(),
            LockRef::RLock(l) => l.acquire()?.into(),
        })
    }

    /// Waits at most `timeout` for the condition's lock; `Ok(None)` if it stayed taken
    /// (Python's `acquire(timeout=...)`). `Duration::MAX` waits forever.
    ///
    /// # Errors
    ///
    /// Only on an operating-system error.
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<ConditionGuard<'_>>, SyncError> {
        Ok(match self.lock.get() {
            LockRef::Lock(l) => l.acquire_timeout(timeout)?.map(Into::into),
            LockRef::RLock(l) => l.acquire_timeout(timeout)?.map(Into::into),
        })
    }

    /// Releases the lock held by `guard` (every level of an [`RLock`]), waits until notified,
    /// and takes the lock again (Python's `wait()`). Wake-ups without a notification do not
    /// happen, but check your condition in a loop anyway: another process may have changed
    /// it again before the lock was back.
    ///
    /// # Errors
    ///
    /// [`SyncError::WrongLock`] if `guard` does not hold this condition's lock (the guard is
    /// dropped); [`SyncError::TooManyWaiters`] if 16383 others wait already; an
    /// operating-system error of the lock.
    pub fn wait<'g>(&self, guard: ConditionGuard<'g>) -> Result<ConditionGuard<'g>, SyncError> {
        self.wait_until(guard, None).map(|(guard, _)| guard)
    }

    /// Like [`wait`](Condition::wait), but gives up waiting for a notification after
    /// `timeout` (Python's `wait(timeout)`): `true` if notified, `false` on timeout. Either
    /// way the lock is held again when it returns (taking it may add to the time). The wait
    /// is exact; `Duration::MAX` waits forever.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Condition::wait).
    pub fn wait_timeout<'g>(
        &self,
        guard: ConditionGuard<'g>,
        timeout: Duration,
    ) -> Result<(ConditionGuard<'g>, bool), SyncError> {
        self.wait_until(guard, deadline_after(timeout))
    }

    /// Waits until `predicate` returns `true`, or until `timeout` (if any) passes: Python's
    /// `wait_for(predicate, timeout)`. The predicate is called with the lock held, first
    /// before any wait. Returns the guard and the predicate's last result.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Condition::wait).
    pub fn wait_for<'g>(
        &self,
        mut guard: ConditionGuard<'g>,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<(ConditionGuard<'g>, bool), SyncError> {
        let deadline = timeout.and_then(deadline_after);
        loop {
            if predicate() {
                return Ok((guard, true));
            }
            if expired(deadline) {
                return Ok((guard, false));
            }
            guard = self.wait_until(guard, deadline)?.0;
        }
    }

    /// Lets one waiting process return (Python's `notify()`).
    pub fn notify(&self) {
        self.notify_n(1);
    }

    /// Lets at most `n` of the processes waiting now return, oldest first (Python's
    /// `notify(n)`).
    pub fn notify_n(&self, n: u32) {
        let s = &*self.shared;
        let mut woken = [0u32; 2];
        let changed = s.state.fetch_update(AcqRel, Acquire, |word| {
            let before = Groups::unpack(word);
            let mut g = before;
            woken = [0; 2];
            let mut left = n;
            while left > 0 {
                if g.g1 == 0 {
                    if g.g2 == 0 {
                        break;
                    }
                    g = g.switch();
                }
                let take = left.min(g.g1);
                g.g1 -= take;
                g.signals += take;
                left -= take;
                woken[(g.epoch & 1) as usize] += take;
            }
            (g != before).then(|| g.pack())
        });
        if changed.is_err() {
            return; // nobody waits
        }
        // Dying here leaves the signalled waiters asleep until their slice ends.
        fault::point("condition.notify.before_wake");
        for (parity, &count) in woken.iter().enumerate() {
            if count > 0 {
                s.seq[parity].fetch_add(1, Release);
                futex::wake(&s.seq[parity], i32::try_from(count).unwrap_or(i32::MAX));
            }
        }
    }

    /// Lets every waiting process return (Python's `notify_all()`).
    pub fn notify_all(&self) {
        self.notify_n(u32::MAX);
    }

    /// The raw mutex of this condition's lock.
    fn raw(&self) -> &RawLock {
        match self.lock.get() {
            LockRef::Lock(l) => l.raw(),
            LockRef::RLock(l) => l.raw(),
        }
    }

    fn wait_until<'g>(
        &self,
        mut guard: ConditionGuard<'g>,
        deadline: Option<Instant>,
    ) -> Result<(ConditionGuard<'g>, bool), SyncError> {
        if !std::ptr::eq(guard.raw(), self.raw()) {
            return Err(SyncError::WrongLock);
        }
        // Join G2 while the lock is still held (a notifier that takes the lock after us
        // counts us), then release it and sleep.
        let notified = guard.unlocked(|| self.join(), |mine| self.sleep(mine, deadline))?;
        Ok((guard, notified))
    }

    /// Counts a new waiter into G2; returns its epoch.
    fn join(&self) -> Result<u32, SyncError> {
        let mut mine = 0;
        self.shared
            .state
            .fetch_update(AcqRel, Acquire, |word| {
                let mut g = Groups::unpack(word);
                (g.g2 < MAX_WAITERS).then(|| {
                    g.g2 += 1;
                    mine = g.young();
                    g.pack()
                })
            })
            .map_err(|_| SyncError::TooManyWaiters { limit: MAX_WAITERS })?;
        Ok(mine)
    }

    /// Sleeps (lock released) until the waiter of epoch `mine` is notified (`true`) or the
    /// deadline passes (`false`, and it counts itself out).
    fn sleep(&self, mine: u32, deadline: Option<Instant>) -> bool {
        let s = &*self.shared;
        let seq = &s.seq[(mine & 1) as usize];
        loop {
            let seen = seq.load(Acquire);
            if let Standing::Notified = self.take_signal(mine) {
                return true;
            }
            match futex::sleep(seq, seen, deadline) {
                // Woken, maybe for a signal: dying here must not strand it.
                Slept::Woken => fault::point("condition.wait.woken"),
                Slept::Changed | Slept::Slice => {}
                Slept::Deadline => return self.leave(mine),
            }
        }
    }

    /// Takes a signal if the waiter of epoch `mine` is in G1 and one is there; tells whether
    /// it may return.
    fn take_signal(&self, mine: u32) -> Standing {
        let mut standing = Standing::Waiting;
        let _ = self.shared.state.fetch_update(AcqRel, Acquire, |word| {
            let mut g = Groups::unpack(word);
            if mine == g.epoch {
                if g.signals == 0 {
                    standing = Standing::Waiting;
                    return None;
                }
                g.signals -= 1;
                standing = Standing::Notified;
                Some(g.pack())
            } else {
                standing = if mine == g.young() {
                    Standing::Waiting
                } else {
                    Standing::Notified // our group was switched out: all were signalled
                };
                None
            }
        });
        standing
    }

    /// The waiter of epoch `mine` gives up at its deadline: takes a signal if one is there
    /// (`true`: notified in time), or counts itself out of its group (`false`).
    fn leave(&self, mine: u32) -> bool {
        let mut notified = false;
        let _ = self.shared.state.fetch_update(AcqRel, Acquire, |word| {
            let mut g = Groups::unpack(word);
            if mine == g.epoch {
                if g.signals > 0 {
                    g.signals -= 1;
                    notified = true;
                } else {
                    g.g1 -= 1;
                    notified = false;
                }
            } else if mine == g.young() {
                g.g2 -= 1;
                notified = false;
            } else {
                notified = true;
                return None;
            }
            Some(g.pack())
        });
        notified
    }
}

impl fmt::Debug for Condition<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = Groups::unpack(self.shared.state.load(Acquire));
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiting", &(g.g1 + g.g2))
            .finish()
    }
}

/// The lock of a [`Condition`], held by this thread: a [`LockGuard`] or an [`RLockGuard`]
/// (either converts into it with `into()`). Dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a>(GuardKind<'a>);

enum GuardKind<'a> {
    Lock(LockGuard<'a>),
    RLock(RLockGuard<'a>),
}

impl<'a> From<LockGuard<'a>> for ConditionGuard<'a> {
    fn from(guard: LockGuard<'a>) -> Self {
        Self(GuardKind::Lock(guard))
    }
}

impl<'a> From<RLockGuard<'a>> for ConditionGuard<'a> {
    fn from(guard: RLockGuard<'a>) -> Self {
        Self(GuardKind::RLock(guard))
    }
}

impl ConditionGuard<'_> {
    /// `true` if a holder of the lock died while holding it, before this thread took it
    /// (last): the state the condition is about may be half-updated.
    pub fn previous_holder_died(&self) -> bool {
        match &self.0 {
            GuardKind::Lock(g) => g.previous_holder_died(),
            GuardKind::RLock(g) => g.previous_holder_died(),
        }
    }

    fn raw(&self) -> &RawLock {
        match &self.0 {
            GuardKind::Lock(g) => g.raw(),
            GuardKind::RLock(g) => g.raw(),
        }
    }

    fn unlocked<P, R>(
        &mut self,
        prepare: impl FnOnce() -> Result<P, SyncError>,
        f: impl FnOnce(P) -> R,
    ) -> Result<R, SyncError> {
        match &mut self.0 {
            GuardKind::Lock(g) => g.unlocked(prepare, f),
            GuardKind::RLock(g) => g.unlocked(prepare, f),
        }
    }
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            GuardKind::Lock(g) => g.fmt(f),
            GuardKind::RLock(g) => g.fmt(f),
        }
    }
}
