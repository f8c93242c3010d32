//! 4.2 使用Semaphore控制并发数量

use std::thread::sleep;
use std::time::Duration;

use ipc_common::{Process, Semaphore};
use semaphore::Occupancy;

/// 使用信号量控制并发数量的进程
fn worker_with_semaphore(
    (semaphore, holders, process_id): (Semaphore, Occupancy, i32),
) -> anyhow::Result<()> {
    println!("进程 {process_id} 等待信号量...");

    // 获取信号量（如果信号量为0则阻塞）: the guard gives it back when dropped
    let permit = semaphore.acquire()?;
    let counted = holders.enter(); // not in the note: counts the holders, for the last line
    println!("进程 {process_id} 获得信号量，开始工作");
    // 模拟工作: random.uniform(1, 3)
    let work_time = fastrand::f64() * 2.0 + 1.0;
    sleep(Duration::from_secs_f64(work_time));
    println!("进程 {process_id} 完成工作，耗时 {work_time:.2} 秒");
    // 释放信号量
    drop(counted); // not in the note: counted out just before the permit goes back
    drop(permit);
    println!("进程 {process_id} 释放信号量");
    Ok(())
}

/// The note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 使用Semaphore控制并发数量 ===");

    // 创建信号量，允许最多2个进程同时运行
    let semaphore = Semaphore::new(2)?;
    let holders = Occupancy::new()?; // not in the note: the most holders at once, measured

    // 创建进程
    let mut processes = Vec::new();
    for i in 0..5 {
        let p = Process::new(
            worker_with_semaphore,
            (semaphore.clone(), holders.clone(), i),
        );
        processes.push(p.start()?);
        sleep(Duration::from_millis(100)); // 稍微错开启动时间
    }

    // 等待所有进程完成
    for p in &processes {
        p.join_ok()?;
    }

    println!("所有进程完成");
    // Not in the note: the lesson, measured (it is always 2).
    println!("同时持有信号量的进程数最多为: {}", holders.most());
    Ok(())
}
