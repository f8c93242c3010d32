//! `Listener` and `Client` (Python's `multiprocessing.connection.Listener` and `Client`) at
//! every kind of address: connections over sockets with the same API as pipes, the authkey
//! handshake (a wrong key refused both ways, a silent or hostile client cut off), limits, a
//! peer that went away, `wait` over listeners and socket connections, the socket file's
//! removal, and processes that did not fork from one another (spawned children). No test
//! forks, so these are ordinary `#[test]`s.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use ipc_common::auth::{self, AuthError, AuthKey};
use ipc_common::frame::{self, FrameError};
use ipc_common::{StartMethod, get_context};
use pipe::{Address, Client, ConnectError, Connection, Family, Listener, PipeError};

/// Long enough for anything that should happen, on a machine as busy as it gets.
const PATIENCE: Duration = Duration::from_secs(60);

const FAMILIES: [Family; 3] = [Family::Unix, Family::Abstract, Family::Tcp];

fn key(bytes: &[u8]) -> Option<AuthKey> {
    Some(AuthKey::new(bytes.to_vec()))
}

fn listen(family: Family, authkey: Option<AuthKey>) -> Listener {
    Listener::bind(Address::arbitrary(family).expect("address"), authkey).expect("bind")
}

/// A raw socket to `address`, speaking nothing unless told.
enum Raw {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Raw {
    fn connect(address: &Address) -> Raw {
        use std::os::linux::net::SocketAddrExt;
        let raw = match address {
            Address::Unix(path) => Raw::Unix(UnixStream::connect(path).expect("connect")),
            Address::Abstract(name) => {
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).expect("name");
                Raw::Unix(UnixStream::connect_addr(&addr).expect("connect"))
            }
            Address::Tcp(addr) => Raw::Tcp(TcpStream::connect(addr).expect("connect")),
            Address::Unnamed => unreachable!(),
        };
        match &raw {
            Raw::Unix(s) => s.set_read_timeout(Some(PATIENCE)),
            Raw::Tcp(s) => s.set_read_timeout(Some(PATIENCE)),
        }
        .expect("timeout");
        raw
    }
}

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Raw::Unix(s) => s.read(buf),
            Raw::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Raw {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Raw::Unix(s) => s.write(buf),
            Raw::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every method of a pipe connection works on a socket connection, at every kind of
/// address, both ways, with a key: typed messages of many sizes (through the raw fast path
/// and the codec), `send_bytes` with an offset and size, `recv_bytes` with a `maxlength`,
/// `recv_bytes_into`, `poll`, and the end of the stream when the peer closes.
#[test]
fn socket_connections_have_the_pipe_api_at_every_address() {
    for family in FAMILIES {
        let listener = listen(family, key(b"k"));
        let address = listener.address().clone();
        assert_eq!(address.family(), Some(family));
        thread::scope(|s| {
            let client = s.spawn(|| {
                let mut c = Client::connect::<Vec<u8>>(&address, key(b"k")).expect("connect");
                // Echo every typed message, then the raw ones, then close.
                while let Ok(m) = c.recv() {
                    if m.is_empty() {
                        break;
                    }
                    c.send(&m).expect("echo");
                }
                c.send_bytes(b"hello world", 6, Some(3))
                    .expect("send_bytes");
                c.send_bytes(b"0123456789", 0, None).expect("send_bytes");
                c.send_bytes(b"abc", 0, None).expect("send_bytes");
                let mut buf = [0u8; 16];
                let n = c.recv_bytes_into(&mut buf, 4).expect("recv_bytes_into");
                assert_eq!(&buf[4..4 + n], b"into");
            });
            let mut conn = listener.accept::<Vec<u8>>().expect("accept");
            for size in [1usize, 100, 16 << 10, (1 << 20) + 7, 5 << 20] {
                let message: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
                conn.send(&message).expect("send");
                assert!(conn.poll(PATIENCE).expect("poll"), "{family:?} {size}");
                assert_eq!(conn.recv().expect("recv"), message, "{family:?} {size}");
            }
            conn.send(&Vec::new()).expect("send");
            assert_eq!(conn.recv_bytes(None).expect("recv_bytes"), b"wor");
            assert!(matches!(
                conn.recv_bytes(Some(9)),
                Err(PipeError::TooLong {
                    len: 10,
                    maxlength: 9
                })
            ));
            assert_eq!(
                conn.recv_bytes(Some(10)).expect("recv_bytes"),
                b"0123456789"
            );
            let mut small = [0u8; 2];
            match conn.recv_bytes_into(&mut small, 0) {
                Err(PipeError::BufferTooShort(e)) => assert_eq!(e.message(), b"abc"),
                other => panic!("{other:?}"),
            }
            conn.send_bytes(b"into", 0, None).expect("send_bytes");
            client.join().expect("client");
            assert!(matches!(conn.recv(), Err(PipeError::Closed)), "{family:?}");
            assert_eq!(conn.read_fd().as_raw_fd(), conn.write_fd().as_raw_fd());
        });
    }
}

/// Typed messages of a struct through the codec, between two threads over TCP, and
/// `split` halves working on two threads at once over one socket.
#[test]
fn typed_messages_and_split_halves() {
    let listener = listen(Family::Tcp, None);
    let mut client = Client::connect::<(u32, String)>(listener.address(), None).expect("connect");
    let server = listener.accept::<(u32, String)>().expect("accept");
    let (mut rx, mut tx) = server.split();
    const N: u32 = 2_000;
    thread::scope(|s| {
        // The server echoes with one half receiving and the other sending, on two threads.
        let (to_sender, from_receiver) = std::sync::mpsc::channel();
        s.spawn(move || {
            while let Ok(m) = rx.recv() {
                to_sender.send(m).expect("channel");
            }
        });
        s.spawn(move || {
            for (n, text) in from_receiver {
                tx.send(&(n + 1, text.to_uppercase())).expect("send");
            }
        });
        for n in 0..N {
            client.send(&(n, format!("message {n}"))).expect("send");
        }
        for n in 0..N {
            assert_eq!(
                client.recv().expect("recv"),
                (n + 1, format!("MESSAGE {n}"))
            );
        }
        drop(client);
    });
}

/// A wrong key is refused both ways: the client is told `#FAILURE#` (Refused), the listener
/// sees a wrong answer; a listener that answers wrongly is caught by the client; a client
/// with no key at all is refused. After each, the listener accepts the right client.
#[test]
fn a_wrong_key_is_refused_both_ways() {
    for family in FAMILIES {
        let listener = listen(family, key(b"right"));
        let address = listener.address().clone();
        thread::scope(|s| {
            let wrong = s.spawn(|| Client::connect::<()>(&address, key(b"wrong")));
            let accepted = listener.accept::<()>();
            assert!(
                matches!(accepted, Err(ConnectError::Auth(AuthError::WrongAnswer))),
                "{accepted:?}"
            );
            let refused = wrong.join().expect("client");
            assert!(
                matches!(refused, Err(ConnectError::Auth(AuthError::Refused))),
                "{refused:?}"
            );

            // A client without a key sends a message where the answer should be.
            let keyless = s.spawn(|| {
                let mut c = Client::connect::<()>(&address, None).expect("connect");
                c.send_bytes(b"let me in", 0, None).expect("send");
                let challenge = c.recv_bytes(None).expect("challenge");
                assert!(challenge.starts_with(auth::CHALLENGE));
                c.recv_bytes(None).expect("verdict")
            });
            assert!(matches!(
                listener.accept::<()>(),
                Err(ConnectError::Auth(AuthError::Protocol(_)))
            ));
            assert_eq!(keyless.join().expect("client"), auth::FAILURE);

            let right = s.spawn(|| {
                let mut c = Client::connect::<u8>(&address, key(b"right")).expect("connect");
                c.send(&7).expect("send");
            });
            let mut conn = listener.accept::<u8>().expect("the right client");
            assert_eq!(conn.recv().expect("recv"), 7);
            right.join().expect("client");
        });
    }
}

/// `last_accepted`: none before the first client, a Unix client is unnamed, a TCP client is
/// its own address and port.
#[test]
fn last_accepted_names_the_client() {
    let unix = listen(Family::Abstract, None);
    assert_eq!(unix.last_accepted(), None);
    let _c = Client::connect::<()>(unix.address(), None).expect("connect");
    let _s = unix.accept::<()>().expect("accept");
    assert_eq!(unix.last_accepted(), Some(Address::Unnamed));

    let tcp = listen(Family::Tcp, None);
    let client = Client::connect::<()>(tcp.address(), None).expect("connect");
    let _s = tcp.accept::<()>().expect("accept");
    let local: nix::sys::socket::SockaddrIn =
        nix::sys::socket::getsockname(client.read_fd().as_raw_fd()).expect("getsockname");
    assert_eq!(
        tcp.last_accepted(),
        Some(Address::from(([127, 0, 0, 1], local.port())))
    );
}

/// A client that connects and says nothing, or trickles a byte at a time, cannot hold
/// `accept` past the handshake timeout (counted across the whole handshake); the listener
/// accepts the next client afterwards.
#[test]
fn a_silent_or_slow_client_is_cut_off() {
    let timeout = Duration::from_millis(400);
    let mut listener = listen(Family::Unix, key(b"k"));
    listener.set_handshake_timeout(Some(timeout));
    let address = listener.address().clone();

    let _silent = Raw::connect(&address);
    let start = Instant::now();
    let r = listener.accept::<()>();
    assert!(
        matches!(r, Err(ConnectError::TimedOut(t)) if t == timeout),
        "{r:?}"
    );
    assert!(start.elapsed() >= timeout);

    thread::scope(|s| {
        s.spawn(|| {
            let mut slow = Raw::connect(&address);
            let mut challenge = Vec::new();
            frame::read(&mut slow, &mut challenge, 256).expect("challenge");
            // The start of an answer, a byte every 100 ms: each read is quick, the whole is
            // not.
            for byte in [
                0u8, 0, 0, 40, b'{', b's', b'h', b'a', b'2', b'5', b'6', b'}',
            ] {
                if slow.write_all(&[byte]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        let start = Instant::now();
        let r = listener.accept::<()>();
        assert!(matches!(r, Err(ConnectError::TimedOut(_))), "{r:?}");
        let took = start.elapsed();
        assert!(took >= timeout && took < PATIENCE, "{took:?}");
    });

    thread::scope(|s| {
        s.spawn(|| Client::connect::<()>(&address, key(b"k")).expect("connect"));
        listener.accept::<()>().expect("the next client");
    });
}

/// `Client::connect_timeout` holds against a listener that never accepts (a Python one, or a
/// program that is stopped): the handshake never starts.
#[test]
fn connect_timeout_holds() {
    for family in FAMILIES {
        let listener = listen(family, key(b"k"));
        let start = Instant::now();
        let timeout = Duration::from_millis(300);
        let r = Client::connect_timeout::<()>(listener.address(), key(b"k"), timeout);
        assert!(
            matches!(r, Err(ConnectError::TimedOut(t)) if t == timeout),
            "{r:?}"
        );
        assert!(start.elapsed() >= timeout);
    }

    // A Unix listener whose queue is full (a backlog of 0 holds one client, as Python's
    // default backlog of 1 holds two): `connect` itself waits, and the timeout holds there.
    let address = Address::arbitrary(Family::Abstract).expect("address");
    let full = raw_listener(&address, 0);
    let _queued = Client::connect::<()>(&address, None).expect("the first is queued");
    let start = Instant::now();
    let timeout = Duration::from_millis(300);
    let r = Client::connect_timeout::<()>(&address, None, timeout);
    assert!(
        matches!(r, Err(ConnectError::TimedOut(t)) if t == timeout),
        "{r:?}"
    );
    assert!(start.elapsed() >= timeout);
    // Room again once the queued client is accepted.
    drop(full.accept().expect("accept"));
    Client::connect_timeout::<()>(&address, None, PATIENCE).expect("room again");
}

/// A listening Unix socket at an abstract `address` with the given backlog, that speaks
/// nothing by itself.
fn raw_listener(address: &Address, backlog: i32) -> std::os::unix::net::UnixListener {
    use nix::sys::socket::{self, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
    let Address::Abstract(name) = address else {
        panic!("an abstract name");
    };
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let addr = UnixAddr::new_abstract(name).expect("name");
    socket::bind(fd.as_raw_fd(), &addr).expect("bind");
    socket::listen(&fd, Backlog::new(backlog).expect("backlog")).expect("listen");
    std::os::unix::net::UnixListener::from(fd)
}

/// Handshake messages over 256 bytes are refused on both sides, as Python's `recv_bytes(256)`
/// refuses them, before anything is allocated for them.
#[test]
fn handshake_messages_over_256_bytes_are_refused() {
    let listener = listen(Family::Abstract, key(b"k"));
    let address = listener.address().clone();
    thread::scope(|s| {
        s.spawn(|| {
            let mut raw = Raw::connect(&address);
            let mut challenge = Vec::new();
            frame::read(&mut raw, &mut challenge, 256).expect("challenge");
            // The listener refuses once it has read the length, and may close before the
            // rest is written: the write's own outcome does not matter.
            let _ = frame::write(&mut raw, &[b'x'; 257], usize::MAX);
        });
        let r = listener.accept::<()>();
        assert!(
            matches!(
                r,
                Err(ConnectError::Auth(AuthError::Frame(FrameError::TooLarge {
                    len: 257,
                    max: 256
                })))
            ),
            "{r:?}"
        );
    });

    // A fake listener whose challenge is announced 1 GiB long.
    let address = Address::arbitrary(Family::Abstract).expect("address");
    let fake = raw_listener(&address, 128);
    thread::scope(|s| {
        s.spawn(|| {
            let (mut conn, _) = fake.accept().expect("accept");
            let _ = conn.write_all(&(1i32 << 30).to_be_bytes());
        });
        let r = Client::connect::<()>(&address, key(b"k"));
        assert!(
            matches!(
                r,
                Err(ConnectError::Auth(AuthError::Frame(FrameError::TooLarge {
                    len: 0x4000_0000,
                    max: 256
                })))
            ),
            "{r:?}"
        );
    });
}

/// Limits as on a pipe: a message over the sender's limit is refused whole (nothing sent); a
/// length over the receiver's limit is refused before anything is allocated, and the
/// connection can no longer receive; the end of the stream inside a message is `Truncated`.
#[test]
fn limits_and_truncation_as_on_a_pipe() {
    let listener = listen(Family::Tcp, None);
    let mut client = Client::connect::<Vec<u8>>(listener.address(), None).expect("connect");
    let mut server = listener.accept::<Vec<u8>>().expect("accept");
    client.set_max_message(10);
    assert!(matches!(
        client.send(&vec![0; 11]),
        Err(PipeError::TooLarge { max: 10, .. })
    ));
    assert!(matches!(
        client.send_bytes(&[0; 11], 0, None),
        Err(PipeError::TooLarge { len: 11, max: 10 })
    ));
    assert!(
        !server.poll(Duration::from_millis(50)).expect("poll"),
        "nothing sent"
    );
    client.send_bytes(&[1; 10], 0, None).expect("at the limit");
    assert_eq!(server.recv_bytes(None).expect("recv"), [1; 10]);

    // The client's limit also holds for what it receives.
    server.send_bytes(&[2; 11], 0, None).expect("send");
    assert!(matches!(
        client.recv_bytes(None),
        Err(PipeError::TooLarge { len: 11, max: 10 })
    ));
    assert!(matches!(client.recv_bytes(None), Err(PipeError::Broken)));

    // A raw peer announces 100 bytes, sends 10 and closes.
    let mut raw = Raw::connect(listener.address());
    let mut server = listener.accept::<Vec<u8>>().expect("accept");
    raw.write_all(&100i32.to_be_bytes()).expect("header");
    raw.write_all(&[3; 10]).expect("payload");
    drop(raw);
    assert!(matches!(
        server.recv_bytes(None),
        Err(PipeError::Truncated {
            expected: 100,
            got: 10
        })
    ));
}

/// A peer that went away: `recv` gives `Closed`, `send` gives `Closed` (on TCP after the
/// peer's reset comes back), never an error of another kind and never `SIGPIPE` (this
/// process ignores it, as Rust programs do; `tests/pipe.rs` checks the default action). A
/// TCP peer that closes with bytes unread resets the connection: that too is `Closed`.
#[test]
fn a_peer_that_went_away_is_closed() {
    for family in FAMILIES {
        let listener = listen(family, None);
        let client = Client::connect::<String>(listener.address(), None).expect("connect");
        let mut server = listener.accept::<String>().expect("accept");
        // The server sends what the client never reads; the client closes.
        server.send(&"unread".into()).expect("send");
        drop(client);
        assert!(
            matches!(server.recv(), Err(PipeError::Closed)),
            "{family:?}"
        );
        let deadline = Instant::now() + PATIENCE;
        let err = loop {
            match server.send(&"x".repeat(1000)) {
                Ok(()) => assert!(Instant::now() < deadline, "{family:?}: sends succeed"),
                Err(e) => break e,
            }
            thread::sleep(Duration::from_millis(10));
        };
        assert!(matches!(err, PipeError::Closed), "{family:?}: {err:?}");
    }
}

/// `wait` takes listeners and socket connections with pipe ends: a listener is ready when a
/// client waits, a connection when a message (or the end) can be received, including one
/// already read ahead.
#[test]
fn wait_takes_listeners_and_socket_connections() {
    let listener = listen(Family::Unix, None);
    let (pipe_rx, mut pipe_tx) = pipe::pipe::<u32>().expect("pipe");
    assert!(
        pipe::wait(&[&listener, &pipe_rx], Duration::from_millis(50))
            .expect("wait")
            .is_empty()
    );
    let mut client = Client::connect::<u32>(listener.address(), None).expect("connect");
    assert_eq!(
        pipe::wait(&[&listener, &pipe_rx], PATIENCE).expect("wait"),
        [0]
    );
    let mut server = listener.accept::<u32>().expect("accept");
    assert!(
        pipe::wait(&[&listener, &server, &pipe_rx], Duration::from_millis(50))
            .expect("wait")
            .is_empty()
    );
    client.send(&1).expect("send");
    client.send(&2).expect("send");
    pipe_tx.send(&3).expect("send");
    let ready = pipe::wait(&[&listener, &server, &pipe_rx], PATIENCE).expect("wait");
    assert!(ready.contains(&1), "{ready:?}");
    assert_eq!(server.recv().expect("recv"), 1);
    // The second message was read ahead with the first: the socket may show nothing.
    assert_eq!(
        pipe::wait(&[&listener, &server], Duration::ZERO).expect("wait"),
        [1]
    );
    assert_eq!(server.recv().expect("recv"), 2);
    drop(client);
    assert_eq!(pipe::wait(&[&server], PATIENCE).expect("wait"), [0]);
    assert!(matches!(server.recv(), Err(PipeError::Closed)));
}

/// Several threads accept on one listener while several clients connect: every client is
/// accepted exactly once and every message arrives exactly once.
#[test]
fn threads_accept_together_each_client_once() {
    const THREADS: u32 = 2;
    const EACH: u32 = 8;
    let listener = listen(Family::Abstract, key(b"k"));
    let address = listener.address().clone();
    let received = std::sync::Mutex::new(Vec::new());
    thread::scope(|s| {
        // Each accepting thread takes exactly its share: together, every client.
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..EACH {
                    let mut conn = listener.accept::<u32>().expect("accept");
                    let n = conn.recv().expect("recv");
                    conn.send(&n).expect("ack");
                    received.lock().expect("lock").push(n);
                }
            });
        }
        for n in 0..THREADS * EACH {
            let address = &address;
            s.spawn(move || {
                let mut c = Client::connect::<u32>(address, key(b"k")).expect("connect");
                c.send(&n).expect("send");
                assert_eq!(c.recv().expect("ack"), n);
            });
        }
    });
    let mut got = received.into_inner().expect("lock");
    got.sort_unstable();
    assert_eq!(got, (0..THREADS * EACH).collect::<Vec<_>>());
}

/// The socket file of a path is removed when the listener is dropped, and not if the path
/// names another file by then; binding a path that exists fails; abstract names leave
/// nothing behind and can be bound again at once.
#[test]
fn the_socket_file_goes_with_its_listener() {
    let listener = listen(Family::Unix, None);
    let Address::Unix(path) = listener.address().clone() else {
        panic!("a path");
    };
    assert!(path.exists());
    let again = Listener::bind(&path, None);
    assert!(
        matches!(&again, Err(ConnectError::Bind { source, .. }) if source.kind() == std::io::ErrorKind::AddrInUse),
        "{again:?}"
    );
    listener.close();
    assert!(!path.exists());

    // Another file at the path by the time the listener goes: left alone.
    let listener = Listener::bind(&path, None).expect("bind again");
    std::fs::remove_file(&path).expect("remove");
    std::fs::write(&path, b"not a socket").expect("write");
    drop(listener);
    assert_eq!(std::fs::read(&path).expect("read"), b"not a socket");
    std::fs::remove_file(&path).expect("remove");

    let name = Address::arbitrary(Family::Abstract).expect("address");
    drop(Listener::bind(&name, None).expect("bind"));
    drop(Listener::bind(&name, None).expect("bind again"));
    assert!(matches!(
        Listener::bind(Address::Unnamed, None),
        Err(ConnectError::Bind { .. })
    ));
    assert!(matches!(
        Client::connect::<()>(&name, None),
        Err(ConnectError::Connect { source, .. }) if source.kind() == std::io::ErrorKind::ConnectionRefused
    ));
}

/// A spawned child (a fresh run of this program, which did not fork from the parent):
/// connects to the parent's listener with the key, doubles numbers until 0.
fn doubler((address, key): (Address, Vec<u8>)) -> Result<(), ConnectError> {
    let mut conn = Client::connect_timeout::<u64>(address, Some(AuthKey::new(key)), PATIENCE)?;
    while let Ok(n) = conn.recv() {
        if n == 0 {
            break;
        }
        if conn.send(&(n * 2)).is_err() {
            break;
        }
    }
    Ok(())
}

/// A spawned child with the wrong key: its connect must fail, and it says so by its exit.
fn intruder((address, key): (Address, Vec<u8>)) -> Result<(), String> {
    match Client::connect_timeout::<u64>(address, Some(AuthKey::new(key)), PATIENCE) {
        Err(ConnectError::Auth(AuthError::Refused)) => Ok(()),
        other => Err(format!("expected a refusal, got {other:?}")),
    }
}

/// Processes that did not fork from one another meet at an address (Python's reason for
/// `Listener` and `Client`): spawned children connect over a Unix path and TCP with the key;
/// one with the wrong key is refused on both sides.
#[test]
fn spawned_children_connect_to_a_listener() {
    for family in [Family::Unix, Family::Tcp] {
        let secret = b"between unrelated processes".to_vec();
        let listener = listen(family, Some(AuthKey::new(secret.clone())));
        let child = get_context(StartMethod::Spawn)
            .process(doubler, (listener.address().clone(), secret.clone()))
            .start()
            .expect("start");
        // The child connects (it has not ended: it waits for numbers).
        assert_eq!(
            pipe::wait(&[&listener, &child.exit_fd()], PATIENCE).expect("wait"),
            [0]
        );
        let mut conn = listener.accept::<u64>().expect("accept");
        for n in 1..=100u64 {
            conn.send(&n).expect("send");
            assert_eq!(conn.recv().expect("recv"), 2 * n);
        }
        conn.send(&0).expect("send");
        assert_eq!(child.join().expect("join"), 0, "{family:?}");

        let child = get_context(StartMethod::Spawn)
            .process(intruder, (listener.address().clone(), b"guess".to_vec()))
            .start()
            .expect("start");
        assert!(matches!(
            listener.accept::<u64>(),
            Err(ConnectError::Auth(AuthError::WrongAnswer))
        ));
        assert_eq!(child.join().expect("join"), 0, "{family:?}");
    }
}

fn echo(conn: Connection<String>) -> Result<(), PipeError> {
    let mut conn = conn;
    while let Ok(text) = conn.recv() {
        conn.send(&text.to_uppercase())?;
    }
    Ok(())
}

/// An accepted socket connection passed to a spawned child as an argument (Python's
/// `Process(args=(conn,))`): its socket travels, and the client talks to the child.
#[test]
fn a_socket_connection_travels_to_a_child() {
    for family in [Family::Abstract, Family::Tcp] {
        let listener = listen(family, None);
        let mut client = Client::connect::<String>(listener.address(), None).expect("connect");
        let accepted = listener.accept::<String>().expect("accept");
        let child = get_context(StartMethod::Spawn)
            .process(echo, accepted)
            .start()
            .expect("start");
        client.send(&"hello child".into()).expect("send");
        assert_eq!(client.recv().expect("recv"), "HELLO CHILD");
        drop(client);
        assert_eq!(child.join().expect("join"), 0, "{family:?}");
    }
}

/// The Debug output names the transport and hides the key.
#[test]
fn debug_output() {
    let listener = listen(Family::Tcp, key(b"secret"));
    let text = format!("{listener:?}");
    assert!(
        text.contains("AuthKey(6 bytes)") && !text.contains("secret"),
        "{text}"
    );
    let (a, _b) = UnixStream::pair().expect("pair");
    let conn = Connection::<()>::from(a);
    assert!(format!("{conn:?}").contains("Unix"), "{conn:?}");
}
