//! 2.2 进程间内存隔离

use std::sync::Mutex;

use ipc_common::Process;
use ipc_common::pyfmt::PyRepr;

// 全局变量 (a `Mutex` because Rust's globals must be safe to change from any thread)
static SHARED_LIST: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// 演示进程间内存隔离: the child appends to *its own copy* of the list.
fn add_to_list(process_name: &str) {
    let mut list = SHARED_LIST.lock().unwrap_or_else(|e| e.into_inner());
    list.push(process_name.to_string());
    println!("进程 {process_name}: 列表内容: {}", list.py_repr());
}

pub fn main() -> anyhow::Result<()> {
    println!("=== 演示进程间内存隔离 ===");

    // 创建多个进程
    let names: Vec<String> = (0..3).map(|i| format!("Process-{i}")).collect();
    let mut processes = Vec::new();
    for name in &names {
        processes.push(Process::start(name, || add_to_list(name))?);
    }

    for p in &processes {
        p.join_ok()?;
    }

    // 主进程中的列表: still empty, 子进程修改不会影响主进程
    let list = SHARED_LIST.lock().unwrap_or_else(|e| e.into_inner());
    println!("主进程中的列表: {}", list.py_repr());
    Ok(())
}
