//! The analysis as a table for the terminal (`emerge analyze`).

use crate::analyze::Analysis;
use crate::schema::{shape, x_axis, FitRow};
use std::collections::BTreeSet;

fn sci(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3e}")).unwrap_or_else(|| "-".into())
}

/// A readable table of the preferred fit of every curve on the parameter axis.
pub fn summary(a: &Analysis) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:<6} {:>5} {:<16} {:<10} {:>10} {:>23} {:>6} {:<28} {:<13}",
        "task",
        "mode",
        "shots",
        "metric",
        "preferred",
        "N*",
        "N* 95% interval",
        "B",
        "cot overtakes direct",
        "mirage"
    );
    let mut seen = BTreeSet::new();
    for r in a.fits.iter().filter(|r| r.x_axis == x_axis::PARAMS) {
        let key = (r.task.clone(), r.mode, r.shots, r.metric.clone());
        let rows: Vec<&FitRow> = a
            .fits
            .iter()
            .filter(|q| {
                q.x_axis == x_axis::PARAMS
                    && (q.task.clone(), q.mode, q.shots, q.metric.clone()) == key
            })
            .collect();
        if !seen.insert(key) {
            continue;
        }
        let best = rows.iter().find(|q| q.preferred);
        let shape = match best {
            Some(b) => b.shape.clone(),
            None => rows.first().map(|q| q.status.clone()).unwrap_or_default(),
        };
        let sig = rows
            .iter()
            .find(|q| q.shape == shape::SIGMOID && q.preferred);
        let interval = match sig {
            Some(q) if q.threshold_lo.is_some() => {
                format!("[{}, {}]", sci(q.threshold_lo), sci(q.threshold_hi))
            }
            _ => "-".into(),
        };
        let cot = match (r.cot_note.as_str(), r.cot_overtakes) {
            ("overtakes", Some(v)) => format!(
                "{} [{}, {}]",
                sci(Some(v)),
                sci(r.cot_overtakes_lo),
                r.cot_overtakes_hi
                    .map(|h| format!("{h:.3e}"))
                    .unwrap_or_else(|| "beyond".into())
            ),
            (note, _) => note.replace('_', " "),
        };
        let _ = writeln!(
            s,
            "{:<10} {:<6} {:>5} {:<16} {:<10} {:>10} {:>23} {:>6} {:<28} {:<13}",
            r.task,
            r.mode,
            r.shots,
            r.metric,
            shape,
            sci(sig.and_then(|q| q.threshold_params)),
            interval,
            r.breakthroughness
                .map(|b| format!("{b:.1}"))
                .unwrap_or_else(|| "-".into()),
            cot,
            r.mirage.replace('_', " "),
        );
    }
    s
}
