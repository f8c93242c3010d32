//! The `Worker` trait across real processes, under every start method: the child runs `run`
//! on its own copy of the worker (taken at `start`, serialized under spawn and forkserver), its
//! shared fields (queues) reach the same memory as the parent's, and a typed error from `run`
//! ends the child with exit code 1. A `harness = false` program, since some tests fork.

use std::fmt;

use custom_worker::Worker;
use ipc_common::{Context, StartMethod, get_context};
use queue::{Queue, QueueError};
use serde::{Deserialize, Serialize};

const METHODS: [StartMethod; 3] = [
    StartMethod::Fork,
    StartMethod::Spawn,
    StartMethod::Forkserver,
];

/// Why an [`Echo`] stopped unsuccessfully.
#[derive(Debug)]
enum EchoError {
    /// It was told to fail on this number.
    Refused(u64),
    Queue(QueueError),
}

impl fmt::Display for EchoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EchoError::Refused(n) => write!(f, "refused {n}"),
            EchoError::Queue(e) => write!(f, "queue: {e}"),
        }
    }
}

impl From<QueueError> for EchoError {
    fn from(e: QueueError) -> Self {
        EchoError::Queue(e)
    }
}

/// Sends back `(tag, n)` for every `n` it gets, until `None`; fails on `refuse`.
#[derive(Clone, Serialize, Deserialize)]
struct Echo {
    inbox: Queue<Option<u64>>,
    outbox: Queue<(u64, u64)>,
    tag: u64,
    refuse: u64,
}

impl Worker for Echo {
    type Error = EchoError;

    fn run(&mut self) -> Result<(), EchoError> {
        while let Some(n) = self.inbox.get()? {
            if n == self.refuse {
                return Err(EchoError::Refused(n));
            }
            self.outbox.put(&(self.tag, n))?;
        }
        Ok(())
    }
}

fn echo(tag: u64) -> Echo {
    Echo {
        inbox: Queue::new(0).expect("queue"),
        outbox: Queue::new(0).expect("queue"),
        tag,
        refuse: u64::MAX,
    }
}

/// The child works on the copy taken at `start`: the parent's later change of a plain field
/// never reaches it (the note's `stop()`), while the queues are the very same queues.
fn the_child_has_its_own_copy() {
    for method in METHODS {
        let mut worker = echo(7);
        let child = worker
            .start_with(get_context(method), format!("echo-{method}"))
            .expect("start");
        assert_eq!(child.name(), format!("echo-{method}"));
        worker.tag = 99; // the parent's copy only
        for n in 0..5 {
            worker.inbox.put(&Some(n)).expect("put");
        }
        worker.inbox.put(&None).expect("put");
        let got: Vec<(u64, u64)> = (0..5).map(|_| worker.outbox.get().expect("get")).collect();
        assert_eq!(got, (0..5).map(|n| (7, n)).collect::<Vec<_>>(), "{method}");
        assert_eq!(child.join().expect("join"), 0, "{method}");
    }
}

/// `run`'s typed error ends the child with exit code 1, under every method.
fn an_error_from_run_ends_the_child_with_status_1() {
    for method in METHODS {
        let mut worker = echo(1);
        worker.refuse = 3;
        let child = worker
            .start_with(get_context(method), "refuser")
            .expect("start");
        for n in 1..=3 {
            worker.inbox.put(&Some(n)).expect("put");
        }
        assert_eq!(worker.outbox.get().expect("get"), (1, 1));
        assert_eq!(worker.outbox.get().expect("get"), (1, 2));
        assert_eq!(child.join().expect("join"), 1, "{method}");
    }
}

/// `start` uses the program's start method (fork unless set): the same as `start_with` the
/// default context.
fn start_follows_the_default_method() {
    assert_eq!(Context::default_method().start_method(), StartMethod::Fork);
    let worker = echo(3);
    let child = worker.start("default").expect("start");
    worker.inbox.put(&Some(1)).expect("put");
    worker.inbox.put(&None).expect("put");
    assert_eq!(worker.outbox.get().expect("get"), (3, 1));
    assert_eq!(child.join().expect("join"), 0);
}

fn main() {
    ipc_common::testing::run(&[
        ("the_child_has_its_own_copy", the_child_has_its_own_copy),
        (
            "an_error_from_run_ends_the_child_with_status_1",
            an_error_from_run_ends_the_child_with_status_1,
        ),
        (
            "start_follows_the_default_method",
            start_follows_the_default_method,
        ),
    ]);
}
