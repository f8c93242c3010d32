//! 9.1 全局变量问题

use std::sync::atomic::{AtomicI32, Ordering::SeqCst};

use ipc_common::{Process, SyncError};
use shm::Value;

// 全局变量 - 在子进程中不会被共享 (an atomic, because Rust's globals must be safe to change).
//
// Each child has its own: under fork a copy of the parent's as it is when the child starts,
// under spawn and forkserver the program's initial value. The parent never changes it, so every
// child starts from 0 and prints 1 under every start method.
static GLOBAL_COUNTER: AtomicI32 = AtomicI32::new(0);

/// 有问题的worker函数 - 使用全局变量 (no arguments: `args=()`)
fn problematic_worker((): ()) {
    let global_counter = GLOBAL_COUNTER.fetch_add(1, SeqCst) + 1;
    println!("子进程中的计数器: {global_counter}");
}

/// 正确的worker函数 - 使用共享变量
///
/// The line is printed after the lock is released, so the three lines can come out of order
/// (as in Python). Python reads `.value` a second time after its `with` block, which may
/// already show another child's increment; the value is kept from inside the lock here, so
/// each of 1, 2 and 3 is printed exactly once.
fn correct_worker(shared_counter: Value<i32>) -> Result<(), SyncError> {
    let value = {
        let mut counter = shared_counter.get_lock()?;
        *counter += 1;
        *counter
    };
    println!("子进程中的共享计数器: {value}");
    Ok(())
}

// `main` is the note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 全局变量问题演示 ===");

    println!("\n--- 错误用法 ---");
    // 错误用法：使用全局变量 (`start` gives back the handle of the running process)
    let mut processes = Vec::new();
    for _ in 0..3 {
        let p = Process::new(problematic_worker, ()).start()?;
        processes.push(p);
    }

    for p in &processes {
        p.join_ok()?;
    }

    println!("主进程中的计数器: {}", GLOBAL_COUNTER.load(SeqCst)); // 仍然是0！

    println!("\n--- 正确用法 ---");
    // 正确用法：使用共享变量
    let shared_counter = Value::new(0i32)?;

    let mut processes = Vec::new();
    for _ in 0..3 {
        let p = Process::new(correct_worker, shared_counter.clone()).start()?;
        processes.push(p);
    }

    for p in &processes {
        p.join_ok()?;
    }

    println!("主进程中的共享计数器: {}", shared_counter.value()?);
    Ok(())
}
