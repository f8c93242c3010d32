//! 1.2 进程与线程的区别
//!
//! - 进程：资源分配的基本单位，有独立内存空间，创建销毁开销大
//! - 线程：CPU调度的基本单位，共享进程内存，创建销毁开销小
//! - 多进程更稳定，一个进程崩溃不影响其他进程
//! - 多线程共享数据方便，但需要处理同步问题
//!
//! The thread id printed is the kernel's (`gettid`): the main thread's equals the pid.
//! Python's `threading.get_ident()` prints the `pthread_t` value instead, a large number.

use nix::unistd::{getpid, gettid};

/// 线程工作函数
fn thread_worker() {
    println!("线程ID: {}, 进程ID: {}", gettid(), getpid());
}

// `main` holds the lines the note runs at the top level of its module (no child process, so
// `--start-method` changes nothing).
pub fn main() -> anyhow::Result<()> {
    // 在主线程中执行
    println!("主线程ID: {}, 进程ID: {}", gettid(), getpid());

    // 创建新线程：同一进程，不同线程
    let thread = std::thread::spawn(thread_worker);
    thread
        .join()
        .map_err(|_| anyhow::anyhow!("the thread panicked"))?;
    Ok(())
}
