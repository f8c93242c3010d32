//! Note 4.2 使用Semaphore控制并发数量: five processes, at most two at work at once.
//!
//! `cargo run -p semaphore` runs the program (`cargo run -p semaphore -- 4.2` too). The last
//! line, `同时持有信号量的进程数最多为: 2`, is an addition to the note's program: it reports
//! the most holders at once, counted in shared memory, which shows the bound at work.

use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

use ipc_common::cli::{Program, sections};
use ipc_common::{Process, Semaphore};
use semaphore::Occupancy;

/// 使用信号量控制并发数量的进程
fn worker_with_semaphore(
    semaphore: &Semaphore,
    holders: &Occupancy,
    process_id: i32,
) -> anyhow::Result<()> {
    // A forked child starts with a copy of its parent's random state; seed from the pid, as
    // Python reseeds `random` in every forked child.
    let mut rng = fastrand::Rng::with_seed(std::process::id().into());
    println!("进程 {process_id} 等待信号量...");

    // 获取信号量（如果信号量为0则阻塞）: the guard gives it back when dropped
    let permit = semaphore.acquire()?;
    let counted = holders.enter(); // the addition: count the holders
    println!("进程 {process_id} 获得信号量，开始工作");
    // 模拟工作
    let work_time = rng.f64() * 2.0 + 1.0; // random.uniform(1, 3)
    sleep(Duration::from_secs_f64(work_time));
    println!("进程 {process_id} 完成工作，耗时 {work_time:.2} 秒");
    // 释放信号量
    drop(counted);
    drop(permit);
    println!("进程 {process_id} 释放信号量");
    Ok(())
}

fn semaphore_demo() -> anyhow::Result<()> {
    println!("=== 使用Semaphore控制并发数量 ===");

    // 创建信号量，允许最多2个进程同时运行
    let semaphore = Semaphore::new(2)?;
    let holders = Occupancy::new()?;

    // 创建进程
    let mut processes = Vec::new();
    for i in 0..5 {
        processes.push(Process::start(format!("Process-{}", i + 1), || {
            worker_with_semaphore(&semaphore, &holders, i)
        })?);
        sleep(Duration::from_millis(100)); // 稍微错开启动时间
    }

    // 等待所有进程完成
    for p in &processes {
        p.join_ok()?;
    }

    println!("所有进程完成");
    println!("同时持有信号量的进程数最多为: {}", holders.most());
    Ok(())
}

fn main() -> ExitCode {
    sections(
        "semaphore",
        &[Program {
            id: "4.2",
            title: "使用Semaphore控制并发数量",
            run: semaphore_demo,
        }],
    )
}
