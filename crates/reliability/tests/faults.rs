//! Guarantees 2 and 3: a child killed with SIGKILL in the middle of its work (queue, pipe,
//! manager, pool, custom-worker), or a child that panics. The parent notices, names the
//! process and how it died, and ends with status 1, never hanging for a message that will not
//! come; nothing is left running, nothing is left in `/dev/shm`.
//!
//! Each test runs a section binary in its own process group (this test is the subreaper of its
//! orphans), waits for the moment it wants, kills one child by its name (a child's command
//! name is its `Process` name), and checks the section's end, stdout and stderr.

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

/// How long a test waits for the moment it wants.
const WAIT: Duration = Duration::from_secs(20);

fn start(section: &str, args: &[&str]) -> Run {
    let bin = binary(section).unwrap_or_else(|e| panic!("{e:#}"));
    Run::spawn(&bin, args).expect("spawn")
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
        p.wait_ended(WAIT),
        "{p:?} still runs {WAIT:?} after SIGKILL"
    );
}

/// Waits at most `limit` for the section to end; checks that it failed (status 1), that the
/// whole group is gone and `/dev/shm` is as `shm` was, and that stderr says `expected`.
fn fails_cleanly(run: &mut Run, limit: Duration, shm: &BTreeSet<String>, expected: &str) -> Finish {
    let end = run.finish(limit);
    assert!(
        end.is_clean(),
        "not over within {limit:?}\n{}",
        end.describe()
    );
    assert_eq!(end.code(), Some(1), "exit status\n{}", end.describe());
    assert!(
        end.stderr.contains(expected),
        "stderr does not say {expected:?}\n{}",
        end.describe()
    );
    assert_eq!(&shm_entries().expect("/dev/shm"), shm, "/dev/shm changed");
    end
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

/// Runs `section` until `ready`, kills its running child named `victim`, and checks that the
/// section then fails cleanly within `limit`, its stderr naming the victim by name and pid:
/// `process C1 (pid 42) was killed by SIGKILL`. Returns the finish.
fn kill_child(
    section: &str,
    args: &[&str],
    ready: impl FnMut(&Run) -> bool,
    victim: &str,
    limit: Duration,
) -> Finish {
    let shm = shm_entries().expect("/dev/shm");
    let mut run = start(section, args);
    if !run.wait_until(WAIT, ready) {
        panic!("the moment never came\n{}", run.finish(WAIT).describe());
    }
    let child = run
        .named(victim)
        .unwrap_or_else(|| panic!("{victim} is not running: {:?}", run.members()));
    sigkill(&child);
    let killed = format!("process {victim} (pid {}) was killed by SIGKILL", child.pid);
    fails_cleanly(&mut run, limit, &shm, &killed)
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

/// A producer dies: the parent still sends the stop signals, every consumer stops, every
/// product of the other producer is consumed, and then the dead producer is reported.
fn queue_producer_killed() {
    let ready = |r: &Run| {
        all_named(r, &["P0", "C0", "C1", "C2"]) && r.stdout().contains("生产者 P0 生产了")
    };
    let end = kill_child("queue", &[], ready, "P0", Duration::from_secs(10));
    printed(&end, &stopped(&["C0", "C1", "C2"]));
    assert!(
        !end.stdout.contains("所有进程执行完毕"),
        "{}",
        end.describe()
    );
    let consumed = consumed_once(&end.stdout, Some("P0"));
    for i in 0..5 {
        assert!(
            consumed.contains(&format!("P1_产品_{i}")),
            "{}",
            end.describe()
        );
    }
}

/// A consumer dies: the others go on and stop, and the dead one is reported by name.
fn queue_consumer_killed() {
    let ready = |r: &Run| all_named(r, &["C0", "C1", "C2"]);
    let end = kill_child("queue", &[], ready, "C1", Duration::from_secs(10));
    printed(&end, &stopped(&["C0", "C2"]));
    assert!(
        !end.stdout.contains("消费者 C1 结束工作"),
        "{}",
        end.describe()
    );
    // A killed consumer may take the item it was getting with it; no item comes twice.
    consumed_once(&end.stdout, None);
}

/// Every consumer dies at once: the queue (maxsize 10) fills up with the ten products, and
/// the parent's stop signals find no room. It must report the dead consumers, not wait.
fn queue_all_consumers_killed() {
    let shm = shm_entries().expect("/dev/shm");
    let mut run = start("queue", &[]);
    assert!(
        run.wait_until(WAIT, |r| all_named(r, &["C0", "C1", "C2"])),
        "no consumers"
    );
    // Frozen, so that they die together, before they can empty the queue.
    let running = run.freeze().expect("SIGSTOP");
    let consumers: Vec<&ProcInfo> = running.iter().filter(|p| p.comm.starts_with('C')).collect();
    assert_eq!(consumers.len(), 3, "consumers: {running:?}");
    consumers.iter().for_each(|c| sigkill(c));
    run.thaw().expect("SIGCONT");
    let c0 = consumers
        .iter()
        .find(|c| c.comm == "C0")
        .expect("C0 is running");
    let end = fails_cleanly(
        &mut run,
        Duration::from_secs(10),
        &shm,
        &format!("process C0 (pid {}) was killed by SIGKILL", c0.pid),
    );
    assert!(!end.stdout.contains("结束工作"), "{}", end.describe());
}

/// The pipe's child dies before it replied: the parent's `recv` gets `Closed`, not a hang, and
/// the parent names the child and its death.
///
/// The child lives for microseconds, too briefly to be caught reliably, so its stdout holds it
/// still ([`HeldStdout`]): its first `println!` blocks, and it waits there until killed. The
/// pipe is let go only once the child is dead, or its blocked line could still get through.
fn pipe_child_killed() {
    let room = HeldStdout::room_before("pipe", "子进程 Child-1 启动").expect("a normal run");
    let shm = shm_entries().expect("/dev/shm");
    let mut held = HeldStdout::new(room).expect("pipe");
    let mut run = Run::command_with_stdout(
        &mut Command::new(binary("pipe").unwrap_or_else(|e| panic!("{e:#}"))),
        Some(held.stdio().expect("stdout")),
    )
    .expect("spawn");
    assert!(
        run.wait_until(WAIT, |r| r.named("Child-1").is_some()),
        "the child never started"
    );
    let child = run.named("Child-1").expect("Child-1 is running");
    sigkill(&child);
    let stdout = held.release();
    fails_cleanly(
        &mut run,
        Duration::from_secs(5),
        &shm,
        &format!("process Child-1 (pid {}) was killed by SIGKILL", child.pid),
    );
    let stdout = stdout.join().expect("reader").expect("read");
    assert_eq!(
        stdout, "=== 使用Pipe进行进程间通信 ===\n",
        "only the header"
    );
}

/// The manager's server dies while the workers use it: every request fails at once with
/// ServerGone, and the section ends.
fn manager_server_killed() {
    let shm = shm_entries().expect("/dev/shm");
    let mut run = start("manager", &[]);
    assert!(run.wait_until(WAIT, manager_busy), "no workers");
    let server = run.named("Manager").expect("the server is running");
    sigkill(&server);
    let gone = "the manager's server process is gone";
    let end = fails_cleanly(&mut run, Duration::from_secs(5), &shm, gone);
    assert!(!end.stdout.contains("最终共享"), "{}", end.describe());
}

/// The manager's server and its three workers are running.
fn manager_busy(r: &Run) -> bool {
    all_named(r, &["Manager", "Process-1", "Process-2", "Process-3"])
}

/// A worker of the manager demo dies: the others finish, then the dead one is reported.
fn manager_worker_killed() {
    let end = kill_child(
        "manager",
        &[],
        manager_busy,
        "Process-2",
        Duration::from_secs(5),
    );
    printed(
        &end,
        &["进程 0 完成数据修改".into(), "进程 2 完成数据修改".into()],
    );
}

/// A pool worker dies in the middle of a task: that task fails with WorkerDied, which names
/// the worker, and the section ends (the pool's own tests show the pool going on).
fn pool_worker_killed() {
    let shm = shm_entries().expect("/dev/shm");
    let mut run = start("pool", &["5.1"]);
    let mut busy = None;
    let found = run.wait_until(WAIT, |r| {
        let out = r.stdout();
        busy = r.members().into_iter().find(|p| {
            p.comm.starts_with("PoolWorker-")
                && p.is_running()
                && out.contains(&format!("进程 {} 开始计算", p.pid))
        });
        busy.is_some()
    });
    let worker = busy
        .filter(|_| found)
        .expect("no worker ever started a task");
    sigkill(&worker);
    fails_cleanly(
        &mut run,
        Duration::from_secs(5),
        &shm,
        &format!(
            "worker process {} (pid {}) died while running this task (killed by SIGKILL)",
            worker.comm, worker.pid
        ),
    );
}

/// A custom worker dies holding a task: its result never comes, the parent stops waiting
/// after the note's 5 s, the other workers stop, and the dead one is named.
fn custom_worker_killed() {
    let ready = |r: &Run| r.stdout().contains("工作进程 1 处理任务:");
    let limit = Duration::from_secs(12);
    let end = kill_child("custom-worker", &[], ready, "WorkerProcess-1", limit);
    assert_eq!(
        items(&end.stdout, "收到结果: ").len(),
        8,
        "every task but the dead worker's\n{}",
        end.describe()
    );
    printed(&end, &["工作进程 0 结束".into(), "工作进程 2 结束".into()]);
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
    let end = run.finish(Duration::from_secs(10));
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
