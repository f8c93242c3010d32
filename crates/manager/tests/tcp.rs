//! Managers across hosts, on the loopback: a server at a TCP address with an authkey (Python's
//! `BaseManager(address=(host, port), authkey=...)`), started as a child or served in this
//! process (`get_server().serve_forever()`), and clients that know nothing but the address and
//! the key (`connect()`): spawned processes, and another run of this test program. A wrong key
//! is refused and the server goes on. Ordinary `#[test]`s.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ipc_common::{StartMethod, get_context};
use manager::{Address, AuthKey, ListProxy, Manager, ManagerError};

mod common;
use common::types::Counter;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A manager on a free loopback port, with a key of its own, started by spawn.
fn tcp_manager() -> (Manager, AuthKey) {
    let key = AuthKey::random().expect("key");
    let manager = Manager::builder()
        .address(loopback())
        .authkey(key.clone())
        .register::<Counter>()
        .start_method(StartMethod::Spawn)
        .start()
        .expect("start");
    (manager, key)
}

/// A client that knows only the address and the key: it connects, finds the shared objects by
/// name, and uses them.
fn client((address, key, who): (Address, Vec<u8>, u32)) -> std::result::Result<(), ManagerError> {
    let manager = Manager::connect(address, AuthKey::new(key))?;
    let results = manager.named("results").dict::<u32, String>()?;
    results.set(&who, &format!("from client {who}"))?;
    let total = manager.named("total").create::<Counter>(&0)?;
    total.call::<i64, i64>("add", &i64::from(who))?;
    let groups = manager.named("groups").dict::<String, ListProxy<u32>>()?;
    groups
        .get(&"all".into())?
        .ok_or(ManagerError::KeyNotFound("all".into()))?
        .append(&who)
}

#[test]
fn a_tcp_manager_serves_processes_that_know_only_its_address_and_key() -> Result {
    let (manager, key) = tcp_manager();
    let Address::Tcp(addr) = manager.address().clone() else {
        panic!("not a TCP address: {}", manager.address());
    };
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    // A dict of lists, reached through the network by every client.
    let all = manager.list::<u32>()?;
    manager
        .named("groups")
        .dict::<String, ListProxy<u32>>()?
        .set(&"all".into(), &all)?;
    let children: Vec<_> = (1..=4)
        .map(|who| {
            let args = (manager.address().clone(), key.as_bytes().to_vec(), who);
            get_context(StartMethod::Spawn)
                .process(client, args)
                .start()
        })
        .collect::<std::result::Result<_, _>>()?;
    for c in &children {
        assert_eq!(c.join()?, 0);
    }
    let results = manager.named("results").dict::<u32, String>()?;
    let mut items = results.items()?;
    items.sort();
    assert_eq!(items.len(), 4);
    assert_eq!(items[3], (4, "from client 4".to_string()));
    let total = manager.named("total").create::<Counter>(&0)?;
    assert_eq!(total.call::<(), i64>("get", &())?, 1 + 2 + 3 + 4);
    let mut appended = all.to_vec()?;
    appended.sort();
    assert_eq!(appended, [1, 2, 3, 4]);
    Ok(())
}

/// Wrong keys and garbage are refused, one connection at a time; the server goes on serving
/// the clients that know the key.
#[test]
fn a_wrong_key_is_refused_and_the_server_goes_on() -> Result {
    let (manager, key) = tcp_manager();
    let list = manager.list::<u32>()?;
    for attempt in 0..5 {
        let wrong = AuthKey::new(format!("guess {attempt}").into_bytes());
        let refused = Manager::connect(manager.address().clone(), wrong);
        assert!(matches!(refused, Err(ManagerError::Auth(_))), "{refused:?}");
        // A client that sends garbage instead of an answer gets nothing but a refusal.
        let Address::Tcp(addr) = manager.address() else {
            unreachable!()
        };
        let mut raw = TcpStream::connect(addr)?;
        raw.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut challenge = [0u8; 4 + 11 + 8 + 40];
        raw.read_exact(&mut challenge)?;
        let _ = raw.write_all(&[0, 0, 0, 5, b'x', b'x', b'x', b'x', b'x']);
        let mut rest = Vec::new();
        let _ = raw.read_to_end(&mut rest);
        assert!(
            rest.len() < 100,
            "{} bytes for a refused client",
            rest.len()
        );
        list.append(&attempt)?;
    }
    let connected = Manager::connect(manager.address().clone(), key)?;
    assert_eq!(connected.pid(), manager.pid());
    assert_eq!(list.to_vec()?, [0, 1, 2, 3, 4]);
    Ok(())
}

fn put_job((address, key, job): (Address, Vec<u8>, u32)) -> std::result::Result<(), ManagerError> {
    Manager::connect(address, AuthKey::new(key))?
        .named("jobs")
        .queue::<u32>(0)?
        .put(&job)
}

/// A server served in this process (Python's `get_server().serve_forever()`), until a client
/// asks it to stop: then every connection closes, and a client waiting in it is told.
#[test]
fn a_server_served_in_this_process_stops_when_a_client_asks() -> Result {
    let key = AuthKey::random()?;
    let server = Manager::builder()
        .address(loopback())
        .authkey(key.clone())
        .register::<Counter>()
        .server()?;
    let address = server.address().clone();
    let serving = std::thread::spawn(move || server.serve_forever());
    let client = Manager::connect(address.clone(), key.clone())?;
    assert_eq!(client.pid() as u32, std::process::id());
    let jobs = client.named("jobs").queue::<u32>(0)?;
    let child = get_context(StartMethod::Spawn)
        .process(put_job, (address.clone(), key.as_bytes().to_vec(), 7))
        .start()?;
    assert_eq!(jobs.get_timeout(Duration::from_secs(30))?, 7);
    assert_eq!(child.join()?, 0);
    let counter = client.create::<Counter>(&1)?;
    assert_eq!(counter.call::<i64, i64>("add", &1)?, 2);
    // A client waits in the server; another asks it to stop.
    let waiter = {
        let jobs = jobs.clone();
        std::thread::spawn(move || jobs.get())
    };
    // Most likely waiting in the server by then; if not yet, its connection is refused:
    // either way it must be told that the server is gone, not wait for ever.
    std::thread::sleep(Duration::from_millis(200));
    Manager::connect(address.clone(), key.clone())?.shutdown()?;
    serving.join().expect("the serving thread")?;
    let waited = waiter.join().expect("waiter");
    assert!(
        matches!(waited, Err(ManagerError::ServerGone)),
        "{waited:?}"
    );
    assert!(matches!(
        Manager::connect(address, key),
        Err(ManagerError::ServerGone)
    ));
    Ok(())
}

/// The environment that makes `tcp_client_in_another_run` a client.
const ADDRESS_VAR: &str = "MANAGER_TEST_TCP_ADDRESS";
const KEY_VAR: &str = "MANAGER_TEST_TCP_KEY";

/// Another run of this test program, that knows the address and the key from its
/// environment, connects and appends to the list named "runs".
#[test]
fn a_separate_run_of_this_program_connects() -> Result {
    let (manager, key) = tcp_manager();
    let runs = manager.named("runs").list::<String>()?;
    let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["tcp_client_in_another_run", "--exact", "--ignored"])
        .env(ADDRESS_VAR, manager.address().to_string())
        .env(KEY_VAR, hex)
        .stdout(std::process::Stdio::null())
        .status()?;
    assert!(status.success(), "{status}");
    assert_eq!(runs.to_vec()?, ["hello from another run"]);
    Ok(())
}

/// The client half of `a_separate_run_of_this_program_connects`: does nothing unless run by
/// it (ignored, and without its environment).
#[test]
#[ignore = "run by a_separate_run_of_this_program_connects"]
fn tcp_client_in_another_run() -> Result {
    let (Ok(address), Ok(hex)) = (std::env::var(ADDRESS_VAR), std::env::var(KEY_VAR)) else {
        return Ok(());
    };
    let key: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<std::result::Result<_, _>>()?;
    let manager = Manager::connect(address.parse::<Address>()?, AuthKey::new(key))?;
    manager
        .named("runs")
        .list::<String>()?
        .append(&"hello from another run".into())?;
    Ok(())
}
