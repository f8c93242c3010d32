//! 6.1 使用共享内存和NumPy

use std::{thread::sleep, time::Duration};

use ipc_common::{MutexSlice, Process};
use ndarray::{ArrayView2, ArrayViewMut2};
use shared_array::numpy_str;

/// The worker's arguments: the shared array, its shape and the process's number.
type Args = (MutexSlice<f64>, (usize, usize), usize);

/// 使用NumPy和共享内存的进程
fn numpy_worker((shared_array, shape, process_id): Args) -> anyhow::Result<()> {
    // 将共享数组转换为NumPy数组: a 2-D view of the shared memory, no copy. Not in the note:
    // the view is taken under the array's lock, held until the rows are written (the note
    // writes through get_obj() without it; unguarded writes to shared memory from several
    // processes are a data race in Rust)
    let mut guard = shared_array.lock()?;
    let mut np_array = ArrayViewMut2::from_shape(shape, &mut guard[..])?;

    // 每个进程处理不同的部分
    let chunk_size = shape.0 / 4;
    let start = process_id * chunk_size;
    let end = if process_id < 3 {
        start + chunk_size
    } else {
        shape.0
    };

    println!("进程 {process_id} 处理行 {start} 到 {}", end - 1);

    // 处理数据
    for i in start..end {
        for j in 0..shape.1 {
            np_array[[i, j]] = (process_id * 100 + i * 10 + j) as f64;
        }
        sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// The note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 使用共享内存和NumPy ===");

    // 创建共享数组: Array('d', size), 'd' 表示double (f64); a MutexSlice is the array and
    // its lock, whose guard lends the plain f64s that ndarray views
    let shape = (10, 5);
    let size = shape.0 * shape.1;
    let shared_array = MutexSlice::<f64>::zeroed(size)?;

    // 初始化NumPy数组视图 (under the lock: not in the note)
    let mut guard = shared_array.lock()?;
    let mut np_array = ArrayViewMut2::from_shape(shape, &mut guard[..])?;
    np_array.fill(0.0); // 初始化为0

    println!("初始数组:");
    println!("{}", numpy_str(&np_array.view()));
    drop(guard); // not in the note: the children need the lock

    // 创建进程
    let mut processes = Vec::new();
    for i in 0..4 {
        processes.push(Process::new(numpy_worker, (shared_array.clone(), shape, i)).start()?);
    }

    // 等待所有进程完成
    for p in &processes {
        p.join_ok()?;
    }

    println!("\n最终数组:");
    let guard = shared_array.lock()?; // not in the note: the lock, to view the array
    println!("{}", numpy_str(&ArrayView2::from_shape(shape, &guard)?));
    Ok(())
}
