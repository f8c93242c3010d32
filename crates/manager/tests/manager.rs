//! Manager: appends and sets from several processes, stopping, a killed server, proxies
//! inherited across fork, and the demo's complete output. Each test forks, so this is a
//! `harness = false` program (see `ipc_common::testing`).

use std::collections::BTreeSet;
use std::io::Write;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipc_common::auth;
use ipc_common::fault::{self, Fault};
use ipc_common::{Event, Process, ShmBox};
use manager::{Address, AuthKey, Manager, ManagerError};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

mod common;
use common::types::Counter;
use common::{authenticated, cpu_ticks, field, name_of, pid_exists, request};

/// A client that sends requests and never reads the replies fills its socket and blocks the
/// server's thread for that connection only: other clients are served, and the manager still
/// stops at once.
fn a_client_that_stops_reading_blocks_only_itself() {
    let manager = Manager::start().expect("start");
    let list = manager.list::<String>().expect("list");
    list.append(&"x".repeat(1000)).expect("append");
    let mut raw = authenticated(&name_of(&manager), &auth::authkey().expect("key"));
    // 2 000 requests for the list's items (op 9, object 0): about 2 MB of replies, far more
    // than a socket buffer holds, and nobody reads them.
    let requests = request(9, 0, &[]).repeat(2000);
    raw.write_all(&requests).expect("requests");
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    list.append(&"y".to_string())
        .expect("the server still serves others");
    assert_eq!(list.len().expect("len"), 2);
    assert!(started.elapsed() < Duration::from_secs(1));
    let started = Instant::now();
    assert_eq!(manager.shutdown().expect("shutdown"), 0);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "shutdown waited"
    );
    drop(raw);
}

/// A server out of file descriptors neither spins nor drops the client it cannot accept yet:
/// it waits, and serves that client once another one has gone.
fn server_out_of_descriptors_waits_then_serves() {
    // In a child of its own, so that this program's limits stay as they are.
    let limited = Process::start("limited", || {
        // The server is forked with a limit of 16 descriptors; this process then takes its
        // own limit back (it holds a pidfd per child).
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        setrlimit(Resource::RLIMIT_NOFILE, 16, hard).expect("setrlimit");
        let manager = Manager::start().expect("start");
        setrlimit(Resource::RLIMIT_NOFILE, soft, hard).expect("setrlimit");
        let list = manager.list::<u32>().expect("list");
        let (appended, leave) = (
            ShmBox::new(AtomicU32::new(0)).expect("shm"),
            Event::new().expect("event"),
        );
        // Clients that append and then stay connected, until one cannot be accepted.
        let mut holders = Vec::new();
        let stuck = loop {
            let i = holders.len() as u32;
            assert!(i < 20, "the server never ran out of descriptors");
            holders.push(
                Process::start(format!("holder-{i}"), || {
                    list.append(&i).expect("append");
                    appended.fetch_add(1, Ordering::SeqCst);
                    leave.wait();
                })
                .expect("start"),
            );
            let started = Instant::now();
            while appended.load(Ordering::SeqCst) <= i
                && started.elapsed() < Duration::from_millis(500)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            if appended.load(Ordering::SeqCst) <= i {
                break i;
            }
        };
        // Waiting, not spinning: the server uses almost no CPU while the client waits.
        let before = cpu_ticks(manager.pid());
        std::thread::sleep(Duration::from_millis(500));
        let spent = cpu_ticks(manager.pid()) - before;
        assert!(
            spent <= 10,
            "the server used {spent} ticks of CPU in 500 ms"
        );
        // The others leave; the waiting client is then accepted and served.
        leave.set();
        for holder in &holders {
            assert_eq!(holder.join().expect("join"), 0);
        }
        assert_eq!(appended.load(Ordering::SeqCst), stuck + 1);
        assert_eq!(list.len().expect("len"), stuck as usize + 1);
    })
    .expect("start");
    assert_eq!(limited.join().expect("join"), 0);
}

fn list_appends_from_three_processes_none_lost() {
    const N: u32 = 1000;
    let manager = Manager::start().expect("start");
    let list = manager.list::<(u32, u32)>().expect("list");
    let workers: Vec<Process> = (0..3)
        .map(|p| {
            Process::start(format!("appender-{p}"), || {
                for i in 0..N {
                    list.append(&(p, i)).expect("append");
                }
            })
            .expect("start")
        })
        .collect();
    for w in &workers {
        assert_eq!(w.join().expect("join"), 0);
    }
    let items = list.to_vec().expect("to_vec");
    assert_eq!(items.len(), 3 * N as usize);
    assert_eq!(list.len().expect("len"), 3 * N as usize);
    let unique: BTreeSet<(u32, u32)> = items.iter().copied().collect();
    assert_eq!(unique.len(), items.len(), "duplicated items");
    for p in 0..3 {
        let own: Vec<u32> = items
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(
            own,
            (0..N).collect::<Vec<_>>(),
            "process {p}'s items lost or reordered"
        );
    }
}

fn dict_sets_from_several_processes() {
    let manager = Manager::start().expect("start");
    let dict = manager.dict::<String, i64>().expect("dict");
    assert!(dict.is_empty().expect("is_empty"));
    let workers: Vec<Process> = (0..4i64)
        .map(|p| {
            Process::start(format!("setter-{p}"), || {
                for i in 0..100 {
                    dict.set(&format!("p{p}-{i}"), &(p * 1000 + i))
                        .expect("set");
                    dict.set(&"shared".to_string(), &p).expect("set shared");
                }
                assert_eq!(
                    dict.get(&format!("p{p}-7")).expect("get"),
                    Some(p * 1000 + 7)
                );
            })
            .expect("start")
        })
        .collect();
    for w in &workers {
        assert_eq!(w.join().expect("join"), 0);
    }
    assert_eq!(dict.len().expect("len"), 401);
    let items = dict.items().expect("items");
    assert_eq!(items.len(), 401);
    for p in 0..4 {
        for i in 0..100 {
            assert_eq!(
                dict.get(&format!("p{p}-{i}")).expect("get"),
                Some(p * 1000 + i)
            );
        }
    }
    assert!((0..4).contains(&dict.get(&"shared".to_string()).expect("get").expect("some")));
    assert_eq!(dict.get(&"absent".to_string()).expect("get"), None);
}

fn proxies_inherited_across_fork_use_their_own_connection() {
    let manager = Manager::start().expect("start");
    let list = manager.list::<u32>().expect("list");
    list.append(&0).expect("append"); // the parent's connection is now open
    let child = Process::start("busy-child", || {
        for i in 1..=2000 {
            list.append(&i).expect("append");
        }
    })
    .expect("start");
    // Meanwhile the parent keeps using the same proxy: every reply must be its own.
    let mut last = 0;
    while child.is_alive() {
        let len = list.len().expect("len");
        assert!(len >= last && len <= 2001);
        last = len;
    }
    assert_eq!(child.join().expect("join"), 0);
    assert_eq!(
        list.to_vec().expect("to_vec"),
        (0..=2000).collect::<Vec<u32>>()
    );
}

fn server_stops_when_manager_dropped() {
    let manager = Manager::start().expect("start");
    let dict = manager.dict::<u8, u8>().expect("dict");
    dict.set(&1, &1).expect("set");
    let pid = manager.pid();
    assert!(pid_exists(pid));
    let start = Instant::now();
    drop(manager);
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "stopped by request, not by timeout"
    );
    assert!(
        !pid_exists(pid),
        "server {pid} still exists (or is a zombie)"
    );
    assert!(matches!(dict.get(&1), Err(ManagerError::ServerGone)));
    let second = Manager::start().expect("start");
    assert_eq!(second.shutdown().expect("shutdown"), 0);
}

fn request_after_server_killed_fails_fast() {
    let manager = Manager::start().expect("start");
    let dict = manager.dict::<u8, u8>().expect("dict");
    let list = manager.list::<u8>().expect("list");
    dict.set(&1, &1).expect("set"); // an open connection
    kill(Pid::from_raw(manager.pid()), Signal::SIGKILL).expect("kill");
    let start = Instant::now();
    assert!(matches!(dict.set(&2, &2), Err(ManagerError::ServerGone)));
    // A proxy that never connected, and requests from a child, fail the same way.
    assert!(matches!(list.append(&1), Err(ManagerError::ServerGone)));
    assert!(matches!(
        manager.list::<u8>(),
        Err(ManagerError::ServerGone)
    ));
    let child = Process::start("late", || {
        assert!(matches!(dict.len(), Err(ManagerError::ServerGone)));
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    let pid = manager.pid();
    drop(manager);
    assert!(!pid_exists(pid), "killed server {pid} not reaped");
}

/// The server dies after applying a request and before answering it: the client is told that
/// the server is gone, at once, and the manager reaps the dead server.
fn a_server_killed_before_it_answers_is_gone_at_once() {
    let armed = Process::start("armed", || {
        // The server inherits the armed point; its second request dies there.
        fault::arm("manager.server.applied", Fault::Kill, 2);
        let manager = Manager::start().expect("start");
        fault::disarm_all();
        let list = manager.list::<u32>().expect("list");
        let started = Instant::now();
        let appended = list.append(&1);
        assert!(
            matches!(appended, Err(ManagerError::ServerGone)),
            "{appended:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(manager.shutdown().expect("reaped"), -9);
    })
    .expect("start");
    assert_eq!(armed.join().expect("join"), 0);
}

fn demo_output_is_complete() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_manager"))
        .output()
        .expect("run demo");
    assert!(out.status.success(), "demo failed: {out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(lines[0], "=== 使用Manager共享复杂数据 ===");
    let mut done: Vec<&str> = lines[1..4].to_vec();
    done.sort();
    assert_eq!(
        done,
        [
            "进程 0 完成数据修改",
            "进程 1 完成数据修改",
            "进程 2 完成数据修改"
        ]
    );
    assert_eq!(
        lines[4],
        "最终共享字典: {0: '数据来自进程0', 1: '数据来自进程1', 2: '数据来自进程2'}"
    );
    let list = lines[5]
        .strip_prefix("最终共享列表: ['")
        .and_then(|rest| rest.strip_suffix("']"))
        .unwrap_or_else(|| panic!("list line: {}", lines[5]));
    let items: Vec<&str> = list.split("', '").collect();
    let mut sorted = items.clone();
    sorted.sort();
    let expected: Vec<String> = (0..3)
        .flat_map(|p| (0..3).map(move |i| format!("进程{p}_项目{i}")))
        .collect();
    assert_eq!(sorted, expected, "items lost or duplicated: {}", lines[5]);
    for p in 0..3 {
        let own: Vec<String> = items
            .iter()
            .filter(|s| s.starts_with(&format!("进程{p}_")))
            .map(|s| s.to_string())
            .collect();
        let want: Vec<String> = (0..3).map(|i| format!("进程{p}_项目{i}")).collect();
        assert_eq!(own, want, "process {p}'s items out of order");
    }
}

/// A client that will never read its reply (killed, or it shut its socket for reading): the
/// server's write fails with EPIPE and it goes on serving the others, even with SIGPIPE's
/// default action restored (as every section binary has it, see `cli::sections`; the server
/// inherits it). Every write of the server is a `send` or `sendmsg` with `MSG_NOSIGNAL`, the
/// writes of a large reply's frames too; a plain `write(2)` or `writev(2)` there would let
/// SIGPIPE end the server.
fn server_survives_a_client_that_will_not_read() {
    ipc_common::sigpipe::set_default();
    let manager = Manager::start().expect("start");
    let dict = manager.dict::<u32, Vec<u8>>().expect("dict");
    dict.set(&1, &vec![7; 1 << 20]).expect("set");
    let mut key = Vec::new();
    ipc_common::codec::encode(&1u32, &mut key).expect("key");
    // Raw clients of the protocol, authenticated: one frame each, op 5 (DictLen) and op 4
    // (DictGet, a reply of 1 MiB), object 0. Their replies have nowhere to go.
    for request in [request(5, 0, &[]), request(4, 0, &field(&key))] {
        let mut raw = authenticated(&name_of(&manager), &auth::authkey().expect("key"));
        raw.shutdown(Shutdown::Read).expect("shutdown");
        raw.write_all(&request).expect("request");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(dict.len().expect("the server is still serving"), 1);
        assert!(pid_exists(manager.pid()));
    }
    // Over TCP a closed peer is seen only when its reset comes back: the first writes of a
    // large reply succeed, a later one fails.
    let key = AuthKey::random().expect("key");
    let manager = Manager::builder()
        .address(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .authkey(key.clone())
        .start()
        .expect("start");
    let dict = manager.dict::<u32, Vec<u8>>().expect("dict");
    dict.set(&1, &vec![7; 1 << 20]).expect("set");
    let Address::Tcp(addr) = manager.address().clone() else {
        unreachable!()
    };
    for _ in 0..20 {
        let mut raw = std::net::TcpStream::connect(addr).expect("connect");
        let mut handshake = &raw;
        auth::answer_challenge(&mut handshake, &key).expect("answer");
        auth::deliver_challenge(&mut handshake, &key).expect("deliver");
        raw.write_all(&request(4, 0, &field(&key_bytes(&1u32))))
            .expect("request");
        drop(raw);
        assert_eq!(dict.len().expect("the server is still serving"), 1);
    }
    assert!(pid_exists(manager.pid()));
}

/// Clients that leave in the middle of the handshake, before its verdict is sent: the server
/// writes the verdict to a closed connection, which fails, and goes on, even with SIGPIPE's
/// default action (the handshake's writes are `sendmsg` with `MSG_NOSIGNAL` too).
fn server_survives_clients_that_leave_during_the_handshake() {
    ipc_common::sigpipe::set_default();
    let manager = Manager::start().expect("start");
    let list = manager.list::<u32>().expect("list");
    for i in 0..50 {
        let mut raw = common::connect(&name_of(&manager));
        let mut challenge = Vec::new();
        ipc_common::frame::read(&mut raw, &mut challenge, 256).expect("challenge");
        raw.write_all(&common::framed(&[b'x'; 40]))
            .expect("a wrong answer");
        drop(raw);
        list.append(&i).expect("the server is still serving");
    }
    assert_eq!(list.len().expect("len"), 50);
    assert!(pid_exists(manager.pid()));
}

/// The encoding of `value`.
fn key_bytes(value: &u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    ipc_common::codec::encode(value, &mut bytes).expect("encode");
    bytes
}

/// The shared objects of a `SyncManager`, borrowed by forked children as the demo borrows its
/// dict and list: a queue, a lock around a value, an event, a barrier.
fn sync_objects_are_shared_with_forked_children() {
    let manager = Manager::start().expect("start");
    let jobs = manager.queue::<u32>(0).expect("queue");
    let lock = manager.lock().expect("lock");
    let total = manager.value(&0u32).expect("value");
    let go = manager.event().expect("event");
    let barrier = manager.barrier(3).expect("barrier");
    let workers: Vec<Process> = (0..2)
        .map(|w| {
            Process::start(format!("worker-{w}"), || {
                go.wait().expect("wait");
                for _ in 0..50 {
                    let job = jobs.get().expect("get");
                    let _held = lock.lock().expect("lock");
                    total.set(&(total.get().expect("get") + job)).expect("set");
                }
                barrier.wait().expect("barrier");
            })
            .expect("start")
        })
        .collect();
    for job in 1..=100 {
        jobs.put(&job).expect("put");
    }
    go.set().expect("set");
    barrier.wait().expect("barrier");
    for w in &workers {
        assert_eq!(w.join().expect("join"), 0);
    }
    assert_eq!(total.get().expect("get"), 5050);
    assert!(jobs.empty().expect("empty"));
}

/// A registered type under fork: the server is forked from this process, whose registration
/// it runs.
fn registered_types_work_under_fork() {
    let manager = Manager::builder()
        .register::<Counter>()
        .start()
        .expect("start");
    let counter = manager.create::<Counter>(&0).expect("create");
    let children: Vec<Process> = (0..3)
        .map(|c| {
            Process::start(format!("adder-{c}"), || {
                for _ in 0..100 {
                    counter.call::<i64, i64>("add", &1).expect("add");
                }
            })
            .expect("start")
        })
        .collect();
    for c in &children {
        assert_eq!(c.join().expect("join"), 0);
    }
    assert_eq!(counter.call::<(), i64>("get", &()).expect("get"), 300);
}

fn main() {
    ipc_common::testing::run(&[
        (
            "sync_objects_are_shared_with_forked_children",
            sync_objects_are_shared_with_forked_children,
        ),
        (
            "registered_types_work_under_fork",
            registered_types_work_under_fork,
        ),
        (
            "server_survives_a_client_that_will_not_read",
            server_survives_a_client_that_will_not_read,
        ),
        (
            "server_survives_clients_that_leave_during_the_handshake",
            server_survives_clients_that_leave_during_the_handshake,
        ),
        (
            "list_appends_from_three_processes_none_lost",
            list_appends_from_three_processes_none_lost,
        ),
        (
            "dict_sets_from_several_processes",
            dict_sets_from_several_processes,
        ),
        (
            "proxies_inherited_across_fork_use_their_own_connection",
            proxies_inherited_across_fork_use_their_own_connection,
        ),
        (
            "server_stops_when_manager_dropped",
            server_stops_when_manager_dropped,
        ),
        (
            "request_after_server_killed_fails_fast",
            request_after_server_killed_fails_fast,
        ),
        (
            "a_client_that_stops_reading_blocks_only_itself",
            a_client_that_stops_reading_blocks_only_itself,
        ),
        (
            "server_out_of_descriptors_waits_then_serves",
            server_out_of_descriptors_waits_then_serves,
        ),
        (
            "a_server_killed_before_it_answers_is_gone_at_once",
            a_server_killed_before_it_answers_is_gone_at_once,
        ),
        ("demo_output_is_complete", demo_output_is_complete),
    ]);
}
