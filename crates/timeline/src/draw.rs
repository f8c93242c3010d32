//! The timeline picture: a row per process, its spans on lanes, message arrows, a time axis
//! in milliseconds and a legend, drawn with plotters' SVG backend.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::chart::{pixel, quiet};
use crate::model::{Kind, Timeline};
use crate::style::{INK, Look, MUTED, STRIPE, fit, font, look, text_style, text_width};
use crate::{DrawResult, TimelineError};

/// How a timeline is drawn.
///
/// ```
/// let options = timeline::Options { title: Some("4.1 使用Lock进行同步".into()), ..Default::default() };
/// assert_eq!(options.width, 960);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The picture's width in pixels; its height follows from the number of rows.
    pub width: u32,
    /// A title above the picture.
    pub title: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            width: 960,
            title: None,
        }
    }
}

/// The column of row names, in pixels: as wide as the longest name needs, within these.
const NAMES_MIN: u32 = 120;
const NAMES_MAX: u32 = 260;
/// Space right of the plot.
const RIGHT: u32 = 24;
/// Space above the rows.
const TOP: u32 = 10;
/// The time axis below the rows: tick labels and the axis's description.
const AXIS: u32 = 46;
/// The height of a title.
const TITLE: u32 = 30;
/// Text sizes.
const LABEL_SIZE: f64 = 13.0;
const SMALL_SIZE: f64 = 11.0;
/// One line of the legend.
const LEGEND_LINE: u32 = 20;

/// The vertical measures of the rows: lanes are thinner when there are many rows.
struct Rows {
    lane: u32,
    gap: u32,
    pad: u32,
    /// The top of each row, in pixels from the top of the rows, and the total height last.
    tops: Vec<u32>,
}

impl Rows {
    fn new(timeline: &Timeline) -> Rows {
        let (lane, gap, pad) = if timeline.tracks.len() > 24 {
            (7, 1, 2)
        } else {
            (12, 2, 5)
        };
        let mut tops = vec![0];
        for track in &timeline.tracks {
            let lanes = track.lanes as u32;
            let height = (2 * pad + lanes * (lane + gap) - gap).max(LABEL_SIZE as u32 + 10);
            tops.push(tops.last().copied().unwrap_or(0) + height);
        }
        Rows {
            lane,
            gap,
            pad,
            tops,
        }
    }

    fn height(&self) -> u32 {
        self.tops.last().copied().unwrap_or(0)
    }

    /// The top of `lane` of row `track`, in pixels from the top of the rows.
    fn lane_top(&self, track: usize, lane: usize) -> u32 {
        self.tops[track] + self.pad + lane as u32 * (self.lane + self.gap)
    }

    /// The middle of row `track`.
    fn middle(&self, track: usize) -> u32 {
        (self.tops[track] + self.tops[track + 1]) / 2
    }
}

/// The legend's entries: one per label, in the order kinds first appear in [`look`]'s list,
/// then messages, then the mark of spans whose end was never recorded.
fn legend(timeline: &Timeline) -> Vec<(Look, bool)> {
    let order = [
        "process",
        "lock",
        "semaphore",
        "event",
        "manager",
        "pool",
        "queue",
        "pipe",
    ];
    let rank = |kind: &Kind| {
        order
            .iter()
            .position(|c| *c == kind.cat)
            .unwrap_or(order.len())
    };
    let mut kinds: BTreeMap<(usize, Kind), ()> = BTreeMap::new();
    for span in &timeline.spans {
        kinds.insert((rank(&span.kind), span.kind.clone()), ());
    }
    // Messages and the ticks of their ends share their category's colour and label.
    let cats = timeline.messages.iter().map(|m| &m.cat);
    for cat in cats.chain(timeline.instants.iter().map(|i| &i.kind.cat)) {
        let kind = Kind {
            cat: cat.clone(),
            name: "message".into(),
        };
        kinds.insert((rank(&kind), kind), ());
    }
    let mut entries: Vec<(Look, bool)> = Vec::new();
    for (_, kind) in kinds.keys() {
        let look = look(kind);
        if !entries.iter().any(|(l, _)| l.label == look.label) {
            entries.push((look, true));
        }
    }
    if timeline.spans.iter().any(|s| !s.ended) {
        entries.push((
            Look {
                color: RGBColor(0x90, 0x90, 0x90),
                label: "淡色：未记录到结束（进程被杀） no end recorded (killed)".into(),
            },
            false,
        ));
    }
    entries
}

/// The width of the column of row names: each name and its pid, right-aligned.
fn names_width(timeline: &Timeline) -> u32 {
    let widest = timeline
        .tracks
        .iter()
        .map(|t| text_width(&t.name, LABEL_SIZE) + text_width(&format!(" {}", t.pid), SMALL_SIZE))
        .fold(0.0, f64::max);
    (widest as u32 + 24).clamp(NAMES_MIN, NAMES_MAX)
}

/// Lays the legend's entries out in lines that fit `width`, starting under the plot at
/// `left`: (x, line) of each.
fn legend_layout(entries: &[(Look, bool)], left: u32, width: u32) -> (Vec<(u32, u32)>, u32) {
    let mut places = Vec::new();
    let (mut x, mut line) = (left, 0);
    for (look, _) in entries {
        let w = 22 + text_width(&look.label, SMALL_SIZE) as u32 + 18;
        if x + w > width - RIGHT && x > left {
            x = left;
            line += 1;
        }
        places.push((x, line));
        x += w;
    }
    let lines = if entries.is_empty() { 0 } else { line + 1 };
    (places, lines)
}

/// Draws `timeline` as an SVG document.
pub(crate) fn svg(timeline: &Timeline, options: &Options) -> Result<String, TimelineError> {
    let rows = Rows::new(timeline);
    let entries = legend(timeline);
    let names = names_width(timeline);
    let width = options.width.max(names + RIGHT + 200);
    let (places, lines) = legend_layout(&entries, names, width);
    let title = if options.title.is_some() { TITLE } else { 0 };
    let chart_height = TOP + rows.height() + AXIS;
    let height = title + chart_height + lines * LEGEND_LINE + 8;

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (width, height)).into_drawing_area();
        root.fill(&WHITE).draw_err()?;
        let body = match &options.title {
            Some(t) => root.titled(t, font(18.0, INK)).draw_err()?,
            None => root.clone(),
        };
        let (chart_area, legend_area) = body.split_vertically(chart_height);
        draw_chart(&chart_area, timeline, &rows, names)?;
        draw_legend(&legend_area, &entries, &places)?;
        root.present().draw_err()?;
    }
    Ok(text)
}

/// The rows, the spans, the messages and the time axis.
fn draw_chart(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    timeline: &Timeline,
    rows: &Rows,
    names: u32,
) -> Result<(), TimelineError> {
    // At least 1 ms of axis, so that an empty trace still has a scale.
    let duration = timeline.duration.max(1.0);
    let rows_height = f64::from(rows.height().max(1));
    let mut chart = ChartBuilder::on(area)
        .margin_top(TOP)
        .margin_right(RIGHT)
        .y_label_area_size(names)
        .x_label_area_size(AXIS)
        .build_cartesian_2d(0.0..duration, 0.0..rows_height)
        .draw_err()?;

    // Pixel positions: x from a time, y from pixels below the top of the rows.
    let (left, top) = pixel(area, &chart, (0.0, rows_height));
    let (right, _) = pixel(area, &chart, (duration, rows_height));
    let x = |ms: f64| left + ((right - left) as f64 * ms / duration).round() as i32;
    let y = |px: u32| top + px as i32;

    // Every other row on a grey stripe, under everything else.
    for track in (0..timeline.tracks.len()).step_by(2) {
        let band = [
            (left, y(rows.tops[track])),
            (right, y(rows.tops[track + 1])),
        ];
        area.draw(&Rectangle::new(band, STRIPE.filled()))
            .draw_err()?;
    }

    let decimals = if duration >= 20.0 { 0 } else { 1 };
    let ms_label = |ms: &f64| format!("{ms:.decimals$}");
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh()
        .disable_y_axis()
        .x_labels(10)
        .x_label_formatter(&ms_label)
        .x_desc("时间 time (ms)");
    quiet(&mut mesh, SMALL_SIZE).draw().draw_err()?;

    // The spans: at least a pixel wide, so that a short lock hold still shows. A span whose
    // end was never recorded is drawn pale.
    for span in &timeline.spans {
        let top = y(rows.lane_top(span.track, span.lane));
        let (x0, x1) = (x(span.start), x(span.end).max(x(span.start) + 1));
        let color = look(&span.kind).color;
        let style = if span.ended {
            color.filled()
        } else {
            color.mix(0.35).filled()
        };
        area.draw(&Rectangle::new(
            [(x0, top), (x1, top + rows.lane as i32)],
            style,
        ))
        .draw_err()?;
    }

    // Instants (a message put or got): a tick across the row.
    for instant in &timeline.instants {
        let at = x(instant.at);
        let (top, bottom) = (
            y(rows.tops[instant.track]) + 2,
            y(rows.tops[instant.track + 1]) - 2,
        );
        let color = look(&instant.kind).color;
        area.draw(&PathElement::new(
            vec![(at, top), (at, bottom)],
            color.stroke_width(1),
        ))
        .draw_err()?;
    }

    // Messages: an arrow from the sender's row, when sent, to the receiver's, when received.
    for message in &timeline.messages {
        let kind = Kind {
            cat: message.cat.clone(),
            name: "message".into(),
        };
        let color = look(&kind).color;
        let from = (x(message.sent), y(rows.middle(message.from)));
        let to = (x(message.received), y(rows.middle(message.to)));
        arrow(area, from, to, color)?;
    }

    // The rows' names, right-aligned against the plot, with the pid in grey.
    for (i, track) in timeline.tracks.iter().enumerate() {
        let middle = y(rows.middle(i));
        let pid = format!(" {}", track.pid);
        let room = f64::from(names) - 12.0 - text_width(&pid, SMALL_SIZE);
        let name = fit(&track.name, LABEL_SIZE, room);
        let right_of_name = left - 8 - text_width(&pid, SMALL_SIZE) as i32;
        let name_style = text_style(LABEL_SIZE, INK, HPos::Right, VPos::Center);
        area.draw(&Text::new(name, (right_of_name, middle), name_style))
            .draw_err()?;
        let pid_style = text_style(SMALL_SIZE, MUTED, HPos::Right, VPos::Center);
        area.draw(&Text::new(pid, (left - 8, middle), pid_style))
            .draw_err()?;
    }
    Ok(())
}

/// A line from `from` to `to` with a head at `to`.
fn arrow(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    from: (i32, i32),
    to: (i32, i32),
    color: RGBColor,
) -> Result<(), TimelineError> {
    area.draw(&PathElement::new(vec![from, to], color.stroke_width(1)))
        .draw_err()?;
    let (dx, dy) = (f64::from(to.0 - from.0), f64::from(to.1 - from.1));
    let length = dx.hypot(dy);
    // A message within one row (or one pixel) points down, as if to the row itself.
    let (ux, uy) = if length < 1.0 {
        (0.0, 1.0)
    } else {
        (dx / length, dy / length)
    };
    let (head, half) = (7.0, 3.5);
    let base = (f64::from(to.0) - ux * head, f64::from(to.1) - uy * head);
    let corner = |side: f64| {
        (
            (base.0 - uy * half * side).round() as i32,
            (base.1 + ux * half * side).round() as i32,
        )
    };
    area.draw(&Polygon::new(
        vec![to, corner(1.0), corner(-1.0)],
        color.filled(),
    ))
    .draw_err()
}

/// The legend: a swatch and a label per entry.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    entries: &[(Look, bool)],
    places: &[(u32, u32)],
) -> Result<(), TimelineError> {
    for ((look, solid), &(x, line)) in entries.iter().zip(places) {
        let (x, top) = (x as i32, (line * LEGEND_LINE) as i32 + 4);
        let swatch = [(x, top + 3), (x + 16, top + 13)];
        let style = if *solid {
            look.color.filled()
        } else {
            look.color.mix(0.35).filled()
        };
        area.draw(&Rectangle::new(swatch, style)).draw_err()?;
        let label_style = text_style(SMALL_SIZE, INK, HPos::Left, VPos::Center);
        area.draw(&Text::new(
            look.label.clone(),
            (x + 22, top + 8),
            label_style,
        ))
        .draw_err()?;
    }
    Ok(())
}
