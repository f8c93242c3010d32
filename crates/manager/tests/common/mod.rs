//! Helpers shared by the manager's test programs: raw clients of the protocol.

#![allow(dead_code)] // each test program uses some of them

use std::io::Read;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::time::Duration;

use ipc_common::auth::{self, AuthKey};

pub mod types;
use manager::{Address, Manager};

/// The abstract socket name a manager listens at.
pub fn name_of(manager: &Manager) -> String {
    match manager.address() {
        Address::Unix(name) => name.clone(),
        other => panic!("not a Unix address: {other}"),
    }
}

/// A connection to the server at `address`, not authenticated yet, whose reads give up after
/// a generous 30 seconds (so that a test fails rather than hangs).
pub fn connect(address: &str) -> UnixStream {
    let addr = SocketAddr::from_abstract_name(address).expect("address");
    let stream = UnixStream::connect_addr(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream
}

/// A connection to the server at `address` that has passed the handshake with `key`.
pub fn authenticated(address: &str, key: &AuthKey) -> UnixStream {
    let stream = connect(address);
    let mut handshake = &stream;
    auth::answer_challenge(&mut handshake, key).expect("the server accepts our answer");
    auth::deliver_challenge(&mut handshake, key).expect("the server answers our challenge");
    stream
}

/// A field of a request: its length, then its bytes.
pub fn field(bytes: &[u8]) -> Vec<u8> {
    let mut field = (bytes.len() as u64).to_be_bytes().to_vec();
    field.extend_from_slice(bytes);
    field
}

/// A request frame: length, op, object id, body (its fields).
pub fn request(op: u8, id: u32, body: &[u8]) -> Vec<u8> {
    let mut payload = vec![op];
    payload.extend_from_slice(&id.to_be_bytes());
    payload.extend_from_slice(body);
    framed(&payload)
}

/// Everything the server sends until it closes the connection. A server that closes with
/// our requests unread resets the connection, which ends it too.
pub fn read_to_end(mut stream: &UnixStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return bytes,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return bytes,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("the server does not close the connection: {e}"),
        }
    }
}

/// The frame holding `payload`, as it travels.
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame
}

/// The CPU time `pid` has used, in clock ticks (utime + stime of `/proc/PID/stat`).
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

pub fn pid_exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// A manager whose server is started by spawn: usable from `#[test]`s, which run on threads
/// (fork refuses to run in a process with threads).
pub fn spawned_manager() -> Manager {
    Manager::builder()
        .start_method(ipc_common::StartMethod::Spawn)
        .start()
        .expect("start a manager by spawn")
}

/// Waits until `condition` holds, looking every millisecond, for a generous 30 seconds;
/// panics with `what` if it never does.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether every thread of process `pid` is stopped (state `T` in its `stat`): a stop signal
/// reaches a process's threads one by one.
pub fn all_stopped(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        stat.rfind(')')
            .and_then(|at| stat[at + 1..].split_whitespace().next())
            .is_some_and(|state| state == "T")
    })
}
