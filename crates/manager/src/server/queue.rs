//! Shared queues: Python's `queue.Queue` (which is also what a manager's `JoinableQueue` is),
//! with `maxsize`, blocking `put` and `get` with timeouts, and `task_done`/`join`.
//!
//! An item taken by `get` is put back at the head of the queue if its reply cannot be written
//! (the client went away meanwhile): it is never lost between the queue and a dead client.

use std::collections::VecDeque;
use std::sync::Arc;

use super::reply::{Reply, unsupported};
use super::request::{Bytes, End, Request};
use super::wait::{Cell, Peer, Waited, wait, wait_until};
use super::{Outcome, Undo};
use crate::protocol::{ErrorKind, Op};

/// A FIFO queue.
pub(super) struct Queue {
    items: VecDeque<Bytes>,
    /// The most items it holds; 0 for no limit (Python's `maxsize <= 0`).
    maxsize: usize,
    /// Items put and not yet marked done with `task_done`.
    unfinished: u64,
}

impl Queue {
    pub(super) fn new(maxsize: usize) -> Queue {
        Queue {
            items: VecDeque::new(),
            maxsize,
            unfinished: 0,
        }
    }

    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }
}

/// Puts back an item whose `get` could not be answered, at the head where it was.
pub(super) fn requeue(cell: &Cell<Queue>, item: Bytes) {
    cell.lock().items.push_front(item);
    cell.changed();
}

/// Applies a queue operation; `put`, `get` and `join` may wait.
pub(super) fn apply(
    cell: &Arc<Cell<Queue>>,
    peer: &Peer<'_>,
    request: &Request<'_>,
) -> Result<Outcome, End> {
    match request.op {
        Op::QueuePut => {
            let item = request.field(1)?;
            let (mut queue, waited) = wait(cell, peer, request.deadline(0)?, |q| {
                (!q.full()).then_some(())
            });
            match waited {
                Waited::Ready(()) => {
                    queue.items.push_back(item.into());
                    queue.unfinished += 1;
                    drop(queue);
                    cell.changed();
                    Ok(Reply::Done.into())
                }
                Waited::TimedOut => Ok(Reply::Error(ErrorKind::Full, String::new()).into()),
                Waited::Gone => Err(End),
            }
        }
        Op::QueueGet => {
            let (queue, waited) = wait(cell, peer, request.deadline(0)?, |q| q.items.pop_front());
            drop(queue);
            match waited {
                Waited::Ready(item) => {
                    cell.changed();
                    Ok(Outcome {
                        reply: Reply::Found(Some(Arc::clone(&item))),
                        undo: Some(Undo::Requeue(Arc::clone(cell), item)),
                    })
                }
                Waited::TimedOut => Ok(Reply::Error(ErrorKind::Empty, String::new()).into()),
                Waited::Gone => Err(End),
            }
        }
        Op::QueueJoin => {
            let waited = wait_until(cell, peer, request.deadline(0)?, |q| {
                (q.unfinished == 0).then_some(())
            });
            match waited {
                Waited::Ready(()) => Ok(Reply::Flag(true).into()),
                Waited::TimedOut => Ok(Reply::Flag(false).into()),
                Waited::Gone => Err(End),
            }
        }
        Op::QueueTaskDone => {
            let mut queue = cell.lock();
            if queue.unfinished == 0 {
                return Ok(Reply::Error(
                    ErrorKind::TooManyReleases,
                    "task_done() called too many times".into(),
                )
                .into());
            }
            queue.unfinished -= 1;
            if queue.unfinished == 0 {
                cell.changed();
            }
            Ok(Reply::Done.into())
        }
        Op::QueueSize => Ok(Reply::Number(cell.lock().items.len() as u64).into()),
        Op::QueueFull => Ok(Reply::Flag(cell.lock().full()).into()),
        op => Ok(unsupported(op).into()),
    }
}
