//! 2.2 进程间内存隔离

use std::sync::Mutex;

use ipc_common::Process;
use ipc_common::process::join_all;
use ipc_common::pyfmt::PyRepr;

// 全局变量 (in a `Mutex`, because Rust's globals must be safe to change from any thread).
//
// Each process has its own: a child starts with a copy of its parent's as it is at that moment
// under fork, and with the program's initial value under spawn and forkserver. The parent never
// changes it before starting the children, so every child starts with `[]` and the output is
// the same under every start method.
static SHARED_LIST: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// 演示进程间内存隔离
fn add_to_list(process_name: String) {
    let mut shared_list = SHARED_LIST.lock().unwrap_or_else(|e| e.into_inner());
    shared_list.push(process_name.clone());
    println!("进程 {process_name}: 列表内容: {}", shared_list.py_repr());
}

// `main` is the note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 演示进程间内存隔离 ===");

    // 创建多个进程 (`start` gives back the handle of the running process)
    let mut processes = Vec::new();
    for i in 0..3 {
        processes.push(Process::new(add_to_list, format!("Process-{i}")).start()?);
    }

    // for p in processes: p.join() (and report a child that failed)
    join_all(&processes)?;

    // 主进程中的列表: [] (注意：子进程修改不会影响主进程)
    let shared_list = SHARED_LIST.lock().unwrap_or_else(|e| e.into_inner());
    println!("主进程中的列表: {}", shared_list.py_repr());
    Ok(())
}
