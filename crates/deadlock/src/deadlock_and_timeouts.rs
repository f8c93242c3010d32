//! 9.2 死锁和资源竞争
//!
//! Made certain, not likely: every line marked "not in the note" serves that. A rendezvous (a
//! [`Barrier`] of two) makes each process hold its first lock before either tries its second; D
//! waits longer than C, so C always gives way (with equal timeouts both may give up); C and D
//! reuse the locks A and B held when they were ended, as the note does, and our robust
//! [`Lock`] hands them on (a Python lock stays taken, and both time out on their first lock).
//! Labels are positional as in the note's program: B and D call `lock2` their 锁1.

use std::thread::sleep;
use std::time::Duration;

use ipc_common::{Barrier, Lock, Process};
use nix::sys::signal::Signal;

/// 可能产生死锁的worker函数
fn worker_with_deadlock(
    (lock1, lock2, process_id, rendezvous): (Lock, Lock, String, Barrier),
) -> anyhow::Result<()> {
    println!("进程 {process_id} 尝试获取锁1");
    let first = lock1.acquire()?;
    println!("进程 {process_id} 获得锁1");

    sleep(Duration::from_millis(100)); // 模拟一些工作
    rendezvous.wait_timeout(Duration::from_secs(10))?; // not in the note: see the top

    println!("进程 {process_id} 尝试获取锁2");
    let second = lock2.acquire()?; // 可能在这里死锁
    println!("进程 {process_id} 获得锁2");

    // 临界区操作
    println!("进程 {process_id} 在临界区工作");
    sleep(Duration::from_millis(100));

    // 释放锁
    drop(second);
    drop(first);
    println!("进程 {process_id} 完成");
    Ok(())
}

/// 使用超时避免死锁的worker函数
fn worker_with_timeout(
    (lock1, lock2, process_id, timeout, rendezvous): (Lock, Lock, String, u64, Barrier),
) -> anyhow::Result<()> {
    println!("进程 {process_id} 尝试获取锁1");
    if let Some(first) = lock1.acquire_timeout(Duration::from_secs(timeout))? {
        println!("进程 {process_id} 获得锁1");
        if first.previous_holder_died() {
            // Not in the note: its holder was ended, and the robust lock was handed on.
            println!("进程 {process_id} 接手了已终止进程持有的锁1");
        }

        sleep(Duration::from_millis(100));
        rendezvous.wait_timeout(Duration::from_secs(10))?; // not in the note: see the top

        println!("进程 {process_id} 尝试获取锁2 (超时: {timeout}秒)");
        if let Some(second) = lock2.acquire_timeout(Duration::from_secs(timeout))? {
            println!("进程 {process_id} 获得锁2");

            // 临界区操作
            println!("进程 {process_id} 在临界区工作");
            sleep(Duration::from_millis(100));
            drop(second);
        } else {
            println!("进程 {process_id} 获取锁2超时，放弃并释放锁1");
        }
        drop(first);
    } else {
        println!("进程 {process_id} 获取锁1超时");
    }

    println!("进程 {process_id} 结束");
    Ok(())
}

/// The note's `try:` block: --- 可能产生死锁的情况 ---
fn deadlock_case(lock1: &Lock, lock2: &Lock) -> anyhow::Result<()> {
    let ab = Barrier::new(2)?; // not in the note: A's and B's rendezvous
    // 创建可能死锁的进程
    let p1 = Process::new(
        worker_with_deadlock,
        (lock1.clone(), lock2.clone(), "A".into(), ab.clone()),
    );
    let p2 = Process::new(
        worker_with_deadlock,
        (lock2.clone(), lock1.clone(), "B".into(), ab), // 不同的获取顺序！
    );

    let (p1, p2) = (p1.start()?, p2.start()?);

    // 等待一段时间后终止（避免永久阻塞）
    p1.join_timeout(Duration::from_secs(3))?;
    p2.join_timeout(Duration::from_secs(3))?;

    if p1.is_alive() || p2.is_alive() {
        println!("检测到可能死锁，终止进程");
        // Not in the note: our locks are robust, so the first to die would hand its lock to
        // the other, which would run on. So both are stopped first, then ended with SIGKILL
        // (kill()), the one signal that ends a stopped process (terminate()'s SIGTERM would
        // wait for a SIGCONT).
        p1.signal(Signal::SIGSTOP)?;
        p2.signal(Signal::SIGSTOP)?;
        p1.kill()?;
        p2.kill()?;
        p1.join()?;
        p2.join()?;
    }
    Ok(())
}

/// The note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 死锁和解决方案 ===");

    // 创建锁
    let lock1 = Lock::new()?;
    let lock2 = Lock::new()?;

    println!("\n--- 可能产生死锁的情况 ---");
    if let Err(e) = deadlock_case(&lock1, &lock2) {
        println!("错误: {e}");
    }

    println!("\n--- 使用超时避免死锁 ---");
    // 使用带超时的版本, on the locks A and B were ended holding (see the module docs)
    let cd = Barrier::new(2)?; // not in the note: C's and D's rendezvous
    // Not in the note: C waits 2 s (the note's timeout=2), D 3 s, so C gives way first.
    let p3 = Process::new(
        worker_with_timeout,
        (lock1.clone(), lock2.clone(), "C".into(), 2, cd.clone()),
    );
    let p4 = Process::new(
        worker_with_timeout,
        (lock2.clone(), lock1.clone(), "D".into(), 3, cd),
    );

    let (p3, p4) = (p3.start()?, p4.start()?);

    p3.join_ok()?;
    p4.join_ok()?;

    println!("所有进程完成");
    Ok(())
}
