//! The `timeline` binary: both commands write their SVG, and a wrong command line is refused
//! with the usage and status 2.

use std::path::PathBuf;
use std::process::Command;

fn timeline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_timeline"))
        .args(args)
        .output()
        .expect("run timeline")
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("timeline-cli-{}-{name}", std::process::id()))
}

#[test]
fn draws_a_trace() {
    let trace = scratch("trace.json");
    let svg = scratch("trace.svg");
    std::fs::write(
        &trace,
        r#"{"traceEvents": [
            {"name": "process_name", "cat": "__metadata", "ph": "M", "ts": 0, "pid": 1, "tid": 1,
             "args": {"name": "MainProcess"}},
            {"name": "hold", "cat": "semaphore", "ph": "B", "ts": 10, "pid": 1, "tid": 1},
            {"name": "hold", "cat": "semaphore", "ph": "E", "ts": 900, "pid": 1, "tid": 1}
        ]}"#,
    )
    .expect("write the trace");
    let out = timeline(&[trace.to_str().expect("utf-8"), svg.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&svg).expect("the SVG");
    assert!(
        text.starts_with("<svg") && text.contains("MainProcess") && text.contains("持有信号量")
    );
    for f in [trace, svg] {
        std::fs::remove_file(f).expect("clean up");
    }
}

#[test]
fn draws_a_figure() {
    let figure = scratch("figure.json");
    let svg = scratch("figure.svg");
    std::fs::write(
        &figure,
        r#"{"width": 400, "height": 300, "charts": [{"lines": {"title": "t", "x_label": "x",
            "y_label": "y", "series": [{"name": "a", "points": [[1, 2], [2, 3]]}]}}]}"#,
    )
    .expect("write the figure");
    let out = timeline(&[
        "chart",
        figure.to_str().expect("utf-8"),
        svg.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        std::fs::read_to_string(&svg)
            .expect("the SVG")
            .contains(">\na\n<")
    );
    for f in [figure, svg] {
        std::fs::remove_file(f).expect("clean up");
    }
}

#[test]
fn refuses_a_wrong_command_line() {
    for args in [
        &[][..],
        &["one.json"],
        &["chart", "only-one.json"],
        &["a", "b", "c"],
    ] {
        let out = timeline(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage:"),
            "{args:?}"
        );
    }
    let missing = timeline(&["/nonexistent/trace.json", "/nonexistent/out.svg"]);
    assert_eq!(missing.status.code(), Some(1));
}
