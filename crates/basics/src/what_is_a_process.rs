//! 1.1 什么是进程
//!
//! 进程：程序的一次执行过程，是系统进行资源分配和调度的基本单位。
//! 每个进程都有自己独立的内存空间和系统资源。

use nix::unistd::{getpid, getppid};

// 演示进程独立性
//
// No child is started here: the function runs in this very process and reads its global, so
// the output is the same whatever `--start-method` says.
static GLOBAL_VAR: &str = "初始值";

fn show_process_info() {
    println!("函数内进程ID: {}", getpid());
    println!("函数内全局变量: {GLOBAL_VAR}");
}

// `main` holds the lines the note runs at the top level of its module.
pub fn main() -> anyhow::Result<()> {
    // 获取当前进程信息
    println!("当前进程ID: {}", getpid());
    println!("父进程ID: {}", getppid());
    println!("当前工作目录: {}", std::env::current_dir()?.display());

    show_process_info();
    Ok(())
}
