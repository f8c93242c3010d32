//! 5.1 使用进程池执行任务

use std::thread::sleep;
use std::time::Duration;

use pool::Pool;

/// CPU密集型任务
fn cpu_intensive_task(n: u64) -> (u64, u64) {
    let pid = std::process::id();
    println!("进程 {pid} 开始计算 {n}");
    let result: u64 = (0..n).map(|i| i * i).sum();
    sleep(Duration::from_millis(500)); // 模拟耗时
    println!("进程 {pid} 完成计算 {n}");
    (n, result)
}

pub fn main() -> anyhow::Result<()> {
    println!("=== 使用进程池执行任务 ===");

    // 创建进程池，最多4个进程 (the block is Python's `with`: leaving it terminates the pool)
    {
        let pool = Pool::new(4)?;
        // 提交多个任务
        let tasks = [100000, 200000, 300000, 400000, 500000];

        // 方法1: apply_async - 异步提交
        println!("--- 异步提交任务 ---");
        let async_results = tasks
            .iter()
            .map(|&task| pool.apply_async(cpu_intensive_task, task))
            .collect::<Result<Vec<_>, _>>()?;

        // 获取异步结果
        for result in async_results {
            let (n, res) = result.get()?;
            println!("任务 {n} 的结果: {res}");
        }

        println!();
        println!("--- 使用map方法 ---");
        // 方法2: map - 同步映射
        let map_results = pool.map(cpu_intensive_task, [10000, 20000, 30000])?;
        for (n, res) in map_results {
            println!("map任务结果: {n} -> {res}");
        }

        println!();
        println!("--- 使用imap_unordered方法 ---");
        // 方法3: imap_unordered - 异步迭代器，按完成顺序返回 (Python's default chunksize is 1)
        for result in pool.imap_unordered(cpu_intensive_task, [5000, 15000, 25000], 1)? {
            let (n, res) = result?;
            println!("无序返回: {n} -> {res}");
        }
    }

    println!("所有任务完成");
    Ok(())
}
