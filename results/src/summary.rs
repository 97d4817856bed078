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
        "{:<10} {:<6} {:>5} {:<16} {:<10} {:>10} {:>27} {:>6} {:<34} {:<13}",
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
        let sig = rows
            .iter()
            .find(|q| q.shape == shape::SIGMOID && q.preferred);
        let interval = match sig {
            Some(q) if q.threshold_lo.is_some() => {
                interval_text(&q.threshold_method, q.threshold_lo, q.threshold_hi)
            }
            _ => "-".into(),
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
            (note, _) => note.replace('_', " "),
        };
        if r.interval_noise == "items" {
            items_only = true;
        }
        let _ = writeln!(
            s,
            "{:<10} {:<6} {:>5} {:<16} {:<10} {:>10} {:>27} {:>6} {:<34} {:<13}",
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
/// footer; README.md says the same at more length).
pub const INTERVALS: &str = "N* is the midpoint of the sigmoid fitted by weighted least squares \
(each size weighted by its standard error) in log10 size. Its 95 % interval is the set of \
midpoints whose best fit, re-optimizing ceiling and steepness, is within 3.84 (chi-square, one \
degree of freedom, scaled up when the points scatter more than their error bars allow) of the \
best fit overall: a profile likelihood. When the two sizes around \
N* each sit on the floor or on the ceiling, the data only say the jump lies between them, so \
the interval is never narrower than that gap (shown as \"between A and B\"). With several \
seeds it is also widened to a bootstrap over seeds and items. The cot-overtakes scale is \
interpolated between two sizes, so its interval always spans that gap.";

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
/// sizes, "[lo, hi]" otherwise (an empty upper bound is "beyond").
fn interval_text(method: &str, lo: Option<f64>, hi: Option<f64>) -> String {
    let hi_text = hi
        .map(|h| format!("{h:.3e}"))
        .unwrap_or_else(|| "beyond".into());
    if method == "bracket" {
        format!("between {} and {hi_text}", sci(lo))
    } else {
        format!("[{}, {hi_text}]", sci(lo))
    }
}
