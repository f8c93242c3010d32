//! Guarantees 2 and 3: a child killed with SIGKILL in the middle of its work (queue, pipe,
//! manager, pool, custom-worker), or a child that panics. The parent notices, names the
//! process and how it died, and ends with status 1, never hanging for a message that will not
//! come; nothing is left running, nothing is left in `/dev/shm`. Two demos keep their notes'
//! plain calls instead, and do what Python's programs do: the pipe's parent fails with the
//! closed connection (Python's `EOFError`) without naming the dead child, and the queue's
//! parent, every consumer dead, waits for room in the queue until Ctrl-C ends it.
//!
//! Each test runs a section binary in its own process group (this test is the subreaper of its
//! orphans), brings it to the moment it wants, kills one child by its name (a child's command
//! name is its `Process` name), and checks the section's end, stdout and stderr.
//!
//! No test races the section to its moment, so none depends on how fast the machine is. Most
//! hold the section's stdout ([`HeldStdout`]): every process blocks at its first print after a
//! known line, so the victim can neither end nor get past that print before it is killed; the
//! test waits until the victim is dead, and only then lets the pipe go. A worker in the middle
//! of a task, which no print marks, is looked for on the frozen group ([`Run::freeze_when`]),
//! so that it cannot finish the task between the look and the kill. The time limits only catch
//! hangs.

use std::collections::BTreeSet;
use std::process::{Command, ExitCode};
use std::time::Duration;

use ipc_common::Process;
use ipc_common::cli::{Program, sections};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reliability::{Finish, HeldStdout, ProcInfo, Run, become_subreaper, binary, shm_entries};

/// Set in the environment of this program's copy that plays a faulty section.
const FAULTY: &str = "RELIABILITY_FAULTY_SECTION";

/// How long a test waits for the moment it wants, for a killed child to die, and for the
/// section to end: a few seconds at most (custom-worker waits the note's 5 s), so only a hang
/// takes this long.
const HANG: Duration = Duration::from_secs(60);

/// The manager demo's first line, printed before it starts its server and workers.
const MANAGER_HEADER: &str = "=== 使用Manager共享复杂数据 ===";

/// The queue demo's processes by the names they print (`P0`, `C1`): started producers first,
/// without names of their own, they have Python's default names, `Process-1` to `Process-5`.
fn queue_process(printed: &str) -> &'static str {
    match printed {
        "P0" => "Process-1",
        "P1" => "Process-2",
        "C0" => "Process-3",
        "C1" => "Process-4",
        "C2" => "Process-5",
        other => panic!("the queue demo has no process {other}"),
    }
}

/// A section under test, and `/dev/shm` as it was before the section started.
struct Section {
    run: Run,
    /// Its stdout, when held.
    held: Option<HeldStdout>,
    shm: BTreeSet<String>,
}

impl Section {
    /// Starts `section` with `args`, its stdout going to a file.
    fn free(section: &str, args: &[&str]) -> Section {
        let shm = shm_entries().expect("/dev/shm");
        let bin = binary(section).unwrap_or_else(|e| panic!("{e:#}"));
        let run = Run::spawn(&bin, args).expect("spawn");
        Section {
            run,
            held: None,
            shm,
        }
    }

    /// Starts `section` with `args`, its stdout held just after the line `through` (at its
    /// first byte if `None`): every process of the section blocks at its first print after
    /// that, and stays there until [`fails_cleanly`](Section::fails_cleanly) lets the pipe go.
    fn held(section: &str, args: &[&str], through: Option<&str>) -> Section {
        let room = through.map_or(0, |line| {
            HeldStdout::room_after(section, args, line).unwrap_or_else(|e| panic!("{e:#}"))
        });
        let shm = shm_entries().expect("/dev/shm");
        let bin = binary(section).unwrap_or_else(|e| panic!("{e:#}"));
        let (run, held) = Run::spawn_held(&bin, args, room).unwrap_or_else(|e| panic!("{e:#}"));
        Section {
            run,
            held: Some(held),
            shm,
        }
    }

    /// Waits until `victim` finds a process in the section, and kills it (see [`sigkill`]).
    fn kill_when(&mut self, mut victim: impl FnMut(&Run) -> Option<ProcInfo>) -> ProcInfo {
        let mut found = None;
        self.run.wait_until(HANG, |r| {
            found = victim(r);
            found.is_some()
        });
        self.kill(found)
    }

    /// As [`kill_when`](Section::kill_when), but `victim` looks at the group frozen, and the
    /// victim is killed before the group goes on.
    fn kill_frozen_when(&mut self, mut victim: impl FnMut(&Run) -> Option<ProcInfo>) -> ProcInfo {
        let mut found = None;
        self.run
            .freeze_when(HANG, |r| {
                found = victim(r);
                found.is_some()
            })
            .expect("SIGSTOP");
        let killed = self.kill(found);
        self.run.thaw().expect("SIGCONT");
        killed
    }

    fn kill(&mut self, found: Option<ProcInfo>) -> ProcInfo {
        let victim = found.unwrap_or_else(|| {
            let now = self.run.finish(Duration::ZERO);
            panic!("the moment never came\n{}", now.describe())
        });
        sigkill(&victim);
        victim
    }

    /// Lets the section go on (reading its stdout, if held), waits for it to end, and checks
    /// that it failed (status 1), that the whole group is gone and `/dev/shm` is as it was,
    /// and that stderr says `expected`. The finish's stdout is what the section printed.
    fn fails_cleanly(mut self, expected: &str) -> Finish {
        let printed = self.held.take().map(HeldStdout::release);
        let mut end = self.run.finish(HANG);
        assert!(
            end.is_clean(),
            "not over within {HANG:?}\n{}",
            end.describe()
        );
        if let Some(printed) = printed {
            end.stdout = printed.join().expect("reader").expect("read the pipe");
        }
        assert_eq!(end.code(), Some(1), "exit status\n{}", end.describe());
        assert!(
            end.stderr.contains(expected),
            "stderr does not say {expected:?}\n{}",
            end.describe()
        );
        assert_eq!(
            shm_entries().expect("/dev/shm"),
            self.shm,
            "/dev/shm changed"
        );
        end
    }
}

/// Whether every one of `names` is a running child (a child takes its name a moment after it
/// was forked, so a later sibling may show its name first).
fn all_named(run: &Run, names: &[&str]) -> bool {
    names.iter().all(|n| run.named(n).is_some())
}

/// Kills `p` and waits until it is dead, so that nothing it was blocked in can still finish
/// after the test goes on (see [`ProcInfo::wait_ended`]).
fn sigkill(p: &ProcInfo) {
    kill(Pid::from_raw(p.pid), Signal::SIGKILL).expect("kill");
    assert!(
        p.wait_ended(HANG),
        "{p:?} still runs {HANG:?} after SIGKILL"
    );
}

/// What the section must say of `p`, killed: `process C1 (pid 42) was killed by SIGKILL`.
fn killed(p: &ProcInfo) -> String {
    format!("process {} (pid {}) was killed by SIGKILL", p.comm, p.pid)
}

/// The items after `prefix` on the lines that have it (`消费者 C0 消费了: P0_产品_1`).
fn items<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.split_once(prefix).map(|(_, item)| item))
        .collect()
}

/// Every consumed item was consumed once, and is an item that was produced (or was being
/// produced by `killed`, which may die between its `put` and its line).
fn consumed_once(stdout: &str, killed: Option<&str>) -> BTreeSet<String> {
    let consumed = items(stdout, " 消费了: ");
    let produced: BTreeSet<&str> = items(stdout, " 生产了: ").into_iter().collect();
    let unique: BTreeSet<String> = consumed.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        unique.len(),
        consumed.len(),
        "an item consumed twice:\n{stdout}"
    );
    for item in &consumed {
        let by_killed = killed.is_some_and(|k| item.starts_with(&format!("{k}_")));
        assert!(
            produced.contains(item) || by_killed,
            "{item} consumed, never produced:\n{stdout}"
        );
    }
    unique
}

/// Every one of `lines` was printed.
fn printed(end: &Finish, lines: &[String]) {
    for line in lines {
        assert!(end.stdout.contains(line), "no {line:?}\n{}", end.describe());
    }
}

/// `消费者 C0 结束工作` for each consumer named.
fn stopped(consumers: &[&str]) -> Vec<String> {
    consumers
        .iter()
        .map(|c| format!("消费者 {c} 结束工作"))
        .collect()
}

/// A producer dies right after its first `put`: the parent still sends the stop signals,
/// every consumer stops, every product is consumed once (the dead producer's one too: it was
/// in the queue), and then the dead producer is reported.
fn queue_producer_killed() {
    // Held from the first byte: P0 blocks printing its first product, already in the queue.
    let mut section = Section::held("queue", &[], None);
    let p0 = section.kill_when(|r| {
        r.named(queue_process("P0"))
            .filter(ProcInfo::writing_stdout)
    });
    let end = section.fails_cleanly(&killed(&p0));
    printed(&end, &stopped(&["C0", "C1", "C2"]));
    assert!(
        !end.stdout.contains("所有进程执行完毕"),
        "{}",
        end.describe()
    );
    assert!(
        !end.stdout.contains("生产者 P0"),
        "P0 died at its first print\n{}",
        end.describe()
    );
    let consumed = consumed_once(&end.stdout, Some("P0"));
    let put: BTreeSet<String> = std::iter::once("P0_产品_0".to_string())
        .chain((0..5).map(|i| format!("P1_产品_{i}")))
        .collect();
    assert_eq!(
        consumed,
        put,
        "what was put is consumed\n{}",
        end.describe()
    );
}

/// A consumer dies: the others go on and stop, and the dead one is reported by name.
fn queue_consumer_killed() {
    // Held from the first byte, no process can end: C1 dies waiting for an item, or blocked
    // printing the first one it took.
    let mut section = Section::held("queue", &[], None);
    let all = ["P0", "P1", "C0", "C1", "C2"].map(queue_process);
    let c1 = section.kill_when(|r| {
        all_named(r, &all)
            .then(|| r.named(queue_process("C1")))
            .flatten()
    });
    let end = section.fails_cleanly(&killed(&c1));
    printed(&end, &stopped(&["C0", "C2"]));
    assert!(!end.stdout.contains("消费者 C1"), "{}", end.describe());
    // C1 may take the item it was printing with it; no item comes twice, no other is lost.
    let consumed = consumed_once(&end.stdout, None);
    assert!(consumed.len() >= 9, "items lost\n{}", end.describe());
}

/// Every consumer dies: the queue (maxsize 10) fills up with the products, and the parent's
/// stop signals find no room. The parent waits in `put` for room that no consumer will make
/// (the demo has the note's plain loops: no stop signal gives up), as Python's program waits
/// for ever too (there the producers wait to put their `None`, and the parent in `join`).
/// Ctrl-C then ends it, and everything it made, at once.
fn queue_all_consumers_killed() {
    // Held from the first byte, each producer blocks printing its first product and each
    // consumer printing the first item it took: when the consumers die, at most two of the
    // ten products have left the queue, so the parent's third stop signal at the latest
    // finds it full.
    let mut section = Section::held("queue", &[], None);
    for c in ["C0", "C1", "C2"] {
        section.kill_when(|r| r.named(queue_process(c)));
    }
    let printed = section.held.take().map(HeldStdout::release);
    // Both producers have ended (the parent has joined them), so the parent's only wait left
    // before its consumers' joins is a stop signal's `put`: it is there once it sleeps on a
    // futex. Looked at on the frozen group, so the look cannot be stale.
    let producers = ["P0", "P1"].map(queue_process);
    let waiting = section
        .run
        .freeze_when(HANG, |r| {
            let leader = ProcInfo::read(r.pid());
            producers.iter().all(|p| r.named(p).is_none())
                && leader.is_some_and(|l| {
                    l.syscall()
                        .is_some_and(|call| call.number == nix::libc::SYS_futex)
                })
        })
        .expect("SIGSTOP");
    assert!(
        waiting,
        "the parent never waited in put\n{}",
        section.run.finish(Duration::ZERO).describe()
    );
    section.run.signal_group(Signal::SIGINT).expect("SIGINT");
    section.run.thaw().expect("SIGCONT");
    let mut end = section.run.finish(HANG);
    end.stdout = printed
        .expect("held")
        .join()
        .expect("reader")
        .expect("read the pipe");
    assert!(end.is_clean(), "not over\n{}", end.describe());
    assert_eq!(end.signal(), Some(Signal::SIGINT), "{}", end.describe());
    assert_eq!(
        shm_entries().expect("/dev/shm"),
        section.shm,
        "/dev/shm changed"
    );
    assert!(!end.stdout.contains("消费者"), "{}", end.describe());
    assert!(
        !end.stdout.contains("所有进程执行完毕"),
        "{}",
        end.describe()
    );
    assert_eq!(
        items(&end.stdout, " 生产了: ").len(),
        10,
        "every product is put\n{}",
        end.describe()
    );
}

/// The pipe's child dies before it replied: the parent's `recv` (or `send`) fails with
/// `Closed` (Python's `EOFError`), not a hang, and the section ends with it.
///
/// The child lives for microseconds, too briefly to be caught otherwise: held after the
/// header, it blocks at its first `println!`, and waits there until killed.
fn pipe_child_killed() {
    let header = "=== 使用Pipe进行进程间通信 ===";
    let mut section = Section::held("pipe", &[], Some(header));
    // The demo's one child, unnamed: Python's default name.
    section.kill_when(|r| r.named("Process-1"));
    // PipeError::Closed, as the section's error line shows it.
    let end = section.fails_cleanly(
        "error in 3.2 使用Pipe进行进程间通信: the other end of the connection is closed",
    );
    assert_eq!(end.stdout, format!("{header}\n"), "only the header");
}

/// The manager's server dies while the workers use it: every request fails at once with
/// ServerGone, and the section ends.
fn manager_server_killed() {
    // Held after the header, the server stays up at least until every worker has printed.
    let mut section = Section::held("manager", &[], Some(MANAGER_HEADER));
    section.kill_when(|r| manager_busy(r).then(|| r.named("Manager")).flatten());
    let end = section.fails_cleanly("the manager's server process is gone");
    assert!(!end.stdout.contains("最终共享"), "{}", end.describe());
}

/// The manager's server and its three workers are running.
fn manager_busy(r: &Run) -> bool {
    all_named(r, &["Manager", "Process-1", "Process-2", "Process-3"])
}

/// A worker of the manager demo dies: the others finish, then the dead one is reported.
fn manager_worker_killed() {
    // Held after the header, Process-2 dies at its requests or blocked printing that it is
    // done, never after.
    let mut section = Section::held("manager", &[], Some(MANAGER_HEADER));
    let worker = section.kill_when(|r| manager_busy(r).then(|| r.named("Process-2")).flatten());
    let end = section.fails_cleanly(&killed(&worker));
    printed(
        &end,
        &["进程 0 完成数据修改".into(), "进程 2 完成数据修改".into()],
    );
    assert!(
        !end.stdout.contains("进程 1 完成数据修改"),
        "{}",
        end.describe()
    );
}

/// A pool worker dies in the middle of a task: that task fails with WorkerDied, which names
/// the worker, and the section ends (the pool's own tests show the pool going on).
fn pool_worker_killed() {
    // Held after the line the parent prints before it submits the tasks, a worker blocked
    // printing `进程 PID 开始计算 N` is running task N.
    let mut section = Section::held("pool", &["5.1"], Some("--- 异步提交任务 ---"));
    let worker = section.kill_when(|r| {
        r.members()
            .into_iter()
            .find(|p| p.comm.starts_with("PoolWorker-") && p.is_running() && p.writing_stdout())
    });
    let end = section.fails_cleanly(&format!(
        "worker process {} (pid {}) died while running this task (killed by SIGKILL)",
        worker.comm, worker.pid
    ));
    let started = format!("进程 {} 开始计算", worker.pid);
    assert!(!end.stdout.contains(&started), "{}", end.describe());
}

/// A custom worker dies holding a task: its result never comes, the parent stops waiting
/// after the note's 5 s, the other workers stop, and the dead one is named.
fn custom_worker_killed() {
    // A worker holds a task while it sleeps in `process_task` (no print marks the moment
    // for a hold): looked for on the frozen group, it cannot finish the task before the kill.
    let mut section = Section::free("custom-worker", &[]);
    let worker = section.kill_frozen_when(|r| {
        r.members()
            .into_iter()
            .find(|p| p.comm.starts_with("WorkerProcess-") && p.is_running() && p.sleeping())
    });
    let end = section.fails_cleanly(&killed(&worker));
    assert_eq!(
        items(&end.stdout, "收到结果: ").len(),
        8,
        "every task but the dead worker's\n{}",
        end.describe()
    );
    for id in 0..3 {
        let ended = format!("工作进程 {id} 结束");
        let dead = worker.comm == format!("WorkerProcess-{id}");
        assert_eq!(
            end.stdout.contains(&ended),
            !dead,
            "{ended:?}\n{}",
            end.describe()
        );
    }
    assert!(!end.stdout.contains("所有任务完成"), "{}", end.describe());
}

/// The faulty section's program: a child that panics, joined with join_ok.
fn child_panics() -> anyhow::Result<()> {
    let child = Process::start("Panicker", || -> () { panic!("boom {}", 7) })?;
    child.join_ok()?;
    Ok(())
}

/// A panic in a child, end to end through a section binary's command line: the child's
/// message names it and its pid, the parent's error names it and its exit code.
fn child_panic_is_reported() {
    let exe = std::env::current_exe().expect("current_exe");
    let mut run = Run::command(Command::new(exe).arg("9.9").env(FAULTY, "1")).expect("spawn");
    let end = run.finish(HANG);
    assert!(end.is_clean(), "{}", end.describe());
    assert_eq!(end.code(), Some(1), "{}", end.describe());
    let pid = end
        .stderr
        .split_once("process Panicker (pid ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(pid, _)| pid.to_string())
        .unwrap_or_else(|| panic!("no panic message\n{}", end.describe()));
    let panicked = format!("process Panicker (pid {pid}) panicked: boom 7 (at ");
    let failed =
        format!("error in 9.9 一个子进程panic: process Panicker (pid {pid}) exited with status 1");
    assert!(end.stderr.contains(&panicked), "{}", end.describe());
    assert!(end.stderr.contains(&failed), "{}", end.describe());
}

fn main() -> ExitCode {
    if std::env::var_os(FAULTY).is_some() {
        let program = Program {
            id: "9.9",
            title: "一个子进程panic",
            run: child_panics,
        };
        return sections("faulty", &[program]);
    }
    become_subreaper().expect("prctl(PR_SET_CHILD_SUBREAPER)");
    ipc_common::testing::run(&[
        ("queue_producer_killed", queue_producer_killed),
        ("queue_consumer_killed", queue_consumer_killed),
        ("queue_all_consumers_killed", queue_all_consumers_killed),
        ("pipe_child_killed", pipe_child_killed),
        ("manager_server_killed", manager_server_killed),
        ("manager_worker_killed", manager_worker_killed),
        ("pool_worker_killed", pool_worker_killed),
        ("custom_worker_killed", custom_worker_killed),
        ("child_panic_is_reported", child_panic_is_reported),
    ])
}
