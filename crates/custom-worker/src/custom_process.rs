//! 8.1 继承Process类

use std::{thread::sleep, time::Duration};

use anyhow::Context as _;
use custom_worker::{Value, Worker};
use ipc_common::{process::join_all, pyfmt::PyRepr};
use queue::{Queue, QueueError};
use serde::{Deserialize, Serialize};

/// 自定义进程类: its fields are the note's `__init__`; the child gets a copy of them
/// (serialized under spawn and forkserver, as Python pickles the object)
#[derive(Clone, Serialize, Deserialize)]
struct WorkerProcess {
    task_queue: Queue<Option<Value>>,
    result_queue: Queue<(usize, Value, Value)>,
    worker_id: usize,
    running: bool,
}

impl Worker for WorkerProcess {
    type Error = anyhow::Error;

    /// 重写run方法，这是进程的入口点
    fn run(&mut self) -> anyhow::Result<()> {
        println!("工作进程 {} 启动", self.worker_id);

        while self.running {
            // 从任务队列获取任务（非阻塞）: waits at most 1 s
            let task = match self.task_queue.get_timeout(Duration::from_secs(1)) {
                Err(QueueError::Empty) => continue, // 队列为空，继续等待
                task => task?,
            };

            let Some(task) = task else {
                // 停止信号
                println!("工作进程 {} 收到停止信号", self.worker_id);
                break;
            };

            // 处理任务; 处理异常: as the note's `except Exception`, a failure is the result
            let result = self
                .process_task(&task)
                .unwrap_or_else(|e| Value::Str(format!("错误: {e}")));

            // 将结果放入结果队列
            self.result_queue.put(&(self.worker_id, task, result))?;
        }

        println!("工作进程 {} 结束", self.worker_id);
        Ok(())
    }
}

impl WorkerProcess {
    /// 处理具体的任务 (the note's third branch, `处理了: {task}` for other types, has no
    /// counterpart: a `Value` is an int or a string)
    fn process_task(&mut self, task: &Value) -> anyhow::Result<Value> {
        println!("工作进程 {} 处理任务: {task}", self.worker_id);
        sleep(Duration::from_millis(500)); // 模拟处理时间

        // Python's ints never overflow, an i64 can: then an error, which run() makes the result
        Ok(match task {
            Value::Int(n) => Value::Int(n.checked_mul(*n).context("整数溢出")?),
            Value::Str(s) => Value::Str(s.to_uppercase()),
        })
    }

    /// 停止进程. It never reaches the child: called in the parent, it changes the parent's
    /// copy of the worker, while the child runs on its own copy; the note never calls it, and
    /// the stop signal (None) is what ends a worker.
    #[allow(dead_code)] // nobody calls it, as in the note
    fn stop(&mut self) {
        self.running = false;
    }
}

/// The note's `if __name__ == "__main__":` block.
pub fn main() -> anyhow::Result<()> {
    println!("=== 自定义进程类演示 ===");

    // 创建队列
    let task_queue = Queue::new(0)?;
    let result_queue = Queue::new(0)?;

    // 创建自定义进程
    let workers: Vec<WorkerProcess> = (0..3)
        .map(|worker_id| WorkerProcess {
            task_queue: task_queue.clone(),
            result_queue: result_queue.clone(),
            worker_id,
            running: true,
        })
        .collect();

    // 启动所有工作进程 (start() returns the child's handle; the parent keeps its `workers`).
    // The names are not in the note: Python's would be WorkerProcess-1 to 3 (its class name
    // and a count); here each carries its worker_id, which `ps` then shows.
    let mut handles = Vec::new();
    for worker in &workers {
        handles.push(worker.start(format!("WorkerProcess-{}", worker.worker_id))?);
    }

    // 添加任务到队列 (the note's list as it is written in Python, read as JSON into `Value`s)
    let tasks: Vec<Value> =
        serde_json::from_str(r#"[1, 2, 3, "hello", "world", 4, 5, "python", 6]"#)?;
    for task in &tasks {
        task_queue.put(&Some(task.clone()))?;
    }

    // 添加停止信号
    for _ in &workers {
        task_queue.put(&None)?;
    }

    // 收集结果
    let mut results = Vec::new();
    for _ in &tasks {
        let result = match result_queue.get_timeout(Duration::from_secs(5)) {
            Err(QueueError::Empty) => break,
            result => result?,
        };
        println!("收到结果: {}", result.py_repr());
        results.push(result);
    }

    // 等待所有工作进程结束. A worker that died (killed, say) took its task with it: the loop
    // above gave up after 5 s without that result, and join_all names the dead worker
    // (`process WorkerProcess-1 (pid 42) was killed by SIGKILL`) once the others have ended.
    join_all(&handles)?;

    println!("\n所有任务完成!");
    println!("共收到 {} 个结果", results.len());
    Ok(())
}
