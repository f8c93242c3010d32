//! 5.1 进程池
//!
//! The note's `process_pool_demo()` is this `main`: its `with Pool(processes=4) as pool:`
//! block is the block below, which terminates the pool when it ends.

use std::thread::sleep;
use std::time::Duration;

use ipc_common::pyfmt::PyRepr;
use pool::Pool;

/// 简单的任务函数 (it runs in a worker process: the pid is the worker's)
fn task(n: u64) -> u64 {
    println!("进程 {} 正在处理任务 {n}", std::process::id());
    sleep(Duration::from_secs(1));
    n * n
}

pub fn main() -> anyhow::Result<()> {
    // 创建进程池（默认使用 CPU 核心数）: here 4 workers, as the note asks
    {
        let pool = Pool::new(4)?;

        // 方法1：apply_async - 异步执行单个任务
        println!("=== apply_async 示例 ===");
        let mut results = Vec::new();
        for i in 0..5 {
            let result = pool.apply_async(task, i)?;
            results.push(result);
        }
        // 获取结果: in submission order, each `get` waiting for its own task
        for result in results {
            println!("结果: {}", result.get()?);
        }

        // 方法2：map - 并行映射
        println!("\n=== map 示例 ===");
        let numbers = [1, 2, 3, 4, 5];
        let results = pool.map(task, numbers)?;
        println!("map结果: {}", results.py_repr());

        // 方法3：imap_unordered - 无序结果 (Python's default chunksize is 1)
        println!("\n=== imap_unordered 示例 ===");
        let results = pool.imap_unordered(task, 0..5, 1)?;
        for result in results {
            println!("无序结果: {}", result?);
        }
    }
    Ok(())
}
