//! 7.1 获取进程状态和信息
//!
//! psutil's role is played by sysinfo ([`monitor::Monitor`]). One difference from the note's
//! program, which is an erratum there: the note builds a new `psutil.Process` at every call,
//! and a new object's first `cpu_percent()` is always `0.0`, so the note can only ever print
//! `CPU: 0.0%`. Here one `Monitor` follows the children for the whole run, so each block shows
//! the CPU used since the block before (the first block, taken right after the start, still
//! shows about 0).

use std::thread::sleep;
use std::time::{Duration, Instant};

use ipc_common::Process;
use ipc_common::pyfmt::PyRepr;
use monitor::Monitor;

/// 长时间运行的任务
fn long_running_task((process_id, duration): (usize, u64)) {
    let pid = std::process::id();
    println!("进程 {process_id} (PID: {pid}) 开始运行，持续 {duration} 秒");
    let start_time = Instant::now();

    // 模拟工作
    while start_time.elapsed() < Duration::from_secs(duration) {
        // 一些计算工作 (black_box: the optimiser must not skip it)
        std::hint::black_box((0..10_000u64).map(|i| i * i).sum::<u64>());
        sleep(Duration::from_millis(100));
    }

    println!("进程 {process_id} 完成");
}

/// 监控进程状态 (`monitor`, not in the note, keeps each child's previous sample: see above)
fn monitor_processes(monitor: &mut Monitor, processes: &[Process]) {
    println!("\n=== 进程监控 ===");

    for (i, process) in processes.iter().enumerate() {
        if process.is_alive() {
            // 使用sysinfo获取详细进程信息 (psutil's role)
            let pid = process.pid();
            // 获取进程信息: CPU, 内存, 状态 (None: psutil.NoSuchProcess, it has just ended)
            match monitor.sample_one(pid) {
                Some(s) => println!(
                    "进程 {i} (PID: {pid}): CPU: {:.1}%, 内存: {:.1}MB, 状态: {}",
                    s.cpu_percent, s.rss_mb, s.status,
                ),
                None => println!("进程 {i}: 无法获取状态信息"),
            }
        } else {
            println!("进程 {i}: 已结束，退出码: {}", process.exitcode().py_repr());
        }
    }
}

/// The note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 进程监控演示 ===");

    // 创建多个进程
    let mut processes = Vec::new();
    for i in 0..3 {
        let duration = i as u64 + 2; // 不同的运行时间
        processes.push(Process::new(long_running_task, (i, duration)).start()?);
    }
    let mut monitor = Monitor::new()?; // not in the note: psutil needs no object

    // 监控进程
    for _ in 0..5 {
        monitor_processes(&mut monitor, &processes);
        sleep(Duration::from_secs(1));
    }

    // 等待所有进程完成
    for p in &processes {
        p.join_ok()?;
    }

    println!("所有进程完成");
    monitor_processes(&mut monitor, &processes);
    Ok(())
}
