//! Pictures of what the processes did, and small charts.
//!
//! Every section binary records a trace with `--trace FILE` (see [`ipc_common::trace`]). This
//! crate draws one as an SVG timeline: a row per process, named as the trace names it; the
//! spans the libraries record (a process's life, waiting for and holding a lock or a
//! semaphore, waiting on an event, a manager request, a pool task) coloured by kind; an arrow
//! from the sender to the receiver of each queue or pipe message; a time axis in
//! milliseconds; a legend. Python has no counterpart: its `multiprocessing` records nothing.
//!
//! ```sh
//! cargo run -p lock -- --trace lock.json
//! cargo run -p timeline -- lock.json lock.svg
//! ```
//!
//! [`chart`] draws lines and bars with labelled axes (note 10.1's pool sizes, the speed
//! tables). Both use plotters' SVG backend; the viewer (a browser) lays the text out.
//!
//! ```
//! use ipc_common::trace::Event;
//!
//! let event = |ph: &str, cat: &str, name: &str, ts: f64| Event {
//!     name: name.into(), cat: cat.into(), ph: ph.into(), ts, pid: 42, tid: 42,
//!     id: None, bp: None, s: None, args: serde_json::json!({ "name": "MainProcess" }),
//! };
//! let events = [
//!     event("M", "__metadata", "process_name", 0.0),
//!     event("B", "lock", "hold", 100.0),
//!     event("E", "lock", "hold", 900.0),
//! ];
//! let mut svg = Vec::new();
//! timeline::render(&events, &mut svg)?;
//! let svg = String::from_utf8(svg).expect("SVG is text");
//! assert!(svg.contains("MainProcess") && svg.contains("持有锁"));
//! # Ok::<(), timeline::TimelineError>(())
//! ```

use std::io::{self, Write};
use std::path::Path;

use ipc_common::trace::Event;

pub mod chart;
mod draw;
mod model;
mod style;

pub use draw::Options;
pub use model::{Instant, Kind, Message, Span, Timeline, Track};

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// Nothing to draw: a trace with no event, a chart with no value.
    #[error("nothing to draw")]
    Empty,
    /// Reading the trace or writing the picture failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The drawing library failed.
    #[error("drawing failed: {0}")]
    Draw(String),
}

/// Turns plotters' errors, whose type depends on the backend, into [`TimelineError::Draw`].
pub(crate) trait DrawResult<T> {
    fn draw_err(self) -> Result<T, TimelineError>;
}

impl<T, E: std::fmt::Display> DrawResult<T> for Result<T, E> {
    fn draw_err(self) -> Result<T, TimelineError> {
        self.map_err(|e| TimelineError::Draw(e.to_string()))
    }
}

/// Draws a trace's events as an SVG timeline into `out`, with the default [`Options`].
///
/// # Errors
///
/// [`TimelineError::Empty`] for no events; [`TimelineError::Io`] if writing fails.
pub fn render(events: &[Event], out: &mut impl Write) -> Result<(), TimelineError> {
    render_with(events, &Options::default(), out)
}

/// Draws a trace's events as an SVG timeline into `out`.
///
/// # Errors
///
/// As [`render`].
pub fn render_with(
    events: &[Event],
    options: &Options,
    out: &mut impl Write,
) -> Result<(), TimelineError> {
    let timeline = Timeline::new(events)?;
    out.write_all(draw::svg(&timeline, options)?.as_bytes())?;
    Ok(())
}

/// Reads the trace file `trace` (as `--trace` writes it) and draws it into the SVG file `svg`.
///
/// # Errors
///
/// As [`render`]; [`TimelineError::Io`] also if the trace cannot be read or is not a trace.
pub fn to_svg(trace: &Path, svg: &Path) -> Result<(), TimelineError> {
    let events = ipc_common::trace::read(trace)?;
    let timeline = Timeline::new(&events)?;
    std::fs::write(svg, draw::svg(&timeline, &Options::default())?)?;
    Ok(())
}
