//! 3.3 使用共享内存进行进程间通信

use std::thread::sleep;
use std::time::Duration;

use ipc_common::pyfmt::PyRepr;
use ipc_common::{Process, SyncError};
use shm::{Array, Value};

/// 使用Value共享内存的进程
fn worker_with_value((shared_value, process_id): (Value<i32>, i32)) -> Result<(), SyncError> {
    for _ in 0..5 {
        let current_value = {
            let mut value = shared_value.get_lock()?; // 获取锁
            *value += 1;
            *value
        }; // the guard is dropped here: 释放锁
        println!("进程 {process_id} 增加值到: {current_value}");
        sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// 使用Array共享内存的进程
fn worker_with_array((shared_array, process_id): (Array<i32>, i32)) -> Result<(), SyncError> {
    for i in 0..shared_array.len() {
        {
            let array = shared_array.get_lock()?; // 获取锁
            array.set(i, array.get(i) + process_id);
        } // 释放锁
        println!("进程 {process_id} 修改数组索引 {i}");
        sleep(Duration::from_millis(100));
    }
    Ok(())
}

// `main` is the note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 使用共享内存进行进程间通信 ===");

    // 创建共享值（整数，初始值为0）: Value('i', 0)
    let shared_value = Value::new(0i32)?;

    // 创建共享数组（5个整数，初始值为0）: Array('i', 5)
    let shared_array = Array::<i32>::new(5)?;

    // 创建进程, and 启动所有进程: each process is started as it is made (`start` gives back
    // its handle), in the note's order. A clone is another handle to the same shared memory.
    let mut processes = Vec::new();

    // 使用Value的进程
    for i in 0..2 {
        let p = Process::new(worker_with_value, (shared_value.clone(), i)).start()?;
        processes.push(p);
    }

    // 使用Array的进程
    for i in 2..4 {
        let p = Process::new(worker_with_array, (shared_array.clone(), i)).start()?;
        processes.push(p);
    }

    // 等待所有进程完成
    for p in &processes {
        p.join_ok()?;
    }

    // 输出最终结果
    println!("最终共享值: {}", shared_value.value()?);
    println!("最终共享数组: {}", shared_array.to_vec()?.py_repr());
    Ok(())
}
