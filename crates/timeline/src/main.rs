//! `timeline TRACE.json OUT.svg`: draws a trace recorded with `--trace` as an SVG timeline.
//! `timeline chart FIGURE.json OUT.svg`: draws a [`timeline::chart::Figure`] given as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

const USAGE: &str = "usage: cargo run -p timeline -- TRACE.json OUT.svg
       cargo run -p timeline -- chart FIGURE.json OUT.svg

  TRACE.json    a trace written by a section binary's --trace FILE
  FIGURE.json   a chart described as timeline::chart::Figure in JSON
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["-h" | "--help"] => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        ["chart", figure, svg] => chart(figure.into(), svg.into()),
        [trace, svg] if trace != "chart" => timeline(trace.into(), svg.into()),
        _ => {
            eprint!("error: expected two files\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn timeline(trace: PathBuf, svg: PathBuf) -> anyhow::Result<()> {
    timeline::to_svg(&trace, &svg)
        .with_context(|| format!("drawing {} into {}", trace.display(), svg.display()))
}

fn chart(figure: PathBuf, svg: PathBuf) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&figure)
        .with_context(|| format!("reading {}", figure.display()))?;
    let figure: timeline::chart::Figure = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a figure", figure.display()))?;
    figure
        .to_svg(&svg)
        .with_context(|| format!("drawing {}", svg.display()))
}
