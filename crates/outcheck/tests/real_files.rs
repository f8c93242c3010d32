//! The checker against the project's own expected files and a recorded real transcript:
//! the transcript passes, and each kind of wrong transcript made from it fails.

use outcheck::Expected;

const EXPECTED: &str = include_str!("../../../expected-output/basics.txt");
const RUN: &str = include_str!("transcripts/basics.txt");

fn check(transcript: &str) -> bool {
    Expected::parse(EXPECTED)
        .expect("expected-output/basics.txt parses")
        .check(transcript)
        .is_ok()
}

fn edit(f: impl FnOnce(&mut Vec<&str>)) -> String {
    let mut lines: Vec<&str> = RUN.lines().collect();
    f(&mut lines);
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn index(lines: &[&str], text: &str) -> usize {
    lines
        .iter()
        .position(|l| l.starts_with(text))
        .expect("line in transcript")
}

#[test]
fn the_recorded_run_passes() {
    assert!(check(RUN));
}

#[test]
fn a_wrong_value_fails() {
    let wrong = RUN.replace("主进程中的列表: []", "主进程中的列表: ['Process-0']");
    assert!(!check(&wrong));
    let wrong = RUN.replace("函数内全局变量: 初始值", "函数内全局变量: 新值");
    assert!(!check(&wrong));
}

#[test]
fn a_missing_line_fails() {
    let wrong = edit(|l| {
        let i = index(l, "进程 Process-1");
        l.remove(i);
    });
    assert!(!check(&wrong));
}

#[test]
fn an_extra_line_fails() {
    let wrong = edit(|l| {
        let i = index(l, "进程 Process-1");
        l.insert(i, "进程 Process-1: 列表内容: ['Process-1']");
    });
    assert!(!check(&wrong), "a duplicated child line must fail");
    let wrong = format!("{RUN}extra\n");
    assert!(!check(&wrong), "a line after the end must fail");
}

#[test]
fn a_guaranteed_line_out_of_place_fails() {
    let wrong = edit(|l| {
        let done = index(l, "所有子进程执行完毕");
        let line = l.remove(done);
        l.insert(index(l, "进程 Worker1 完成工作"), line);
    });
    assert!(
        !check(&wrong),
        "the line after join must come after the workers"
    );
    let wrong = edit(|l| {
        let w2 = index(l, "进程 Worker2 完成工作");
        let w1 = index(l, "进程 Worker1 完成工作");
        l.swap(w1, w2);
    });
    assert!(
        !check(&wrong),
        "Worker2 (1 s) finishes before Worker1 (2 s)"
    );
}

#[test]
fn a_broken_invariant_fails() {
    // The two threads of 1.2 are in one process: the pids must be equal.
    let run_pid = RUN
        .lines()
        .find_map(|l| l.strip_prefix("当前进程ID: "))
        .expect("pid line");
    let wrong = RUN.replacen(&format!("进程ID: {run_pid}\n线程"), "进程ID: 1\n线程", 1);
    assert_ne!(wrong, RUN);
    assert!(!check(&wrong));
}
