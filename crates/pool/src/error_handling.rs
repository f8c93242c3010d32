//! 5.2 错误处理
//!
//! The note's `error_handling_demo()` is this `main`.

use std::thread::sleep;
use std::time::Duration;

use pool::Pool;

/// 可能失败的任务: Python raises `ValueError`; a Rust task panics, and the pool hands the
/// panic back to the parent as that task's error (`PoolError::Panicked`), as Python's pool
/// re-raises the exception in `get`.
fn risky_task(n: u64) -> u64 {
    if n == 3 {
        panic!("任务 {n} 失败");
    }
    sleep(Duration::from_millis(500));
    n * 2
}

pub fn main() -> anyhow::Result<()> {
    {
        let pool = Pool::new(2)?;
        let mut results = Vec::new();
        for i in 0..5 {
            let result = pool.apply_async(risky_task, i)?;
            results.push(result);
        }

        // `get(timeout=2)`: each result waits at most 2 s; a failure is an `Err`
        for (i, result) in results.iter().enumerate() {
            match result.get_timeout(Duration::from_secs(2)) {
                Ok(value) => println!("任务 {i} 成功: {value}"),
                Err(e) => println!("任务 {i} 失败: {e}"),
            }
        }
    }
    Ok(())
}
