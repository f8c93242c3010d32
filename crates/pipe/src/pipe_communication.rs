//! 3.2 使用Pipe进行进程间通信

use ipc_common::Process;
use pipe::Connection;

/// 子进程函数，通过管道通信
fn child_process((mut conn, process_id): (Connection<String>, String)) -> anyhow::Result<()> {
    println!("子进程 {process_id} 启动");

    // 从父进程接收消息
    let message = conn.recv()?;
    println!("子进程 {process_id} 收到: {message}");

    // 向父进程发送响应
    let response = format!("子进程 {process_id} 的响应");
    conn.send(&response)?;

    // 关闭连接
    conn.close();
    println!("子进程 {process_id} 结束");
    Ok(())
}

// `main` is the note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 使用Pipe进行进程间通信 ===");

    // 创建管道，返回两个连接对象
    let (mut parent_conn, child_conn) = pipe::pipe::<String>()?;

    // 创建子进程
    let process = Process::new(child_process, (child_conn, "Child-1".to_string()));
    // `child_conn` moved into the process's arguments, so once the child has started the parent
    // holds no copy of the child's end: if the child dies, the parent's recv() below fails
    // (`the other end of the connection is closed`, Python's EOFError) instead of waiting
    // forever. Python's parent keeps `child_conn` open until it calls `child_conn.close()`.
    let process = process.start()?;

    // 父进程向子进程发送消息
    parent_conn.send(&"Hello from parent!".to_string())?;

    // 父进程接收子进程的响应
    let response = parent_conn.recv()?;
    println!("父进程收到: {response}");

    // 等待子进程结束
    process.join_ok()?;

    // 关闭父进程连接
    parent_conn.close();

    println!("通信完成");
    Ok(())
}
