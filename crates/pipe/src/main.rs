//! Note 3.2: 使用Pipe进行进程间通信 (communicating between processes with a Pipe).

use std::process::ExitCode;

use ipc_common::Process;
use ipc_common::cli::{Program, sections};
use pipe::{Connection, PipeError};

/// 子进程函数，通过管道通信
fn child_process(mut conn: Connection<String>, process_id: &str) -> anyhow::Result<()> {
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

/// The child's end is closed before it replied: it died (killed, say). Python's recv() raises
/// EOFError here; we also join the child and say which process died and how
/// (`process Child-1 (pid 42) was killed by SIGKILL`).
fn report_death<T>(result: Result<T, PipeError>, child: &Process) -> anyhow::Result<T> {
    match result {
        Err(PipeError::Closed) => {
            child.join_ok()?;
            Err(PipeError::Closed.into())
        }
        other => Ok(other?),
    }
}

fn pipe_demo() -> anyhow::Result<()> {
    println!("=== 使用Pipe进行进程间通信 ===");

    // 创建管道，返回两个连接对象
    let (mut parent_conn, child_conn) = pipe::pipe::<String>()?;

    // 创建子进程
    // `move` hands `child_conn` to the child. In the parent, the closure (and `child_conn` with
    // it) is dropped as soon as `start` returns, so the parent's copy of the child's end is
    // closed right after the fork. Python keeps `child_conn` open in the parent until it is
    // closed explicitly (`child_conn.close()`); until then the parent would never see EOF if
    // the child died, and its recv() would hang. Rust's ownership does that close for us.
    // (The child, as in Python, inherits a copy of `parent_conn`; it simply never uses it.)
    let process = Process::start("Child-1", move || child_process(child_conn, "Child-1"))?;

    // 父进程向子进程发送消息
    report_death(
        parent_conn.send(&"Hello from parent!".to_string()),
        &process,
    )?;

    // 父进程接收子进程的响应
    let response = report_death(parent_conn.recv(), &process)?;
    println!("父进程收到: {response}");

    // 等待子进程结束
    process.join_ok()?;

    // 关闭父进程连接
    parent_conn.close();

    println!("通信完成");
    Ok(())
}

fn main() -> ExitCode {
    sections(
        "pipe",
        &[Program {
            id: "3.2",
            title: "使用Pipe进行进程间通信",
            run: pipe_demo,
        }],
    )
}
