//! 10.1 进程池大小优化

use std::time::Instant;

use benchmark::{cpu_bound_task, io_bound_task};
use ipc_common::pyfmt::PyRepr;
use pool::Pool;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// 测试不同进程池大小的性能
fn benchmark_pool_size<T, R>(
    tasks: &[T],
    pool_sizes: &[usize],
    task_func: fn(T) -> R,
    task_name: &str,
) -> anyhow::Result<()>
where
    T: Serialize + DeserializeOwned + Clone,
    R: Serialize + DeserializeOwned + PyRepr,
{
    println!();
    println!("=== {task_name}任务性能测试 ===");

    let mut pool_size_1_duration = None;
    for &pool_size in pool_sizes {
        println!();
        println!("测试进程池大小: {pool_size}");
        let start_time = Instant::now();

        // `with multiprocessing.Pool(processes=pool_size) as pool:` (leaving the block ends
        // the pool, as Python's `with` does)
        let results = {
            let pool = Pool::new(pool_size)?;
            pool.map(task_func, tasks.iter().cloned())?
        };

        let duration = start_time.elapsed().as_secs_f64();
        println!("完成时间: {duration:.2} 秒");
        // Not in the note: the speed-up over pool size 1, which the note leaves to the reader
        // to work out from the times above.
        let base = *pool_size_1_duration.get_or_insert(duration);
        println!("相对进程池大小1的加速比: {:.2}", base / duration);

        // 显示一些结果（避免输出太多）
        if results.len() > 5 {
            println!("前5个结果: {}", results[..5].py_repr());
        } else {
            println!("所有结果: {}", results.py_repr());
        }
    }
    Ok(())
}

pub fn main() -> anyhow::Result<()> {
    println!("=== 进程池大小优化 ===");

    // 获取CPU核心数 (the CPUs this process may run on, as `os.cpu_count()` counts them on an
    // unrestricted machine)
    let cpu_count = std::thread::available_parallelism()?.get();
    println!("系统CPU核心数: {cpu_count}");

    // 测试CPU密集型任务
    let cpu_tasks = [1_000_000u64; 8]; // 8个相同的CPU密集型任务
    let pool_sizes = [1, 2, 4, 8, 16];
    benchmark_pool_size(&cpu_tasks, &pool_sizes, cpu_bound_task, "CPU密集型")?;

    // 测试I/O密集型任务
    let io_tasks = [0.1f64; 16]; // 16个I/O密集型任务
    benchmark_pool_size(&io_tasks, &pool_sizes, io_bound_task, "I/O密集型")?;
    Ok(())
}
