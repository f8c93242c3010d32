//! Pipe under faults: a sender killed in the middle of a message, corrupt and hostile frames
//! (on pipes and on sockets), frames of the wrong type, and signals that interrupt a wait.
//! Each test forks, so this is a `harness = false` program (see `ipc_common::testing`).

use std::io::Write;
use std::time::{Duration, Instant};

use ipc_common::{Process, codec, fault};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;
use pipe::{Address, Family, Listener, PipeError, Receiver, Sender, pipe_oneway};

/// A sender killed after the first step of a large message (the fault point between two
/// writes): the receiver gets `Truncated`, never part of the message, then `Closed`.
fn killed_in_the_middle<T>(message: T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    let (mut rx, mut tx) = pipe_oneway::<T>().expect("pipe");
    let mut whole = Vec::new();
    codec::encode(&message, &mut whole).expect("encode");
    let sender = Process::start("sender", move || -> Result<(), String> {
        fault::arm("pipe.send.partial", fault::Fault::Kill, 1);
        let sent = tx.send(&message);
        Err(format!("not killed at the fault point: {sent:?}"))
    })
    .expect("start");
    match rx.recv() {
        Err(PipeError::Truncated { expected, got }) => {
            assert_eq!(expected, whole.len());
            // The first step: 1 MiB with the header.
            assert_eq!(got, (1 << 20) - 4, "got {got} of {expected}");
        }
        Err(e) => panic!("expected Truncated, got {e}"),
        Ok(_) => panic!("expected Truncated, got a message"),
    }
    assert!(matches!(rx.recv(), Err(PipeError::Closed)));
    assert_eq!(sender.join().expect("join"), -9);
}

fn sender_killed_mid_message_gives_truncated() {
    killed_in_the_middle(vec![7u8; 5 << 20]); // written from where it lies
    killed_in_the_middle(vec![0.5f64; 1 << 20]); // encoded first
    killed_in_the_middle("管".repeat(1 << 20)); // a String, from where it lies
}

/// A sender stopped (SIGSTOP) after the first step of a large message: the receiver's `poll`
/// sees the first bytes, its timeout holds, and once the sender is continued the message
/// arrives whole.
fn sender_stopped_mid_message_then_continued() {
    let (mut rx, mut tx) = pipe_oneway::<Vec<f64>>().expect("pipe");
    let message: Vec<f64> = (0..1 << 20).map(|i| f64::from(i) * 0.5).collect();
    let sent = message.clone();
    let sender = Process::start("sender", move || {
        fault::arm("pipe.send.partial", fault::Fault::Stop, 1);
        tx.send(&sent)
    })
    .expect("start");
    assert!(fault::wait_stopped(sender.pid(), Duration::from_secs(60)));
    assert!(
        rx.poll(Duration::from_secs(60)).expect("poll"),
        "the first step is there"
    );
    let start = Instant::now();
    assert!(
        pipe::wait(&[&sender.exit_fd()], Duration::from_millis(200))
            .expect("wait")
            .is_empty(),
        "still stopped"
    );
    assert!(start.elapsed() >= Duration::from_millis(200));
    sender.signal(Signal::SIGCONT).expect("continue");
    assert!(
        rx.recv().expect("recv") == message,
        "the message arrived whole"
    );
    assert_eq!(sender.join().expect("join"), 0);
}

/// What a receiver makes of `bytes` written raw by a child, which then exits.
fn receive_raw(bytes: &'static [u8]) -> (Result<String, PipeError>, Receiver<String>) {
    let (reader, mut raw) = std::io::pipe().expect("pipe");
    let mut rx = Receiver::<String>::new(reader);
    let p = Process::start("raw", move || raw.write_all(bytes).expect("write")).expect("start");
    let result = rx.recv();
    assert_eq!(p.join().expect("join"), 0);
    (result, rx)
}

fn corrupt_frames_rejected() {
    // A length of 2 GiB - 1, above the 1 GiB default limit: refused at once, and the stream
    // is out of step for good.
    let (r, mut rx) = receive_raw(b"\x7f\xff\xff\xffgarbage");
    assert!(
        matches!(
            r,
            Err(PipeError::TooLarge {
                len: 0x7fff_ffff,
                max: pipe::DEFAULT_MAX_MESSAGE
            })
        ),
        "{r:?}"
    );
    assert!(matches!(rx.recv(), Err(PipeError::Broken)));
    assert!(
        rx.poll(Duration::ZERO).expect("poll"),
        "a Broken receive returns at once"
    );
    // Python's long form: -1, then 8 bytes of length (here 2^40).
    let (r, _) = receive_raw(b"\xff\xff\xff\xff\x00\x00\x01\x00\x00\x00\x00\x00xyz");
    assert!(
        matches!(
            r,
            Err(PipeError::TooLarge {
                len: 0x100_0000_0000,
                ..
            })
        ),
        "{r:?}"
    );
    // A negative length other than -1.
    let (r, mut rx) = receive_raw(b"\xff\xff\xff\xfe");
    assert!(matches!(r, Err(PipeError::BadLength(-2))), "{r:?}");
    assert!(matches!(rx.recv(), Err(PipeError::Broken)));
    // The frame announces 100 bytes, 5 come, then EOF.
    let (r, mut rx) = receive_raw(b"\x00\x00\x00\x64hello");
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
    assert!(matches!(rx.recv(), Err(PipeError::Closed)));
    // Half a length prefix.
    let (r, _) = receive_raw(b"\x00\x00");
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
}

/// Frames whose bytes are not a message of the receiver's type: a typed error each, and the
/// stream stays in step (the next message is received).
fn wrong_type_is_an_error_and_the_stream_stays_in_step() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut rx = Receiver::<Vec<f64>>::new(reader);
    let mut as_text = Sender::<String>::new(writer.try_clone().expect("clone"));
    let mut as_floats = Sender::<Vec<f64>>::new(writer.try_clone().expect("clone"));
    let mut as_struct = Sender::<(u8, String)>::new(writer);
    as_text.send(&"not numbers".into()).expect("send");
    as_floats.send(&vec![1.0, 2.0]).expect("send");
    as_struct.send(&(1, "x".into())).expect("send");
    as_text.send_bytes(&[], 0, None).expect("send");
    // The codec's tag for a `Vec<f64>`, then 12 bytes: one and a half numbers.
    let mut tag = Vec::new();
    codec::encode(&Vec::<f64>::new(), &mut tag).expect("encode");
    as_text
        .send_bytes(&[&tag[..], &[1; 12]].concat(), 0, None)
        .expect("send");
    as_floats.send(&vec![3.0]).expect("send");
    assert!(matches!(rx.recv(), Err(PipeError::Decode(_))));
    assert_eq!(rx.recv().expect("in step"), [1.0, 2.0]);
    for _ in 0..3 {
        assert!(matches!(rx.recv(), Err(PipeError::Decode(_))));
    }
    assert_eq!(rx.recv().expect("in step"), [3.0]);

    // A `String` that is not UTF-8, with the codec's own tag for strings.
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut rx = Receiver::<String>::new(reader);
    let mut raw = Sender::<Vec<u8>>::new(writer);
    let mut tag = Vec::new();
    codec::encode(&String::new(), &mut tag).expect("encode");
    raw.send_bytes(&[&tag[..], b"ok\xff"].concat(), 0, None)
        .expect("send");
    raw.send_bytes(&[&tag[..], "好".as_bytes()].concat(), 0, None)
        .expect("send");
    assert!(matches!(rx.recv(), Err(PipeError::Decode(_))));
    assert_eq!(rx.recv().expect("in step"), "好");
}

/// `VmPeak` of this process, in KiB.
fn vm_peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPeak:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmPeak")
}

/// A peer that announces 900 MiB (within the 1 GiB limit) and sends 1 MiB: the receiver's
/// memory, even its address space, grows by far less than what was announced.
fn hostile_length_costs_what_arrives() {
    let (reader, mut writer) = std::io::pipe().expect("pipe");
    // The liar first, so that the receiver, forked after `writer` has left this process,
    // holds no copy of the write end: the liar's exit is the end of the stream.
    let liar = Process::start("liar", move || {
        writer
            .write_all(&(900i32 << 20).to_be_bytes())
            .expect("header");
        writer.write_all(&vec![1u8; 1 << 20]).expect("payload");
    })
    .expect("start");
    let receiver = Process::start("receiver", move || {
        let mut rx = Receiver::<Vec<u8>>::new(reader);
        let before = vm_peak_kib();
        let r = rx.recv_bytes(None);
        let grown_mib = (vm_peak_kib() - before) / 1024;
        assert!(
            matches!(r, Err(PipeError::Truncated { expected, got }) if expected == 900 << 20 && got == 1 << 20),
            "{r:?}"
        );
        assert!(grown_mib < 200, "grew by {grown_mib} MiB");
    })
    .expect("start");
    assert_eq!(receiver.join().expect("join"), 0);
    assert_eq!(liar.join().expect("join"), 0);
}

/// The same on a socket a `Listener` accepted: a peer that announces 900 MiB and sends 1 MiB
/// costs about what arrived; one that announces 1 TiB to a connection limited to 1 MiB is
/// refused before anything is read or allocated, and the connection can no longer receive.
fn hostile_length_on_a_socket_costs_what_arrives() {
    let listener =
        Listener::bind(Address::arbitrary(Family::Abstract).expect("address"), None).expect("bind");
    let address = listener.address().clone();
    let receiver = Process::start("receiver", || {
        let mut conn = listener.accept::<Vec<u8>>().expect("accept");
        let before = vm_peak_kib();
        let r = conn.recv_bytes(None);
        let grown_mib = (vm_peak_kib() - before) / 1024;
        assert!(
            matches!(r, Err(PipeError::Truncated { expected, got }) if expected == 900 << 20 && got == 1 << 20),
            "{r:?}"
        );
        assert!(grown_mib < 200, "grew by {grown_mib} MiB");

        let mut conn = listener.accept::<Vec<u8>>().expect("accept");
        conn.set_max_message(1 << 20);
        let before = vm_peak_kib();
        let r = conn.recv_bytes(None);
        assert!(
            matches!(r, Err(PipeError::TooLarge { len, max }) if len == 1 << 40 && max == 1 << 20),
            "{r:?}"
        );
        assert!(vm_peak_kib() - before < 16 << 10);
        assert!(matches!(conn.recv_bytes(None), Err(PipeError::Broken)));
    })
    .expect("start");
    let liar = Process::start("liar", move || {
        let Address::Abstract(name) = &address else {
            unreachable!()
        };
        let connect = || {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).expect("name");
            std::os::unix::net::UnixStream::connect_addr(&addr).expect("connect")
        };
        let mut first = connect();
        first
            .write_all(&(900i32 << 20).to_be_bytes())
            .expect("header");
        first.write_all(&vec![1u8; 1 << 20]).expect("payload");
        drop(first);
        let mut second = connect();
        second.write_all(&(-1i32).to_be_bytes()).expect("marker");
        second
            .write_all(&(1u64 << 40).to_be_bytes())
            .expect("length");
        second.write_all(&[1u8; 1000]).expect("payload");
    })
    .expect("start");
    assert_eq!(liar.join().expect("join"), 0);
    assert_eq!(receiver.join().expect("join"), 0);
}

extern "C" fn ignore_signal(_: nix::libc::c_int) {}

/// Installs a handler that does nothing for SIGALRM, so that the signal interrupts system
/// calls (`EINTR`) without ending the process; or restores the default action.
#[allow(unsafe_code)] // The one way to install a signal handler; this test needs one.
fn catch_sigalrm(catch: bool) {
    let handler = if catch {
        SigHandler::Handler(ignore_signal)
    } else {
        SigHandler::SigDfl
    };
    let action = SigAction::new(handler, SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler does nothing, so it is async-signal-safe; no SA_RESTART, so that
    // the signal interrupts `poll` as it would in a program with a real handler.
    unsafe { signal::sigaction(Signal::SIGALRM, &action) }.expect("sigaction");
}

/// A child that sends SIGALRM to this process every 10 ms for `span`, then a message if it
/// is given one to send.
fn alarms(span: Duration, then_send: Option<(Sender<u32>, u32)>) -> Process {
    let parent = Pid::this();
    Process::start("alarms", move || {
        let start = Instant::now();
        while start.elapsed() < span {
            signal::kill(parent, Signal::SIGALRM).expect("kill");
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some((mut tx, message)) = then_send {
            tx.send(&message).expect("send");
        }
    })
    .expect("start")
}

/// Signals that interrupt `poll` do not shorten it: a 1 s poll lasts 1 s; `Duration::MAX`
/// waits until the message comes; and the same for `wait`.
fn poll_waits_the_whole_timeout_through_signals() {
    catch_sigalrm(true);
    let (mut rx, tx) = pipe_oneway::<u32>().expect("pipe");
    // This process keeps `tx` open meanwhile: nothing arrives, not even end-of-file.
    let child = alarms(Duration::from_millis(1500), None);
    let start = Instant::now();
    assert!(!rx.poll(Duration::from_secs(1)).expect("poll"));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "returned after {waited:?}"
    );
    let start = Instant::now();
    let ready = pipe::wait(&[&rx], Duration::from_millis(300)).expect("wait");
    assert!(ready.is_empty());
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(child.join().expect("join"), 0);

    // Forever: until the message that comes after 300 ms of signals.
    let child = alarms(Duration::from_millis(300), Some((tx, 5)));
    assert!(rx.poll(Duration::MAX).expect("poll"));
    assert_eq!(rx.recv().expect("recv"), 5);
    assert_eq!(child.join().expect("join"), 0);
    catch_sigalrm(false);
}

fn main() {
    ipc_common::testing::run(&[
        (
            "sender_killed_mid_message_gives_truncated",
            sender_killed_mid_message_gives_truncated,
        ),
        (
            "sender_stopped_mid_message_then_continued",
            sender_stopped_mid_message_then_continued,
        ),
        ("corrupt_frames_rejected", corrupt_frames_rejected),
        (
            "wrong_type_is_an_error_and_the_stream_stays_in_step",
            wrong_type_is_an_error_and_the_stream_stays_in_step,
        ),
        (
            "hostile_length_costs_what_arrives",
            hostile_length_costs_what_arrives,
        ),
        (
            "hostile_length_on_a_socket_costs_what_arrives",
            hostile_length_on_a_socket_costs_what_arrives,
        ),
        (
            "poll_waits_the_whole_timeout_through_signals",
            poll_waits_the_whole_timeout_through_signals,
        ),
    ]);
}
