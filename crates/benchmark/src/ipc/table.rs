//! The Markdown table of `benchmark ipc`: one row per operation, with the ratios and whether
//! each goal is met.

use std::fmt::Write as _;

/// Which way is better for a row's unit.
#[derive(Clone, Copy)]
pub enum Better {
    /// Times: smaller is better.
    Lower,
    /// Rates: larger is better.
    Higher,
}

/// What a goal compares ours with.
#[derive(Clone, Copy)]
pub enum Against {
    Python,
    Floor,
}

/// `ours <= factor * other` (for [`Better::Lower`]) or `ours >= factor * other` (for
/// [`Better::Higher`]).
pub struct Goal {
    pub against: Against,
    pub factor: f64,
    pub text: &'static str,
}

/// A latency row measured with every process on one CPU.
#[derive(Clone, Copy)]
pub struct Pinned {
    pub ours: f64,
    pub floor: f64,
    pub python: Option<f64>,
}

/// One operation.
pub struct Row {
    pub name: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub ours: f64,
    pub python: Option<f64>,
    /// The floor's name and median.
    pub floor: Option<(&'static str, f64)>,
    /// The row again with every process pinned to one CPU.
    pub pinned: Option<Pinned>,
    pub goals: Vec<Goal>,
}

impl Row {
    fn met(&self, goal: &Goal, ours: f64, other: f64) -> bool {
        match self.better {
            Better::Lower => ours <= goal.factor * other,
            Better::Higher => ours >= goal.factor * other,
        }
    }

    /// "yes" or "**no**", then the pinned verdict where there is one; "n/a" without data.
    fn verdict(&self, goal: &Goal) -> String {
        let yes_no = |ok: bool| if ok { "yes" } else { "**no**" };
        let (other, pinned) = match goal.against {
            Against::Python => (
                self.python,
                self.pinned.and_then(|p| Some((p.ours, p.python?))),
            ),
            Against::Floor => (
                self.floor.map(|(_, f)| f),
                self.pinned.map(|p| (p.ours, p.floor)),
            ),
        };
        let Some(other) = other else {
            return "n/a".into();
        };
        let mut v = yes_no(self.met(goal, self.ours, other)).to_string();
        if let Some((ours, other)) = pinned {
            let _ = write!(v, " (pinned: {})", yes_no(self.met(goal, ours, other)));
        }
        v
    }

    /// How many of this row's goals are met (in every column measured), missed (in some
    /// column), and not measured.
    pub fn tally(&self) -> (usize, usize, usize) {
        let (mut met, mut missed, mut unmeasured) = (0, 0, 0);
        for g in &self.goals {
            let v = self.verdict(g);
            if v == "n/a" {
                unmeasured += 1;
            } else if v.contains("no") {
                missed += 1;
            } else {
                met += 1;
            }
        }
        (met, missed, unmeasured)
    }
}

/// A number with about three significant digits.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        "n/a".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn ratio(ours: f64, other: f64) -> String {
    format!("{}×", num(ours / other))
}

/// The table, one line per row, with its header.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Operation | Unit | Rust (ours) | Python | Raw OS floor | Rust / Python | Rust / floor | Pinned to one CPU: Rust / floor / Python (Rust/floor; Rust/Python) | Goal | Met |\n\
         |---|---|---:|---:|---|---:|---:|---|---|---|\n",
    );
    for r in rows {
        let python = r.python.map_or("n/a".into(), num);
        let floor = r
            .floor
            .map_or("—".into(), |(name, f)| format!("{} ({name})", num(f)));
        let vs_python = r.python.map_or("n/a".into(), |p| ratio(r.ours, p));
        let vs_floor = r.floor.map_or("—".into(), |(_, f)| ratio(r.ours, f));
        let pinned = r.pinned.map_or("—".into(), |p| match p.python {
            Some(py) => format!(
                "{} / {} / {} ({}; {})",
                num(p.ours),
                num(p.floor),
                num(py),
                ratio(p.ours, p.floor),
                ratio(p.ours, py)
            ),
            None => format!(
                "{} / {} / n/a ({})",
                num(p.ours),
                num(p.floor),
                ratio(p.ours, p.floor)
            ),
        });
        let goals: Vec<&str> = r.goals.iter().map(|g| g.text).collect();
        let met: Vec<String> = r.goals.iter().map(|g| r.verdict(g)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {python} | {floor} | {vs_python} | {vs_floor} | {pinned} | {} | {} |",
            r.name,
            r.unit,
            num(r.ours),
            goals.join("; "),
            met.join("; ")
        );
    }
    out
}
