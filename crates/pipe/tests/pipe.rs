//! Pipe: messages both ways across real processes, order, end-of-file, large messages and
//! corrupt frames. Each test forks, so this is a `harness = false` program (see
//! `ipc_common::testing`).

use std::io::Write;
use std::time::{Duration, Instant};

use ipc_common::Process;
use pipe::{Connection, PipeError, pipe};

fn both_directions_across_processes() {
    let (mut parent, mut child) = pipe::<(u32, String)>().expect("pipe");
    let p = Process::start("echo", move || {
        for _ in 0..3 {
            let (n, text) = child.recv().expect("child recv");
            child
                .send(&(n * 10, text.to_uppercase()))
                .expect("child send");
        }
    })
    .expect("start");
    for n in 1..=3 {
        parent.send(&(n, format!("msg {n}"))).expect("send");
        assert_eq!(parent.recv().expect("recv"), (n * 10, format!("MSG {n}")));
    }
    assert_eq!(p.join().expect("join"), 0);
}

fn many_messages_in_order() {
    const N: u64 = 20_000;
    let (mut parent, mut child) = pipe::<u64>().expect("pipe");
    let p = Process::start("counter", move || {
        for i in 0..N {
            child.send(&i).expect("send");
        }
        // And the other way: the parent's numbers arrive in order too.
        for i in 0..N {
            assert_eq!(child.recv().expect("recv"), i);
        }
    })
    .expect("start");
    for i in 0..N {
        assert_eq!(parent.recv().expect("recv"), i);
    }
    for i in 0..N {
        parent.send(&i).expect("send");
    }
    assert_eq!(p.join().expect("join"), 0);
    assert!(matches!(parent.recv(), Err(PipeError::Closed)));
}

fn eof_when_peer_closed() {
    let (mut parent, child) = pipe::<String>().expect("pipe");
    let (mut go, mut wait) = pipe::<()>().expect("pipe");
    let p = Process::start("closer", move || {
        child.close();
        // Still alive while the parent receives: the EOF comes from the close alone.
        let _ = wait.recv();
    })
    .expect("start");
    let start = Instant::now();
    assert!(matches!(parent.recv(), Err(PipeError::Closed)));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(p.is_alive());
    go.send(&()).expect("release child");
    assert_eq!(p.join().expect("join"), 0);
}

fn eof_when_peer_exited() {
    let (mut parent, mut child) = pipe::<String>().expect("pipe");
    let p = Process::start("exits", move || {
        child.send(&"last words".into()).expect("send");
        // Exits without closing: the kernel closes the child's descriptors.
    })
    .expect("start");
    assert_eq!(parent.recv().expect("recv"), "last words");
    assert!(matches!(parent.recv(), Err(PipeError::Closed)));
    assert_eq!(p.join().expect("join"), 0);
    // Sending to nobody is an error too (EPIPE; SIGPIPE is ignored by Rust programs).
    assert!(matches!(
        parent.send(&"hello?".into()),
        Err(PipeError::Closed)
    ));
}

fn large_messages_round_trip_intact() {
    // `None` ends the echo loop: the child also holds a copy of `parent` (inherited at the
    // fork), so dropping the parent's would not give the child end-of-file.
    let (mut parent, mut child) = pipe::<Option<Vec<u64>>>().expect("pipe");
    let p = Process::start("big-echo", move || {
        while let Some(v) = child.recv().expect("recv") {
            child.send(&Some(v)).expect("send");
        }
    })
    .expect("start");
    for len in [0, 1, 10_000, 100_000] {
        // 100_000 numbers are about 1.1 MB of JSON, far above the 64 KiB pipe buffer.
        let v: Vec<u64> = (0..len).map(|i| i * 2_654_435_761 % 1_000_003).collect();
        parent.send(&Some(v.clone())).expect("send");
        assert_eq!(parent.recv().expect("recv"), Some(v));
    }
    parent.send(&None).expect("stop");
    assert_eq!(p.join().expect("join"), 0);

    let (mut a, mut b) = pipe::<String>().expect("pipe");
    let text: String = (0..70_000).map(|i| ['a', '管', '\n', '"'][i % 4]).collect();
    let q = Process::start("string-echo", move || {
        let s = b.recv().expect("recv");
        b.send(&s).expect("send");
    })
    .expect("start");
    a.send(&text).expect("send");
    assert_eq!(a.recv().expect("recv"), text);
    assert_eq!(q.join().expect("join"), 0);
}

/// A connection whose peer is a child writing `bytes` raw, then exiting.
fn receive_raw(bytes: &'static [u8]) -> Result<String, PipeError> {
    let (reader, mut raw) = std::io::pipe().expect("pipe");
    let (_, unused_writer) = std::io::pipe().expect("pipe");
    let mut conn = Connection::<String>::new(reader, unused_writer);
    let p = Process::start("raw", move || raw.write_all(bytes).expect("write")).expect("start");
    let result = conn.recv();
    assert_eq!(p.join().expect("join"), 0);
    result
}

fn corrupt_frames_rejected() {
    // A length prefix of 4 GiB - 1: rejected at once, nothing allocated.
    let r = receive_raw(b"\xff\xff\xff\xffgarbage");
    assert!(
        matches!(
            r,
            Err(PipeError::TooLarge {
                len: 0xffff_ffff,
                ..
            })
        ),
        "{r:?}"
    );
    // The frame announces 100 bytes, 5 come, then EOF.
    let r = receive_raw(b"\x00\x00\x00\x64hello");
    assert!(
        matches!(
            r,
            Err(PipeError::Truncated {
                expected: 100,
                got: 5
            })
        ),
        "{r:?}"
    );
    // Half a length prefix.
    let r = receive_raw(b"\x00\x00");
    assert!(
        matches!(
            r,
            Err(PipeError::Truncated {
                expected: 4,
                got: 2
            })
        ),
        "{r:?}"
    );
    // A well-formed frame whose bytes are not JSON of a String.
    let r = receive_raw(b"\x00\x00\x00\x03{x}");
    assert!(matches!(r, Err(PipeError::Decode(_))), "{r:?}");
    // A per-connection limit applies to both directions.
    let (mut a, mut b) = pipe::<String>().expect("pipe");
    a.set_max_message(8);
    assert!(matches!(
        a.send(&"0123456789".into()),
        Err(PipeError::TooLarge { len: 12, max: 8 })
    ));
    b.send(&"0123456789".into()).expect("send");
    assert!(matches!(
        a.recv(),
        Err(PipeError::TooLarge { len: 12, max: 8 })
    ));
}

fn poll_sees_messages_and_eof() {
    let (mut parent, mut child) = pipe::<u8>().expect("pipe");
    assert!(!parent.poll(Duration::from_millis(20)).expect("poll"));
    let p = Process::start("poller", move || child.send(&7).expect("send")).expect("start");
    assert!(parent.poll(Duration::from_secs(5)).expect("poll"));
    assert_eq!(parent.recv().expect("recv"), 7);
    assert_eq!(p.join().expect("join"), 0);
    assert!(parent.poll(Duration::from_secs(5)).expect("poll EOF"));
    assert!(matches!(parent.recv(), Err(PipeError::Closed)));
}

/// A peer killed before it reads: `send` gives `Closed`, with SIGPIPE ignored (Rust's default
/// at start-up; this test runs first, before the next one changes that).
fn send_to_a_killed_peer_is_closed_with_sigpipe_ignored() {
    send_to_a_killed_peer();
}

/// The same, and this process lives on, with SIGPIPE's default action restored (as every
/// section binary has it, see `cli::sections`).
fn send_to_a_killed_peer_is_closed_with_default_sigpipe() {
    ipc_common::sigpipe::set_default();
    send_to_a_killed_peer();
}

fn send_to_a_killed_peer() {
    let (mut parent, child) = pipe::<String>().expect("pipe");
    let peer = Process::start("peer", move || {
        let _keep = child;
        std::thread::sleep(Duration::from_secs(60));
    })
    .expect("start");
    peer.kill().expect("kill");
    assert_eq!(peer.join().expect("join"), -9);
    // Enough to fill the pipe if the first write went through: the second must fail.
    let big = "x".repeat(100_000);
    assert!(matches!(parent.send(&big), Err(PipeError::Closed)));
    assert!(matches!(
        parent.send(&"again".into()),
        Err(PipeError::Closed)
    ));
    assert!(matches!(parent.recv(), Err(PipeError::Closed)));
}

fn main() {
    ipc_common::testing::run(&[
        (
            "send_to_a_killed_peer_is_closed_with_sigpipe_ignored",
            send_to_a_killed_peer_is_closed_with_sigpipe_ignored,
        ),
        (
            "send_to_a_killed_peer_is_closed_with_default_sigpipe",
            send_to_a_killed_peer_is_closed_with_default_sigpipe,
        ),
        (
            "both_directions_across_processes",
            both_directions_across_processes,
        ),
        ("many_messages_in_order", many_messages_in_order),
        ("eof_when_peer_closed", eof_when_peer_closed),
        ("eof_when_peer_exited", eof_when_peer_exited),
        (
            "large_messages_round_trip_intact",
            large_messages_round_trip_intact,
        ),
        ("corrupt_frames_rejected", corrupt_frames_rejected),
        ("poll_sees_messages_and_eof", poll_sees_messages_and_eof),
    ]);
}
