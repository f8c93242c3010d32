//! Pipe: messages both ways across real processes, order, end-of-file, messages of every size,
//! ends shared by several senders, and a dead peer on `send`, on pipes and on sockets (a
//! `Listener`'s connections); a forked child's copy of a listener. Each test forks, so this is
//! a `harness = false` program (see `ipc_common::testing`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use std::sync::Mutex;

use ipc_common::Process;
use pipe::{Address, Client, Family, Listener, PipeError, pipe, pipe_oneway};

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
    assert!(matches!(parent.recv(), Err(PipeError::Closed)));
    assert_eq!(p.join().expect("join"), 0);
    // Sending to nobody is an error too.
    assert!(matches!(
        parent.send(&"hello?".into()),
        Err(PipeError::Closed)
    ));
}

/// Sizes around the interesting edges: empty, the pipe's default 64 KiB buffer (whole frames
/// just below, at and above it), the 1 MiB write step, and past the 64 MiB a receiver
/// reserves at once (so the payload grows as it arrives).
const SIZES: [usize; 9] = [
    0,
    1,
    65_536 - 5,
    65_536,
    65_537,
    (1 << 20) + 3,
    3 << 20,
    20 << 20,
    70 << 20,
];

/// The sizes up to `up_to` through an echoing child, with `make(size)` building the message
/// of about `size` bytes.
fn echo_sizes<T>(up_to: usize, make: impl Fn(usize) -> T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + 'static,
{
    let sizes = || SIZES.into_iter().filter(move |&s| s <= up_to);
    let (mut parent, mut child) = pipe::<T>().expect("pipe");
    // The child inherits a copy of the parent's end at the fork, so dropping it would not give
    // the child end-of-file: a message on another pipe ends the echo.
    let (mut stop_rx, mut stop_tx) = pipe_oneway::<()>().expect("pipe");
    let p = Process::start("big-echo", move || {
        for _ in sizes() {
            let v = child.recv().expect("recv");
            child.send(&v).expect("send");
        }
        stop_rx.recv().expect("stop");
    })
    .expect("start");
    for size in sizes() {
        let message = make(size);
        parent.send(&message).expect("send");
        assert!(
            parent.recv().expect("recv") == message,
            "the message of about {size} bytes changed"
        );
    }
    stop_tx.send(&()).expect("stop");
    assert_eq!(p.join().expect("join"), 0);
}

/// `size` bytes of a pattern that repeats every 251 bytes (so not at any power of two).
fn bytes(size: usize) -> Vec<u8> {
    let pattern: Vec<u8> = (0..=250).collect();
    let mut bytes = pattern.repeat(size / pattern.len() + 1);
    bytes.truncate(size);
    bytes
}

fn messages_of_every_size_round_trip_intact() {
    // Written from where they lie, read straight into the value.
    echo_sizes(usize::MAX, bytes);
    echo_sizes(20 << 20, |size| "a管\n\"".repeat(size / 6));
    // Encoded into a buffer and decoded out of one: the codec's raw numbers, and postcard.
    echo_sizes(20 << 20, |size| {
        (0..size / 8)
            .map(|i| i as f64 * 0.25 - 3.0)
            .collect::<Vec<f64>>()
    });
    echo_sizes(2 << 20, |size| Some(bytes(size)));
    echo_sizes(2 << 20, |size| {
        (0..size / 16)
            .map(|i| (i as u32, format!("{i:x}")))
            .collect::<BTreeMap<u32, String>>()
    });
}

/// A message over the limit is refused whole by its sender: nothing reaches the pipe, and the
/// connection goes on. The refusal names both sizes.
fn over_the_limit_is_refused_whole() {
    let (mut rx, mut tx) = pipe_oneway::<Vec<u8>>().expect("pipe");
    tx.set_max_message(1000);
    let err = tx.send(&vec![1; 1000]).expect_err("over the limit");
    // 1000 bytes and the codec's one-byte tag.
    assert!(
        matches!(
            err,
            PipeError::TooLarge {
                len: 1001,
                max: 1000
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("1001") && text.contains("1000"), "{text}");
    assert!(!rx.poll(Duration::ZERO).expect("poll"), "nothing was sent");
    assert!(matches!(
        tx.send_bytes(&[0; 1001], 0, None),
        Err(PipeError::TooLarge {
            len: 1001,
            max: 1000
        })
    ));
    let (mut vrx, mut vtx) = pipe_oneway::<Vec<u64>>().expect("pipe");
    vtx.set_max_message(100);
    assert!(matches!(
        vtx.send(&vec![7; 13]),
        Err(PipeError::TooLarge { len: 105, max: 100 })
    ));
    assert!(!vrx.poll(Duration::ZERO).expect("poll"), "nothing was sent");
    vtx.send(&vec![7; 12]).expect("within the limit");
    assert_eq!(vrx.recv().expect("recv"), vec![7; 12]);
    tx.send(&vec![2; 999]).expect("within the limit");
    assert_eq!(rx.recv().expect("recv"), vec![2; 999]);
    // The receiver's limit is its own.
    rx.set_max_message(10);
    assert_eq!(rx.max_message(), 10);
    tx.send(&vec![3; 10]).expect("send");
    assert!(matches!(
        rx.recv(),
        Err(PipeError::TooLarge { len: 11, max: 10 })
    ));
}

/// Small frames (at most `PIPE_BUF` bytes with their header) are written atomically: two
/// processes sharing one sending end interleave whole messages, never bytes.
fn small_messages_from_shared_sender_stay_whole() {
    const EACH: u32 = 3000;
    let (mut rx, mut tx) = pipe_oneway::<(u32, u32, String)>().expect("pipe");
    let children: Vec<Process> = (0..2)
        .map(|who| {
            Process::start(format!("sender{who}"), || {
                for i in 0..EACH {
                    // About 1 KiB, so that the pipe fills and writers wait in the middle.
                    tx.send(&(who, i, "x".repeat(1000 + (i % 7) as usize)))
                        .expect("send");
                }
            })
            .expect("start")
        })
        .collect();
    drop(tx);
    let mut next = [0u32; 2];
    loop {
        match rx.recv() {
            Ok((who, i, text)) => {
                // Each sender's messages arrive whole and in its order.
                assert_eq!(i, next[who as usize]);
                assert_eq!(text.len(), 1000 + (i % 7) as usize);
                next[who as usize] += 1;
            }
            Err(PipeError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(next, [EACH, EACH]);
    for child in children {
        assert_eq!(child.join().expect("join"), 0);
    }
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

/// A socket peer killed before it reads, at each kind of address, with SIGPIPE's default
/// action restored (the test before this one restored it): `send` gives `Closed` and this
/// process lives on. A socket's `writev` would raise SIGPIPE; ours are `sendmsg` with
/// `MSG_NOSIGNAL`.
fn send_to_a_killed_socket_peer_with_default_sigpipe() {
    ipc_common::sigpipe::set_default();
    for family in [Family::Unix, Family::Abstract, Family::Tcp] {
        let key = ipc_common::auth::AuthKey::new(b"k".to_vec());
        let listener = Listener::bind(
            Address::arbitrary(family).expect("address"),
            Some(key.clone()),
        )
        .expect("bind");
        let address = listener.address().clone();
        let peer = Process::start("peer", move || {
            let _keep =
                Client::connect_timeout::<String>(address, Some(key), Duration::from_secs(60))
                    .expect("connect");
            std::thread::sleep(Duration::from_secs(60));
        })
        .expect("start");
        let mut conn = listener.accept::<String>().expect("accept");
        peer.kill().expect("kill");
        assert_eq!(peer.join().expect("join"), -9);
        // On TCP the first sends may still be taken by this host's kernel, before the
        // peer's reset comes back: send until refused, for a minute at most.
        let deadline = Instant::now() + Duration::from_secs(60);
        let refused = loop {
            match conn.send(&"x".repeat(3 << 20)) {
                Ok(()) => assert!(Instant::now() < deadline, "{family:?}: sends succeed"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(refused, PipeError::Closed),
            "{family:?}: {refused:?}"
        );
        assert!(matches!(
            conn.send_bytes(b"raw", 0, None),
            Err(PipeError::Closed)
        ));
        assert!(matches!(conn.recv(), Err(PipeError::Closed)));
    }
}

/// A child forked while the parent holds a listener at a path has a copy of it; the child
/// dropping its copy neither removes the socket file nor stops the parent's listener (as
/// Python's `Finalize` runs only in the process that made it). The parent's drop removes it.
fn a_forked_childs_copy_of_a_listener_leaves_the_file() {
    let listener = Mutex::new(Some(
        Listener::bind(Address::arbitrary(Family::Unix).expect("address"), None).expect("bind"),
    ));
    let Some(Address::Unix(path)) = listener
        .lock()
        .expect("lock")
        .as_ref()
        .map(|l| l.address().clone())
    else {
        panic!("a path");
    };
    let child = Process::start("dropper", || {
        drop(listener.lock().expect("lock").take());
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    assert!(
        path.exists(),
        "the child's drop removed the parent's socket file"
    );
    let listener = listener.into_inner().expect("lock").expect("ours");
    let mut client = Client::connect::<u8>(&path, None).expect("connect");
    let mut server = listener.accept::<u8>().expect("accept");
    client.send(&1).expect("send");
    assert_eq!(server.recv().expect("recv"), 1);
    drop(listener);
    assert!(!path.exists());
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
    // Small, large (written in steps), and raw.
    assert!(matches!(
        parent.send(&"x".repeat(3 << 20)),
        Err(PipeError::Closed)
    ));
    assert!(matches!(
        parent.send(&"again".into()),
        Err(PipeError::Closed)
    ));
    assert!(matches!(
        parent.send_bytes(b"raw", 0, None),
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
            "send_to_a_killed_socket_peer_with_default_sigpipe",
            send_to_a_killed_socket_peer_with_default_sigpipe,
        ),
        (
            "a_forked_childs_copy_of_a_listener_leaves_the_file",
            a_forked_childs_copy_of_a_listener_leaves_the_file,
        ),
        (
            "both_directions_across_processes",
            both_directions_across_processes,
        ),
        ("many_messages_in_order", many_messages_in_order),
        ("eof_when_peer_closed", eof_when_peer_closed),
        ("eof_when_peer_exited", eof_when_peer_exited),
        (
            "messages_of_every_size_round_trip_intact",
            messages_of_every_size_round_trip_intact,
        ),
        (
            "over_the_limit_is_refused_whole",
            over_the_limit_is_refused_whole,
        ),
        (
            "small_messages_from_shared_sender_stay_whole",
            small_messages_from_shared_sender_stay_whole,
        ),
    ]);
}
