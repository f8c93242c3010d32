//! 2.1 基本进程创建

use std::thread::sleep;
use std::time::Duration;

use ipc_common::Process;
use nix::unistd::getpid;

/// 简单的进程工作函数
///
/// Python's version returns `f"{name}_结果"`, which nobody reads (a process's target returns
/// into nothing); so this one returns nothing.
fn worker((name, duration): (String, u64)) {
    println!("进程 {name} (PID: {}) 开始工作", getpid());
    sleep(Duration::from_secs(duration));
    println!("进程 {name} 完成工作");
}

// 创建进程: `main` is the note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("主进程 PID: {}", getpid());

    // 创建进程对象
    let process1 = Process::new(worker, ("Worker1".to_string(), 2));
    let process2 = Process::new(worker, ("Worker2".to_string(), 1));

    // 启动进程 (`start` gives back the handle of the running process)
    let process1 = process1.start()?;
    let process2 = process2.start()?;

    println!("主进程继续执行...");

    // 等待进程结束 (join_ok: join, and report a child that died instead of finishing)
    process1.join_ok()?;
    process2.join_ok()?;

    println!("所有子进程执行完毕");
    Ok(())
}
