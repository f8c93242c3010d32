//! Each object behind a mutex of its own, and how a client's request waits on one: until the
//! object is ready, its deadline passes, or the client goes away.
//!
//! A request that waits (a queue's `get`, a lock's `acquire`, ...) holds only its own
//! connection's thread, asleep on its object's condition variable. Whoever changes the object
//! wakes every sleeper of that object, and each looks again. A sleeper also wakes at least
//! every [`LIVENESS_SLICE`] to see whether its client is still there: a client that died (or
//! closed the connection) stops waiting, so it takes no item and no permit that nobody would
//! receive, and its thread ends.

use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use ipc_common::time::{expired, next_wake};

#[cfg(doc)]
use ipc_common::time::LIVENESS_SLICE;

use super::sync::LockState;
use crate::address::Stream;

/// An object of the server: its state, and the condition variable its waiters sleep on.
pub(super) struct Cell<T> {
    changed: Condvar,
    state: Mutex<T>,
}

impl<T> Cell<T> {
    pub(super) fn new(state: T) -> Arc<Cell<T>> {
        Arc::new(Cell {
            changed: Condvar::new(),
            state: Mutex::new(state),
        })
    }

    /// Locks the state. A thread that panicked while holding it left it consistent (every
    /// change is made in one step), so a poisoned mutex is used as it is.
    pub(super) fn lock(&self) -> MutexGuard<'_, T> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every waiter of this object, to look again.
    pub(super) fn changed(&self) {
        self.changed.notify_all();
    }
}

/// The client a connection's thread serves: its id (the owner of what it acquires), its
/// connection (to see whether it is gone), and the locks it holds.
pub(super) struct Peer<'a> {
    pub(super) id: u64,
    stream: &'a Stream,
    held: RefCell<Vec<Arc<Cell<LockState>>>>,
}

impl<'a> Peer<'a> {
    pub(super) fn new(id: u64, stream: &'a Stream) -> Peer<'a> {
        Peer {
            id,
            stream,
            held: RefCell::new(Vec::new()),
        }
    }

    /// Whether the client has closed its connection (it died, or its thread ended).
    pub(super) fn gone(&self) -> bool {
        self.stream.peer_gone()
    }

    /// Notes that this client acquired `lock`, to release it if the client goes away.
    pub(super) fn holds(&self, lock: &Arc<Cell<LockState>>) {
        let mut held = self.held.borrow_mut();
        if !held.iter().any(|h| Arc::ptr_eq(h, lock)) {
            held.push(Arc::clone(lock));
        }
    }
}

impl Drop for Peer<'_> {
    /// The connection ended: every lock this client still holds is released, and its waiters
    /// woken (Python's manager would keep it held for ever).
    fn drop(&mut self) {
        for lock in self.held.get_mut().drain(..) {
            if lock.lock().release_all_of(self.id) {
                lock.changed();
            }
        }
    }
}

/// How a wait ended.
pub(super) enum Waited<R> {
    /// The object was ready; what `ready` made of it.
    Ready(R),
    /// The deadline passed first.
    TimedOut,
    /// The client went away first.
    Gone,
}

/// As [`wait`], for a caller that needs only the outcome (the state is unlocked at once).
pub(super) fn wait_until<T, R>(
    cell: &Cell<T>,
    peer: &Peer<'_>,
    deadline: Option<Instant>,
    ready: impl FnMut(&mut T) -> Option<R>,
) -> Waited<R> {
    wait(cell, peer, deadline, ready).1
}

/// Waits until `ready` returns something (it is called with the state locked, first at once,
/// then each time the object changes), the deadline passes, or `peer` is gone. Returns the
/// state, still locked, with the outcome, so that the caller can tidy up in the same step.
///
/// Whether the client is gone is looked at first, every time: a client that has gone away is
/// never given what is ready (an item, a permit, a notification), which stays for the others.
pub(super) fn wait<'c, T, R>(
    cell: &'c Cell<T>,
    peer: &Peer<'_>,
    deadline: Option<Instant>,
    mut ready: impl FnMut(&mut T) -> Option<R>,
) -> (MutexGuard<'c, T>, Waited<R>) {
    let mut state = cell.lock();
    loop {
        if peer.gone() {
            return (state, Waited::Gone);
        }
        if let Some(r) = ready(&mut state) {
            return (state, Waited::Ready(r));
        }
        if expired(deadline) {
            return (state, Waited::TimedOut);
        }
        // Asleep for one slice at most (or to the deadline), then look again.
        let sleep = next_wake(deadline).saturating_duration_since(Instant::now());
        state = cell
            .changed
            .wait_timeout(state, sleep)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}
