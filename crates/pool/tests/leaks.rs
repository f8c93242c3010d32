//! Nothing left behind: after a pool's life, this process holds the descriptors it held
//! before, and /dev/shm has no new entry. A test program of its own, so that no other test
//! opens descriptors meanwhile.

use ipc_common::StartMethod;
use pool::Pool;

fn square(x: u64) -> u64 {
    x * x
}

fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("fds").count()
}

fn shm() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_pool_leaves_no_descriptor_and_no_shm_file() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        // A first pool starts the forkserver, which stays for the program.
        drop(Pool::builder().processes(1).start_method(method).build());
        let (fds, files) = (descriptors(), shm());
        for round in 0..3 {
            let pool = Pool::builder()
                .processes(2)
                .start_method(method)
                .maxtasksperchild(2)
                .build()
                .expect("pool");
            assert_eq!(pool.map_chunked(square, 0..20, 1).expect("map").len(), 20);
            if round == 0 {
                pool.close();
                pool.join().expect("join");
            } else if round == 1 {
                pool.terminate();
            }
        }
        assert_eq!(descriptors(), fds, "{method}: descriptors");
        assert_eq!(shm(), files, "{method}: /dev/shm");
    }
}
