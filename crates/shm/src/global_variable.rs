//! 9.1 全局变量问题

use std::sync::atomic::{AtomicI32, Ordering::SeqCst};

use ipc_common::{Process, SyncError};
use shm::Value;

// 全局变量 - 在子进程中不会被共享 (an atomic, because Rust's globals must be safe to change)
static GLOBAL_COUNTER: AtomicI32 = AtomicI32::new(0);

/// 有问题的worker函数 - 使用全局变量: the child changes its own copy
fn problematic_worker() {
    let global_counter = GLOBAL_COUNTER.fetch_add(1, SeqCst) + 1;
    println!("子进程中的计数器: {global_counter}");
}

/// 正确的worker函数 - 使用共享变量
///
/// The line is printed after the lock is released, so the three lines can come out of order
/// (as in Python). Python reads `.value` a second time after its `with` block, which may
/// already show another child's increment; the value is kept from inside the lock here, so
/// each of 1, 2 and 3 is printed exactly once.
fn correct_worker(shared_counter: &Value<i32>) -> Result<(), SyncError> {
    let value = {
        let mut counter = shared_counter.get_lock()?;
        *counter += 1;
        *counter
    };
    println!("子进程中的共享计数器: {value}");
    Ok(())
}

pub fn main() -> anyhow::Result<()> {
    println!("=== 全局变量问题演示 ===");

    println!();
    println!("--- 错误用法 ---");
    // 错误用法：使用全局变量
    let mut processes = Vec::new();
    for i in 0..3 {
        processes.push(Process::start(
            format!("Process-{}", i + 1),
            problematic_worker,
        )?);
    }
    for p in &processes {
        p.join_ok()?;
    }

    println!("主进程中的计数器: {}", GLOBAL_COUNTER.load(SeqCst)); // 仍然是0！

    println!();
    println!("--- 正确用法 ---");
    // 正确用法：使用共享变量
    let shared_counter = Value::new(0i32)?;

    let mut processes = Vec::new();
    for i in 0..3 {
        let name = format!("Process-{}", i + 4);
        processes.push(Process::start(name, || correct_worker(&shared_counter))?);
    }
    for p in &processes {
        p.join_ok()?;
    }

    println!("主进程中的共享计数器: {}", shared_counter.value()?);
    Ok(())
}
