//! Arguments and results of any size, and pools started by spawn and forkserver from a
//! program with threads (libtest's): ordinary `#[test]`s.

use ipc_common::{ProcessError, StartMethod};
use pool::{Pool, PoolError};

const MIB: usize = 1 << 20;

fn reverse_bytes(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

fn scale(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(|x| x * 2.0).collect()
}

fn make_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn spawned(n: usize, method: StartMethod) -> Pool {
    Pool::builder()
        .processes(n)
        .start_method(method)
        .build()
        .expect("pool")
}

#[test]
fn large_bytes_through_apply_and_map() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let pool = spawned(2, method);
        for len in [8 * MIB, 64 * MIB] {
            let v = make_bytes(len);
            let mut want = v.clone();
            want.reverse();
            assert!(
                pool.apply(reverse_bytes, v.clone()).expect("apply") == want,
                "{method}"
            );
            let out = pool.map(reverse_bytes, [v]).expect("map");
            assert_eq!(out.len(), 1);
            assert!(out.iter().all(|o| *o == want), "{method} {len}");
        }
    }
}

#[test]
fn large_floats_through_apply_and_map() {
    let pool = spawned(2, StartMethod::Spawn);
    for len in [8 * MIB / 8, 64 * MIB / 8] {
        let v: Vec<f64> = (0..len).map(|i| i as f64).collect();
        let got = pool.apply(scale, v.clone()).expect("apply");
        assert_eq!(got.len(), len);
        assert!(got.iter().enumerate().all(|(i, &x)| x == 2.0 * i as f64));
        let got = pool.map(scale, [v]).expect("map");
        assert_eq!(got[0].len(), len);
        assert_eq!(got[0][len - 1], 2.0 * (len - 1) as f64);
    }
}

#[test]
fn large_results_with_small_rings_and_many_tasks() {
    // 40 results of 256 KiB through rings of one page: every one streamed, none lost.
    let pool = Pool::builder()
        .processes(3)
        .start_method(StartMethod::Forkserver)
        .ring_bytes(4096)
        .build()
        .expect("pool");
    let inputs: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; 256 * 1024]).collect();
    let out = pool.map_chunked(reverse_bytes, inputs, 1).expect("map");
    assert_eq!(out.len(), 40);
    for (i, o) in out.iter().enumerate() {
        assert!(o.len() == 256 * 1024 && o.iter().all(|&b| b == i as u8));
    }
}

fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn spawn_and_forkserver_pools_work_from_a_threaded_parent() {
    // Another thread is alive for the whole test: only fork needs a single thread.
    let (stop, waiter) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || waiter.recv());
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let pool = spawned(2, method);
        assert_eq!(
            pool.map(square, 0..100).expect("map"),
            (0..100).map(|x| x * x).collect::<Vec<_>>()
        );
        pool.close();
        pool.join().expect("join");
    }
    drop(stop);
    let _ = thread.join();
}

#[test]
fn fork_from_a_threaded_parent_names_spawn_and_forkserver() {
    let (stop, waiter) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || waiter.recv());
    let err = Pool::builder()
        .processes(1)
        .start_method(StartMethod::Fork)
        .build()
        .expect_err("fork with threads is refused");
    match &err {
        PoolError::Process(e) => assert!(matches!(**e, ProcessError::Threaded { .. })),
        other => panic!("unexpected error {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("spawn") && text.contains("forkserver"),
        "{text}"
    );
    drop(stop);
    let _ = thread.join();
}
