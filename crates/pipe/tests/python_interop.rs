//! `Listener` and `Client` against CPython's own `multiprocessing.connection`: a Rust client
//! talks to a Python `Listener` and a Python `Client` to our `Listener`, at a Unix path, an
//! abstract name and a TCP address, with the right key, a wrong one (refused on both sides)
//! and none, for every Python of this machine: `python3` on the `PATH` (3.11: the legacy
//! HMAC-MD5 handshake) and pyenv's 3.12 and 3.13 if present (the `{sha256}` one). Messages
//! are raw bytes (`send_bytes`/`recv_bytes`), of sizes on both sides of Python's 16 KiB
//! threshold (above it, Python writes the header and the payload separately). Without any
//! Python, each test prints that it was skipped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ipc_common::auth::{AuthError, AuthKey};
use pipe::{Address, Client, ConnectError, Connection, Family, Listener, PipeError};

/// Long enough for anything that should happen, on a machine as busy as it gets.
const PATIENCE: Duration = Duration::from_secs(60);

const FAMILIES: [Family; 3] = [Family::Unix, Family::Abstract, Family::Tcp];

/// The Python side: listens or connects at an address of a family, with a key in hex or `-`
/// for none; echoes each message reversed until an empty one, then sends `0123456789`'s
/// bytes 2 to 6 (`send_bytes` with an offset and a size). Prints its address first when it
/// listens, then `ok` or `AuthenticationError`.
const PYTHON_PEER: &str = r#"
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

role, family, address, key = sys.argv[1:5]
key = None if key == "-" else bytes.fromhex(key)
if family == "tcp":
    host, port = address.rsplit(":", 1)
    address = (host, int(port))
elif family == "abstract":
    address = "\0" + address

def talk(conn):
    while True:
        message = conn.recv_bytes()
        if not message:
            break
        conn.send_bytes(message[::-1])
    conn.send_bytes(b"0123456789", 2, 5)

try:
    if role == "listen":
        with Listener(address, authkey=key) as listener:
            bound = listener.address
            if family == "tcp":
                print(f"{bound[0]}:{bound[1]}", flush=True)
            else:
                print("bound", flush=True)
            with listener.accept() as conn:
                talk(conn)
    else:
        with Client(address, authkey=key) as conn:
            talk(conn)
    print("ok")
except AuthenticationError:
    print("AuthenticationError")
"#;

/// The Pythons of this machine: `python3`, and pyenv's 3.12.1 and 3.13.0 if present.
fn pythons() -> Vec<PathBuf> {
    let mut candidates = vec![PathBuf::from("python3")];
    if let Some(home) = std::env::var_os("HOME") {
        let versions = PathBuf::from(home).join(".pyenv/versions");
        for version in ["3.12.1", "3.13.0"] {
            candidates.push(versions.join(version).join("bin/python3"));
        }
    }
    candidates
        .into_iter()
        .filter(|python| {
            Command::new(python)
                .args(["-c", "import multiprocessing.connection"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect()
}

/// `major.minor` of a Python.
fn version(python: &PathBuf) -> String {
    let out = Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .expect("python version");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn hex(key: Option<&AuthKey>) -> String {
    key.map_or_else(
        || "-".into(),
        |k| k.as_bytes().iter().map(|b| format!("{b:02x}")).collect(),
    )
}

/// The address as the Python peer takes it: the family, and the text.
fn python_address(address: &Address) -> (&'static str, String) {
    match address {
        Address::Unix(path) => ("unix", path.display().to_string()),
        Address::Abstract(name) => ("abstract", String::from_utf8(name.clone()).expect("utf-8")),
        Address::Tcp(addr) => ("tcp", addr.to_string()),
        Address::Unnamed => unreachable!(),
    }
}

fn python_peer(python: &PathBuf, role: &str, address: &Address, key: Option<&AuthKey>) -> Child {
    let (family, text) = python_address(address);
    Command::new(python)
        .args(["-c", PYTHON_PEER, role, family, &text, &hex(key)])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python")
}

/// Our side of the conversation: messages of several sizes come back reversed, then Python's
/// `send_bytes` with an offset and a size arrives, then the end of the stream.
fn talk(conn: &mut Connection<()>) {
    for size in [1usize, 5, 16 << 10, (16 << 10) + 1, (1 << 20) + 3] {
        let message: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        conn.send_bytes(&message, 0, None).expect("send to python");
        let mut reversed = message;
        reversed.reverse();
        assert!(conn.poll(PATIENCE).expect("poll"), "python answers");
        assert_eq!(conn.recv_bytes(None).expect("from python"), reversed);
    }
    conn.send_bytes(b"", 0, None).expect("the end");
    let mut buf = [0u8; 8];
    let n = conn.recv_bytes_into(&mut buf, 1).expect("from python");
    assert_eq!(&buf[1..1 + n], b"23456");
    assert!(matches!(conn.recv_bytes(None), Err(PipeError::Closed)));
}

/// What the Python peer printed last, once it has ended (successfully).
fn verdict(child: Child, lines: &mut impl BufRead) -> String {
    let mut verdict = String::new();
    lines.read_line(&mut verdict).expect("python's verdict");
    let status = child.wait_with_output().expect("python").status;
    assert!(status.success(), "python failed: {status}");
    verdict.trim().to_owned()
}

/// One case of the matrix: a Python, a family of addresses, the listener's key, the
/// client's, and whether they agree.
struct Case<'a> {
    python: &'a PathBuf,
    version: &'a str,
    family: Family,
    listener_key: Option<&'a AuthKey>,
    client_key: Option<&'a AuthKey>,
    agree: bool,
}

/// Runs `run` for every Python of this machine, every family, and the right key, a wrong
/// one, and none; or says that there is no Python.
fn every_case(run: impl Fn(&Case<'_>)) {
    let pythons = pythons();
    if pythons.is_empty() {
        println!("skipped: no python3 with multiprocessing.connection on this machine");
        return;
    }
    let right = AuthKey::random().expect("key");
    let wrong = AuthKey::random().expect("key");
    let keys = [
        (Some(&right), Some(&right), true),
        (Some(&right), Some(&wrong), false),
        (None, None, true),
    ];
    for python in &pythons {
        let version = version(python);
        println!("against {} ({version})", python.display());
        for family in FAMILIES {
            for (listener_key, client_key, agree) in keys {
                run(&Case {
                    python,
                    version: &version,
                    family,
                    listener_key,
                    client_key,
                    agree,
                });
            }
        }
    }
}

/// A Rust `Client` and a Python `Listener`.
#[test]
fn rust_client_python_listener() {
    every_case(|case| {
        let address = Address::arbitrary(case.family).expect("address");
        let mut child = python_peer(case.python, "listen", &address, case.listener_key);
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let mut bound = String::new();
        lines.read_line(&mut bound).expect("python's address");
        let address = match case.family {
            // Python picked the port.
            Family::Tcp => Address::Tcp(bound.trim().parse().expect("host:port")),
            _ => {
                assert_eq!(bound, "bound\n", "python did not listen");
                address
            }
        };
        let what = format!("{} at {address} (agree: {})", case.version, case.agree);
        let connected = Client::connect_timeout::<()>(&address, case.client_key.cloned(), PATIENCE);
        if case.agree {
            talk(&mut connected.expect(&what));
            assert_eq!(verdict(child, &mut lines), "ok", "{what}");
        } else {
            assert!(
                matches!(connected, Err(ConnectError::Auth(AuthError::Refused))),
                "{what}: {connected:?}"
            );
            assert_eq!(verdict(child, &mut lines), "AuthenticationError", "{what}");
        }
        if let Address::Unix(path) = &address {
            assert!(!path.exists(), "python removes its socket file");
        }
    });
}

/// A Python `Client` and a Rust `Listener`.
#[test]
fn python_client_rust_listener() {
    every_case(|case| {
        let address = Address::arbitrary(case.family).expect("address");
        let listener = Listener::bind(address, case.listener_key.cloned()).expect("bind");
        let what = format!(
            "{} at {} (agree: {})",
            case.version,
            listener.address(),
            case.agree
        );
        let mut child = python_peer(case.python, "connect", listener.address(), case.client_key);
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        // Python connects, or has died: never an `accept` that waits for ever.
        assert_eq!(
            pipe::wait(&[&listener], PATIENCE).expect("wait"),
            [0],
            "{what}: python did not connect"
        );
        let accepted = listener.accept::<()>();
        if case.agree {
            talk(&mut accepted.expect(&what));
            assert_eq!(verdict(child, &mut lines), "ok", "{what}");
        } else {
            assert!(
                matches!(accepted, Err(ConnectError::Auth(AuthError::WrongAnswer))),
                "{what}: {accepted:?}"
            );
            assert_eq!(verdict(child, &mut lines), "AuthenticationError", "{what}");
        }
    });
}
