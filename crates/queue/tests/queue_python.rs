//! Python's other queues across real processes: `JoinableQueue` (`task_done`, `join`, and
//! `task_done` called too often) and `SimpleQueue` (`put`, `get`, `empty`, `close`).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::{Process, ShmBox};
use queue::{JoinableQueue, QueueError, SimpleQueue};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `join` returns once every task put has been marked done, not before: when it returns, the
/// workers have finished all of them.
fn join_waits_for_every_task_done() {
    const TASKS: u64 = 40;
    let tasks = JoinableQueue::<Option<u64>>::new(0).expect("queue");
    let finished = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let workers: Vec<Process> = (0..3)
        .map(|w| {
            Process::start(format!("worker{w}"), || {
                while let Some(n) = tasks.get().expect("get") {
                    std::thread::sleep(ms(n % 5));
                    finished.fetch_add(1, SeqCst);
                    tasks.task_done().expect("task_done");
                }
                tasks.task_done().expect("task_done of the stop");
            })
            .expect("start")
        })
        .collect();
    for n in 0..TASKS {
        tasks.put(&Some(n)).expect("put");
    }
    tasks.join().expect("join");
    assert_eq!(
        finished.load(SeqCst),
        TASKS,
        "join returned before the tasks were done"
    );
    assert_eq!(tasks.unfinished(), 0);
    for _ in &workers {
        tasks.put(&None).expect("put stop");
    }
    assert!(
        tasks.join_timeout(Duration::MAX),
        "Duration::MAX waits forever"
    );
    for w in workers {
        w.join_ok().expect("worker");
    }
}

/// A task never marked done keeps `join` waiting: `join_timeout` ends at its timeout.
fn join_timeout_ends_while_a_task_is_unfinished() {
    let tasks = JoinableQueue::<u8>::new(0).expect("queue");
    tasks.put(&1).expect("put");
    tasks.put(&2).expect("put");
    assert_eq!(tasks.get().expect("get"), 1);
    tasks.task_done().expect("task_done");
    assert_eq!(tasks.unfinished(), 1);
    let start = Instant::now();
    assert!(!tasks.join_timeout(ms(100)));
    let took = start.elapsed();
    assert!(took >= ms(100) && took < ms(160), "took {took:?}");
    // A consumer in another process finishes it: the joiner wakes.
    let consumer = Process::start("consumer", || {
        std::thread::sleep(ms(50));
        assert_eq!(tasks.get().expect("get"), 2);
        tasks.task_done().expect("task_done");
    })
    .expect("start");
    assert!(tasks.join_timeout(ms(10_000)));
    consumer.join_ok().expect("consumer");
}

/// `task_done` more often than tasks were put is an error (Python's `ValueError`), and the
/// count is left right.
fn task_done_too_often_is_an_error() {
    let tasks = JoinableQueue::<u8>::new(0).expect("queue");
    let err = tasks.task_done().expect_err("no task yet");
    assert!(matches!(err, QueueError::TaskDoneTooManyTimes));
    assert_eq!(err.to_string(), "task_done() called too many times");
    tasks.put(&1).expect("put");
    tasks.task_done().expect("one task");
    assert!(tasks.task_done().is_err());
    assert_eq!(tasks.unfinished(), 0);
    tasks.put(&2).expect("put");
    assert_eq!(tasks.unfinished(), 1, "the failed calls counted nothing");
}

fn simple_queue_puts_gets_and_closes() {
    let q = SimpleQueue::<String>::new().expect("queue");
    assert!(q.empty());
    let child = Process::start("child", || {
        for i in 0..3 {
            q.put(&format!("m{i}")).expect("put");
        }
        q.close();
        assert!(matches!(q.put(&"late".into()), Err(QueueError::Closed)));
    })
    .expect("start");
    for i in 0..3 {
        assert_eq!(q.get().expect("get"), format!("m{i}"));
    }
    child.join_ok().expect("child");
    assert!(q.empty());
    q.put(&"still open here".into())
        .expect("the child's close is its own");
    q.close();
    assert!(matches!(q.get(), Err(QueueError::Closed)));
    assert!(matches!(q.put(&"x".into()), Err(QueueError::Closed)));
    assert!(!q.empty(), "the message stays for other processes");
}

fn main() {
    ipc_common::testing::run(&[
        (
            "join_waits_for_every_task_done",
            join_waits_for_every_task_done,
        ),
        (
            "join_timeout_ends_while_a_task_is_unfinished",
            join_timeout_ends_while_a_task_is_unfinished,
        ),
        (
            "task_done_too_often_is_an_error",
            task_done_too_often_is_an_error,
        ),
        (
            "simple_queue_puts_gets_and_closes",
            simple_queue_puts_gets_and_closes,
        ),
    ]);
}
