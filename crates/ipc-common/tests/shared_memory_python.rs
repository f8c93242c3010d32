//! Interoperation with CPython's `multiprocessing.shared_memory`: segments and shareable
//! lists made by Python are read and changed here, ours are read and changed by Python, and
//! a list's bytes are the same byte for byte. Each test is skipped, with the reason printed,
//! when `python3` (3.8 or later) is missing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use ipc_common::pyfmt::PyRepr;
use ipc_common::shared_memory::{Item, ShareableList, SharedMemory, SharedMemoryError};

mod dev_shm;
use dev_shm::{exists, wait_gone};

/// A Python program under test, talking by lines on its stdin and stdout.
struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    /// Starts `python3 -c script args...`, or `None` (after saying why) without Python.
    fn start(script: &str, args: &[&str]) -> Option<Self> {
        let probe = Command::new("python3")
            .args(["-c", "import multiprocessing.shared_memory"])
            .output();
        match probe {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                eprintln!(
                    "skipped: python3 has no multiprocessing.shared_memory: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
            Err(e) => {
                eprintln!("skipped: python3 is not available ({e})");
                return None;
            }
        }
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Some(Self {
            child,
            stdin,
            stdout,
        })
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read");
        assert!(!line.is_empty(), "python ended early");
        line.trim_end_matches('\n').to_string()
    }

    fn go(&mut self) {
        writeln!(self.stdin, "go").expect("write");
        self.stdin.flush().expect("flush");
    }

    fn finish(mut self) {
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "python failed: {status}");
    }
}

#[test]
fn a_python_segment_is_used_here_and_removed_only_when_asked() {
    let script = r#"
import sys
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(create=True, size=100)
shm.buf[:5] = b"hello"
print(shm.name, shm.size, flush=True)
sys.stdin.readline()
print(bytes(shm.buf[10:15]).decode(), flush=True)
sys.stdin.readline()
shm.close()
shm.unlink()
print("unlinked", flush=True)
"#;
    let Some(mut py) = Python::start(script, &[]) else {
        return;
    };
    let line = py.line();
    let (name, size) = line.split_once(' ').expect("name size");
    assert_eq!(size, "100");
    let shm = SharedMemory::attach(name).expect("attach");
    assert_eq!(shm.size(), 100);
    let mut got = [0u8; 5];
    shm.read_at(0, &mut got).expect("read");
    assert_eq!(&got, b"hello");
    shm.write_at(10, b"world").expect("write");
    assert_eq!(shm.watcher_pid(), None, "an attacher starts no watcher");
    drop(shm);
    std::thread::sleep(Duration::from_millis(300));
    assert!(exists(name), "closing our handle removed Python's segment");
    py.go();
    assert_eq!(py.line(), "world");
    // Python still holds it; our explicit unlink would remove it, but Python's is the one here.
    py.go();
    assert_eq!(py.line(), "unlinked");
    py.finish();
    assert!(!exists(name));
    assert!(matches!(
        SharedMemory::attach(name),
        Err(SharedMemoryError::NotFound { .. })
    ));
}

#[test]
fn our_segment_is_used_by_python() {
    let script = r#"
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(sys.argv[1])
# Python 3.11 and 3.12 would unlink a segment they merely attached at exit.
resource_tracker.unregister(shm._name, "shared_memory")
print(shm.size, bytes(shm.buf[:9]).decode(), flush=True)
shm.buf[20:26] = b"python"
shm.close()
"#;
    let shm = SharedMemory::create(100).expect("create");
    shm.write_at(0, b"from rust").expect("write");
    let name = shm.name().to_string();
    let Some(mut py) = Python::start(script, &[&name]) else {
        return;
    };
    assert_eq!(py.line(), "100 from rust");
    py.finish();
    let mut got = [0u8; 6];
    shm.read_at(20, &mut got).expect("read");
    assert_eq!(&got, b"python");
    assert!(exists(&name));
    drop(shm);
    assert!(wait_gone(&name));
}

#[test]
fn a_python_list_is_read_and_changed_here() {
    let script = r#"
import sys
from multiprocessing import shared_memory
sl = shared_memory.ShareableList(
    [1, -2**63, 2.5, True, False, None, "hello", "exactly8", "", b"by\x00tes", "h\u00e9llo"])
print(sl.shm.name, flush=True)
print(sl.format, flush=True)
sys.stdin.readline()
print(repr(list(sl)), flush=True)
sl.shm.close()
sl.shm.unlink()
"#;
    let Some(mut py) = Python::start(script, &[]) else {
        return;
    };
    let name = py.line();
    let format = py.line();
    let list = ShareableList::attach(&name).expect("attach");
    assert_eq!(list.format().expect("format"), format);
    assert_eq!(
        list.to_vec().expect("items"),
        [
            Item::Int(1),
            Item::Int(i64::MIN),
            Item::Float(2.5),
            Item::Bool(true),
            Item::Bool(false),
            Item::None,
            Item::from("hello"),
            Item::from("exactly8"),
            Item::from(""),
            Item::from(b"by\x00tes".as_slice()),
            Item::from("h\u{e9}llo"),
        ]
    );
    list.set(0, "str").expect("a str in an int's slot");
    list.set(6, 7).expect("an int in a str's slot");
    list.set(2, ()).expect("None");
    list.set(3, 1.25).expect("a float in a bool's slot");
    list.set(5, true).expect("a bool in None's slot");
    list.set(7, "sixteen bytes!!!")
        .expect("a str that fills its slot");
    assert!(matches!(
        list.set(7, "seventeen bytes!!"),
        Err(SharedMemoryError::TooLong {
            index: 7,
            len: 17,
            room: 16
        })
    ));
    py.go();
    // Python's repr of what it reads must be our repr of what we wrote.
    assert_eq!(py.line(), list.to_vec().expect("items").py_repr());
    py.finish();
    drop(list);
    assert!(!exists(&name));
}

#[test]
fn our_list_is_pythons_byte_for_byte_and_read_by_python() {
    let script = r#"
import sys
from multiprocessing import shared_memory, resource_tracker
sl = shared_memory.ShareableList(name=sys.argv[1])
resource_tracker.unregister(sl.shm._name, "shared_memory")
print(repr(list(sl)), flush=True)
print(sl.format, flush=True)
theirs = shared_memory.ShareableList(list(sl))
print(bytes(theirs.shm.buf).hex(), flush=True)
theirs.shm.close()
theirs.shm.unlink()
sys.stdin.readline()
sl[0] = "py"
sl[4] = 3.5
sl.shm.close()
"#;
    let items = [
        Item::Int(-5),
        Item::Float(0.1),
        Item::Bool(true),
        Item::None,
        Item::from("a longer string of text"),
        Item::from(b"\x00\x01raw".as_slice()),
        Item::from(""),
    ];
    let list = ShareableList::new(&items).expect("list");
    let name = list.shm().name().to_string();
    let Some(mut py) = Python::start(script, &[&name]) else {
        return;
    };
    assert_eq!(py.line(), items.py_repr());
    assert_eq!(py.line(), list.format().expect("format"));
    let theirs = py.line();
    let ours: String = list
        .shm()
        .to_vec()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(ours, theirs, "the same items, different bytes");
    py.go();
    py.finish();
    assert_eq!(list.get(0).expect("item 0"), Item::from("py"));
    assert_eq!(list.get(4).expect("item 4"), Item::Float(3.5));
    assert_eq!(list.get(6).expect("item 6"), Item::from(""));
    drop(list);
    assert!(wait_gone(&name));
}
