//! Note 4.3 使用Event进行进程间协调: three waiters block until a setter sets the event.
//!
//! `cargo run -p event` runs the program (`cargo run -p event -- 4.3` too).

use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

use ipc_common::cli::{Program, sections};
use ipc_common::{Event, Process};

/// 等待事件的进程
fn waiter(event: &Event, process_id: i32) {
    println!("等待者 {process_id} 等待事件发生...");

    // 等待事件被设置
    event.wait();

    println!("等待者 {process_id} 检测到事件已发生，继续执行");
}

/// 设置事件的进程
fn setter(event: &Event, process_id: &str) {
    println!("设置者 {process_id} 正在工作...");
    sleep(Duration::from_secs(2));

    // 设置事件: the line is printed before `set`, so it precedes every waiter's wake-up line
    println!("设置者 {process_id} 设置事件");
    event.set();

    println!("设置者 {process_id} 完成");
}

fn event_demo() -> anyhow::Result<()> {
    println!("=== 使用Event进行进程间协调 ===");

    // 创建事件
    let event = Event::new()?;

    // 创建等待者进程, and 启动所有进程: Process::start does both
    let waiters = (0..3)
        .map(|i| Process::start(format!("Process-{}", i + 1), || waiter(&event, i)))
        .collect::<Result<Vec<_>, _>>()?;

    sleep(Duration::from_millis(500)); // 确保等待者先启动
    // 创建设置者进程
    let setter_process = Process::start("Process-4", || setter(&event, "Setter-1"))?;

    // 等待所有进程完成
    for w in &waiters {
        w.join_ok()?;
    }
    setter_process.join_ok()?;

    println!("所有进程完成");
    Ok(())
}

fn main() -> ExitCode {
    sections(
        "event",
        &[Program {
            id: "4.3",
            title: "使用Event进行进程间协调",
            run: event_demo,
        }],
    )
}
