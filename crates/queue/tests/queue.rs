//! `Queue` across real processes: every message exactly once, exact timeouts (and
//! `Duration::MAX` as forever), blocking while full, messages larger than the ring, oversized
//! messages refused, undecodable messages that leave the queue in sync, `close`, and
//! structured messages intact.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::{Process, ShmBox, ShmSlice};
use queue::{DEFAULT_CAPACITY, Queue, QueueError};
use serde::{Deserialize, Serialize};

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 10_000;
const CONSUMERS: usize = 3;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A message whose text is derived from its id, so a torn or mixed message is noticed.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Item {
    id: u64,
    text: String,
}

impl Item {
    /// Mostly small; one in 50 is 5 to 20 times the 4 KiB ring of the exactly-once test, one
    /// in 10 fits in it in pieces.
    fn new(id: u64) -> Item {
        let len = match id % 50 {
            0 => 20_000 + (id % 60_000) as usize,
            n if n % 10 == 1 => 1_500 + (id % 2_000) as usize,
            _ => (id % 37) as usize,
        };
        Item {
            id,
            text: "x".repeat(len) + &id.to_string(),
        }
    }
}

fn every_message_exactly_once() {
    // A small ring and a small maxsize: producers block often, messages wrap around, and
    // some are streamed through the ring while others wait.
    let queue = Queue::<Option<Item>>::with_capacity(64, 4096).expect("queue");
    let total = (PRODUCERS * PER_PRODUCER) as usize;
    let seen = ShmSlice::<AtomicU8>::zeroed(total).expect("shm");
    let count = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let checksum = ShmBox::new(AtomicU64::new(0)).expect("shm");
    let consumers: Vec<Process> = (0..CONSUMERS)
        .map(|c| {
            Process::start(format!("consumer{c}"), || {
                while let Some(item) = queue.get().expect("get") {
                    assert_eq!(item, Item::new(item.id), "message torn or mixed");
                    seen[item.id as usize].fetch_add(1, SeqCst);
                    count.fetch_add(1, SeqCst);
                    checksum.fetch_add(item.id * item.id, SeqCst);
                }
            })
            .expect("start consumer")
        })
        .collect();
    let producers: Vec<Process> = (0..PRODUCERS)
        .map(|p| {
            Process::start(format!("producer{p}"), || {
                for i in 0..PER_PRODUCER {
                    queue
                        .put(&Some(Item::new(p * PER_PRODUCER + i)))
                        .expect("put");
                }
            })
            .expect("start producer")
        })
        .collect();
    for p in producers {
        p.join_ok().expect("producer");
    }
    for _ in 0..CONSUMERS {
        queue.put(&None).expect("put stop");
    }
    for c in consumers {
        c.join_ok().expect("consumer");
    }
    let lost = seen.iter().filter(|s| s.load(SeqCst) == 0).count();
    let doubled = seen.iter().filter(|s| s.load(SeqCst) > 1).count();
    assert_eq!((lost, doubled), (0, 0), "messages lost / delivered twice");
    assert_eq!(count.load(SeqCst), PRODUCERS * PER_PRODUCER);
    let n = PRODUCERS * PER_PRODUCER;
    assert_eq!(checksum.load(SeqCst), (0..n).map(|i| i * i).sum::<u64>());
    assert!(queue.empty());
}

fn fifo_order_from_one_producer() {
    let queue = Queue::<u32>::with_capacity(0, 4096).expect("queue");
    let producer = Process::start("producer", || {
        for i in 0..5_000 {
            queue.put(&i).expect("put");
        }
    })
    .expect("start");
    for i in 0..5_000 {
        assert_eq!(queue.get().expect("get"), i);
    }
    producer.join_ok().expect("producer");
}

fn get_timeout_on_empty_waits_the_timeout() {
    let queue = Queue::<String>::new(0).expect("queue");
    let start = Instant::now();
    let got = queue.get_timeout(ms(300));
    let took = start.elapsed();
    assert!(matches!(got, Err(QueueError::Empty)), "got {got:?}");
    assert!(took >= ms(300), "early: {took:?}");
    assert!(took < ms(360), "late: {took:?}");
    let start = Instant::now();
    assert!(matches!(queue.get_nowait(), Err(QueueError::Empty)));
    assert!(start.elapsed() < ms(50));
}

fn put_timeout_on_full_queue_fails() {
    let queue = Queue::<u8>::new(2).expect("queue");
    queue.put(&1).expect("put");
    assert!(!queue.full());
    queue.put(&2).expect("put");
    assert!(queue.full());
    assert_eq!(queue.qsize(), 2);
    let start = Instant::now();
    let got = queue.put_timeout(&3, ms(200));
    let took = start.elapsed();
    assert!(matches!(got, Err(QueueError::Full)), "got {got:?}");
    assert!(took >= ms(200), "early: {took:?}");
    assert!(matches!(queue.put_nowait(&3), Err(QueueError::Full)));
    assert_eq!(queue.get().expect("get"), 1);
    queue.put_nowait(&3).expect("room again");
    assert_eq!(queue.get().expect("get"), 2);
    assert_eq!(queue.get().expect("get"), 3);
    assert!(queue.empty());
}

fn put_blocks_while_full_and_resumes_on_get() {
    let queue = Queue::<u32>::new(1).expect("queue");
    queue.put(&1).expect("put");
    let consumer = Process::start("consumer", || {
        std::thread::sleep(ms(150));
        assert_eq!(queue.get().expect("get"), 1);
    })
    .expect("start");
    let start = Instant::now();
    queue.put(&2).expect("put after room was made");
    let took = start.elapsed();
    consumer.join_ok().expect("consumer");
    assert!(took >= ms(140), "put did not block: {took:?}");
    assert!(took < ms(2_000), "put resumed late: {took:?}");
    assert_eq!(queue.get_nowait().expect("get"), 2);
}

fn oversized_message_is_refused_whole() {
    // The limit, not the ring, bounds a message: 5000 encoded bytes through a 4 KiB ring.
    let queue = Queue::<String>::with_capacity(0, 4096)
        .expect("queue")
        .with_max_message(5000);
    assert_eq!((queue.capacity(), queue.max_message()), (4096, 5000));
    let big = "a".repeat(5000);
    match queue.put(&big) {
        // 5000 letters and the codec's one-byte tag.
        Err(QueueError::TooLarge { len, limit }) => assert_eq!((len, limit), (5001, 5000)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let err = queue.put(&big).expect_err("too large").to_string();
    assert!(err.contains("5001") && err.contains("5000"), "{err}");
    assert!(queue.empty(), "nothing of the refused message is queued");
    let fits = "b".repeat(4999);
    let consumer = Process::start("consumer", || {
        assert_eq!(queue.get().expect("get"), "b".repeat(4999));
    })
    .expect("start");
    queue.put(&fits).expect("the largest message is streamed");
    consumer.join_ok().expect("consumer");
    assert!(queue.empty());
    assert!(matches!(
        Queue::<u8>::with_capacity(0, usize::MAX),
        Err(QueueError::CapacityTooLarge { .. })
    ));
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Shape {
    Empty,
    Circle(f64),
    Rect { w: u32, h: u32 },
    Group(Vec<Shape>),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Drawing {
    name: String,
    shapes: Vec<Shape>,
    tags: BTreeMap<String, Option<i64>>,
    origin: (i32, i32),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Loose {
    Int(i64),
    Text(String),
}

fn mixed_messages_round_trip() {
    let drawing = Drawing {
        name: "画 \"quoted\" \n".into(),
        shapes: vec![
            Shape::Empty,
            Shape::Circle(0.1),
            Shape::Rect { w: 3, h: 4 },
            Shape::Group(vec![Shape::Circle(-2.5), Shape::Empty]),
        ],
        tags: [("a".to_string(), Some(-1)), ("b".to_string(), None)].into(),
        origin: (-7, i32::MAX),
    };
    let drawings = Queue::<Drawing>::new(0).expect("queue");
    let shapes = Queue::<Shape>::new(0).expect("queue");
    let loose = Queue::<Vec<Loose>>::new(0).expect("queue");
    let child = Process::start("sender", || {
        drawings.put(&drawing).expect("put");
        for shape in &drawing.shapes {
            shapes.put(shape).expect("put");
        }
        loose
            .put(&vec![Loose::Int(1), Loose::Text("hello".into())])
            .expect("put");
    })
    .expect("start");
    assert_eq!(drawings.get().expect("get"), drawing);
    for shape in &drawing.shapes {
        assert_eq!(&shapes.get().expect("get"), shape);
    }
    assert_eq!(
        loose.get().expect("get"),
        [Loose::Int(1), Loose::Text("hello".into())]
    );
    child.join_ok().expect("sender");
}

/// Fault 3: a default queue took at most 1 MiB of JSON; 2 MiB of bytes (and far more) go
/// through now, streamed through its ring while the consumer takes them.
fn messages_larger_than_the_ring_go_through() {
    let queue = Queue::<Vec<u8>>::new(0).expect("queue");
    let sizes = [
        2 << 20,
        0,
        1,
        DEFAULT_CAPACITY - 5,
        DEFAULT_CAPACITY,
        9 << 20,
    ];
    let blob = |len: usize| -> Vec<u8> { (0..len).map(|i| (i % 251) as u8).collect() };
    let producer = Process::start("producer", || {
        for len in sizes {
            queue.put(&blob(len)).expect("put");
        }
    })
    .expect("start");
    for len in sizes {
        assert!(queue.get().expect("get") == blob(len), "{len} bytes");
    }
    producer.join_ok().expect("producer");
    let text = Queue::<String>::with_capacity(0, 4096).expect("queue");
    let long = "数据".repeat(10_000);
    let producer = Process::start("producer", || text.put(&long).expect("put")).expect("start");
    assert_eq!(text.get().expect("get"), long);
    producer.join_ok().expect("producer");
}

/// `Duration::MAX` means "forever" (it used to panic on overflow).
fn duration_max_waits_forever() {
    let queue = Queue::<u64>::new(1).expect("queue");
    let producer = Process::start("producer", || {
        std::thread::sleep(ms(100));
        queue.put_timeout(&1, Duration::MAX).expect("put");
        queue
            .put_timeout(&2, Duration::MAX)
            .expect("put waits for room");
    })
    .expect("start");
    assert_eq!(queue.get_timeout(Duration::MAX).expect("get"), 1);
    std::thread::sleep(ms(100));
    assert_eq!(queue.get_timeout(Duration::MAX).expect("get"), 2);
    producer.join_ok().expect("producer");
}

/// A value that serializes as any `u32` but deserializes only from even ones.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(try_from = "u32")]
struct Even(u32);

impl TryFrom<u32> for Even {
    type Error = String;
    fn try_from(n: u32) -> Result<Even, String> {
        if n.is_multiple_of(2) {
            Ok(Even(n))
        } else {
            Err(format!("{n} is odd"))
        }
    }
}

/// Postcard is not self-describing: an untagged enum encodes, and never decodes.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(untagged)]
enum Untagged {
    Int(i64),
    Text(String),
}

fn undecodable_messages_are_errors_and_the_queue_stays_in_sync() {
    let evens = Queue::<Even>::with_capacity(0, 4096).expect("queue");
    let untagged = Queue::<Untagged>::new(0).expect("queue");
    let producer = Process::start("producer", || {
        for n in 0..6 {
            evens.put(&Even(n)).expect("put");
        }
        untagged.put(&Untagged::Int(1)).expect("put");
        untagged.put(&Untagged::Text("x".into())).expect("put");
    })
    .expect("start");
    for n in 0..6 {
        match evens.get() {
            Ok(even) => assert_eq!(even, Even(n)),
            Err(QueueError::Decode(e)) => {
                assert!(!n.is_multiple_of(2), "{n}: {e}");
                assert!(
                    e.to_string().contains("Even"),
                    "the error names the type: {e}"
                );
            }
            Err(e) => panic!("{n}: {e}"),
        }
    }
    for _ in 0..2 {
        assert!(matches!(untagged.get(), Err(QueueError::Decode(_))));
    }
    producer.join_ok().expect("producer");
    assert!(evens.empty() && untagged.empty());
}

/// `close()` stops this process's puts only; what was put can still be got, and a process
/// started before the close still puts.
fn close_refuses_later_puts_in_this_process_only() {
    let queue = Queue::<u32>::new(0).expect("queue");
    queue.put(&1).expect("put");
    let other = Process::start("other", || {
        std::thread::sleep(ms(100));
        queue.put(&2).expect("not closed here");
    })
    .expect("start");
    queue.close();
    let err = queue.put(&3).expect_err("closed");
    assert!(matches!(err, QueueError::Closed), "{err:?}");
    assert!(err.to_string().contains("closed"), "{err}");
    assert_eq!(queue.get().expect("get"), 1);
    assert_eq!(queue.get_timeout(ms(5_000)).expect("get"), 2);
    other.join_ok().expect("other");
}

fn main() {
    ipc_common::testing::run(&[
        ("every_message_exactly_once", every_message_exactly_once),
        ("fifo_order_from_one_producer", fifo_order_from_one_producer),
        (
            "get_timeout_on_empty_waits_the_timeout",
            get_timeout_on_empty_waits_the_timeout,
        ),
        (
            "put_timeout_on_full_queue_fails",
            put_timeout_on_full_queue_fails,
        ),
        (
            "put_blocks_while_full_and_resumes_on_get",
            put_blocks_while_full_and_resumes_on_get,
        ),
        (
            "oversized_message_is_refused_whole",
            oversized_message_is_refused_whole,
        ),
        ("mixed_messages_round_trip", mixed_messages_round_trip),
        (
            "messages_larger_than_the_ring_go_through",
            messages_larger_than_the_ring_go_through,
        ),
        ("duration_max_waits_forever", duration_max_waits_forever),
        (
            "undecodable_messages_are_errors_and_the_queue_stays_in_sync",
            undecodable_messages_are_errors_and_the_queue_stays_in_sync,
        ),
        (
            "close_refuses_later_puts_in_this_process_only",
            close_refuses_later_puts_in_this_process_only,
        ),
    ]);
}
