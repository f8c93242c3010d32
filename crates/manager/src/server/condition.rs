//! Shared conditions: Python's `threading.Condition`, over a lock of the server (its own
//! `RLock`, or a `Lock` or `RLock` given when it was made).
//!
//! `wait` follows Python's steps: the waiter must hold the lock; it joins the waiters, releases
//! the lock entirely (an `RLock` however many times it was acquired), sleeps until notified or
//! timed out, and takes the lock again as it held it, however long that takes. `notify(n)`
//! wakes the `n` longest waiting. A waiter that joins before it releases the lock cannot miss
//! a notification made after. If a notified waiter's client has gone away, its notification
//! passes to the next waiter, so that none is lost with it.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Outcome;
use super::reply::{Reply, unsupported};
use super::request::{End, Request};
use super::sync::{self, LockState};
use super::wait::{Cell, Peer, Waited, wait, wait_until};
use crate::protocol::{ErrorKind, Op};

/// A condition: its lock and its waiters.
pub(super) struct Condition {
    lock: Arc<Cell<LockState>>,
    /// The waiters in the order they came: a ticket each, and whether it was notified.
    waiters: VecDeque<(u64, bool)>,
    next_ticket: u64,
}

impl Condition {
    pub(super) fn new(lock: Arc<Cell<LockState>>) -> Condition {
        Condition {
            lock,
            waiters: VecDeque::new(),
            next_ticket: 0,
        }
    }

    /// Notifies the `n` longest-waiting waiters not notified yet.
    fn notify(&mut self, n: u64) {
        let waiting = self.waiters.iter_mut().filter(|(_, notified)| !notified);
        for (_, notified) in waiting.take(usize::try_from(n).unwrap_or(usize::MAX)) {
            *notified = true;
        }
    }

    /// Removes the waiter with `ticket`; whether it had been notified.
    fn leave(&mut self, ticket: u64) -> bool {
        match self.waiters.iter().position(|(t, _)| *t == ticket) {
            Some(at) => self
                .waiters
                .remove(at)
                .is_some_and(|(_, notified)| notified),
            None => false,
        }
    }
}

fn not_held(what: &str) -> Reply {
    Reply::Error(
        ErrorKind::NotHeld,
        format!("cannot {what} un-acquired lock"),
    )
}

/// Applies a condition's operation: `acquire` and `release` are its lock's.
pub(super) fn apply(
    cell: &Cell<Condition>,
    peer: &Peer<'_>,
    request: &Request<'_>,
) -> Result<Outcome, End> {
    let lock = Arc::clone(&cell.lock().lock);
    match request.op {
        Op::Acquire => sync::acquire(&lock, peer, request),
        Op::Release => Ok(sync::release(&lock, peer).into()),
        Op::CondNotify => {
            if !lock.lock().held_by(peer.id) {
                return Ok(not_held("notify on").into());
            }
            cell.lock().notify(request.number(0)?);
            cell.changed();
            Ok(Reply::Done.into())
        }
        Op::CondWait => wait_on(cell, &lock, peer, request),
        op => Ok(unsupported(op).into()),
    }
}

/// Python's `Condition.wait(timeout)`: `Flag(true)` if notified, `Flag(false)` if timed out;
/// the lock is held again either way.
fn wait_on(
    cell: &Cell<Condition>,
    lock: &Arc<Cell<LockState>>,
    peer: &Peer<'_>,
    request: &Request<'_>,
) -> Result<Outcome, End> {
    let deadline = request.deadline(0)?;
    // 1. Join the waiters, then release the lock: a notification made from now on finds us.
    if !lock.lock().held_by(peer.id) {
        return Ok(not_held("wait on").into());
    }
    let ticket = {
        let mut condition = cell.lock();
        let ticket = condition.next_ticket;
        condition.next_ticket += 1;
        condition.waiters.push_back((ticket, false));
        ticket
    };
    let count = lock.lock().take_all_of(peer.id);
    lock.changed();

    // 2. Sleep until notified, timed out, or our client is gone.
    let (mut condition, waited) = wait(cell, peer, deadline, |c| {
        c.waiters
            .iter()
            .any(|&(t, notified)| t == ticket && notified)
            .then_some(())
    });
    let notified = condition.leave(ticket);
    let notified = match waited {
        Waited::Ready(()) => true,
        Waited::TimedOut => notified,
        Waited::Gone => {
            if notified {
                condition.notify(1);
                drop(condition);
                cell.changed();
            }
            return Err(End);
        }
    };
    drop(condition);

    // 3. Take the lock again, as it was held, however long that takes.
    let waited = wait_until(lock, peer, None, |l| {
        l.restore(peer.id, count).then_some(())
    });
    match waited {
        Waited::Ready(()) => {
            peer.holds(lock);
            Ok(Reply::Flag(notified).into())
        }
        Waited::TimedOut | Waited::Gone => Err(End),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;
    use std::thread;
    use std::time::{Duration, Instant};

    use crate::address::Stream;

    /// A `CondWait` request without a timeout.
    fn wait_request() -> Vec<u8> {
        let mut frame = vec![Op::CondWait as u8, 0, 0, 0, 0];
        frame.extend_from_slice(&8u64.to_be_bytes());
        frame.extend_from_slice(&u64::MAX.to_be_bytes());
        frame
    }

    /// Starts a waiter: a client of its own (its end of the connection is returned) that
    /// takes the lock and waits; its outcome comes on the channel.
    fn waiter(
        id: u64,
        cell: &Arc<Cell<Condition>>,
        lock: &Arc<Cell<LockState>>,
    ) -> (UnixStream, mpsc::Receiver<Option<bool>>) {
        let (server_end, client_end) = UnixStream::pair().expect("pair");
        let (tx, rx) = mpsc::channel();
        let (cell, lock) = (Arc::clone(cell), Arc::clone(lock));
        thread::spawn(move || {
            let stream = Stream::Unix(server_end);
            let peer = Peer::new(id, &stream);
            assert!(lock.lock().try_take(id));
            let frame = wait_request();
            let (request, _) = Request::parse(&frame, 100).expect("request");
            let notified = match wait_on(&cell, &lock, &peer, &request) {
                Ok(outcome) => Some(matches!(outcome.reply, Reply::Flag(true))),
                Err(End) => None,
            };
            // The connection ends (its locks released) before the outcome is told, so that
            // the test sees the state after the end.
            drop(peer);
            let _ = tx.send(notified);
        });
        (client_end, rx)
    }

    fn until(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !condition() {
            assert!(Instant::now() < deadline, "never: {what}");
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// The longest waiter's client is gone when it is notified: the notification goes to the
    /// next waiter, and the gone one ends without the lock.
    #[test]
    fn a_notification_for_a_client_that_is_gone_goes_to_the_next_waiter() {
        let lock = Cell::new(LockState::new(true));
        let cell = Cell::new(Condition::new(Arc::clone(&lock)));
        let waiters = |c: &Cell<Condition>| c.lock().waiters.len();
        let (first_client, first) = waiter(1, &cell, &lock);
        until("the first waits", || waiters(&cell) == 1);
        let (_second_client, second) = waiter(2, &cell, &lock);
        until("the second waits", || waiters(&cell) == 2);
        drop(first_client);
        // Notify one, holding the lock as a third client.
        assert!(lock.lock().try_take(3));
        cell.lock().notify(1);
        cell.changed();
        assert_eq!(lock.lock().take_all_of(3), 1);
        lock.changed();
        let timeout = Duration::from_secs(30);
        assert_eq!(
            second.recv_timeout(timeout),
            Ok(Some(true)),
            "not passed on"
        );
        assert_eq!(first.recv_timeout(timeout), Ok(None));
        // (The second held the lock again, then its connection ended and released it.)
        assert!(!lock.lock().held_by(1) && !lock.lock().held_by(2));
        assert_eq!(waiters(&cell), 0);
    }
}
