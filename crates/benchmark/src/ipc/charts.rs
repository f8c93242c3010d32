//! `--charts DIR`: the message-size table as one SVG, a chart per primitive of throughput
//! against message size, ours, Python's and memcpy. Log-log: the chart API has a log x axis
//! only, so the y values are log10(MB/s) (memcpy of 1 KiB is tens of GB/s, the rest a few
//! hundred MB/s to a few GB/s: a linear axis would flatten them).

use std::path::{Path, PathBuf};

use timeline::chart::{Figure, LineChart};

use super::sizes::{Prim, SizeRow};

/// Writes `DIR/ipc-throughput.svg` and returns its path.
pub fn write(dir: &Path, rows: &[SizeRow]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let mut figure = Figure::new(1500, 460).title("benchmark ipc: throughput by message size");
    for prim in Prim::ALL {
        let of = |payload: &str, pick: fn(&SizeRow) -> Option<f64>| -> Vec<(f64, f64)> {
            rows.iter()
                .filter(|r| r.prim == prim && r.payload == payload)
                .filter_map(|r| Some(((r.size >> 10) as f64, pick(r)?.log10())))
                .collect()
        };
        let (ours, python) = (|r: &SizeRow| r.ours.rate(), |r: &SizeRow| r.python.rate());
        let chart = LineChart::new(
            prim.title(),
            "message size (KiB)",
            "log10 MB/s (3 = 1 GB/s)",
        )
        .log2_x()
        .series("Rust Vec<u8>", of("u8", ours))
        .series("Rust Vec<f64>", of("f64", ours))
        .series("Python bytes", of("u8", python))
        .series("Python array('d')", of("f64", python))
        .series("memcpy", of("u8", |r| Some(r.floor)));
        figure = figure.chart(chart);
    }
    let file = dir.join("ipc-throughput.svg");
    figure.to_svg(&file)?;
    Ok(file)
}
