//! 10.1 进程池大小优化

use std::time::Instant;

use benchmark::{CPU_TASK_TIME, Portable, io_bound_task, repeated_cpu_task, repeats_for};
use ipc_common::pyfmt::PyRepr;
use pool::Pool;

/// 测试不同进程池大小的性能
///
/// Returns (pool size, seconds) of each run for the chart, which the note does not draw.
fn benchmark_pool_size<T: Portable, R: Portable + PyRepr>(
    tasks: &[T],
    pool_sizes: &[usize],
    task_func: fn(T) -> R,
    task_name: &str,
) -> anyhow::Result<Vec<(usize, f64)>> {
    println!();
    println!("=== {task_name}任务性能测试 ===");

    let mut durations = Vec::new();
    for &pool_size in pool_sizes {
        println!();
        println!("测试进程池大小: {pool_size}");
        let start_time = Instant::now();

        // `with multiprocessing.Pool(processes=pool_size) as pool:` (the pool is a temporary
        // here: it ends with the statement, as Python's `with` block ends it)
        let results = Pool::new(pool_size)?.map(task_func, tasks.iter().cloned())?;

        let duration = start_time.elapsed().as_secs_f64();
        println!("完成时间: {duration:.2} 秒");
        durations.push((pool_size, duration));
        // Not in the note: the speed-up over pool size 1 (the first run), which the note leaves
        // to the reader to work out from the times above.
        println!("相对进程池大小1的加速比: {:.2}", durations[0].1 / duration);

        // 显示一些结果（避免输出太多）
        if results.len() > 5 {
            println!("前5个结果: {}", results[..5].py_repr());
        } else {
            println!("所有结果: {}", results.py_repr());
        }
    }
    Ok(durations)
}

pub fn main() -> anyhow::Result<()> {
    println!("=== 进程池大小优化 ===");

    // 获取CPU核心数 (the CPUs this process may run on, as `os.cpu_count()` counts them on an
    // unrestricted machine)
    let cpu_count = std::thread::available_parallelism()?.get();
    println!("系统CPU核心数: {cpu_count}");

    // 测试CPU密集型任务
    // Not as in the note: Rust computes the sum in about 0.5 ms, less than it takes to start
    // the workers, so each task computes the same sum `repeat` times, about 50 ms of CPU,
    // what Python takes for it once (see `repeated_cpu_task`); the results are the same.
    let repeat = repeats_for(1_000_000, CPU_TASK_TIME);
    let cpu_tasks = [(1_000_000u64, repeat); 8]; // 8个相同的CPU密集型任务
    let pool_sizes = [1, 2, 4, 8, 16];
    let cpu = benchmark_pool_size(&cpu_tasks, &pool_sizes, repeated_cpu_task, "CPU密集型")?;

    // 测试I/O密集型任务
    let io_tasks = [0.1f64; 16]; // 16个I/O密集型任务
    let io = benchmark_pool_size(&io_tasks, &pool_sizes, io_bound_task, "I/O密集型")?;

    // Not in the note: the times above as a chart, beside the trace (`--trace run.json`
    // writes `run.pool-size.svg`)
    benchmark::draw_pool_size_chart(cpu_count, &cpu, &io)?;
    Ok(())
}
