//! Timelines of real runs: processes that take a lock in turn and pass messages through a
//! ring record a trace, and the picture must show what really happened. These tests fork, so
//! this is a `harness = false` program (see `ipc_common::testing`).

use std::path::PathBuf;
use std::time::Duration;

use ipc_common::ring::Ring;
use ipc_common::trace;
use ipc_common::{Lock, Process};
use timeline::{Kind, Timeline};

/// Holds per worker, and messages per worker.
const ROUNDS: usize = 5;

/// A file of this test run, in the temporary directory.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("timeline-test-{}-{name}", std::process::id()))
}

/// A worker: takes the lock ROUNDS times, holding it 2 ms each time, and sends a message
/// through the ring after each hold.
fn worker((lock, ring): (Lock, Ring)) {
    for round in 0..ROUNDS {
        {
            let _held = lock.acquire().expect("acquire");
            std::thread::sleep(Duration::from_millis(2));
        }
        ring.push(&[round as u8], None).expect("push");
    }
}

/// Records a run of two workers and a parent that receives their 2 × ROUNDS messages.
fn record(file: &std::path::Path) -> Vec<ipc_common::trace::Event> {
    trace::start(file).expect("start recording");
    let lock = Lock::new().expect("lock");
    let ring = Ring::new(4096, 64).expect("ring");
    let workers: Vec<Process> = (1..=2)
        .map(|i| {
            Process::new(worker, (lock.clone(), ring.clone()))
                .name(format!("Worker-{i}"))
                .start()
                .expect("start worker")
        })
        .collect();
    let mut message = Vec::new();
    for _ in 0..2 * ROUNDS {
        ring.pop(&mut message, None, |_| {}).expect("pop");
    }
    for w in &workers {
        w.join_ok().expect("worker ends well");
    }
    trace::finish().expect("write the trace");
    trace::read(file).expect("read the trace back")
}

fn is(kind: &Kind, cat: &str, name: &str) -> bool {
    kind.cat == cat && kind.name == name
}

fn shows_what_happened() {
    let file = scratch("locks.json");
    let events = record(&file);
    let timeline = Timeline::new(&events).expect("a timeline");

    // A row per process, named as the trace names them, the program's own first.
    let names: Vec<&str> = timeline.tracks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["MainProcess", "Worker-1", "Worker-2"]);

    // Every hold of the lock is there, ended, on a worker's row. (Whether two overlap cannot
    // be told from the trace: a hold's end is recorded just after the unlock, so the next
    // holder's start may be recorded first.)
    let holds: Vec<(f64, f64, usize)> = timeline
        .spans
        .iter()
        .filter(|s| is(&s.kind, "lock", "hold"))
        .map(|s| {
            assert!(s.ended, "every hold ended");
            (s.start, s.end, s.track)
        })
        .collect();
    assert_eq!(holds.len(), 2 * ROUNDS);
    for track in 1..=2 {
        assert_eq!(holds.iter().filter(|h| h.2 == track).count(), ROUNDS);
    }

    // Each worker's life is one span on lane 0, and its holds lie inside it, a lane below.
    for track in 1..=2 {
        let life: Vec<_> = timeline
            .spans
            .iter()
            .filter(|s| s.track == track && is(&s.kind, "process", "run"))
            .collect();
        assert_eq!(life.len(), 1);
        assert_eq!(life[0].lane, 0);
        for hold in timeline
            .spans
            .iter()
            .filter(|s| s.track == track && is(&s.kind, "lock", "hold"))
        {
            assert!(hold.lane > 0);
            assert!(life[0].start <= hold.start && hold.end <= life[0].end);
        }
    }

    // Every message goes from a worker to the parent, ROUNDS from each. (A message's sending
    // is recorded just after it is published, so its receiving may be recorded first.)
    assert_eq!(timeline.messages.len(), 2 * ROUNDS);
    for m in &timeline.messages {
        assert_eq!(m.to, 0, "{m:?}");
    }
    for track in 1..=2 {
        let sent = timeline.messages.iter().filter(|m| m.from == track);
        assert_eq!(sent.count(), ROUNDS);
    }

    // The picture names every row and every kind it draws.
    let mut svg = Vec::new();
    timeline::render(&events, &mut svg).expect("render");
    let svg = String::from_utf8(svg).expect("utf-8");
    for text in [
        "MainProcess",
        "Worker-1",
        "Worker-2",
        "持有锁 lock hold",
        "等锁 lock wait",
        "进程运行 process run",
        "队列消息 queue message",
        "时间 time (ms)",
    ] {
        assert!(svg.contains(text), "the picture lacks {text}");
    }
    // An arrow head per message (plotters writes a polygon per head).
    assert_eq!(svg.matches("<polygon").count(), 2 * ROUNDS);

    // The same through the files, as the binary does.
    let out = scratch("locks.svg");
    timeline::to_svg(&file, &out).expect("to_svg");
    assert_eq!(std::fs::read_to_string(&out).expect("svg file"), svg);
    for f in [file, out] {
        std::fs::remove_file(f).expect("clean up");
    }
}

/// A worker killed inside its hold: its spans never end, and the picture says so. It writes
/// its events first, as a process does whenever its buffer fills (events still in the
/// buffer die with the process).
fn killed_worker((lock, ring): (Lock, Ring)) {
    let _held = lock.acquire().expect("acquire");
    trace::flush();
    ring.push(b"holding", None).expect("push");
    std::thread::sleep(Duration::from_secs(60));
}

fn a_killed_process_leaves_open_spans() {
    let file = scratch("killed.json");
    trace::start(&file).expect("start recording");
    let lock = Lock::new().expect("lock");
    let ring = Ring::new(4096, 8).expect("ring");
    let victim = Process::new(killed_worker, (lock.clone(), ring.clone()))
        .name("Victim")
        .start()
        .expect("start");
    let mut message = Vec::new();
    ring.pop(&mut message, None, |_| {})
        .expect("the victim holds the lock");
    victim.kill().expect("kill");
    let _ = victim.join();
    trace::finish().expect("write");
    let timeline = Timeline::new(&trace::read(&file).expect("read")).expect("timeline");
    let open: Vec<_> = timeline.spans.iter().filter(|s| !s.ended).collect();
    assert!(
        open.iter().any(|s| is(&s.kind, "lock", "hold"))
            && open.iter().any(|s| is(&s.kind, "process", "run")),
        "the hold and the life are open: {open:?}"
    );
    for span in open {
        assert_eq!(span.end, timeline.duration, "an open span reaches the end");
    }
    let mut svg = Vec::new();
    timeline::render(&trace::read(&file).expect("read"), &mut svg).expect("render");
    assert!(
        String::from_utf8(svg)
            .expect("utf-8")
            .contains("no end recorded")
    );
    std::fs::remove_file(file).expect("clean up");
}

fn main() {
    ipc_common::testing::run(&[
        ("shows_what_happened", shows_what_happened),
        (
            "a_killed_process_leaves_open_spans",
            a_killed_process_leaves_open_spans,
        ),
    ])
}
