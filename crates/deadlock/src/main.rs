//! Note 9.2 死锁和资源竞争: A and B take two locks in opposite order and deadlock; C and D do
//! the same with timeouts, and one gives way.
//!
//! `cargo run -p deadlock` runs the program (`cargo run -p deadlock -- 9.2` too).
//!
//! Made certain, not likely: a rendezvous (an [`Event`] each) makes each process hold its first
//! lock before either tries its second; D waits longer than C, so C always gives way (with equal
//! timeouts both may give up); C and D reuse the locks A and B held when terminated, as the note
//! does, and our robust [`Lock`] hands them on (a Python lock stays taken: both time out).
//! Labels are positional as in the note's program: B and D call `lock2` their 锁1.

use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

use anyhow::ensure;
use ipc_common::cli::{Program, sections};
use ipc_common::{Event, Lock, Process};
use nix::sys::signal::Signal;

/// How long a process waits at the rendezvous for its partner before giving up on it.
const RENDEZVOUS: Duration = Duration::from_secs(10);
/// How long C waits for a lock (the note's `timeout=2`).
const C_TIMEOUT: Duration = Duration::from_secs(2);
/// How long D waits: longer than C, so that C always gives way first.
const D_TIMEOUT: Duration = Duration::from_secs(3);

/// The rendezvous: says "I hold my first lock", then waits until the partner says so too.
fn meet((i_hold, they_hold): (&Event, &Event)) -> anyhow::Result<()> {
    i_hold.set();
    let met = they_hold.wait_timeout(RENDEZVOUS);
    ensure!(met, "the other process never took its first lock");
    Ok(())
}

/// 可能产生死锁的worker函数
fn worker_with_deadlock(
    lock1: &Lock,
    lock2: &Lock,
    process_id: &str,
    rendezvous: (&Event, &Event),
) -> anyhow::Result<()> {
    println!("进程 {process_id} 尝试获取锁1");
    let first = lock1.acquire()?;
    println!("进程 {process_id} 获得锁1");

    sleep(Duration::from_millis(100)); // 模拟一些工作
    meet(rendezvous)?;

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
    lock1: &Lock,
    lock2: &Lock,
    process_id: &str,
    timeout: Duration,
    rendezvous: (&Event, &Event),
) -> anyhow::Result<()> {
    println!("进程 {process_id} 尝试获取锁1");
    if let Some(first) = lock1.acquire_timeout(timeout)? {
        println!("进程 {process_id} 获得锁1");
        if first.previous_holder_died() {
            // Not in the note: its holder was terminated, and the robust lock was handed on.
            println!("进程 {process_id} 接手了已终止进程持有的锁1");
        }

        sleep(Duration::from_millis(100));
        meet(rendezvous)?;

        println!(
            "进程 {process_id} 尝试获取锁2 (超时: {}秒)",
            timeout.as_secs()
        );
        if let Some(second) = lock2.acquire_timeout(timeout)? {
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

/// --- 可能产生死锁的情况 ---
fn deadlock_case(lock1: &Lock, lock2: &Lock) -> anyhow::Result<()> {
    let (a_holds, b_holds) = (Event::new()?, Event::new()?);
    // 创建可能死锁的进程
    let p1 = Process::start("Process-1", || {
        worker_with_deadlock(lock1, lock2, "A", (&a_holds, &b_holds))
    })?;
    let p2 = Process::start("Process-2", || {
        worker_with_deadlock(lock2, lock1, "B", (&b_holds, &a_holds)) // 不同的获取顺序！
    })?;

    // 等待一段时间后终止（避免永久阻塞）
    p1.join_timeout(Duration::from_secs(3))?;
    p2.join_timeout(Duration::from_secs(3))?;

    if p1.is_alive() || p2.is_alive() {
        println!("检测到可能死锁，终止进程");
        // Our locks are robust: the first to die would hand its lock to the other, which would
        // run on. So stop both first; then end them with SIGKILL (kill()), the one signal that
        // ends a stopped process (SIGTERM, terminate(), would wait for a SIGCONT).
        p1.signal(Signal::SIGSTOP)?;
        p2.signal(Signal::SIGSTOP)?;
        p1.kill()?;
        p2.kill()?;
        p1.join()?;
        p2.join()?;
    }
    Ok(())
}

fn deadlock_demo() -> anyhow::Result<()> {
    println!("=== 死锁和解决方案 ===");

    // 创建锁
    let lock1 = Lock::new()?;
    let lock2 = Lock::new()?;

    println!();
    println!("--- 可能产生死锁的情况 ---");
    if let Err(e) = deadlock_case(&lock1, &lock2) {
        println!("错误: {e}");
    }

    println!();
    println!("--- 使用超时避免死锁 ---");
    // 使用带超时的版本, on the locks A and B died holding (see the module docs)
    let (c_holds, d_holds) = (Event::new()?, Event::new()?);
    let p3 = Process::start("Process-3", || {
        worker_with_timeout(&lock1, &lock2, "C", C_TIMEOUT, (&c_holds, &d_holds))
    })?;
    let p4 = Process::start("Process-4", || {
        worker_with_timeout(&lock2, &lock1, "D", D_TIMEOUT, (&d_holds, &c_holds))
    })?;

    p3.join_ok()?;
    p4.join_ok()?;

    println!("所有进程完成");
    Ok(())
}

fn main() -> ExitCode {
    sections(
        "deadlock",
        &[Program {
            id: "9.2",
            title: "死锁和资源竞争",
            run: deadlock_demo,
        }],
    )
}
