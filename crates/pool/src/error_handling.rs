//! 5.2 进程池中的异常处理

use pool::Pool;
use serde::{Deserialize, Serialize};

/// 可能出错的任务: Rust returns the error instead of raising it.
///
/// The note's message says "not divisible by 3", but it is returned exactly when `n` IS
/// divisible by 3; the text is kept as the note prints it (see the errata table).
fn task_with_possible_error(n: i64) -> Result<i64, String> {
    if n % 3 == 0 {
        return Err(format!("数字 {n} 不能被3整除!"));
    }
    Ok(n * 2)
}

/// What `safe_worker` reports: the note's `{"success": ..., "result"/"error": ..., "input": n}`.
#[derive(Serialize, Deserialize)]
enum SafeResult {
    Success { result: i64, input: i64 },
    Failure { error: String, input: i64 },
}

/// 安全的worker函数，处理异常
fn safe_worker(n: i64) -> SafeResult {
    match task_with_possible_error(n) {
        Ok(result) => SafeResult::Success { result, input: n },
        Err(error) => SafeResult::Failure { error, input: n },
    }
}

pub fn main() -> anyhow::Result<()> {
    println!("=== 进程池异常处理 ===");

    {
        let pool = Pool::new(2)?;
        let numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9];

        // 提交任务
        let results = pool.map(safe_worker, numbers)?;

        // 处理结果
        for result in results {
            match result {
                SafeResult::Success { result, input } => println!("成功: {input} -> {result}"),
                SafeResult::Failure { error, input } => println!("失败: {input}, 错误: {error}"),
            }
        }
    }
    Ok(())
}
