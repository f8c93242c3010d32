//! Who gets into a manager: other users, wrong keys, impostors at a dead server's address,
//! squatters of a predictable name, and how refusals are reported. Each test forks (another
//! user is played by a child that drops to uid 65534, which needs root, as in CI), so this is
//! a `harness = false` program (see `ipc_common::testing`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::time::{Duration, Instant};

use ipc_common::auth::{self, AuthError, AuthKey};
use ipc_common::{Event, Process, frame};
use manager::{Manager, ManagerError};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, dup2_stderr, geteuid, setgid, setgroups, setuid};

mod common;
use common::{authenticated, connect, framed, name_of, pid_exists, read_to_end, request};

/// The user that plays "anyone else on the host".
const NOBODY: u32 = 65534;

/// Becomes user `NOBODY`, for good. Needs root.
fn become_nobody() {
    setgroups(&[]).expect("setgroups");
    setgid(Gid::from_raw(NOBODY)).expect("setgid");
    setuid(Uid::from_raw(NOBODY)).expect("setuid");
    assert_eq!(geteuid().as_raw(), NOBODY);
}

/// Whether this test program may play another user; says why not when it cannot.
fn can_play_another_user() -> bool {
    if geteuid().is_root() {
        return true;
    }
    println!("(skipped: playing another user needs root) ");
    false
}

/// Another local user sees the server's socket in /proc/net/unix and connects to it. It must
/// not read, change or stop anything: neither with requests sent straight away (what the old
/// protocol answered), nor through the handshake, even with the right key (a copy of the
/// parent's memory, which a real other user would not have): a manager whose key was not set
/// explicitly admits only its own user. The refused client gets `#FAILURE#` and nothing else.
fn another_user_cannot_read_change_or_stop_the_manager() {
    if !can_play_another_user() {
        return;
    }
    let manager = Manager::start().expect("start");
    let dict = manager.dict::<String, String>().expect("dict");
    dict.set(&"secret".into(), &"mine".into()).expect("set");
    let address = name_of(&manager);
    let intruder = Process::start("intruder", || {
        become_nobody();
        let listed = std::fs::read_to_string("/proc/net/unix").expect("/proc/net/unix");
        assert!(
            listed.contains(&format!("@{address}")),
            "the socket is listed"
        );
        // Requests straight away, as the old protocol took them: the dict's items, a change
        // (a JSON body), a shutdown.
        let raw = connect(&address);
        let change = request(3, 0, br#"["secret","theirs"]"#);
        let requests = [request(6, 0, &[]), change, request(10, 0, &[])];
        // The server may refuse and close before the requests are all written (EPIPE).
        let _ = (&raw).write_all(&requests.concat());
        assert_eq!(
            read_to_end(&raw),
            framed(auth::FAILURE),
            "answered an intruder"
        );
        // The handshake with the right key, and through the inherited proxy.
        let key = auth::authkey().expect("key");
        let mut raw = connect(&address);
        let answered = auth::answer_challenge(&mut raw, &key);
        assert!(matches!(answered, Err(AuthError::Refused)), "{answered:?}");
        let items = dict.items();
        assert!(
            matches!(items, Err(ManagerError::Auth(AuthError::Refused))),
            "{items:?}"
        );
    })
    .expect("start");
    assert_eq!(intruder.join().expect("join"), 0);
    assert!(pid_exists(manager.pid()), "the intruder stopped the server");
    assert_eq!(
        dict.items().expect("items"),
        [("secret".to_string(), "mine".to_string())]
    );
    assert_eq!(manager.shutdown().expect("shutdown"), 0);
}

/// A key set explicitly (Python's `BaseManager(authkey=...)`) is meant to be shared: another
/// user's process that knows it is served; one that does not is refused.
fn an_explicit_authkey_admits_any_user_that_knows_it_and_no_other() {
    if !can_play_another_user() {
        return;
    }
    let key = AuthKey::new(b"shared on purpose".to_vec());
    let manager = Manager::with_authkey(key.clone()).expect("start");
    let list = manager.list::<u32>().expect("list");
    let address = name_of(&manager);
    let other_user = Process::start("other-user", || {
        become_nobody();
        list.append(&7)
            .expect("served: the proxy carries the explicit key");
        let wrong = AuthKey::new(b"a guess".to_vec());
        let mut raw = connect(&address);
        let answered = auth::answer_challenge(&mut raw, &wrong);
        assert!(matches!(answered, Err(AuthError::Refused)), "{answered:?}");
        // The process's own key is not the manager's.
        let mut raw = connect(&address);
        let own = auth::authkey().expect("key");
        let answered = auth::answer_challenge(&mut raw, &own);
        assert!(matches!(answered, Err(AuthError::Refused)), "{answered:?}");
    })
    .expect("start");
    assert_eq!(other_user.join().expect("join"), 0);
    assert_eq!(list.to_vec().expect("to_vec"), [7]);
    // A proxy of our own user with the explicit key; our process key is refused too.
    let raw = authenticated(&name_of(&manager), &key);
    drop(raw);
    let mut raw = connect(&name_of(&manager));
    let answered = auth::answer_challenge(&mut raw, &auth::authkey().expect("key"));
    assert!(matches!(answered, Err(AuthError::Refused)), "{answered:?}");
}

/// Clients of our own user that do not know the key, or do not speak the protocol, are
/// refused one by one and get nothing; a request sent without the handshake (a shutdown) is
/// not obeyed; a client that stalls in the handshake holds up no one; the server goes on.
fn unauthenticated_clients_get_nothing_and_cannot_stop_the_server() {
    let manager = Manager::start().expect("start");
    let dict = manager.dict::<u8, u8>().expect("dict");
    dict.set(&1, &1).expect("set");
    let stalled = connect(&name_of(&manager));
    for attempt in 0..4 {
        refused_client(&name_of(&manager), attempt);
    }
    assert_eq!(dict.get(&1).expect("still served"), Some(1));
    assert!(pid_exists(manager.pid()));
    drop(stalled);
    assert_eq!(manager.shutdown().expect("shutdown"), 0);
}

/// One client that the server must refuse, of four kinds (`kind % 4`): a wrong key, a
/// garbage answer, a shutdown request in place of an answer, a client that leaves at once.
/// Returns when the server has closed the connection.
fn refused_client(address: &str, kind: usize) {
    let mut raw = connect(address);
    match kind % 4 {
        0 => {
            let wrong = AuthKey::new(b"wrong".to_vec());
            let answered = auth::answer_challenge(&mut raw, &wrong);
            assert!(matches!(answered, Err(AuthError::Refused)), "{answered:?}");
        }
        1 => {
            let mut challenge = Vec::new();
            frame::read(&mut raw, &mut challenge, 256).expect("challenge");
            assert!(challenge.starts_with(auth::CHALLENGE));
            raw.write_all(&framed(&[b'x'; 40])).expect("garbage");
            let mut verdict = Vec::new();
            frame::read(&mut raw, &mut verdict, 256).expect("verdict");
            assert_eq!(verdict, auth::FAILURE);
        }
        2 => raw.write_all(&request(10, 0, &[])).expect("shutdown"),
        _ => raw.shutdown(std::net::Shutdown::Write).expect("leave"),
    }
    // Nothing else comes: at most the challenge, then the end.
    let rest = read_to_end(&raw);
    assert!(
        rest.len() < 100,
        "{} bytes for an unauthenticated client",
        rest.len()
    );
}

/// A flood of refused clients: the server reports refusals on its stderr at most once a
/// second, and every refusal is counted, in a report or in the count of a later one.
fn refusals_are_reported_at_most_once_a_second_and_all_counted() {
    const BAD: usize = 200;
    let log = std::env::temp_dir().join(format!("manager-refusals-{}.log", std::process::id()));
    let path = log.clone();
    // In a child whose stderr is the log, so that the server inherits it.
    let child = Process::start("flooded", move || {
        let file = File::create(&path).expect("log");
        dup2_stderr(&file).expect("dup2");
        let manager = Manager::start().expect("start");
        let list = manager.list::<u8>().expect("list");
        let started = Instant::now();
        for kind in 0..BAD {
            refused_client(&name_of(&manager), kind);
        }
        let elapsed = started.elapsed();
        list.append(&1).expect("still served");
        assert_eq!(manager.shutdown().expect("shutdown"), 0);
        // The number of whole seconds the flood lasted bounds the reports.
        std::fs::write(path.with_extension("secs"), elapsed.as_secs().to_string()).expect("secs");
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    let text = std::fs::read_to_string(&log).expect("log");
    let secs: u64 = std::fs::read_to_string(log.with_extension("secs"))
        .expect("secs")
        .parse()
        .expect("number");
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(log.with_extension("secs"));
    let mut reports = 0;
    let mut counted = 0;
    for line in text.lines().filter(|l| l.contains("refused")) {
        if line.contains("refused a client") {
            reports += 1;
            counted += 1;
        }
        if let Some((_, more)) = line.split_once(" more refused") {
            let n = more_count(line).unwrap_or_else(|| panic!("no count in {line:?} ({more})"));
            counted += n;
        }
    }
    assert_eq!(
        counted, BAD as u64,
        "refusals lost or counted twice:\n{text}"
    );
    // One report when the flood starts, then at most one per whole second it lasted.
    assert!(
        reports <= 1 + secs,
        "{reports} reports in {secs} s:\n{text}"
    );
}

/// The number before " more refused" in a report line.
fn more_count(line: &str) -> Option<u64> {
    let before = line.split(" more refused").next()?;
    before
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A process that binds the names a manager used to take (`ipc-manager-<pid>-<counter>`)
/// before it starts cannot make it fail: the name is 128 random bits, new for every manager.
fn a_squatted_name_does_not_stop_a_new_manager() {
    let pid = std::process::id();
    let squatters: Vec<UnixListener> = (0..256)
        .filter_map(|n| {
            let addr = SocketAddr::from_abstract_name(format!("ipc-manager-{pid}-{n}")).ok()?;
            UnixListener::bind_addr(&addr).ok()
        })
        .collect();
    assert_eq!(squatters.len(), 256);
    let first = Manager::start().expect("a squatter stopped the manager");
    let second = Manager::start().expect("start");
    for manager in [&first, &second] {
        let name = name_of(manager);
        let random = name.strip_prefix("ipc-manager-").expect("prefix");
        assert_eq!(random.len(), 32, "{}", manager.address());
        assert!(random.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_ne!(first.address(), second.address());
    let dict = first.dict::<u8, u8>().expect("dict");
    dict.set(&1, &2).expect("served");
    drop(squatters);
}

/// The server dies; an impostor binds its address. A proxy that connects to it must not take
/// its answers: neither from an impostor that answers straight away (what the old protocol
/// would have read as the reply), nor from one that welcomes any answer and then cannot
/// answer the proxy's own challenge.
fn proxies_refuse_an_impostor_at_a_dead_servers_address() {
    let manager = Manager::start().expect("start");
    let dict = manager.dict::<u8, u8>().expect("dict");
    dict.set(&1, &1).expect("set"); // an open connection
    let address = name_of(&manager);
    kill(Pid::from_raw(manager.pid()), Signal::SIGKILL).expect("kill");
    assert!(matches!(dict.get(&1), Err(ManagerError::ServerGone)));
    let ready = Event::new().expect("event");
    let impostor = Process::start("impostor", || impostor(&address, &ready)).expect("start");
    assert!(
        ready.wait_timeout(Duration::from_secs(30)),
        "impostor never bound"
    );
    // Two connections of the proxy, one to each kind of impostor; a clone of the proxy too.
    let clone = dict.clone();
    for (proxy, round) in [(&dict, 0), (&dict, 1), (&clone, 2)] {
        match proxy.get(&1) {
            Err(ManagerError::Auth(e)) => println!("  round {round}: refused the impostor: {e}"),
            other => panic!("round {round}: the proxy trusted an impostor: {other:?}"),
        }
    }
    impostor.terminate().expect("terminate");
    let _ = impostor.join();
    drop(manager);
}

/// Binds `address` as soon as the dead server's socket is gone, and answers every connection
/// without knowing the key: alternately at once with a forged reply, and through a handshake
/// that welcomes any answer.
fn impostor(address: &str, ready: &Event) {
    // It does not know the manager's key: it has one of its own.
    auth::set_authkey(AuthKey::random().expect("key"));
    let key = auth::authkey().expect("key");
    let addr = SocketAddr::from_abstract_name(address).expect("address");
    let deadline = Instant::now() + Duration::from_secs(30);
    let listener = loop {
        match UnixListener::bind_addr(&addr) {
            Ok(listener) => break listener,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("cannot bind the dead server's address: {e}"),
        }
    };
    ready.set();
    // A forged reply in the old protocol (a JSON `[7]`) and in the new one (found, 7).
    let forged = [framed(b"\x00[7]"), framed(&[0, 1]), framed(&[0, 7])].concat();
    for (n, stream) in listener.incoming().enumerate() {
        let Ok(mut stream) = stream else { continue };
        if n % 2 == 1 {
            let mut challenge = b"#CHALLENGE#{sha256}".to_vec();
            challenge.extend([9u8; 40]);
            let mut answer = Vec::new();
            let _ = frame::write(&mut stream, &challenge, 256)
                .and_then(|()| frame::read(&mut stream, &mut answer, 256))
                .and_then(|()| frame::write(&mut stream, auth::WELCOME, 256));
            let _ = auth::answer_challenge(&mut stream, &key);
        }
        let _ = stream.write_all(&forged);
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    }
}

/// Over TCP the server cannot know who connects: the key alone guards it, as in Python. A
/// process of another user that knows the key is served, even when the key is the process's
/// own (not set on purpose: on a Unix socket that user would be refused); one that does not
/// know it is refused.
fn over_tcp_the_key_alone_guards_the_manager() {
    if !can_play_another_user() {
        return;
    }
    let manager = Manager::builder()
        .address(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .expect("start");
    let list = manager.list::<u32>().expect("list");
    let address = manager.address().clone();
    let other_user = Process::start("other-user", || {
        become_nobody();
        list.append(&7).expect("served: it knows the key");
        let wrong = Manager::connect(address.clone(), AuthKey::new(b"a guess".to_vec()));
        assert!(
            matches!(wrong, Err(ManagerError::Auth(AuthError::Refused))),
            "{wrong:?}"
        );
    })
    .expect("start");
    assert_eq!(other_user.join().expect("join"), 0);
    assert_eq!(list.to_vec().expect("to_vec"), [7]);
}

fn main() {
    ipc_common::testing::run(&[
        (
            "over_tcp_the_key_alone_guards_the_manager",
            over_tcp_the_key_alone_guards_the_manager,
        ),
        (
            "another_user_cannot_read_change_or_stop_the_manager",
            another_user_cannot_read_change_or_stop_the_manager,
        ),
        (
            "an_explicit_authkey_admits_any_user_that_knows_it_and_no_other",
            an_explicit_authkey_admits_any_user_that_knows_it_and_no_other,
        ),
        (
            "unauthenticated_clients_get_nothing_and_cannot_stop_the_server",
            unauthenticated_clients_get_nothing_and_cannot_stop_the_server,
        ),
        (
            "refusals_are_reported_at_most_once_a_second_and_all_counted",
            refusals_are_reported_at_most_once_a_second_and_all_counted,
        ),
        (
            "a_squatted_name_does_not_stop_a_new_manager",
            a_squatted_name_does_not_stop_a_new_manager,
        ),
        (
            "proxies_refuse_an_impostor_at_a_dead_servers_address",
            proxies_refuse_an_impostor_at_a_dead_servers_address,
        ),
    ]);
}
