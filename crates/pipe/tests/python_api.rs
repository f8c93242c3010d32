//! Python's `Connection` API, test by test from what Python's documentation says it does:
//! `send_bytes`/`recv_bytes`/`recv_bytes_into` with their offsets and errors, one-way pipes,
//! `poll`, `multiprocessing.connection.wait` over connections and process sentinels, and the
//! wire format shared with a real Python process. Tests fork, so this is a `harness = false`
//! program (see `ipc_common::testing`).

use std::io;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipc_common::Process;
use pipe::{PipeError, Receiver, Sender, Waitable, pipe, pipe_oneway};

/// The example of Python's documentation for `Connection`:
///
/// ```python
/// >>> a, b = Pipe()
/// >>> a.send([1, 'hello', None])
/// >>> b.recv()
/// [1, 'hello', None]
/// >>> b.send_bytes(b'thank you')
/// >>> a.recv_bytes()
/// b'thank you'
/// >>> arr1 = array.array('i', range(5))
/// >>> arr2 = array.array('i', [0] * 10)
/// >>> a.send_bytes(arr1)
/// >>> count = b.recv_bytes_into(arr2)
/// >>> assert count == len(arr1) * arr1.itemsize
/// >>> arr2
/// array('i', [0, 1, 2, 3, 4, 0, 0, 0, 0, 0])
/// ```
fn pythons_documented_example() {
    let (mut a, mut b) = pipe::<(i32, String, Option<i32>)>().expect("pipe");
    a.send(&(1, "hello".into(), None)).expect("send");
    assert_eq!(b.recv().expect("recv"), (1, "hello".to_string(), None));
    b.send_bytes(b"thank you", 0, None).expect("send_bytes");
    assert_eq!(a.recv_bytes(None).expect("recv_bytes"), b"thank you");
    let arr1: Vec<u8> = (0..5i32).flat_map(i32::to_ne_bytes).collect();
    let mut arr2 = [0u8; 40];
    a.send_bytes(&arr1, 0, None).expect("send_bytes");
    let count = b.recv_bytes_into(&mut arr2, 0).expect("recv_bytes_into");
    assert_eq!(count, 5 * 4);
    let ints: Vec<i32> = arr2
        .chunks_exact(4)
        .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(ints, [0, 1, 2, 3, 4, 0, 0, 0, 0, 0]);
}

/// `send_bytes(buffer[, offset[, size]])`: "If offset is given then data is read from that
/// position in buffer. If size is given then that many bytes will be read from buffer."
/// Python's `ValueError`s: `buffer length < offset`, `buffer length < offset + size`. A
/// refused call sends nothing.
fn send_bytes_offset_and_size() {
    let (mut rx, mut tx) = pipe_oneway::<()>().expect("pipe");
    let buf = b"hello world";
    tx.send_bytes(buf, 6, None).expect("offset");
    tx.send_bytes(buf, 0, Some(5)).expect("size");
    tx.send_bytes(buf, 4, Some(3)).expect("both");
    tx.send_bytes(buf, 11, None).expect("offset at the end");
    tx.send_bytes(buf, 3, Some(0)).expect("no bytes");
    for (offset, size, text) in [
        (12, None, "buffer length 11 < offset 12"),
        (12, Some(0), "buffer length 11 < offset 12"),
        (6, Some(6), "buffer length 11 < offset 6 + size 6"),
        (1, Some(usize::MAX), "buffer length 11 < offset 1 + size"),
    ] {
        let err = tx.send_bytes(buf, offset, size).expect_err("out of range");
        assert!(
            matches!(err, PipeError::OutOfRange { len: 11, offset: o, size: s } if o == offset && s == size),
            "{err:?}"
        );
        assert!(err.to_string().starts_with(text), "{err}");
    }
    for expected in [&b"world"[..], b"hello", b"o w", b"", b""] {
        assert_eq!(rx.recv_bytes(None).expect("recv_bytes"), expected);
    }
    assert!(
        !rx.poll(Duration::ZERO).expect("poll"),
        "refused calls sent nothing"
    );
}

/// `recv_bytes([maxlength])`: "If maxlength is specified and the message is longer than
/// maxlength then OSError is raised and the connection will no longer be readable." Here the
/// error says the length and the message stays first in line, the connection readable.
fn recv_bytes_maxlength() {
    let (mut rx, mut tx) = pipe_oneway::<String>().expect("pipe");
    tx.send_bytes(b"0123456789", 0, None).expect("send");
    tx.send(&"typed".into()).expect("send");
    let err = rx.recv_bytes(Some(5)).expect_err("too long");
    assert!(
        matches!(
            err,
            PipeError::TooLong {
                len: 10,
                maxlength: 5
            }
        ),
        "{err:?}"
    );
    assert!(
        rx.poll(Duration::ZERO).expect("poll"),
        "still first in line"
    );
    assert!(matches!(
        rx.recv_bytes(Some(9)),
        Err(PipeError::TooLong { len: 10, .. })
    ));
    assert_eq!(rx.recv_bytes(Some(10)).expect("fits"), b"0123456789");
    assert_eq!(rx.recv().expect("the next message"), "typed");
    drop(tx);
    assert!(matches!(rx.recv_bytes(Some(1)), Err(PipeError::Closed)));
}

/// `recv_bytes_into(buffer[, offset])`: "If offset is given then the message will be written
/// into the buffer from that position. Offset must be a non-negative integer less than the
/// length of buffer (in bytes). If the buffer is too short then a BufferTooShort exception is
/// raised and the complete message is available as e.args[0]."
fn recv_bytes_into_offset_and_buffer_too_short() {
    let (mut rx, mut tx) = pipe_oneway::<()>().expect("pipe");
    let mut buf = *b"..........";
    tx.send_bytes(b"abcdef", 0, None).expect("send");
    assert_eq!(rx.recv_bytes_into(&mut buf, 4).expect("fits"), 6);
    assert_eq!(&buf, b"....abcdef");

    let err = rx
        .recv_bytes_into(&mut buf, 11)
        .expect_err("offset past the end");
    assert!(
        matches!(
            err,
            PipeError::OutOfRange {
                len: 10,
                offset: 11,
                size: None
            }
        ),
        "{err:?}"
    );

    // One byte too many for the room after the offset: the whole message is in the error,
    // and the buffer is untouched.
    let message: Vec<u8> = (0..7).collect();
    tx.send_bytes(&message, 0, None).expect("send");
    tx.send_bytes(b"next", 0, None).expect("send");
    match rx.recv_bytes_into(&mut buf, 4) {
        Err(PipeError::BufferTooShort(e)) => {
            assert_eq!(e.room(), 6);
            assert_eq!(e.message(), &message[..]);
            assert!(e.to_string().contains('7'), "{e}");
            assert_eq!(e.into_message(), message);
        }
        other => panic!("expected BufferTooShort, got {other:?}"),
    }
    assert_eq!(&buf, b"....abcdef");
    assert_eq!(rx.recv_bytes_into(&mut buf, 0).expect("next"), 4);
    assert_eq!(&buf[..4], b"next");

    // A large message, read straight into the buffer, across processes.
    let big: Vec<u8> = (0..(3 << 20) + 5).map(|i| (i % 253) as u8).collect();
    let sent = big.clone();
    let child = Process::start("sender", move || tx.send_bytes(&sent, 0, None)).expect("start");
    let mut into = vec![0u8; big.len() + 10];
    assert_eq!(rx.recv_bytes_into(&mut into, 10).expect("big"), big.len());
    assert!(into[10..] == big[..] && into[..10] == [0; 10]);
    assert_eq!(child.join().expect("join"), 0);
    assert!(matches!(
        rx.recv_bytes_into(&mut into, 0),
        Err(PipeError::Closed)
    ));
}

/// `Pipe(duplex=False)`: "conn1 can only be used for receiving messages and conn2 can only be
/// used for sending messages" (the wrong calls do not compile: see the doc tests of
/// `Receiver` and `Sender`). Across a process, to the end of the stream.
fn one_way_pipe_across_processes() {
    let (mut rx, mut tx) = pipe_oneway::<Vec<u32>>().expect("pipe");
    let child = Process::start("sender", move || -> Result<(), PipeError> {
        for n in 0..100u32 {
            tx.send(&(0..n).collect())?;
        }
        tx.close();
        Ok(())
    })
    .expect("start");
    for n in 0..100u32 {
        assert_eq!(rx.recv().expect("recv"), (0..n).collect::<Vec<_>>());
    }
    assert!(matches!(rx.recv(), Err(PipeError::Closed)));
    assert_eq!(child.join().expect("join"), 0);
}

/// Python's `multiprocessing.connection.wait` example, translated:
///
/// ```python
/// def foo(w):
///     for i in range(10):
///         w.send((i, current_process().name))
///     w.close()
///
/// readers = []
/// for i in range(4):
///     r, w = Pipe(duplex=False)
///     readers.append(r)
///     p = Process(target=foo, args=(w,))
///     p.start()
///     w.close()
///
/// while readers:
///     for r in wait(readers):
///         try:
///             msg = r.recv()
///         except EOFError:
///             readers.remove(r)
///         else:
///             print(msg)
/// ```
///
/// Every message arrives exactly once, and every reader ends.
fn wait_for_many_readers() {
    let mut readers = Vec::new();
    let mut children = Vec::new();
    for i in 0..4 {
        let (r, mut w) = pipe_oneway::<(u32, String)>().expect("pipe");
        readers.push(r);
        let name = format!("Process-{i}");
        children.push(
            Process::start(name.clone(), move || -> Result<(), PipeError> {
                for n in 0..10 {
                    w.send(&(n, name.clone()))?;
                }
                Ok(())
            })
            .expect("start"),
        );
        // `w` was moved into the child's closure: this process closed its copy already.
    }
    let mut got = Vec::new();
    while !readers.is_empty() {
        let ready = {
            let objects: Vec<&dyn Waitable> = readers.iter().map(|r| r as _).collect();
            pipe::wait(&objects, Duration::MAX).expect("wait")
        };
        assert!(!ready.is_empty(), "no timeout: something is ready");
        // From the last, so that removing one does not move the others.
        for &i in ready.iter().rev() {
            match readers[i].recv() {
                Ok(message) => got.push(message),
                Err(PipeError::Closed) => drop(readers.remove(i)),
                Err(e) => panic!("{e}"),
            }
        }
    }
    got.sort();
    let mut expected: Vec<(u32, String)> = (0..4)
        .flat_map(|i| (0..10).map(move |n| (n, format!("Process-{i}"))))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
    for child in children {
        assert_eq!(child.join().expect("join"), 0);
    }
}

/// `wait` over a connection and a process sentinel (Python's `p.sentinel`): whichever is
/// ready, and only those; an empty list after the timeout.
fn wait_for_connections_and_sentinels() {
    let (mut rx, tx) = pipe_oneway::<u8>().expect("pipe");
    // This process keeps `tx`: the reader sees neither messages nor end-of-file.
    let quiet =
        Process::start("quiet", || std::thread::sleep(Duration::from_millis(100))).expect("start");
    let ready = pipe::wait(&[&rx, &quiet.exit_fd()], Duration::from_secs(60)).expect("wait");
    assert_eq!(ready, [1], "only the sentinel: the child ended");
    assert_eq!(quiet.join().expect("join"), 0);

    let (mut go_rx, mut go_tx) = pipe_oneway::<()>().expect("pipe");
    let talker = Process::start("talker", move || {
        let mut tx = tx;
        tx.send(&9).expect("send");
        go_rx.recv().expect("go");
    })
    .expect("start");
    let ready = pipe::wait(&[&rx, &talker.exit_fd()], Duration::from_secs(60)).expect("wait");
    assert_eq!(ready, [0], "only the connection: the child is alive");
    assert_eq!(rx.recv().expect("recv"), 9);

    let start = Instant::now();
    let ready = pipe::wait(&[&rx, &talker.exit_fd()], Duration::from_millis(200)).expect("wait");
    assert!(ready.is_empty());
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(pipe::wait(&[&rx], Duration::ZERO).expect("wait").is_empty());
    go_tx.send(&()).expect("go");
    assert_eq!(talker.join().expect("join"), 0);
    // Every write end is gone: end-of-file is ready too.
    assert_eq!(
        pipe::wait(&[&rx], Duration::from_secs(60)).expect("wait"),
        [0]
    );
    assert!(matches!(rx.recv(), Err(PipeError::Closed)));
}

/// A receiver reads ahead: after one of two small messages is received, the second is in its
/// buffer and no longer in the pipe. `poll` and `wait` still see it.
fn poll_and_wait_see_messages_read_ahead() {
    let (mut rx, mut tx) = pipe_oneway::<u32>().expect("pipe");
    tx.send(&1).expect("send");
    tx.send(&2).expect("send");
    assert_eq!(rx.recv().expect("recv"), 1);
    assert!(
        pipe::wait(&[&rx.read_fd()], Duration::ZERO)
            .expect("wait")
            .is_empty(),
        "the pipe itself is empty: the second message was read ahead"
    );
    assert!(rx.poll(Duration::ZERO).expect("poll"));
    assert_eq!(pipe::wait(&[&rx], Duration::ZERO).expect("wait"), [0]);
    assert_eq!(rx.recv().expect("recv"), 2);
    assert!(!rx.poll(Duration::ZERO).expect("poll"));
}

/// `fileno()`: the descriptors are the two ends of one pipe.
fn descriptors_are_the_pipes_ends() {
    let (a, b) = pipe::<u8>().expect("pipe");
    let inode = |fd| nix::sys::stat::fstat(fd).expect("fstat").st_ino;
    assert_eq!(inode(a.write_fd()), inode(b.read_fd()));
    assert_eq!(inode(b.write_fd()), inode(a.read_fd()));
    assert_ne!(inode(a.read_fd()), inode(a.write_fd()));
    let (rx, tx) = pipe_oneway::<u8>().expect("pipe");
    assert_eq!(inode(rx.read_fd()), inode(tx.write_fd()));
}

/// Python reads what `send_bytes` writes and writes what `recv_bytes` reads: a real Python
/// process (if `python3` is there) echoes messages reversed, then sends one with an offset
/// and a size.
fn python_reads_and_writes_the_same_frames() {
    const ECHO: &str = "
from multiprocessing.connection import Connection
r, w = Connection(0, writable=False), Connection(1, readable=False)
while True:
    try:
        m = r.recv_bytes()
    except EOFError:
        break
    w.send_bytes(m[::-1])
w.send_bytes(b'0123456789', 2, 5)
";
    let (to_python, mut tx) = io::pipe()
        .map(|(r, w)| (r, Sender::<()>::new(w)))
        .expect("pipe");
    let (mut rx, from_python) = io::pipe()
        .map(|(r, w)| (Receiver::<()>::new(r), w))
        .expect("pipe");
    let python = Command::new("python3")
        .args(["-c", ECHO])
        .stdin(Stdio::from(to_python))
        .stdout(Stdio::from(from_python))
        .stderr(Stdio::piped())
        .spawn();
    let python = match python {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            print!("(skipped: no python3) ");
            return;
        }
        Err(e) => panic!("python3: {e}"),
    };
    let messages: Vec<Vec<u8>> = [0, 1, 5, 16_384, 70_000, (1 << 20) + 7]
        .into_iter()
        .map(|n| (0..n).map(|i| (i % 241) as u8).collect())
        .collect();
    for m in &messages {
        tx.send_bytes(m, 0, None).expect("send to python");
        let mut reversed = m.clone();
        reversed.reverse();
        assert_eq!(rx.recv_bytes(None).expect("from python"), reversed);
    }
    drop(tx);
    assert_eq!(rx.recv_bytes(None).expect("from python"), b"23456");
    assert!(matches!(rx.recv_bytes(None), Err(PipeError::Closed)));
    let out = python.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python3 failed: {err}");
}

/// `Connection::split`: one thread receives while another sends (Python's `Connection` may be
/// used from two threads the same way). Last: it starts threads, and a process with threads
/// cannot fork.
fn split_halves_work_on_two_threads() {
    let (a, b) = pipe::<u64>().expect("pipe");
    let (mut a_rx, mut a_tx) = a.split();
    let (mut b_rx, mut b_tx) = b.split();
    let echo = std::thread::spawn(move || {
        while let Ok(n) = b_rx.recv() {
            b_tx.send(&(n * 2)).expect("send");
        }
    });
    let sender = std::thread::spawn(move || {
        for n in 0..1000 {
            a_tx.send(&n).expect("send");
        }
    });
    for n in 0..1000 {
        assert_eq!(a_rx.recv().expect("recv"), n * 2);
    }
    sender.join().expect("sender");
    echo.join().expect("echo");
}

fn main() {
    ipc_common::testing::run(&[
        ("pythons_documented_example", pythons_documented_example),
        ("send_bytes_offset_and_size", send_bytes_offset_and_size),
        ("recv_bytes_maxlength", recv_bytes_maxlength),
        (
            "recv_bytes_into_offset_and_buffer_too_short",
            recv_bytes_into_offset_and_buffer_too_short,
        ),
        (
            "one_way_pipe_across_processes",
            one_way_pipe_across_processes,
        ),
        ("wait_for_many_readers", wait_for_many_readers),
        (
            "wait_for_connections_and_sentinels",
            wait_for_connections_and_sentinels,
        ),
        (
            "poll_and_wait_see_messages_read_ahead",
            poll_and_wait_see_messages_read_ahead,
        ),
        (
            "descriptors_are_the_pipes_ends",
            descriptors_are_the_pipes_ends,
        ),
        (
            "python_reads_and_writes_the_same_frames",
            python_reads_and_writes_the_same_frames,
        ),
        (
            "split_halves_work_on_two_threads",
            split_halves_work_on_two_threads,
        ),
    ]);
}
