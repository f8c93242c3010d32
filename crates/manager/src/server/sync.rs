//! Shared locks, semaphores and events: Python's `threading.Lock`, `RLock`, `Semaphore`,
//! `BoundedSemaphore` and `Event`, living in the server.
//!
//! A client is a connection (one per thread and process, see `client.rs`): it owns the `RLock`
//! it acquired, and a `Lock` it holds is released when its connection closes, whether it
//! ended its thread, exited or was killed. Python's manager keeps such a lock held for ever.
//! Semaphores are not owned (one process often releases what another acquired, to signal), so
//! their permits stay as the clients left them, as in Python; only a permit taken for a
//! client that went away before it was told is given back.

use std::sync::Arc;

use super::reply::{Reply, unsupported};
use super::request::{End, Request};
use super::wait::{Cell, Peer, Waited, wait_until};
use super::{Outcome, Undo};
use crate::protocol::{ErrorKind, Op};

/// A lock: who holds it and how many times (an `RLock` may be acquired again by its holder).
pub(super) struct LockState {
    reentrant: bool,
    /// The connection that holds it.
    holder: Option<u64>,
    /// How many times the holder acquired it (1 for a `Lock`).
    count: u64,
}

impl LockState {
    pub(super) fn new(reentrant: bool) -> LockState {
        LockState {
            reentrant,
            holder: None,
            count: 0,
        }
    }

    /// Takes the lock for `peer` if it can be taken now.
    pub(super) fn try_take(&mut self, peer: u64) -> bool {
        match self.holder {
            None => {
                self.holder = Some(peer);
                self.count = 1;
                true
            }
            Some(holder) if self.reentrant && holder == peer => {
                self.count += 1;
                true
            }
            Some(_) => false,
        }
    }

    /// Whether `peer` holds the lock.
    pub(super) fn held_by(&self, peer: u64) -> bool {
        self.holder == Some(peer)
    }

    /// Releases the lock entirely if `peer` holds it; whether it did.
    pub(super) fn release_all_of(&mut self, peer: u64) -> bool {
        self.take_all_of(peer) > 0
    }

    /// Releases the lock entirely if `peer` holds it; returns the count it held (0: none),
    /// so that a condition's `wait` can take it again as it was.
    pub(super) fn take_all_of(&mut self, peer: u64) -> u64 {
        if !self.held_by(peer) {
            return 0;
        }
        self.holder = None;
        std::mem::take(&mut self.count)
    }

    /// Takes the lock for `peer` with the count it had, if it is free.
    pub(super) fn restore(&mut self, peer: u64, count: u64) -> bool {
        if self.holder.is_some() {
            return false;
        }
        self.holder = Some(peer);
        self.count = count;
        true
    }
}

/// Acquires `lock` for `peer`, waiting up to the request's deadline: `Flag(true)` when
/// acquired, `Flag(false)` when the deadline passed first.
pub(super) fn acquire(
    lock: &Arc<Cell<LockState>>,
    peer: &Peer<'_>,
    request: &Request<'_>,
) -> Result<Outcome, End> {
    let waited = wait_until(lock, peer, request.deadline(0)?, |l| {
        l.try_take(peer.id).then_some(())
    });
    match waited {
        Waited::Ready(()) => {
            peer.holds(lock);
            Ok(Reply::Flag(true).into())
        }
        Waited::TimedOut => Ok(Reply::Flag(false).into()),
        Waited::Gone => Err(End),
    }
}

/// Releases `lock` once for `peer`. A `Lock` may be released by anyone while it is held (as
/// Python's); an `RLock` only by its holder.
pub(super) fn release(lock: &Cell<LockState>, peer: &Peer<'_>) -> Reply {
    let mut state = lock.lock();
    let refuse = |message: &str| Reply::Error(ErrorKind::NotHeld, message.into());
    match state.holder {
        None => return refuse("release unlocked lock"),
        Some(holder) if state.reentrant && holder != peer.id => {
            return refuse("cannot release un-acquired lock");
        }
        Some(_) => {}
    }
    state.count = state.count.saturating_sub(1);
    if state.count == 0 || !state.reentrant {
        state.holder = None;
        state.count = 0;
        drop(state);
        lock.changed();
    }
    Reply::Done
}

/// Applies a `Lock` or `RLock` operation.
pub(super) fn apply_lock(
    lock: &Arc<Cell<LockState>>,
    peer: &Peer<'_>,
    request: &Request<'_>,
) -> Result<Outcome, End> {
    match request.op {
        Op::Acquire => acquire(lock, peer, request),
        Op::Release => Ok(release(lock, peer).into()),
        op => Ok(unsupported(op).into()),
    }
}

/// A semaphore's permits, and for a bounded one the most it may have.
pub(super) struct Semaphore {
    value: u64,
    bound: Option<u64>,
}

impl Semaphore {
    pub(super) fn new(value: u64, bounded: bool) -> Semaphore {
        Semaphore {
            value,
            bound: bounded.then_some(value),
        }
    }
}

/// Gives back a permit taken for a client that could not be told.
pub(super) fn give_back(cell: &Cell<Semaphore>) {
    cell.lock().value += 1;
    cell.changed();
}

/// Applies a `Semaphore` or `BoundedSemaphore` operation.
pub(super) fn apply_semaphore(
    cell: &Arc<Cell<Semaphore>>,
    peer: &Peer<'_>,
    request: &Request<'_>,
) -> Result<Outcome, End> {
    match request.op {
        Op::Acquire => {
            let waited = wait_until(cell, peer, request.deadline(0)?, |s| {
                s.value.checked_sub(1).map(|left| s.value = left)
            });
            match waited {
                Waited::Ready(()) => Ok(Outcome {
                    reply: Reply::Flag(true),
                    undo: Some(Undo::Release(Arc::clone(cell))),
                }),
                Waited::TimedOut => Ok(Reply::Flag(false).into()),
                Waited::Gone => Err(End),
            }
        }
        Op::Release => {
            let mut semaphore = cell.lock();
            if semaphore
                .bound
                .is_some_and(|bound| semaphore.value >= bound)
            {
                return Ok(Reply::Error(
                    ErrorKind::TooManyReleases,
                    "Semaphore released too many times".into(),
                )
                .into());
            }
            semaphore.value = semaphore.value.saturating_add(1);
            drop(semaphore);
            cell.changed();
            Ok(Reply::Done.into())
        }
        op => Ok(unsupported(op).into()),
    }
}

/// Applies an `Event` operation.
pub(super) fn apply_event(
    cell: &Cell<bool>,
    peer: &Peer<'_>,
    request: &Request<'_>,
) -> Result<Outcome, End> {
    let set = |value: bool| {
        *cell.lock() = value;
        cell.changed();
        Ok(Reply::Done.into())
    };
    match request.op {
        Op::EventSet => set(true),
        Op::EventClear => set(false),
        Op::EventIsSet => Ok(Reply::Flag(*cell.lock()).into()),
        Op::EventWait => {
            let waited = wait_until(cell, peer, request.deadline(0)?, |set| set.then_some(()));
            match waited {
                Waited::Ready(()) => Ok(Reply::Flag(true).into()),
                Waited::TimedOut => Ok(Reply::Flag(false).into()),
                Waited::Gone => Err(End),
            }
        }
        op => Ok(unsupported(op).into()),
    }
}
