//! Colours, labels and text sizes shared by the timeline and the charts.

use plotters::element::DashedPathElement;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, IntoFont, RGBColor, TextStyle};

use crate::model::Kind;

/// The font of every text: the viewer's sans-serif, which has the notes' Chinese on any
/// machine with a CJK font.
pub(crate) const FONT: &str = "sans-serif";

/// Text colour.
pub(crate) const INK: RGBColor = RGBColor(0x21, 0x21, 0x21);
/// Secondary text, axes' descriptions.
pub(crate) const MUTED: RGBColor = RGBColor(0x61, 0x61, 0x61);
/// The background of every other row.
pub(crate) const STRIPE: RGBColor = RGBColor(0xF4, 0xF6, 0xF8);

/// The series colours of the charts, in order (colour-blind safe: Okabe and Ito's palette).
pub(crate) const SERIES: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
];

/// plotters' SVG backend writes a font of size `s` as `font-size="s / 1.24"`.
const PLOTTERS_SHRINK: f64 = 1.24;

/// The font at `size` pixels (as the SVG will say) in `color`.
pub(crate) fn font(size: f64, color: RGBColor) -> TextStyle<'static> {
    (FONT, size * PLOTTERS_SHRINK).into_font().color(&color)
}

/// The font at `size` pixels in `color`, the text placed by its point (`h`, `v`).
pub(crate) fn text_style(size: f64, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    font(size, color).pos(Pos::new(h, v))
}

/// A grey dashed line through `points`: a marker.
pub(crate) fn dashed<T: Clone>(points: Vec<T>) -> DashedPathElement<std::vec::IntoIter<T>, u32> {
    DashedPathElement::new(points, 6, 4, MUTED.stroke_width(1))
}

/// How a kind of span or message is drawn and named in the legend.
pub(crate) struct Look {
    pub(crate) color: RGBColor,
    pub(crate) label: String,
}

/// The colour and legend label of a kind: the kinds the libraries record have fixed ones
/// (a wait is a pale version of the hold it leads to), any other gets a colour of its own.
pub(crate) fn look(kind: &Kind) -> Look {
    let fixed = |r, g, b, label: &str| Look {
        color: RGBColor(r, g, b),
        label: label.to_string(),
    };
    match (kind.cat.as_str(), kind.name.as_str()) {
        ("process", "run") => fixed(0xCF, 0xD8, 0xDC, "进程运行 process run"),
        ("lock", "wait") => fixed(0xF8, 0xBB, 0xD0, "等锁 lock wait"),
        ("lock", _) => fixed(0xD8, 0x1B, 0x60, "持有锁 lock hold"),
        ("semaphore", "wait") => fixed(0xBB, 0xDE, 0xFB, "等信号量 semaphore wait"),
        ("semaphore", _) => fixed(0x1E, 0x88, 0xE5, "持有信号量 semaphore hold"),
        ("event", _) => fixed(0xA5, 0xD6, 0xA7, "等事件 event wait"),
        ("manager", _) => fixed(0x8E, 0x24, 0xAA, "Manager 请求 manager request"),
        ("pool", _) => fixed(0xFB, 0x8C, 0x00, "进程池任务 pool task"),
        ("queue", _) => fixed(0x00, 0x89, 0x7B, "队列消息 queue message"),
        ("pipe", _) => fixed(0x6D, 0x4C, 0x41, "管道消息 pipe message"),
        (cat, name) => {
            // A stable colour from the kind's text (FNV-1a), so a picture does not change
            // from run to run.
            let hash = format!("{cat}/{name}")
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
            Look {
                color: SERIES[(hash % SERIES.len() as u64) as usize],
                label: format!("{cat} {name}"),
            }
        }
    }
}

/// The width of `text` in pixels at `size` px, as a sans-serif font draws it: about 0.6 em
/// for a Latin letter or digit, 1 em for a CJK character. The SVG leaves the real layout
/// to the viewer; this only keeps legends and labels from overlapping.
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|c| if c.is_ascii() { 0.6 } else { 1.0 })
        .sum::<f64>()
        * size
}

/// `text` cut to at most `width` pixels at `size` px, with `…` if it was cut.
pub(crate) fn fit(text: &str, size: f64, width: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let mut cut = String::new();
    for c in text.chars() {
        cut.push(c);
        if text_width(&cut, size) + size > width {
            cut.pop();
            break;
        }
    }
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_is_wider_than_latin() {
        assert!(text_width("进程", 10.0) > text_width("ab", 10.0));
        assert_eq!(fit("MainProcess", 10.0, 1000.0), "MainProcess");
        let cut = fit("a-very-long-process-name", 10.0, 60.0);
        assert!(
            cut.ends_with('…') && text_width(&cut, 10.0) <= 60.0,
            "{cut}"
        );
    }

    #[test]
    fn unknown_kinds_keep_their_colour() {
        let kind = Kind {
            cat: "custom".into(),
            name: "step".into(),
        };
        assert_eq!(look(&kind).color, look(&kind.clone()).color);
        assert_eq!(look(&kind).label, "custom step");
    }
}
