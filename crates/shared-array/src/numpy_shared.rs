//! 6.1 使用共享内存和NumPy

use std::thread::sleep;
use std::time::Duration;

use ipc_common::{MutexSlice, Process};
use ndarray::{ArrayView2, ArrayViewMut2};
use shared_array::numpy_lines;

/// print(np_array): numpy's layout, one `println!` per line.
fn print_array(np_array: &ArrayView2<'_, f64>) {
    for line in numpy_lines(np_array) {
        println!("{line}");
    }
}

/// 使用NumPy和共享内存的进程
fn numpy_worker(
    shared_array: &MutexSlice<f64>,
    shape: (usize, usize),
    process_id: usize,
) -> anyhow::Result<()> {
    // 每个进程处理不同的部分
    let chunk_size = shape.0 / 4;
    let start = process_id * chunk_size;
    let end = if process_id < 3 {
        start + chunk_size
    } else {
        shape.0
    };

    println!("进程 {process_id} 处理行 {start} 到 {}", end - 1);

    // 处理数据: each row under the array's lock (Python's get_obj() skips the lock, and two
    // processes writing the same memory unguarded is a data race in Rust)
    for i in start..end {
        let mut guard = shared_array.lock()?;
        // 将共享数组转换为NumPy数组: a 2-D view of the shared memory, no copy
        let mut np_array = ArrayViewMut2::from_shape(shape, &mut guard[..])?;
        for j in 0..shape.1 {
            np_array[[i, j]] = (process_id * 100 + i * 10 + j) as f64;
        }
        drop(guard);
        sleep(Duration::from_millis(10));
    }
    Ok(())
}

pub fn main() -> anyhow::Result<()> {
    println!("=== 使用共享内存和NumPy ===");

    // 创建共享数组 ('d' 表示double: f64)
    let shape = (10, 5);
    let size = shape.0 * shape.1;
    let shared_array = MutexSlice::<f64>::zeroed(size)?;

    // 初始化NumPy数组视图
    {
        let mut guard = shared_array.lock()?;
        let mut np_array = ArrayViewMut2::from_shape(shape, &mut guard[..])?;
        np_array.fill(0.0); // 初始化为0

        println!("初始数组:");
        print_array(&np_array.view());
    }

    // 创建进程: each child writes its rows into the same shared memory
    let mut processes = Vec::new();
    for i in 0..4 {
        let p = Process::start(format!("Process-{i}"), || {
            numpy_worker(&shared_array, shape, i)
        })?;
        processes.push(p);
    }

    // 等待所有进程完成
    for p in &processes {
        p.join_ok()?;
    }

    println!();
    println!("最终数组:");
    print_array(&ArrayView2::from_shape(shape, &shared_array.lock()?[..])?);
    Ok(())
}
