//! 7.1 获取进程状态和信息
//!
//! psutil's role is played by sysinfo ([`monitor::Monitor`]). One difference from the note's program, which is an
//! erratum there: the note builds a new `psutil.Process` at every call, and a new object's
//! first `cpu_percent()` is always `0.0`, so the note can only ever print `CPU: 0.0%`. Here one
//! `System` follows the children for the whole run, so each block shows the CPU used since the
//! block before (the first block, taken right after the start, still shows about 0).

use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant};

use ipc_common::Process;
use ipc_common::cli::{Program, sections};
use ipc_common::pyfmt::PyRepr;
use monitor::Monitor;
use nix::unistd::getpid;

/// 长时间运行的任务
fn long_running_task(process_id: usize, duration: u64) {
    println!(
        "进程 {process_id} (PID: {}) 开始运行，持续 {duration} 秒",
        getpid()
    );
    let start_time = Instant::now();

    // 模拟工作
    while start_time.elapsed() < Duration::from_secs(duration) {
        // 一些计算工作 (black_box: the optimiser must not skip it)
        let squares: u64 = (0..10_000u64).map(|i| i * i).sum();
        std::hint::black_box(squares);
        sleep(Duration::from_millis(100));
    }

    println!("进程 {process_id} 完成");
}

/// 监控进程状态: `monitor` keeps each child's previous sample, so CPU % covers the time since.
fn monitor_processes(monitor: &mut Monitor, processes: &[Process]) {
    println!("\n=== 进程监控 ===");
    let pids: Vec<i32> = processes.iter().map(Process::pid).collect();
    let samples = monitor.sample(&pids);

    for (i, (process, sample)) in processes.iter().zip(samples).enumerate() {
        if process.is_alive() {
            // 获取进程信息
            match sample {
                Some(s) => println!(
                    "进程 {i} (PID: {}): CPU: {:.1}%, 内存: {:.1}MB, 状态: {}",
                    process.pid(),
                    s.cpu_percent,
                    s.rss_mb,
                    s.status,
                ),
                None => println!("进程 {i}: 无法获取状态信息"),
            }
        } else {
            println!("进程 {i}: 已结束，退出码: {}", process.exitcode().py_repr());
        }
    }
}

fn main_7_1() -> anyhow::Result<()> {
    println!("=== 进程监控演示 ===");

    // 创建多个进程: 不同的运行时间
    let mut processes = Vec::new();
    for i in 0..3 {
        let duration = i as u64 + 2;
        processes.push(Process::start(format!("monitored-{i}"), move || {
            long_running_task(i, duration)
        })?);
    }
    let mut monitor = Monitor::new()?;

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

fn main() -> ExitCode {
    sections(
        "monitor",
        &[Program {
            id: "7.1",
            title: "获取进程状态和信息",
            run: main_7_1,
        }],
    )
}
