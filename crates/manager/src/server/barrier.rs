//! Shared barriers: Python's `threading.Barrier(parties)`, living in the server.
//!
//! Waiters of one *generation* are released together when the last party arrives, each with
//! its arrival index. A waiter that times out breaks the barrier (Python's rule), and so does
//! a waiter whose client goes away: the other parties get `BrokenBarrierError` rather than wait
//! for a party that will never come. `reset` breaks the waiting generation and starts a fresh
//! one; `abort` breaks the barrier until the next `reset`.

use std::collections::HashMap;

use super::Outcome;
use super::reply::{Reply, unsupported};
use super::request::{End, Request};
use super::wait::{Cell, Peer, Waited, wait};
use crate::protocol::{ErrorKind, Op};

/// A barrier's state.
pub(super) struct Barrier {
    parties: u64,
    /// Parties arrived in the current generation.
    count: u64,
    generation: u64,
    broken: bool,
    /// For each generation with waiters still inside `wait`: how many.
    waiting: HashMap<u64, u64>,
    /// How each ended generation with waiters still inside ended: released (true) or reset.
    ended: HashMap<u64, bool>,
}

impl Barrier {
    pub(super) fn new(parties: u64) -> Barrier {
        Barrier {
            parties,
            count: 0,
            generation: 0,
            broken: false,
            waiting: HashMap::new(),
            ended: HashMap::new(),
        }
    }

    /// Ends the current generation (`released`, or reset) and starts the next one.
    fn end_generation(&mut self, released: bool) {
        if self.waiting.contains_key(&self.generation) {
            self.ended.insert(self.generation, released);
        }
        self.generation += 1;
        self.count = 0;
    }

    /// A waiter of `generation` leaves `wait`.
    fn leave(&mut self, generation: u64) {
        if let Some(n) = self.waiting.get_mut(&generation) {
            *n -= 1;
            if *n == 0 {
                self.waiting.remove(&generation);
                self.ended.remove(&generation);
            }
        }
    }
}

fn broken() -> Reply {
    Reply::Error(ErrorKind::BrokenBarrier, String::new())
}

/// Applies a barrier operation; `wait` waits.
pub(super) fn apply(
    cell: &Cell<Barrier>,
    peer: &Peer<'_>,
    request: &Request<'_>,
) -> Result<Outcome, End> {
    match request.op {
        Op::BarrierWait => wait_at(cell, peer, request),
        Op::BarrierReset => {
            let mut barrier = cell.lock();
            if barrier.count > 0 || barrier.broken {
                barrier.end_generation(false);
            }
            barrier.broken = false;
            drop(barrier);
            cell.changed();
            Ok(Reply::Done.into())
        }
        Op::BarrierAbort => {
            cell.lock().broken = true;
            cell.changed();
            Ok(Reply::Done.into())
        }
        Op::BarrierState => {
            let barrier = cell.lock();
            let n_waiting = if barrier.broken { 0 } else { barrier.count };
            let state = vec![barrier.parties, n_waiting, u64::from(barrier.broken)];
            Ok(Reply::Numbers(state).into())
        }
        op => Ok(unsupported(op).into()),
    }
}

/// Python's `Barrier.wait(timeout)`: the arrival index, once all parties have arrived.
fn wait_at(cell: &Cell<Barrier>, peer: &Peer<'_>, request: &Request<'_>) -> Result<Outcome, End> {
    let deadline = request.deadline(0)?;
    let (generation, index) = {
        let mut barrier = cell.lock();
        if barrier.broken {
            return Ok(broken().into());
        }
        let index = barrier.count;
        barrier.count += 1;
        if barrier.count == barrier.parties {
            // The last party: everyone goes.
            barrier.end_generation(true);
            drop(barrier);
            cell.changed();
            return Ok(Reply::Number(index).into());
        }
        let generation = barrier.generation;
        *barrier.waiting.entry(generation).or_default() += 1;
        (generation, index)
    };
    let (mut barrier, waited) = wait(cell, peer, deadline, |b| {
        if b.generation != generation {
            Some(b.ended.get(&generation).copied().unwrap_or(false))
        } else if b.broken {
            Some(false)
        } else {
            None
        }
    });
    barrier.leave(generation);
    // A timeout or a departure breaks the waiting generation (not a later one: a departed
    // party of a generation already released breaks nothing).
    let waiting = barrier.generation == generation && !barrier.broken;
    if matches!(waited, Waited::TimedOut | Waited::Gone) && waiting {
        barrier.broken = true;
        drop(barrier);
        cell.changed();
    }
    match waited {
        Waited::Ready(true) => Ok(Reply::Number(index).into()),
        Waited::Ready(false) | Waited::TimedOut => Ok(broken().into()),
        Waited::Gone => Err(End),
    }
}
