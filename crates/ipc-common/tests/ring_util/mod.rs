//! Helpers shared by the ring's test programs: deadlines and messages whose every byte is
//! derived from their id and length, so that a torn, mixed or shifted message is noticed.

#![allow(dead_code)] // each test program uses its own part

use std::time::{Duration, Instant};

/// The deadline `ms` milliseconds from now.
pub fn deadline(ms: u64) -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(ms))
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The bytes of message `id` of `len` bytes: its id and length first (when there is room),
/// then bytes that depend on both and on their position.
pub fn message(id: u64, len: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&id.to_le_bytes());
    m.extend_from_slice(&(len as u64).to_le_bytes());
    m.truncate(len);
    // Byte `i` is byte `i % 8` of a seed, xor the low byte of `i / 8`: built 8 bytes at a
    // time, so that 64 MiB take little time even in a debug build.
    let seed = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ len as u64;
    let blocks = len.div_ceil(8);
    for block in m.len() / 8..blocks {
        let word = seed ^ (block as u8 as u64).wrapping_mul(0x0101_0101_0101_0101);
        m.extend_from_slice(&word.to_le_bytes());
    }
    m.truncate(len);
    m
}

/// The id of a message made by [`message`] (at least 16 bytes), after checking every byte.
pub fn check(m: &[u8]) -> u64 {
    assert!(
        m.len() >= 16,
        "a message of {} bytes has no header",
        m.len()
    );
    let id = u64::from_le_bytes(m[..8].try_into().expect("8 bytes"));
    let len = u64::from_le_bytes(m[8..16].try_into().expect("8 bytes")) as usize;
    assert_eq!(m.len(), len, "message {id} has the wrong length");
    assert!(
        m == message(id, len),
        "message {id} of {len} bytes is torn or mixed"
    );
    id
}
