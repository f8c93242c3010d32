#![allow(unsafe_code)] // Only to ignore SIGTERM in one test child and to register an exit handler.
//! Process: exit codes, panics, signals, timeouts, dropping, the thread guard and orphans.
//! Each test forks, so this is a `harness = false` program (see `ipc_common::testing`).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use ipc_common::{Process, ProcessError, ShmBox};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::{dup2_stderr, dup2_stdout};

fn sleep(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// True while `pid` exists as a process that has not been reaped, zombies included.
fn pid_exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Runs `f` in a child whose stderr (or stdout) goes to a pipe; returns what it wrote.
fn capture(stdout: bool, f: impl FnOnce()) -> (i32, String) {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let child = Process::start("capture", || {
        if stdout {
            dup2_stdout(&writer).expect("dup2");
        } else {
            dup2_stderr(&writer).expect("dup2");
        }
        drop(writer);
        f();
    })
    .expect("start");
    // The closure owned `writer`: the parent's copy was closed when it was dropped after the
    // fork, so the read below ends when the child exits.
    let mut text = String::new();
    reader.read_to_string(&mut text).expect("read");
    (child.join().expect("join"), text)
}

/// Ends the process; a plain `fn` so that closures calling it return `()`.
fn exit_with(code: i32) {
    std::process::exit(code)
}

fn boom(n: i32) {
    panic!("kaboom {n}")
}

fn exit_codes_follow_python() {
    let ok = Process::start("ok", || {}).expect("start");
    assert_eq!(ok.join().expect("join"), 0);
    let three = Process::start("three", || exit_with(3)).expect("start");
    assert_eq!(three.join().expect("join"), 3);
    assert_eq!(three.exitcode(), Some(3));
    let err = Process::start("err", || -> Result<(), String> { Err("no".into()) }).expect("s");
    assert_eq!(err.join().expect("join"), 1);
    ok.join_ok().expect("a successful child is ok");
    let failed = err.join_ok().expect_err("status 1 is a failure");
    assert!(
        failed.to_string().ends_with(") exited with status 1"),
        "{failed}"
    );
    let killed = Process::start("victim", || sleep(10_000)).expect("start");
    killed.kill().expect("kill");
    let failed = killed.join_ok().expect_err("a kill is a failure");
    assert!(
        failed.to_string().starts_with("process victim (pid "),
        "{failed}"
    );
    assert!(
        failed.to_string().ends_with(") was killed by SIGKILL"),
        "{failed}"
    );
}

fn panic_reports_name_and_exits_1() {
    let (code, err) = capture(false, || {
        let child = Process::start("Boom-7", || boom(42)).expect("start");
        assert_eq!(child.join().expect("join"), 1);
    });
    assert_eq!(code, 0);
    assert!(err.contains("process Boom-7 (pid "), "stderr was {err:?}");
    assert!(err.contains("panicked: kaboom 42"), "stderr was {err:?}");
}

fn error_result_is_reported() {
    let (_, err) = capture(false, || {
        let child = Process::start("Failing", || -> Result<(), String> {
            Err("disk full".into())
        })
        .expect("start");
        assert_eq!(child.join().expect("join"), 1);
    });
    assert!(err.contains("process Failing (pid "), "stderr was {err:?}");
    assert!(err.contains("failed: disk full"), "stderr was {err:?}");
}

fn terminate_and_kill_give_minus_signal() {
    let a = Process::start("sleeper", || sleep(10_000)).expect("start");
    assert!(a.is_alive());
    a.terminate().expect("terminate");
    assert_eq!(a.join().expect("join"), -15);
    assert!(!a.is_alive());
    let b = Process::start("sleeper", || sleep(10_000)).expect("start");
    b.kill().expect("kill");
    assert_eq!(b.join().expect("join"), -9);
    // Signalling a reaped child is a no-op, not an error (its pid may belong to another).
    b.terminate().expect("terminate after reap");
}

fn join_timeout_waits_the_full_time() {
    let p = Process::start("slow", || sleep(600)).expect("start");
    let t = Instant::now();
    assert_eq!(
        p.join_timeout(Duration::from_millis(200)).expect("jt"),
        None
    );
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "returned early: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(400),
        "returned late: {waited:?}"
    );
    assert!(p.exitcode().is_none());
    assert_eq!(p.join_timeout(Duration::from_secs(5)).expect("jt"), Some(0));
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "the end was not noticed promptly"
    );
}

fn dropping_a_running_daemon_terminates_and_reaps_it() {
    let pid = {
        let p = Process::start_daemon("daemonish", || sleep(10_000)).expect("start");
        p.pid()
    };
    assert!(!pid_exists(pid), "child {pid} left running or as a zombie");
}

/// What this test program does when run as `EXIT_RULE=<mode> <this program>`: starts a child
/// that writes "done" into the file `EXIT_RULE_FILE` after 300 ms, lets its handle go (the
/// daemon's is leaked, so only the program's end can act on it), prints the child's pid and
/// returns from `main`.
fn exit_rule_program(mode: &str) {
    let file = std::env::var("EXIT_RULE_FILE").expect("EXIT_RULE_FILE");
    let work = move || {
        sleep(300);
        std::fs::write(&file, "done").expect("write");
    };
    let child = match mode {
        "daemon" => Process::start_daemon("daemon", work),
        _ => Process::start("ordinary", work),
    }
    .expect("start");
    println!("{}", child.pid());
    std::mem::forget(child);
}

/// Runs this program in `exit_rule_program`'s mode; returns the child's pid and whether it
/// finished its work.
fn run_exit_rule(mode: &str) -> (i32, bool) {
    let file = std::env::temp_dir().join(format!("exit-rule-{}-{mode}", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("EXIT_RULE", mode)
        .env("EXIT_RULE_FILE", &file)
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let pid: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("pid");
    let done = std::fs::read_to_string(&file).is_ok_and(|t| t == "done");
    let _ = std::fs::remove_file(&file);
    (pid, done)
}

fn the_program_end_joins_children_and_terminates_daemons() {
    // The ordinary child was joined before the program ended: its work is done.
    let (pid, done) = run_exit_rule("ordinary");
    assert!(done, "the program ended without waiting for its child");
    assert!(!pid_exists(pid));
    // The daemon was terminated at the program's end, before its work.
    let (pid, done) = run_exit_rule("daemon");
    assert!(!done, "the daemon was not terminated");
    assert!(!pid_exists(pid), "daemon {pid} outlived its program");
}

fn a_dropped_ordinary_child_goes_on() {
    let shm = ShmBox::new(AtomicI32::new(0)).expect("shm");
    let pid = {
        let p = Process::start("goes-on", || {
            sleep(200);
            shm.store(1, Ordering::SeqCst);
        })
        .expect("start");
        p.pid()
    };
    assert!(pid_exists(pid), "dropping its handle ended the child");
    assert!(ipc_common::active_children().iter().any(|c| c.pid == pid));
    while ipc_common::active_children().iter().any(|c| c.pid == pid) {
        sleep(10);
    }
    assert_eq!(shm.load(Ordering::SeqCst), 1, "the child finished its work");
    assert!(!pid_exists(pid), "active_children reaps an ended child");
}

fn a_panic_ends_every_child_whose_handle_it_drops() {
    let pid = ShmBox::new(AtomicI32::new(0)).expect("shm");
    let result = std::panic::catch_unwind(|| {
        let p = Process::start("ordinary", || sleep(10_000)).expect("start");
        pid.store(p.pid(), Ordering::SeqCst);
        panic!("on purpose");
    });
    assert!(result.is_err());
    let pid = pid.load(Ordering::SeqCst);
    assert!(!pid_exists(pid), "a panic left child {pid} running");
}

fn daemons_have_no_children() {
    let d = Process::start_daemon("daemon", || match Process::start("grandchild", || {}) {
        Err(ProcessError::DaemonChildren { .. }) => {}
        other => panic!("a daemon started a child: {other:?}"),
    })
    .expect("start");
    assert_eq!(d.join().expect("join"), 0);
}

fn active_children_lists_live_children_only() {
    let a = Process::start("A", || sleep(300)).expect("start");
    let b = Process::start("B", || {}).expect("start");
    b.join().expect("join");
    let live = ipc_common::active_children();
    assert!(
        live.iter().any(|c| c.name == "A" && c.pid == a.pid()),
        "{live:?}"
    );
    assert!(live.iter().all(|c| c.pid != b.pid()), "{live:?}");
    a.join().expect("join");
    assert!(ipc_common::active_children().is_empty());
    assert!(ipc_common::cpu_count() >= 1);
}

fn ignore_sigterm() {
    // SAFETY: SigIgn installs no handler code, so no async-signal-safety rule applies.
    unsafe { signal(Signal::SIGTERM, SigHandler::SigIgn) }.expect("signal");
}

fn drop_escalates_to_sigkill() {
    let t = Instant::now();
    let pid = {
        let p = Process::start_daemon("stubborn", || {
            ignore_sigterm();
            sleep(10_000);
        })
        .expect("start");
        sleep(100);
        p.pid()
    };
    assert!(!pid_exists(pid), "stubborn child survived the drop");
    assert!(t.elapsed() < Duration::from_secs(3));
}

fn dropping_an_ended_child_reaps_it() {
    let pid = {
        let p = Process::start("quick", || {}).expect("start");
        sleep(100);
        p.pid()
    };
    assert!(!pid_exists(pid), "zombie left behind");
}

fn refuses_to_fork_with_threads() {
    let t = std::thread::spawn(|| sleep(300));
    match Process::start("x", || {}) {
        Err(ProcessError::Threaded { threads, .. }) => assert!(threads >= 2),
        other => panic!("expected Threaded, got {other:?}"),
    }
    t.join().expect("thread");
    let p = Process::start("after-join", || {}).expect("start after the thread ended");
    assert_eq!(p.join().expect("join"), 0);
}

fn stdout_is_flushed_before_fork() {
    let (_, out) = capture(true, || {
        print!("partial ");
        let child = Process::start("quiet", || {}).expect("start");
        child.join().expect("join");
        println!("end");
    });
    assert_eq!(out, "partial end\n");
}

/// A child ends with `_exit`, as Python's does, after flushing what Rust buffered: a line
/// without its newline still arrives, and the parent's exit handlers do not run in the child.
fn child_flushes_its_output_and_skips_exit_handlers() {
    extern "C" fn announce() {
        // Written straight to fd 1, past Rust's buffer.
        let _ = nix::unistd::write(std::io::stdout(), b"[exit handler]");
    }
    let (code, out) = capture(true, || {
        // SAFETY: `announce` is a plain function that lives as long as the program.
        assert_eq!(unsafe { libc::atexit(announce) }, 0);
        print!("no newline");
    });
    assert_eq!(code, 0);
    assert_eq!(out, "no newline");
}

fn child_dies_with_its_parent() {
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let grandchild = ShmBox::new(AtomicI32::new(0)).expect("shm");
    let parent = Process::start("middle", || {
        let g = Process::start("grandchild", || sleep(30_000)).expect("start");
        grandchild.store(g.pid(), Ordering::SeqCst);
        sleep(30_000);
    })
    .expect("start");
    while grandchild.load(Ordering::SeqCst) == 0 {
        sleep(5);
    }
    let pid = grandchild.load(Ordering::SeqCst);
    parent.kill().expect("kill");
    assert_eq!(parent.join().expect("join"), -9);
    // The orphan comes to us (subreaper): it must have been killed, not left sleeping.
    let orphan = nix::unistd::Pid::from_raw(pid);
    let status = nix::sys::wait::waitpid(orphan, None).expect("reap orphan");
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Signaled(orphan, Signal::SIGKILL, false)
    );
}

fn only_the_parent_may_join() {
    let sibling = Process::start("sibling", || sleep(200)).expect("start");
    let other = Process::start("other", || match sibling.join() {
        Err(ProcessError::NotParent { .. }) => {}
        _ => exit_with(5),
    })
    .expect("start");
    assert_eq!(other.join().expect("join"), 0);
    assert_eq!(sibling.join().expect("join"), 0);
}

fn closures_may_borrow_and_children_see_shared_memory() {
    let counter = ShmBox::new(AtomicI32::new(0)).expect("shm");
    let private: Vec<i32> = (1..=3).collect(); // heap memory of the parent
    let kids: Vec<Process> = (0..4)
        .map(|_| {
            Process::start("adder", || {
                let sum: i32 = private.iter().sum();
                counter.fetch_add(sum, Ordering::SeqCst);
            })
            .expect("start")
        })
        .collect();
    for k in &kids {
        assert_eq!(k.join().expect("join"), 0);
    }
    assert_eq!(counter.load(Ordering::SeqCst), 24);
    std::io::stdout().flush().expect("flush");
}

/// Exits 0 if this process's command name is `expected`, 1 if not.
fn comm_is(expected: &str) -> i32 {
    let comm = std::fs::read_to_string("/proc/self/comm").expect("comm");
    i32::from(comm.trim_end_matches('\n') != expected)
}

fn children_carry_their_names() {
    for (name, comm) in [
        ("P0", "P0"),
        ("WorkerProcess-10", "WorkerProcess-1"),
        // 3 bytes a character: 15 bytes are 5 characters, cut at a boundary.
        ("生产者进程甲乙", "生产者进程"),
        ("半个字符ab", "半个字符ab"),
        ("abcd半个字符", "abcd半个字"),
    ] {
        let child = Process::start(name, || exit_with(comm_is(comm))).expect("start");
        assert_eq!(
            child.join().expect("join"),
            0,
            "comm of {name:?} is not {comm:?}"
        );
    }
}

/// The pids of this process's children (zombies included), from /proc.
fn children_of_me() -> Vec<i32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(|p| p == me))
                .unwrap_or(false)
        })
        .collect()
}

fn a_failed_start_leaves_no_child_behind() {
    // The fork succeeds but the pidfd cannot be opened (as when no descriptor is left): `start`
    // must fail and leave no child, running or unreaped. In a child of its own, so that the
    // count of children is exact.
    let tester = Process::start("tester", || {
        ipc_common::fault::arm("process.pidfd_open", ipc_common::fault::Fault::Fail, 1);
        match Process::start("doomed", || sleep(30_000)) {
            Err(ProcessError::Os {
                call: "pidfd_open", ..
            }) => {}
            other => panic!("expected a pidfd_open error, got {other:?}"),
        }
        let left = children_of_me();
        assert!(left.is_empty(), "children left behind: {left:?}");
    })
    .expect("start");
    assert_eq!(tester.join().expect("join"), 0);
}

fn an_unknown_thread_count_refuses_to_fork() {
    let tester = Process::start("tester", || {
        ipc_common::fault::arm("process.thread_count", ipc_common::fault::Fault::Fail, 1);
        match Process::start("never", || {}) {
            Err(ProcessError::ThreadsUnknown { .. }) => {}
            other => panic!("expected ThreadsUnknown, got {other:?}"),
        }
        assert!(children_of_me().is_empty());
    })
    .expect("start");
    assert_eq!(tester.join().expect("join"), 0);
}

fn join_timeout_of_duration_max_waits_forever() {
    let p = Process::start("short", || sleep(50)).expect("start");
    assert_eq!(p.join_timeout(Duration::MAX).expect("join"), Some(0));
}

/// An isolated child's target: holds its pipe end argument, sleeps, and checks that the
/// memory argument still works.
fn hold_and_sleep(shm: ShmBox<AtomicI32>) {
    shm.store(1, Ordering::SeqCst);
    sleep(2_000);
}

fn an_isolated_fork_child_holds_no_copy_of_other_descriptors() {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let shm = ShmBox::new(AtomicI32::new(0)).expect("shm");
    let child = Process::new(hold_and_sleep, shm.try_clone().expect("dup"))
        .start_method(ipc_common::StartMethod::Fork)
        .isolated()
        .start()
        .expect("start");
    while shm.load(Ordering::SeqCst) == 0 {
        sleep(1);
    }
    // The child is alive and inherited a copy of `writer` by fork; isolated, that copy points
    // at /dev/null. So closing ours ends the pipe at once, long before the child ends.
    drop(writer);
    let start = Instant::now();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("read");
    assert!(
        child.is_alive(),
        "end-of-file came only when the child ended"
    );
    assert!(start.elapsed() < Duration::from_millis(1_500));
    child.kill().expect("kill");
    child.join().expect("join");
}

fn main() {
    if let Ok(mode) = std::env::var("EXIT_RULE") {
        return exit_rule_program(&mode);
    }
    ipc_common::testing::run(&[
        (
            "a_failed_start_leaves_no_child_behind",
            a_failed_start_leaves_no_child_behind,
        ),
        (
            "an_unknown_thread_count_refuses_to_fork",
            an_unknown_thread_count_refuses_to_fork,
        ),
        (
            "join_timeout_of_duration_max_waits_forever",
            join_timeout_of_duration_max_waits_forever,
        ),
        (
            "an_isolated_fork_child_holds_no_copy_of_other_descriptors",
            an_isolated_fork_child_holds_no_copy_of_other_descriptors,
        ),
        ("children_carry_their_names", children_carry_their_names),
        ("exit_codes_follow_python", exit_codes_follow_python),
        (
            "panic_reports_name_and_exits_1",
            panic_reports_name_and_exits_1,
        ),
        ("error_result_is_reported", error_result_is_reported),
        (
            "terminate_and_kill_give_minus_signal",
            terminate_and_kill_give_minus_signal,
        ),
        (
            "join_timeout_waits_the_full_time",
            join_timeout_waits_the_full_time,
        ),
        (
            "dropping_a_running_daemon_terminates_and_reaps_it",
            dropping_a_running_daemon_terminates_and_reaps_it,
        ),
        (
            "the_program_end_joins_children_and_terminates_daemons",
            the_program_end_joins_children_and_terminates_daemons,
        ),
        (
            "a_dropped_ordinary_child_goes_on",
            a_dropped_ordinary_child_goes_on,
        ),
        (
            "a_panic_ends_every_child_whose_handle_it_drops",
            a_panic_ends_every_child_whose_handle_it_drops,
        ),
        ("daemons_have_no_children", daemons_have_no_children),
        (
            "active_children_lists_live_children_only",
            active_children_lists_live_children_only,
        ),
        ("drop_escalates_to_sigkill", drop_escalates_to_sigkill),
        (
            "dropping_an_ended_child_reaps_it",
            dropping_an_ended_child_reaps_it,
        ),
        ("refuses_to_fork_with_threads", refuses_to_fork_with_threads),
        (
            "stdout_is_flushed_before_fork",
            stdout_is_flushed_before_fork,
        ),
        (
            "child_flushes_its_output_and_skips_exit_handlers",
            child_flushes_its_output_and_skips_exit_handlers,
        ),
        ("child_dies_with_its_parent", child_dies_with_its_parent),
        ("only_the_parent_may_join", only_the_parent_may_join),
        (
            "closures_may_borrow_and_children_see_shared_memory",
            closures_may_borrow_and_children_see_shared_memory,
        ),
    ]);
}
