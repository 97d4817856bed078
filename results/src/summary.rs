//! The analysis as a table for the terminal (`emerge analyze`).

use crate::analyze::Analysis;
use runfolder::schema::{x_axis, FitRow};
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
        "{:<10} {:<6} {:>5} {:<16} {:<10} {:>11} {:>27} {:<22} {:>6} {:<34} {:<13}",
        "task",
        "mode",
        "shots",
        "metric",
        "preferred",
        "N*",
        "N* 95% interval",
        "verdict (seeds)",
        "B",
        "cot overtakes direct",
        "mirage"
    );
    let mut seen = BTreeSet::new();
    let mut items_only = false;
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
        let (n_star, interval) = n_star_text(r);
        let verdict = if r.verdict.is_empty() {
            "-".to_string()
        } else {
            format!("{} ({})", r.verdict.replace('_', " "), r.verdict_seeds)
        };
        let cot = match (r.cot_note.as_str(), r.cot_overtakes) {
            ("overtakes", Some(_)) if r.cot_overtakes_method == "bracket" => interval_text(
                &r.cot_overtakes_method,
                r.cot_overtakes_lo,
                r.cot_overtakes_hi,
            ),
            ("overtakes", Some(v)) => format!(
                "{} {}",
                sci(Some(v)),
                interval_text(
                    &r.cot_overtakes_method,
                    r.cot_overtakes_lo,
                    r.cot_overtakes_hi
                )
            ),
            ("ahead_throughout", _) => "not located (ahead throughout)".into(),
            ("never_in_range", _) => "not located (never ahead)".into(),
            (note, _) => note.replace('_', " "),
        };
        if r.interval_noise == "items" {
            items_only = true;
        }
        let _ = writeln!(
            s,
            "{:<10} {:<6} {:>5} {:<16} {:<10} {:>11} {:>27} {:<22} {:>6} {:<34} {:<13}",
            r.task,
            r.mode,
            r.shots,
            r.metric,
            shape,
            n_star,
            interval,
            verdict,
            r.breakthroughness
                .map(|b| format!("{b:.1}"))
                .unwrap_or_else(|| "-".into()),
            cot,
            r.mirage.replace('_', " "),
        );
    }
    s.push('\n');
    for line in wrap(INTERVALS, 100) {
        let _ = writeln!(s, "{line}");
    }
    if items_only {
        let _ = writeln!(
            s,
            "One seed per size: these intervals cover item noise only, not how far a threshold moves between seeds."
        );
    }
    s
}

/// How N* and its interval are obtained, in one paragraph (the summary's
/// footer; docs/DESIGN.md says the same at more length).
pub const INTERVALS: &str = "N* is the size at which the seed-mean score crosses a fixed level \
(halfway between chance and 1 unless eval.threshold_level says otherwise) for the last time going \
up: read off the preferred fit where it reaches the level between the two sizes around the \
crossing, else interpolated in log size between them. A curve that never reaches the level, \
starts above it or falls back below it is not located. Its 95 % interval is a bootstrap over \
the seeds of every size and the items of every seed; when neither size around N* lies on the \
slope, the data only say the jump lies between them, so the interval is never narrower than \
that gap (\"between A and B\"). Verdict: emergent when the sigmoid is preferred and some size \
below N* is within 0.05 of chance, in the seed mean and in at least two thirds of the seeds; \
smooth when located otherwise. The cot-overtakes scale is interpolated between two sizes, so \
its interval always spans that gap.";

/// N* and its interval as the tables print them: `5.0e4` and `[3.1e4,
/// 7.7e4]`, `between 2.6e4 and 1.0e5`, or `not located`.
pub fn n_star_text(r: &FitRow) -> (String, String) {
    if r.threshold_method == "not_located" {
        return ("not located".into(), "-".into());
    }
    match r.threshold_params {
        Some(n) => (
            sci(Some(n)),
            interval_text(&r.interval_method, r.threshold_lo, r.threshold_hi),
        ),
        None => ("-".into(), "-".into()),
    }
}

/// `text` split at spaces into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let cur = lines.last_mut().expect("one line");
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
    }
    lines
}

/// "between A and B" for an interval that is exactly a gap between two
/// sizes, "[lo, hi]" otherwise (an empty bound is open: "below", "beyond").
fn interval_text(method: &str, lo: Option<f64>, hi: Option<f64>) -> String {
    let hi_text = hi
        .map(|h| format!("{h:.3e}"))
        .unwrap_or_else(|| "beyond".into());
    let lo_text = lo
        .map(|h| format!("{h:.3e}"))
        .unwrap_or_else(|| "below".into());
    if method == "bracket" {
        format!("between {lo_text} and {hi_text}")
    } else {
        format!("[{lo_text}, {hi_text}]")
    }
}
