//! From a trace's events to what a picture shows: processes, spans laid out in lanes, and
//! messages from a sender to a receiver.

use std::collections::HashMap;

use ipc_common::trace::Event;

use crate::TimelineError;

/// A trace made ready to draw: every time is in milliseconds since the trace's first event.
///
/// ```
/// use ipc_common::trace::Event;
/// use timeline::Timeline;
///
/// let event = |ph: &str, cat: &str, name: &str, ts: f64| Event {
///     name: name.into(), cat: cat.into(), ph: ph.into(), ts, pid: 7, tid: 7,
///     id: None, bp: None, s: None, args: serde_json::Value::Null,
/// };
/// let events = [event("B", "lock", "hold", 1000.0), event("E", "lock", "hold", 3500.0)];
/// let timeline = Timeline::new(&events)?;
/// assert_eq!(timeline.tracks[0].name, "pid 7");
/// assert_eq!((timeline.spans[0].start, timeline.spans[0].end), (0.0, 2.5));
/// # Ok::<(), timeline::TimelineError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// The processes, one row each: the program's own first, then in the order they were
    /// created.
    pub tracks: Vec<Track>,
    /// Every span, each on a lane of its process's row.
    pub spans: Vec<Span>,
    /// Messages whose two ends were both recorded.
    pub messages: Vec<Message>,
    /// Instants (a message put or got): drawn as ticks, whether or not the other end was seen.
    pub instants: Vec<Instant>,
    /// The time of the last event, in ms since the first.
    pub duration: f64,
}

/// One process's row.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Its process id.
    pub pid: i32,
    /// Its name as the trace gives it (`MainProcess`, `Process-1`, `Manager`...), or
    /// `pid N` if the trace names it nowhere.
    pub name: String,
    /// How many lanes its spans need, so that no two spans of one lane overlap (at least 1).
    pub lanes: usize,
}

/// What a span or a message is: its category and its name (`lock` / `hold`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind {
    /// The category: `process`, `lock`, `semaphore`, `event`, `manager`, `pool`, `queue`...
    pub cat: String,
    /// The name: `run`, `wait`, `hold`, `request`, `task`, `message`...
    pub name: String,
}

/// A stretch of time a process spent doing one thing (a `B`/`E` pair of one thread).
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// The row: an index into [`Timeline::tracks`].
    pub track: usize,
    /// The lane of that row, from 0 at the top.
    pub lane: usize,
    /// What it is.
    pub kind: Kind,
    /// When it began.
    pub start: f64,
    /// When it ended, or the trace's end if its end was never recorded.
    pub end: f64,
    /// False if its end was never recorded: the process was killed inside it.
    pub ended: bool,
}

/// A message drawn from its sender to its receiver (a flow's `s` and `f` ends, same id).
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Its category: `queue`, `pipe`.
    pub cat: String,
    /// The sender's row.
    pub from: usize,
    /// The receiver's row.
    pub to: usize,
    /// When it was sent.
    pub sent: f64,
    /// When it was received.
    pub received: f64,
}

/// An instant event of one process (a message put or got).
#[derive(Clone, Debug, PartialEq)]
pub struct Instant {
    /// The row.
    pub track: usize,
    /// What it is (`queue` / `put`).
    pub kind: Kind,
    /// When.
    pub at: f64,
}

impl Timeline {
    /// Lays out a trace's events (as [`ipc_common::trace::read`] returns them).
    ///
    /// Spans are matched per thread: an `E` ends the latest open `B` of the same thread and
    /// the same kind (Chrome's format pairs by thread alone, but a lock's `hold` begins just
    /// before its `wait` ends). A span still open at the end (its process was killed after
    /// its events were written) ends at the trace's end with `ended` false; an `E` with no
    /// `B` is ignored.
    ///
    /// # Errors
    ///
    /// [`TimelineError::Empty`] if there is no event to draw.
    pub fn new(events: &[Event]) -> Result<Timeline, TimelineError> {
        let origin = events
            .iter()
            .map(|e| e.ts)
            .min_by(f64::total_cmp)
            .ok_or(TimelineError::Empty)?;
        let duration = events.iter().map(|e| e.ts - origin).fold(0.0, f64::max) / 1000.0;
        let ms = |e: &Event| (e.ts - origin) / 1000.0;
        let tracks = tracks(events);
        let row: HashMap<i32, usize> = tracks.iter().enumerate().map(|(i, t)| (t.pid, i)).collect();

        // Spans: a stack of open `B`s per thread. Events are taken in time order (a stable
        // sort keeps the file's order for equal times, and a process writes its own in order).
        let mut ordered: Vec<&Event> = events.iter().collect();
        ordered.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        let mut open: HashMap<(i32, i32), Vec<(Kind, f64)>> = HashMap::new();
        let mut spans = Vec::new();
        let mut instants = Vec::new();
        let mut flows: HashMap<&str, Flow<'_>> = HashMap::new();
        for e in ordered {
            let track = row[&e.pid];
            match e.ph.as_str() {
                "B" => open
                    .entry((e.pid, e.tid))
                    .or_default()
                    .push((kind(e), ms(e))),
                "E" => {
                    // The latest open span of this thread with the same kind: a lock's hold
                    // begins before its wait ends, so the latest of all may be another.
                    let stack = open.entry((e.pid, e.tid)).or_default();
                    let ended = kind(e);
                    if let Some(i) = stack.iter().rposition(|(k, _)| *k == ended) {
                        let (kind, start) = stack.remove(i);
                        spans.push(span(track, kind, start, ms(e), true));
                    }
                }
                "i" | "I" => instants.push(Instant {
                    track,
                    kind: kind(e),
                    at: ms(e),
                }),
                "s" | "f" => {
                    if let Some(id) = e.id.as_deref() {
                        let entry = flows.entry(id).or_insert((None, None, &e.cat));
                        let end = Some((track, ms(e)));
                        if e.ph == "s" {
                            entry.0 = end
                        } else {
                            entry.1 = end
                        }
                    }
                }
                _ => {}
            }
        }
        for ((pid, _), unended) in open {
            for (kind, start) in unended {
                spans.push(span(row[&pid], kind, start, duration, false));
            }
        }
        let mut messages: Vec<Message> = flows
            .into_values()
            .filter_map(|(sent, received, cat)| {
                let ((from, sent), (to, received)) = (sent?, received?);
                Some(Message {
                    cat: cat.to_string(),
                    from,
                    to,
                    sent,
                    received,
                })
            })
            .collect();
        messages.sort_by(|a, b| a.sent.total_cmp(&b.sent));
        let mut timeline = Timeline {
            tracks,
            spans,
            messages,
            instants,
            duration,
        };
        timeline.assign_lanes();
        Ok(timeline)
    }

    /// Puts each span on the first lane of its row that is free when it begins, longer spans
    /// first among those that begin together: a process's life takes lane 0 and what it did
    /// during its life goes below, nested spans one lane further down.
    ///
    /// A lane counts as free a moment (a 2000th of the trace, under half a pixel) before its
    /// last span ends: a lock's hold is recorded as beginning microseconds before its wait
    /// ends, and the two belong on one lane.
    fn assign_lanes(&mut self) {
        let moment = self.duration / 2000.0;
        self.spans.sort_by(|a, b| {
            (a.track, a.start)
                .partial_cmp(&(b.track, b.start))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(b.end.total_cmp(&a.end))
        });
        // For each row, when each of its lanes becomes free.
        let mut free_at: Vec<Vec<f64>> = vec![Vec::new(); self.tracks.len()];
        for span in &mut self.spans {
            let lanes = &mut free_at[span.track];
            let lane = match lanes.iter().position(|&free| free <= span.start + moment) {
                Some(lane) => lane,
                None => {
                    lanes.push(0.0);
                    lanes.len() - 1
                }
            };
            lanes[lane] = span.end;
            span.lane = lane;
        }
        for (track, lanes) in self.tracks.iter_mut().zip(free_at) {
            track.lanes = lanes.len().max(1);
        }
    }
}

/// One message's two ends as they are found, (row, ms) each, and its category.
type Flow<'a> = (Option<(usize, f64)>, Option<(usize, f64)>, &'a str);

/// The rows: every process that has an event, named by its `process_name` metadata.
fn tracks(events: &[Event]) -> Vec<Track> {
    // (first seen, pid, name)
    let mut seen: HashMap<i32, (f64, Option<String>)> = HashMap::new();
    for e in events {
        let entry = seen.entry(e.pid).or_insert((e.ts, None));
        entry.0 = entry.0.min(e.ts);
        if e.ph == "M"
            && e.name == "process_name"
            && let Some(name) = e.args.get("name").and_then(|n| n.as_str())
        {
            entry.1 = Some(name.to_string());
        }
    }
    let mut tracks: Vec<(f64, Track)> = seen
        .into_iter()
        .map(|(pid, (first, name))| {
            let track = Track {
                pid,
                name: name.unwrap_or_else(|| format!("pid {pid}")),
                lanes: 1,
            };
            (first, track)
        })
        .collect();
    // The program first (the process that recorded first), then the others by pid: the
    // order they were created in, as Python numbers them (children may start running in
    // another order).
    tracks.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, rest)) = tracks.split_first_mut() {
        rest.sort_by_key(|(_, track)| track.pid);
    }
    tracks.into_iter().map(|(_, track)| track).collect()
}

fn kind(e: &Event) -> Kind {
    Kind {
        cat: e.cat.clone(),
        name: e.name.clone(),
    }
}

fn span(track: usize, kind: Kind, start: f64, end: f64, ended: bool) -> Span {
    Span {
        track,
        lane: 0,
        kind,
        start,
        end: end.max(start),
        ended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ph: &str, cat: &str, name: &str, ms: f64, pid: i32) -> Event {
        Event {
            name: name.into(),
            cat: cat.into(),
            ph: ph.into(),
            ts: ms * 1000.0,
            pid,
            tid: pid,
            id: None,
            bp: None,
            s: None,
            args: serde_json::Value::Null,
        }
    }

    #[test]
    fn an_end_closes_the_span_of_its_own_kind() {
        // As a lock records them: the hold begins before the wait ends.
        let events = [
            event("B", "lock", "wait", 0.0, 1),
            event("B", "lock", "hold", 2.0, 1),
            event("E", "lock", "wait", 2.0, 1),
            event("E", "lock", "hold", 5.0, 1),
            event("E", "lock", "hold", 6.0, 1), // no B: ignored
        ];
        let t = Timeline::new(&events).expect("timeline");
        let spans: Vec<(&str, f64, f64)> = t
            .spans
            .iter()
            .map(|s| (s.kind.name.as_str(), s.start, s.end))
            .collect();
        assert_eq!(spans, [("wait", 0.0, 2.0), ("hold", 2.0, 5.0)]);
        assert!(t.spans.iter().all(|s| s.ended && s.lane == 0));
        assert_eq!(t.duration, 6.0);
    }

    #[test]
    fn a_hold_that_begins_as_its_wait_ends_shares_its_lane() {
        let events = [
            event("B", "process", "run", 0.0, 1),
            event("B", "lock", "wait", 100.0, 1),
            event("B", "lock", "hold", 200.0, 1),
            event("E", "lock", "wait", 200.001, 1),
            event("E", "lock", "hold", 300.0, 1),
            event("E", "process", "run", 400.0, 1),
        ];
        let t = Timeline::new(&events).expect("timeline");
        let lanes: Vec<(&str, usize)> = t
            .spans
            .iter()
            .map(|s| (s.kind.name.as_str(), s.lane))
            .collect();
        assert_eq!(lanes, [("run", 0), ("wait", 1), ("hold", 1)]);
    }

    #[test]
    fn nested_spans_go_one_lane_down() {
        let events = [
            event("B", "process", "run", 0.0, 2),
            event("B", "lock", "hold", 1.0, 2),
            event("B", "lock", "hold", 2.0, 2),
            event("E", "lock", "hold", 3.0, 2),
            event("E", "lock", "hold", 4.0, 2),
            event("B", "process", "run", 0.5, 3),
        ];
        let t = Timeline::new(&events).expect("timeline");
        let lanes: Vec<(f64, usize)> = t.spans.iter().map(|s| (s.start, s.lane)).collect();
        assert_eq!(lanes, [(0.0, 0), (1.0, 1), (2.0, 2), (0.5, 0)]);
        assert_eq!(t.tracks[0].lanes, 3);
        // Process 3's life never ended: it reaches the trace's end.
        let open = &t.spans[3];
        assert_eq!((open.track, open.ended, open.end), (1, false, 4.0));
        assert_eq!(t.tracks[1].name, "pid 3");
    }

    #[test]
    fn a_message_needs_both_ends() {
        let mut sent = event("s", "queue", "message", 1.0, 1);
        sent.id = Some("queue-9-1".into());
        let mut got = event("f", "queue", "message", 3.0, 2);
        got.id = Some("queue-9-1".into());
        let mut lost = event("s", "queue", "message", 2.0, 1);
        lost.id = Some("queue-9-2".into());
        let t = Timeline::new(&[sent, lost, got]).expect("timeline");
        assert_eq!(
            t.messages,
            [Message {
                cat: "queue".into(),
                from: 0,
                to: 1,
                sent: 0.0,
                received: 2.0
            }]
        );
        assert!(matches!(Timeline::new(&[]), Err(TimelineError::Empty)));
    }
}
