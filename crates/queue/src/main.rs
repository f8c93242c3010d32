//! Note 3.1: 使用Queue进行进程间通信 (producers and consumers around a Queue).

use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

use ipc_common::Process;
use ipc_common::cli::{Program, sections};
use ipc_common::process::join_all;
use queue::{Queue, QueueError};

/// What travels on the queue: a product, or `None`, the stop signal (结束信号).
type Item = Option<String>;

/// `random.uniform(low, high)` seconds.
fn random_sleep(low: f64, high: f64) {
    sleep(Duration::from_secs_f64(
        low + fastrand::f64() * (high - low),
    ));
}

/// A forked child starts with a copy of its parent's random generator, so siblings would draw
/// the same numbers; Python reseeds `random` after fork, and so do we.
fn reseed() {
    fastrand::seed(u64::from(std::process::id()));
}

/// 生产者进程：向队列中添加数据
fn producer(queue: &Queue<Item>, name: &str) -> anyhow::Result<()> {
    reseed();
    for i in 0..5 {
        let item = format!("{name}_产品_{i}");
        queue.put(&Some(item.clone()))?;
        println!("生产者 {name} 生产了: {item}");
        random_sleep(0.1, 0.5);
    }
    // 发送结束信号: the note's producer puts None here. Not ours: see queue_demo.
    Ok(())
}

/// 消费者进程：从队列中取出数据
fn consumer(queue: &Queue<Item>, name: &str) -> anyhow::Result<()> {
    reseed();
    loop {
        let Some(item) = queue.get()? else {
            // 收到结束信号. The note puts the None back here (传递给其他消费者); each
            // consumer gets a None of its own from the parent, so none is passed on.
            println!("消费者 {name} 结束工作");
            break;
        };
        println!("消费者 {name} 消费了: {item}");
        random_sleep(0.1, 0.3);
    }
    Ok(())
}

/// Puts one stop signal (None). A full queue waits for a consumer to make room; if every
/// consumer has died, nobody ever will, so the dead consumers are reported instead of
/// waiting forever.
fn put_stop(queue: &Queue<Item>, consumers: &[Process]) -> anyhow::Result<()> {
    loop {
        match queue.put_timeout(&None, Duration::from_millis(100)) {
            Err(QueueError::Full) if consumers.iter().any(Process::is_alive) => continue,
            Err(QueueError::Full) => {
                join_all(consumers)?;
                anyhow::bail!("the queue is full and every consumer has ended");
            }
            other => return Ok(other?),
        }
    }
}

fn queue_demo() -> anyhow::Result<()> {
    // 创建队列
    let queue = &Queue::<Item>::new(10)?;

    // 创建生产者进程, 创建消费者进程, 启动所有进程: `Process::start` creates and starts a
    // process in one step, producers first as in the note.
    let start = |role: &str, i: usize, work: fn(&Queue<Item>, &str) -> anyhow::Result<()>| {
        let name = format!("{role}{i}");
        Process::start(name.clone(), move || work(queue, &name))
    };
    let producers: Vec<Process> = (0..2)
        .map(|i| start("P", i, producer))
        .collect::<Result<_, _>>()?;
    let consumers: Vec<Process> = (0..3)
        .map(|i| start("C", i, consumer))
        .collect::<Result<_, _>>()?;

    // 等待生产者完成. A producer that died (killed, say) is reported at the end: the
    // consumers still get their stop signals and consume what was produced.
    let produced = join_all(&producers);

    // 发送结束信号 — where this edition differs from the note. There, each producer puts a
    // None when it is done, and a consumer that gets a None puts it back and stops. So the
    // FIRST producer to finish stops every consumer, and whatever the slower producer puts
    // after that is never consumed (11 of 20 real Python runs lost 1 or 2 items). Here the
    // parent puts the stop signals once every producer has finished: one None per consumer,
    // queued behind every product, so all 10 products are consumed in every run.
    for _ in &consumers {
        put_stop(queue, &consumers)?;
    }

    // 等待消费者完成 (all of them, even if one died), then report a dead process
    let consumed = join_all(&consumers);
    produced?;
    consumed?;

    println!("所有进程执行完毕");
    Ok(())
}

fn main() -> ExitCode {
    sections(
        "queue",
        &[Program {
            id: "3.1",
            title: "使用Queue进行进程间通信",
            run: queue_demo,
        }],
    )
}
