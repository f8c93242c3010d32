//! What the shared memory tests look at in `/dev/shm`.

use std::path::Path;
use std::time::{Duration, Instant};

/// Whether segment `name` exists.
pub fn exists(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

/// Waits (generously: the machine may be loaded) until `name` is gone from `/dev/shm`;
/// whether it went.
pub fn wait_gone(name: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while exists(name) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}
