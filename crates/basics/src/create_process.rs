//! 2.1 基本进程创建

use std::thread::sleep;
use std::time::Duration;

use ipc_common::Process;
use nix::unistd::getpid;

/// 简单的进程工作函数 (Python's version returns a value that nobody reads; so does nothing here)
fn worker(name: &str, duration: u64) {
    println!("进程 {name} (PID: {}) 开始工作", getpid());
    sleep(Duration::from_secs(duration));
    println!("进程 {name} 完成工作");
}

pub fn main() -> anyhow::Result<()> {
    println!("主进程 PID: {}", getpid());

    // 创建进程对象并启动进程: Process::start forks at once
    let process1 = Process::start("Worker1", || worker("Worker1", 2))?;
    let process2 = Process::start("Worker2", || worker("Worker2", 1))?;

    println!("主进程继续执行...");

    // 等待进程结束 (join_ok: join, and report a child that died instead of finishing)
    process1.join_ok()?;
    process2.join_ok()?;

    println!("所有子进程执行完毕");
    Ok(())
}
