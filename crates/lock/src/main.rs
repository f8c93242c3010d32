//! Note 4.1 使用Lock进行同步: three processes each add 1 to a shared number three times. The
//! read and the write are 0.1 s apart, so without the lock updates would be lost; with it the
//! final value is always 9.
//!
//! `cargo run -p lock` runs the program (`cargo run -p lock -- 4.1` too).

use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

use ipc_common::cli::{Program, sections};
use ipc_common::{Lock, Process};
use shm::Value;

/// 使用锁进行同步的进程
fn worker_with_lock(lock: &Lock, shared_value: &Value<i32>, process_id: i32) -> anyhow::Result<()> {
    // A forked child starts with a copy of its parent's random state; seed from the pid, as
    // Python reseeds `random` in every forked child.
    let mut rng = fastrand::Rng::with_seed(std::process::id().into());
    for _ in 0..3 {
        // 模拟一些不需要锁的工作
        sleep(Duration::from_secs_f64(rng.f64() * 0.2 + 0.1)); // random.uniform(0.1, 0.3)

        // 获取锁（临界区）: the guard releases it when dropped, also on an early return
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

fn lock_demo() -> anyhow::Result<()> {
    println!("=== 使用Lock进行进程同步 ===");

    // 创建锁和共享值
    let lock = Lock::new()?;
    let shared_value = Value::new(0i32)?;

    // 创建进程 (and start each at once, as the note's loop does)
    let mut processes = Vec::new();
    for i in 0..3 {
        processes.push(Process::start(format!("Process-{}", i + 1), || {
            worker_with_lock(&lock, &shared_value, i)
        })?);
    }

    // 等待所有进程完成
    for p in &processes {
        p.join_ok()?;
    }

    println!("最终值: {}", shared_value.value()?);
    Ok(())
}

fn main() -> ExitCode {
    sections(
        "lock",
        &[Program {
            id: "4.1",
            title: "使用Lock进行同步",
            run: lock_demo,
        }],
    )
}
