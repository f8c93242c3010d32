//! 4.1 使用Lock进行同步

use std::thread::sleep;
use std::time::Duration;

use ipc_common::{Lock, Process};
use shm::Value;

/// 使用锁进行同步的进程
fn worker_with_lock(
    (lock, shared_value, process_id): (Lock, Value<i32>, i32),
) -> anyhow::Result<()> {
    for _ in 0..3 {
        // 模拟一些不需要锁的工作: random.uniform(0.1, 0.3)
        sleep(Duration::from_secs_f64(fastrand::f64() * 0.2 + 0.1));

        // 获取锁（临界区）: the guard releases it when dropped (the note's `finally`)
        let guard = lock.acquire()?;
        println!("进程 {process_id} 获得锁");
        // 临界区操作
        let old_value = shared_value.value()?;
        sleep(Duration::from_millis(100)); // 模拟耗时操作
        shared_value.set_value(old_value + 1)?;
        println!(
            "进程 {process_id} 将值从 {old_value} 增加到 {}",
            shared_value.value()?
        );
        // 释放锁
        drop(guard);
        println!("进程 {process_id} 释放锁");
    }
    Ok(())
}

/// The note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 使用Lock进行进程同步 ===");

    // 创建锁和共享值
    let lock = Lock::new()?;
    let shared_value = Value::new(0i32)?;

    // 创建进程
    let mut processes = Vec::new();
    for i in 0..3 {
        let p = Process::new(worker_with_lock, (lock.clone(), shared_value.clone(), i));
        processes.push(p.start()?);
    }

    // 等待所有进程完成
    for p in &processes {
        p.join_ok()?;
    }

    println!("最终值: {}", shared_value.value()?);
    Ok(())
}
