//! Small charts in SVG: lines (a value against a size) and horizontal bars (a value per
//! named row), side by side in a [`Figure`], each with labelled axes and a legend below it.
//!
//! The benchmark draws note 10.1's pool sizes with them, and the book the speed tables. A
//! figure is also plain data (serde): `cargo run -p timeline -- chart figure.json out.svg`
//! draws one described in JSON.
//!
//! ```
//! use timeline::chart::{Figure, LineChart};
//!
//! let time = LineChart::new("完成时间", "进程池大小", "秒")
//!     .log2_x()
//!     .series("CPU密集型", vec![(1.0, 0.8), (2.0, 0.4), (4.0, 0.4)])
//!     .marker(2.0, "CPU核心数 2");
//! let svg = Figure::new(480, 320).chart(time).svg()?;
//! assert!(svg.starts_with("<svg") && svg.contains("CPU密集型"));
//! # Ok::<(), timeline::TimelineError>(())
//! ```

use std::io::Write;
use std::path::Path;

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use serde::{Deserialize, Serialize};

use crate::style::{INK, MUTED, SERIES, dashed, fit, font, text_style, text_width};
use crate::{DrawResult, TimelineError};

/// Charts side by side, in one SVG picture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// The picture's width in pixels, shared equally by the charts.
    pub width: u32,
    /// The picture's height in pixels.
    pub height: u32,
    /// A title above the charts.
    #[serde(default)]
    pub title: Option<String>,
    /// The charts, left to right.
    pub charts: Vec<Chart>,
}

/// One chart of a [`Figure`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chart {
    /// Lines through points.
    Lines(LineChart),
    /// Horizontal bars.
    Bars(BarChart),
}

/// Lines through points: a value (y) against a size (x).
///
/// ```
/// use timeline::chart::{Figure, LineChart};
///
/// let speed_up = LineChart::new("加速比", "进程池大小", "倍")
///     .log2_x()
///     .series("I/O密集型", vec![(1.0, 1.0), (2.0, 2.0), (4.0, 4.0), (8.0, 7.8)])
///     .marker(2.0, "CPU核心数 2");
/// let svg = Figure::new(480, 320).chart(speed_up).svg()?; // or .to_svg(path)
/// assert!(svg.contains("CPU核心数 2"));
/// # Ok::<(), timeline::TimelineError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LineChart {
    /// The chart's caption.
    pub title: String,
    /// What x is.
    pub x_label: String,
    /// What y is.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Vertical lines marking an x (the core count).
    #[serde(default)]
    pub markers: Vec<Marker>,
    /// Whether x grows by doubling (1, 2, 4, 8...): then each doubling is one step.
    #[serde(default)]
    pub log2_x: bool,
}

/// One line of a [`LineChart`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Its name, in the legend.
    pub name: String,
    /// Its points, (x, y).
    pub points: Vec<(f64, f64)>,
}

/// A vertical line at `at` on the x axis (on a bar chart: on the value axis), labelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Where.
    pub at: f64,
    /// What it marks.
    pub label: String,
}

/// Horizontal bars: a row per category, a bar per series in each row.
///
/// ```
/// use timeline::chart::{BarChart, Figure};
///
/// let rows = vec!["Queue 1→1".to_string(), "Pipe round trip".to_string()];
/// let faster = BarChart::new("比 Python 快几倍", "倍数", rows)
///     .series("Rust", vec![Some(18.8), Some(3.9)])
///     .log_scale()
///     .unit("×")
///     .marker(1.0, "一样快");
/// let svg = Figure::new(640, 240).chart(faster).svg()?;
/// assert!(svg.contains("18.8×"));
/// # Ok::<(), timeline::TimelineError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BarChart {
    /// The chart's caption.
    pub title: String,
    /// What the bars' length is.
    pub value_label: String,
    /// The rows' names, top to bottom.
    pub categories: Vec<String>,
    /// The bars: each series has a value (or none) per category.
    pub series: Vec<BarSeries>,
    /// Vertical reference lines (1.0 where a ratio is even).
    #[serde(default)]
    pub markers: Vec<Marker>,
    /// Whether the value axis is logarithmic (ratios that span orders of magnitude).
    #[serde(default)]
    pub log_scale: bool,
    /// Written after each bar's value (`×`).
    #[serde(default)]
    pub unit: String,
}

/// One series of a [`BarChart`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BarSeries {
    /// Its name, in the legend.
    pub name: String,
    /// A value per category; `None` draws no bar.
    pub values: Vec<Option<f64>>,
}

impl Figure {
    /// An empty figure of `width` × `height` pixels.
    pub fn new(width: u32, height: u32) -> Figure {
        Figure {
            width,
            height,
            title: None,
            charts: Vec::new(),
        }
    }

    /// Sets the title above the charts.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Figure {
        self.title = Some(title.into());
        self
    }

    /// Adds a chart to the right of the others.
    #[must_use]
    pub fn chart(mut self, chart: impl Into<Chart>) -> Figure {
        self.charts.push(chart.into());
        self
    }

    /// The figure as an SVG document.
    ///
    /// # Errors
    ///
    /// [`TimelineError::Empty`] for a figure with no chart or a chart with no value,
    /// [`TimelineError::Draw`] if plotters fails.
    pub fn svg(&self) -> Result<String, TimelineError> {
        if self.charts.is_empty() {
            return Err(TimelineError::Empty);
        }
        let mut text = String::new();
        {
            let root =
                SVGBackend::with_string(&mut text, (self.width, self.height)).into_drawing_area();
            root.fill(&WHITE).draw_err()?;
            let body = match &self.title {
                Some(t) => root.titled(t, font(18.0, INK)).draw_err()?,
                None => root.clone(),
            };
            let panels = body.split_evenly((1, self.charts.len()));
            for (chart, panel) in self.charts.iter().zip(&panels) {
                match chart {
                    Chart::Lines(lines) => draw_lines(panel, lines)?,
                    Chart::Bars(bars) => draw_bars(panel, bars)?,
                }
            }
            root.present().draw_err()?;
        }
        Ok(text)
    }

    /// Writes the figure as SVG to `out`.
    ///
    /// # Errors
    ///
    /// As [`Figure::svg`], and [`TimelineError::Io`] if writing fails.
    pub fn write_svg(&self, out: &mut impl Write) -> Result<(), TimelineError> {
        out.write_all(self.svg()?.as_bytes())?;
        Ok(())
    }

    /// Writes the figure as SVG to the file `path`.
    ///
    /// # Errors
    ///
    /// As [`Figure::write_svg`].
    pub fn to_svg(&self, path: &Path) -> Result<(), TimelineError> {
        std::fs::write(path, self.svg()?)?;
        Ok(())
    }
}

impl LineChart {
    /// A chart with no line yet.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> LineChart {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            markers: Vec::new(),
            log2_x: false,
        }
    }

    /// Adds a line through `points`.
    #[must_use]
    pub fn series(mut self, name: impl Into<String>, points: Vec<(f64, f64)>) -> LineChart {
        self.series.push(Series {
            name: name.into(),
            points,
        });
        self
    }

    /// Marks `at` on the x axis with a dashed vertical line.
    #[must_use]
    pub fn marker(mut self, at: f64, label: impl Into<String>) -> LineChart {
        self.markers.push(Marker {
            at,
            label: label.into(),
        });
        self
    }

    /// Spaces x by doublings: 1, 2, 4, 8 and 16 are equally far apart.
    #[must_use]
    pub fn log2_x(mut self) -> LineChart {
        self.log2_x = true;
        self
    }
}

impl BarChart {
    /// A chart of `categories` with no bar yet.
    pub fn new(
        title: impl Into<String>,
        value_label: impl Into<String>,
        categories: Vec<String>,
    ) -> BarChart {
        BarChart {
            title: title.into(),
            value_label: value_label.into(),
            categories,
            series: Vec::new(),
            markers: Vec::new(),
            log_scale: false,
            unit: String::new(),
        }
    }

    /// Adds a bar per category (`None`: no bar in that row).
    #[must_use]
    pub fn series(mut self, name: impl Into<String>, values: Vec<Option<f64>>) -> BarChart {
        self.series.push(BarSeries {
            name: name.into(),
            values,
        });
        self
    }

    /// Marks `at` on the value axis with a dashed vertical line.
    #[must_use]
    pub fn marker(mut self, at: f64, label: impl Into<String>) -> BarChart {
        self.markers.push(Marker {
            at,
            label: label.into(),
        });
        self
    }

    /// Makes the value axis logarithmic (powers of ten are equally far apart).
    #[must_use]
    pub fn log_scale(mut self) -> BarChart {
        self.log_scale = true;
        self
    }

    /// Writes `unit` after each bar's value.
    #[must_use]
    pub fn unit(mut self, unit: impl Into<String>) -> BarChart {
        self.unit = unit.into();
        self
    }
}

impl From<LineChart> for Chart {
    fn from(chart: LineChart) -> Chart {
        Chart::Lines(chart)
    }
}

impl From<BarChart> for Chart {
    fn from(chart: BarChart) -> Chart {
        Chart::Bars(chart)
    }
}

pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const CAPTION_SIZE: f64 = 15.0;
pub(crate) const LABEL_SIZE: f64 = 12.0;
const KEY_LINE: u32 = 18;

/// A number as a short label: `16`, `0.5`, `1.61`, `4352`.
fn short(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 4) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A step of 1, 2 or 5 times a power of ten that cuts 0..`hi` into at most 6 parts.
fn nice_step(hi: f64) -> f64 {
    let rough = hi / 6.0;
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power)
}

/// The height of the legend below a chart.
fn key_height(names: &[&str], width: u32) -> u32 {
    key_places(names, width).1 * KEY_LINE
}

/// The legend's entries laid out in lines that fit `width`: (x, line) of each, and the
/// number of lines.
fn key_places(names: &[&str], width: u32) -> (Vec<(u32, u32)>, u32) {
    let (mut x, mut line, mut places) = (12, 0, Vec::new());
    for name in names {
        let w = 30 + text_width(name, LABEL_SIZE) as u32 + 16;
        if x + w > width && x > 12 {
            x = 12;
            line += 1;
        }
        places.push((x, line));
        x += w;
    }
    let lines = if names.is_empty() { 0 } else { line + 1 };
    (places, lines)
}

/// The legend at the bottom of `area`: a swatch and a name per entry (a series' colour, or
/// `None` for a dashed line: a marker).
fn draw_key(area: &Area<'_>, entries: &[(&str, Option<RGBColor>)]) -> Result<(), TimelineError> {
    let names: Vec<&str> = entries.iter().map(|(n, _)| *n).collect();
    let (width, height) = area.dim_in_pixel();
    let (places, lines) = key_places(&names, width);
    let top = height as i32 - (lines * KEY_LINE) as i32;
    for ((name, color), (x, line)) in entries.iter().zip(places) {
        let (x, y) = (
            x as i32,
            top + (line * KEY_LINE) as i32 + KEY_LINE as i32 / 2,
        );
        match color {
            Some(color) => area.draw(&Rectangle::new(
                [(x, y - 5), (x + 22, y + 5)],
                color.filled(),
            )),
            None => area.draw(&dashed(vec![(x, y), (x + 22, y)])),
        }
        .draw_err()?;
        let style = text_style(LABEL_SIZE, INK, HPos::Left, VPos::Center);
        area.draw(&Text::new(name.to_string(), (x + 28, y), style))
            .draw_err()?;
    }
    Ok(())
}

/// A chart's plotting context, as built here: f64 on both axes.
pub(crate) type Plot<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Where `point` of the chart `c` lies in the pixels of `area` (plotters' `backend_coord`
/// gives the whole picture's pixels, and `area` may be a part of it).
pub(crate) fn pixel(area: &Area<'_>, c: &Plot<'_, '_>, point: (f64, f64)) -> (i32, i32) {
    let (x, y) = c.backend_coord(&point);
    let (base_x, base_y) = area.get_base_pixel();
    (x - base_x, y - base_y)
}

/// The look of every axis here: grey labels of `labels` pixels, pale grid lines at the
/// ticks only.
pub(crate) fn quiet<'m, 'a, 'b, 'c>(
    mesh: &'m mut MeshStyle<'a, 'b, RangedCoordf64, RangedCoordf64, SVGBackend<'c>>,
    labels: f64,
) -> &'m mut MeshStyle<'a, 'b, RangedCoordf64, RangedCoordf64, SVGBackend<'c>> {
    mesh.label_style(font(labels, MUTED))
        .axis_desc_style(font(LABEL_SIZE, MUTED))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(RGBColor(0xE4, 0xE4, 0xE4))
}

/// Ticks at the given x values (plotters would choose round numbers): a light grid line
/// across `ys` and a label under the axis.
fn x_ticks(
    plot: &Area<'_>,
    c: &Plot<'_, '_>,
    ticks: &[f64],
    ys: std::ops::Range<f64>,
    label: impl Fn(f64) -> String,
) -> Result<(), TimelineError> {
    let grid = RGBColor(0xE8, 0xE8, 0xE8);
    for &t in ticks {
        let (x, top) = pixel(plot, c, (t, ys.end));
        let (_, bottom) = pixel(plot, c, (t, ys.start));
        plot.draw(&PathElement::new(
            vec![(x, top), (x, bottom)],
            grid.stroke_width(1),
        ))
        .draw_err()?;
        plot.draw(&PathElement::new(
            vec![(x, bottom), (x, bottom + 5)],
            MUTED.stroke_width(1),
        ))
        .draw_err()?;
        let style = text_style(LABEL_SIZE, MUTED, HPos::Center, VPos::Top);
        plot.draw(&Text::new(label(t), (x, bottom + 8), style))
            .draw_err()?;
    }
    Ok(())
}

/// A line chart in `panel`, its legend at the bottom.
fn draw_lines(panel: &Area<'_>, chart: &LineChart) -> Result<(), TimelineError> {
    let points = chart.series.iter().flat_map(|s| &s.points);
    let to_x = |x: f64| if chart.log2_x { x.log2() } else { x };
    let xs: Vec<f64> = points.clone().map(|p| to_x(p.0)).collect();
    let (Some(x_min), Some(x_max)) = (
        xs.iter().copied().reduce(f64::min),
        xs.iter().copied().reduce(f64::max),
    ) else {
        return Err(TimelineError::Empty);
    };
    let y_max = points
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.15;
    let pad = ((x_max - x_min) * 0.06).max(0.1);

    // The ticks: one at each x of the data (pool sizes), not at round numbers between them.
    let mut ticks: Vec<f64> = xs.clone();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    let names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
    let (width, _) = panel.dim_in_pixel();
    let (plot, key) = panel.split_vertically(panel.dim_in_pixel().1 - key_height(&names, width));

    let mut c = ChartBuilder::on(&plot)
        .caption(&chart.title, font(CAPTION_SIZE, INK))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d((x_min - pad)..(x_max + pad), 0.0..y_max)
        .draw_err()?;
    let y_label = |y: &f64| short(*y);
    let mut mesh = c.configure_mesh();
    mesh.x_labels(0)
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .y_label_formatter(&y_label);
    quiet(&mut mesh, LABEL_SIZE).draw().draw_err()?;
    let log2 = chart.log2_x;
    x_ticks(&plot, &c, &ticks, 0.0..y_max, |x| {
        short(if log2 { x.exp2() } else { x })
    })?;

    for marker in &chart.markers {
        let at = to_x(marker.at);
        c.draw_series(std::iter::once(dashed(vec![(at, 0.0), (at, y_max)])))
            .draw_err()?;
        let style = text_style(LABEL_SIZE, MUTED, HPos::Left, VPos::Top);
        let (x, y) = pixel(&plot, &c, (at, y_max));
        plot.draw(&Text::new(marker.label.clone(), (x + 4, y + 2), style))
            .draw_err()?;
    }

    let mut entries = Vec::new();
    for (i, series) in chart.series.iter().enumerate() {
        let color = SERIES[i % SERIES.len()];
        let points: Vec<(f64, f64)> = series.points.iter().map(|&(x, y)| (to_x(x), y)).collect();
        c.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .draw_err()?;
        c.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .draw_err()?;
        entries.push((series.name.as_str(), Some(color)));
    }
    draw_key(&key, &entries)
}

/// A bar chart in `panel`, its legend at the bottom.
fn draw_bars(panel: &Area<'_>, chart: &BarChart) -> Result<(), TimelineError> {
    let values: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .chain(chart.markers.iter().map(|m| m.at))
        .filter(|v| !chart.log_scale || *v > 0.0)
        .collect();
    let (Some(v_min), Some(v_max)) = (
        values.iter().copied().reduce(f64::min),
        values.iter().copied().reduce(f64::max),
    ) else {
        return Err(TimelineError::Empty);
    };
    // The value axis: log10 of the values, whole powers of ten at the ends, or 0 to the
    // largest value and a little room for its label.
    let to_v = |v: f64| if chart.log_scale { v.log10() } else { v };
    let (lo, hi, ticks) = if chart.log_scale {
        let (lo, hi) = (
            v_min.log10().floor(),
            v_max.log10().ceil().max(v_min.log10().floor() + 1.0),
        );
        let ticks: Vec<f64> = (lo as i32..=hi as i32).map(f64::from).collect();
        (lo, hi + 0.25, ticks)
    } else {
        let hi = v_max * 1.18;
        let step = nice_step(hi);
        let ticks = (0..).map(|i| f64::from(i) * step).take_while(|t| *t <= hi);
        (0.0, hi, ticks.collect())
    };
    let n = chart.categories.len().max(1);
    let names: Vec<&str> = chart
        .series
        .iter()
        .map(|s| s.name.as_str())
        .chain(chart.markers.iter().map(|m| m.label.as_str()))
        .collect();
    let (width, height) = panel.dim_in_pixel();
    let (plot, key) = panel.split_vertically(height - key_height(&names, width));
    let label_width = chart
        .categories
        .iter()
        .map(|c| text_width(c, LABEL_SIZE) as u32 + 14)
        .max()
        .unwrap_or(40)
        .min(width / 2);

    let mut c = ChartBuilder::on(&plot)
        .caption(&chart.title, font(CAPTION_SIZE, INK))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(label_width)
        .build_cartesian_2d(lo..hi, 0.0..n as f64)
        .draw_err()?;
    let mut mesh = c.configure_mesh();
    mesh.disable_y_mesh()
        .disable_y_axis()
        .x_labels(0)
        .x_desc(&chart.value_label);
    quiet(&mut mesh, LABEL_SIZE).draw().draw_err()?;
    let log = chart.log_scale;
    x_ticks(&plot, &c, &ticks, 0.0..n as f64, |v| {
        short(if log { 10f64.powf(v) } else { v })
    })?;

    // Row i (from the top) spans y in [n-1-i, n-i]; its bars share 80% of it.
    let groups = chart.series.len().max(1) as f64;
    let thickness = 0.8 / groups;
    let mut entries = Vec::new();
    for (s, series) in chart.series.iter().enumerate() {
        let color = SERIES[s % SERIES.len()];
        for (i, value) in series.values.iter().enumerate() {
            let Some(value) = value.filter(|v| !log || *v > 0.0) else {
                continue;
            };
            let top = (n - i) as f64 - 0.1 - s as f64 * thickness;
            let bar = [(lo, top - thickness), (to_v(value), top)];
            c.draw_series(std::iter::once(Rectangle::new(bar, color.filled())))
                .draw_err()?;
            let (x, y) = pixel(&plot, &c, (to_v(value), top - thickness / 2.0));
            let style = text_style(LABEL_SIZE - 1.0, INK, HPos::Left, VPos::Center);
            plot.draw(&Text::new(
                format!("{}{}", short(value), chart.unit),
                (x + 3, y),
                style,
            ))
            .draw_err()?;
        }
        entries.push((series.name.as_str(), Some(color)));
    }
    // Markers are named in the legend: above the plot is the caption, inside it the bars.
    for marker in &chart.markers {
        let at = to_v(marker.at);
        c.draw_series(std::iter::once(dashed(vec![(at, 0.0), (at, n as f64)])))
            .draw_err()?;
        entries.push((marker.label.as_str(), None));
    }
    // The rows' names, right-aligned against the plot.
    for (i, name) in chart.categories.iter().enumerate() {
        let (x, y) = pixel(&plot, &c, (lo, (n - i) as f64 - 0.5));
        let style = text_style(LABEL_SIZE, INK, HPos::Right, VPos::Center);
        let name = fit(name, LABEL_SIZE, f64::from(label_width) - 10.0);
        plot.draw(&Text::new(name, (x - 6, y), style)).draw_err()?;
    }
    draw_key(&key, &entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers() {
        assert_eq!(short(16.0), "16");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(1.614), "1.61");
        assert_eq!(short(4352.0), "4352");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(0.029), "0.029");
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(2.68), 0.5);
        assert_eq!(nice_step(6.0), 1.0);
        assert_eq!(nice_step(100.0), 20.0);
        assert_eq!(nice_step(0.07), 0.02);
    }

    #[test]
    fn an_empty_figure_is_refused() {
        assert!(matches!(
            Figure::new(100, 100).svg(),
            Err(TimelineError::Empty)
        ));
        let empty = LineChart::new("t", "x", "y");
        assert!(matches!(
            Figure::new(100, 100).chart(empty).svg(),
            Err(TimelineError::Empty)
        ));
    }
}
