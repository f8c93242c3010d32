//! Queues passed to children started by spawn and forkserver (as arguments), from a program
//! with threads (libtest's): every message exactly once. Ordinary `#[test]`s.

use ipc_common::{Process, StartMethod, get_context};
use queue::{JoinableQueue, Queue, QueueError, SimpleQueue};

fn producer((q, from, n): (Queue<Option<u64>>, u64, u64)) -> Result<(), QueueError> {
    for i in from..from + n {
        q.put(&Some(i))?;
    }
    q.put(&None)
}

fn consumer((q, out): (Queue<Option<u64>>, Queue<u64>)) -> Result<(), QueueError> {
    let mut sum = 0;
    while let Some(i) = q.get()? {
        sum += i;
    }
    out.put(&sum)
}

#[test]
fn every_message_once_across_spawned_children() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let q = Queue::<Option<u64>>::new(100).expect("queue");
        let sums = Queue::<u64>::new(0).expect("queue");
        let ctx = get_context(method);
        let mut kids: Vec<Process> = (0..2)
            .map(|c| {
                ctx.process(consumer, (q.clone(), sums.clone()))
                    .name(format!("consumer-{c}"))
                    .start()
                    .expect("start")
            })
            .collect();
        kids.extend((0..2).map(|p| {
            ctx.process(producer, (q.clone(), p * 1000, 1000))
                .start()
                .expect("start")
        }));
        for k in &kids {
            assert_eq!(k.join().expect("join"), 0, "{method}");
        }
        let total = sums.get().expect("sum") + sums.get().expect("sum");
        assert_eq!(total, (0..2000).sum::<u64>(), "{method}");
        assert!(q.empty());
    }
}

fn worker((jobs, simple): (JoinableQueue<u32>, SimpleQueue<u32>)) -> Result<(), QueueError> {
    for _ in 0..3 {
        let n = jobs.get()?;
        simple.put(&(n * n))?;
        jobs.task_done()?;
    }
    Ok(())
}

#[test]
fn joinable_and_simple_queues_travel_too() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let jobs = JoinableQueue::<u32>::new(0).expect("queue");
        let results = SimpleQueue::<u32>::new().expect("queue");
        let p = get_context(method)
            .process(worker, (jobs.clone(), results.clone()))
            .start()
            .expect("start");
        for n in 1..=3 {
            jobs.put(&n).expect("put");
        }
        jobs.join().expect("join: every task done");
        let mut squares: Vec<u32> = (0..3).map(|_| results.get().expect("get")).collect();
        squares.sort();
        assert_eq!(squares, [1, 4, 9], "{method}");
        assert_eq!(p.join().expect("join"), 0);
    }
}

#[test]
fn a_queue_cannot_travel_through_a_queue() {
    let inner = Queue::<u32>::new(0).expect("queue");
    let outer = Queue::<Queue<u32>>::new(0).expect("queue");
    let err = outer.put(&inner).expect_err("a queue is not a message");
    assert!(
        err.to_string().contains("argument of a process start"),
        "{err}"
    );
}
