//! 4.3 使用Event进行进程间协调

use std::thread::sleep;
use std::time::Duration;

use ipc_common::{Event, Process};

/// 等待事件的进程
fn waiter((event, process_id): (Event, i32)) {
    println!("等待者 {process_id} 等待事件发生...");

    // 等待事件被设置
    event.wait();

    println!("等待者 {process_id} 检测到事件已发生，继续执行");
}

/// 设置事件的进程
fn setter((event, process_id): (Event, String)) {
    println!("设置者 {process_id} 正在工作...");
    sleep(Duration::from_secs(2));

    // 设置事件
    println!("设置者 {process_id} 设置事件");
    event.set();

    println!("设置者 {process_id} 完成");
}

/// The note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 使用Event进行进程间协调 ===");

    // 创建事件
    let event = Event::new()?;

    // 创建等待者进程
    let waiters: Vec<_> = (0..3)
        .map(|i| Process::new(waiter, (event.clone(), i)))
        .collect();

    // 创建设置者进程
    let setter_process = Process::new(setter, (event.clone(), "Setter-1".to_string()));

    // 启动所有进程 (start() gives back the running process's handle)
    let mut running = Vec::new();
    for w in waiters {
        running.push(w.start()?);
    }

    sleep(Duration::from_millis(500)); // 确保等待者先启动
    let setter_process = setter_process.start()?;

    // 等待所有进程完成
    for w in &running {
        w.join_ok()?;
    }
    setter_process.join_ok()?;

    println!("所有进程完成");
    Ok(())
}
