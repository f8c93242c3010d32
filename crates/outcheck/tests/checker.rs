//! The checker accepts every legal run and rejects wrong ones; bless keeps the structure.

use outcheck::{Expected, Mismatch};

/// The notes' program 2.1: two workers, the main process goes on, then joins.
const P21: &str = "\
# 2.1 创建进程
主进程 PID: [PID:main]
~ 进程 Worker1 (PID: [PID:w1]) 开始工作
~ 进程 Worker2 (PID: [PID:w2]) 开始工作
~ 主进程继续执行...
进程 Worker2 完成工作
进程 Worker1 完成工作
所有子进程执行完毕
";

const P21_RUN: [&str; 7] = [
    "主进程 PID: 100",
    "进程 Worker1 (PID: 101) 开始工作",
    "进程 Worker2 (PID: 102) 开始工作",
    "主进程继续执行...",
    "进程 Worker2 完成工作",
    "进程 Worker1 完成工作",
    "所有子进程执行完毕",
];

fn parse(text: &str) -> Expected {
    Expected::parse(text).expect("expected file parses")
}

fn transcript(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn check(expected: &str, lines: &[&str]) -> Result<(), Mismatch> {
    parse(expected).check(&transcript(lines))
}

fn permutations(items: &[&'static str]) -> Vec<Vec<&'static str>> {
    if items.is_empty() {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            all.push(p);
        }
    }
    all
}

#[test]
fn accepts_every_permutation_of_the_block() {
    for block in permutations(&P21_RUN[1..4]) {
        let mut run = vec![P21_RUN[0]];
        run.extend(block);
        run.extend(&P21_RUN[4..]);
        assert_eq!(check(P21, &run), Ok(()), "{run:?}");
    }
}

#[test]
fn rejects_a_wrong_final_value() {
    let expected = "计数开始\n最终值: 9\n";
    assert_eq!(check(expected, &["计数开始", "最终值: 9"]), Ok(()));
    let report = check(expected, &["计数开始", "最终值: 8"]).expect_err("wrong value");
    let text = report.to_string();
    assert!(
        text.contains("expected line 2") && text.contains("最终值: 8"),
        "{text}"
    );
}

#[test]
fn rejects_missing_and_extra_lines() {
    let mut missing = P21_RUN.to_vec();
    missing.remove(4);
    assert!(matches!(
        check(P21, &missing),
        Err(Mismatch::Line { at: 5, .. })
    ));
    let report = check(P21, &P21_RUN[..6]).expect_err("last line missing");
    assert!(
        matches!(
            report,
            Mismatch::Line {
                actual: None,
                at: 7,
                ..
            }
        ),
        "{report}"
    );
    let mut extra = P21_RUN.to_vec();
    extra.insert(5, "进程 Worker2 完成工作");
    assert!(check(P21, &extra).is_err());
    let mut extra_at_end = P21_RUN.to_vec();
    extra_at_end.push("多余的一行");
    let report = check(P21, &extra_at_end).expect_err("extra line at the end");
    assert!(
        matches!(&report, Mismatch::Extra { count: 1, .. }),
        "{report}"
    );
    assert!(report.to_string().contains("8: 多余的一行"));
}

#[test]
fn rejects_a_guaranteed_line_out_of_place() {
    let mut run = P21_RUN.to_vec();
    run.swap(5, 6); // 所有子进程执行完毕 before a worker's line
    let report = check(P21, &run).expect_err("join line too early");
    assert!(matches!(report, Mismatch::Line { at: 6, .. }), "{report}");
    // A guaranteed line inside the unordered part is also wrong.
    let mut run = P21_RUN.to_vec();
    run.swap(3, 4);
    assert!(check(P21, &run).is_err());
}

#[test]
fn rejects_a_duplicated_message_in_a_block() {
    let expected = "~ 消费 1\n~ 消费 2\n~ 消费 3\n完成\n";
    assert_eq!(
        check(expected, &["消费 3", "消费 1", "消费 2", "完成"]),
        Ok(())
    );
    let report = check(expected, &["消费 1", "消费 3", "消费 1", "完成"]).expect_err("duplicate");
    let Mismatch::Block {
        expected, actual, ..
    } = &report
    else {
        panic!("{report}")
    };
    assert_eq!(
        (expected[0].line, expected[0].text.as_str()),
        (2, "~ 消费 2")
    );
    assert_eq!((actual[0].line, actual[0].text.as_str()), (3, "消费 1"));
}

#[test]
fn identical_lines_collapse_without_exploding() {
    let expected: String = (0..40).map(|_| "~ 进程 [N] 获得锁\n").collect::<String>() + "~ 完成\n";
    let mut run: Vec<String> = (0..40).map(|i| format!("进程 {i} 获得锁")).collect();
    run.insert(20, "完成".to_owned());
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    assert_eq!(check(&expected, &run), Ok(()));
    let mut wrong = run.clone();
    wrong[3] = "进程 x 获得锁";
    assert!(check(&expected, &wrong).is_err());
}

#[test]
fn chains_keep_their_order() {
    let expected = "~a A1\n~a A2\n~b B1\n~b B2\n~ C\n";
    assert_eq!(check(expected, &["B1", "A1", "C", "B2", "A2"]), Ok(()));
    let report = check(expected, &["A2", "A1", "B1", "B2", "C"]).expect_err("chain a out of order");
    assert!(matches!(report, Mismatch::Block { .. }), "{report}");
}

#[test]
fn labels_bind_across_lines() {
    let expected = "主 [PID:main]\n~ 子 [PID:w1]\n~ 子 [PID:w2]\n父 [PID:main] 等待 [PID:w1]\n";
    assert_eq!(
        check(expected, &["主 1", "子 3", "子 2", "父 1 等待 2"]),
        Ok(())
    );
    assert_eq!(
        check(expected, &["主 1", "子 2", "子 3", "父 1 等待 2"]),
        Ok(())
    );
    let report =
        check(expected, &["主 1", "子 2", "子 3", "父 4 等待 2"]).expect_err("main changed");
    assert!(
        report
            .to_string()
            .contains("[PID:main] is 4 here but was 1 before"),
        "{report}"
    );
    assert!(check(expected, &["主 1", "子 2", "子 2", "父 1 等待 2"]).is_err());
    assert!(check(expected, &["主 1", "子 1", "子 2", "父 1 等待 2"]).is_err());
    let threads = "线程 [TID:a]\n线程 [TID:b]\n";
    let report = check(threads, &["线程 7", "线程 7"]).expect_err("two labels, one tid");
    assert!(
        report.to_string().contains("already the value of [TID:a]"),
        "{report}"
    );
}

#[test]
fn separator_blank_lines_and_exact_comparison() {
    let expected = "~ a\n~ b\n~~\n~ c\n~ d\n\n结束\n";
    assert_eq!(check(expected, &["b", "a", "d", "c", "", "结束"]), Ok(()));
    assert!(check(expected, &["a", "c", "b", "d", "", "结束"]).is_err());
    assert!(check(expected, &["a", "b", "c", "d", "结束"]).is_err());
    assert!(check("a\n", &["a\r"]).is_err());
    assert!(check("a\n", &["a "]).is_err());
    assert_eq!(parse("a\n").check("a"), Err(Mismatch::NoFinalNewline));
    assert_eq!(parse("").check(""), Ok(()));
}

#[test]
fn any_text_backtracks() {
    let expected = "列表: [..], 总数 [N]\n['Process-0', 'Process-1']\n[[  0.   1.   2.]\n";
    let run = [
        "列表: [1, 2], 总数 3, 总数 4",
        "['Process-0', 'Process-1']",
        "[[  0.   1.   2.]",
    ];
    assert_eq!(check(expected, &run), Ok(()));
}

#[test]
fn bless_keeps_a_matching_file_byte_for_byte() {
    let blessed = parse(P21).bless(&transcript(&P21_RUN));
    assert!(!blessed.changed);
    assert_eq!(blessed.text, P21);
}

#[test]
fn bless_replaces_only_changed_lines_and_keeps_structure() {
    let expected = format!("#! redact [PID] PID: (\\d+)\n{P21}");
    let mut run = P21_RUN.to_vec();
    run[1] = "进程 Worker1 (PID: 555) 开始做事";
    run[2] = "主进程继续执行...";
    run[3] = "进程 Worker2 (PID: 556) 开始工作";
    run[6] = "所有子进程都执行完毕";
    let blessed = parse(&expected).bless(&transcript(&run));
    assert!(blessed.changed && !blessed.restructured);
    let want = expected
        .replace(
            "~ 进程 Worker1 (PID: [PID:w1]) 开始工作",
            "~ 进程 Worker1 (PID: [PID]) 开始做事",
        )
        .replace("所有子进程执行完毕", "所有子进程都执行完毕");
    assert_eq!(blessed.text, want);
    assert_eq!(parse(&blessed.text).check(&transcript(&run)), Ok(()));
}

#[test]
fn bless_with_new_lines_aligns_and_flags_the_structure() {
    let expected = parse("#! redact [N] 值 (\\d+)\n开始\n~w 值 [N]\n~w 完成\n结束\n");
    // A new line inside the block's run joins the block; one outside it is ordinary.
    let run = transcript(&["开始", "值 3", "新的 值 4", "完成", "新的总结", "结束"]);
    let blessed = expected.bless(&run);
    assert!(blessed.restructured);
    let want = "#! redact [N] 值 (\\d+)\n开始\n~w 值 [N]\n~w 完成\n~ 新的 值 [N]\n新的总结\n结束\n";
    assert_eq!(blessed.text, want);
    assert_eq!(parse(&blessed.text).check(&run), Ok(()));
    // A line that disappeared is removed.
    let blessed = expected.bless(&transcript(&["开始", "值 3", "完成"]));
    assert_eq!(
        blessed.text,
        "#! redact [N] 值 (\\d+)\n开始\n~w 值 [N]\n~w 完成\n"
    );
}
