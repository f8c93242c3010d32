//! Each task is a span "pool"/"task" in the worker that ran it. A test program of its own:
//! recording is turned on for the whole program.

use ipc_common::StartMethod;
use ipc_common::trace;
use pool::Pool;

fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn every_task_is_a_span_in_its_worker() {
    let file = std::env::temp_dir().join(format!("pool-trace-{}.json", std::process::id()));
    trace::start(&file).expect("start recording");
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Forkserver)
        .build()
        .expect("pool");
    let workers = pool.pids();
    assert_eq!(pool.map_chunked(square, 0..10, 1).expect("map").len(), 10);
    pool.close();
    pool.join().expect("join");
    trace::finish().expect("write the trace");
    let events = trace::read(&file).expect("read the trace");
    let _ = std::fs::remove_file(&file);
    let tasks = |ph: &str| {
        events
            .iter()
            .filter(|e| e.cat == "pool" && e.name == "task" && e.ph == ph)
            .collect::<Vec<_>>()
    };
    let (begins, ends) = (tasks("B"), tasks("E"));
    assert_eq!(begins.len(), 10, "one span per task");
    assert_eq!(ends.len(), 10);
    assert!(
        begins.iter().all(|e| workers.contains(&e.pid)),
        "in the workers"
    );
}
