//! The parts every figure is built from: the grid of panels under a title
//! and a footer, the series of a run's curves (seed means, each seed, bands),
//! fitted curves and N* markers, and one metric's panel. The figures
//! themselves are in [`crate::figures`], `claims`, `mirage`, `training`,
//! `arms`, `forecast` and `overlay`.

use crate::panel::{Band, Curve, Panel, Point, PointSeries, Threshold};
use crate::style::{lighten, mode_color, si, FONT};
use crate::{render_png, Error};
use plotters::prelude::*;
use results::analyze::ceiling_max;
use results::fit::FitRowEval;
use results::load::SeedPoint;
use results::{CurvePoint, Run};
use runfolder::schema::CurveKey;
use runfolder::schema::{metric, x_axis, FitRow, Mode};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A grid figure's panel size and title height in pixels (its panels lie
/// row-major under the title; [`crate::inspect`] finds them there).
pub const PANEL_W: u32 = 520;
pub const PANEL_H: u32 = 390;
pub const TITLE_H: u32 = 40;
pub(crate) const FOOTER_H: u32 = 26;
/// A generous width of one footer character at 13 px (measured ~5.3), for wrapping.
const FOOTER_CHAR_W: u32 = 6;

/// Split `text` at spaces into lines of at most `width` characters, so a key
/// line never runs off a narrow figure.
fn wrap(text: &str, width: u32) -> Vec<String> {
    let width = width.max(20) as usize;
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur).trim_end().to_string());
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.trim().is_empty() {
        lines.push(cur.trim_end().to_string());
    }
    lines
}

pub(crate) const FOOTER: &str =
    "x: non-embedding parameters (log)   solid: preferred fit   dashed: other fit   \
grey dashed: chance";

/// The key to the points, bars and N*'s band, saying what noise they cover.
pub(crate) fn threshold_key(fits: &[FitRow]) -> String {
    let key = "vertical band: N* 95% interval where the seed mean crosses the level \
(bootstrap over seeds and items; the whole gap between two sizes when the jump falls \
between them; none where not located)";
    if fits.iter().any(|r| r.interval_noise == "items") {
        format!("bars: 95% interval over items   {key}; one seed: intervals cover item noise only")
    } else {
        format!(
            "bold: seed mean, bars: its 95% interval (items and seeds)   faint: each seed, \
shaded: range over seeds   {key}"
        )
    }
}

/// A grid figure: title on top, a key line at the bottom, panels row-major.
pub(crate) fn grid_figure(
    path: &Path,
    title: &str,
    footer: &str,
    panels: &[Panel],
    cols: usize,
) -> Result<(), Error> {
    grid_figure_sized(path, title, footer, panels, cols, (PANEL_W, PANEL_H))
}

/// [`grid_figure`] with panels of a given size in pixels.
pub(crate) fn grid_figure_sized(
    path: &Path,
    title: &str,
    footer: &str,
    panels: &[Panel],
    cols: usize,
    (panel_w, panel_h): (u32, u32),
) -> Result<(), Error> {
    let cols = cols.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(cols).max(1);
    let lines = wrap(
        footer,
        (panel_w * cols as u32).saturating_sub(20) / FOOTER_CHAR_W,
    );
    let size = (
        panel_w * cols as u32,
        panel_h * rows as u32 + TITLE_H + FOOTER_H * lines.len().max(1) as u32,
    );
    render_png(path, size, |root| {
        let e = |x: DrawingAreaErrorKind<_>| Error::Draw(format!("{x:?}"));
        let (top, rest) = root.split_vertically(TITLE_H);
        let (body, bottom) = rest.split_vertically(panel_h * rows as u32);
        top.titled(title, (FONT, 22)).map_err(e)?;
        for (i, line) in lines.iter().enumerate() {
            bottom
                .draw(&Text::new(
                    line.clone(),
                    (10, 4 + (FOOTER_H as i32 - 8) * i as i32),
                    (FONT, 13).into_font().color(&RGBColor(90, 90, 90)),
                ))
                .map_err(e)?;
        }
        for (area, p) in body.split_evenly((rows, cols)).iter().zip(panels) {
            p.draw(area)?;
        }
        Ok(())
    })
}

/// The fit rows of one curve on the parameter axis.
pub(crate) fn params_fits<'a>(
    fits: &'a [FitRow],
    task: &'a str,
    mode: Mode,
    shots: u32,
    metric: &'a str,
) -> impl Iterator<Item = &'a FitRow> + 'a {
    fits.iter().filter(move |r| {
        r.task == task
            && r.mode == mode
            && r.shots == shots
            && r.metric == metric
            && r.x_axis == x_axis::PARAMS
    })
}

pub(crate) fn is_proportion(m: &str) -> bool {
    ceiling_max(m) == Some(1.0)
}

pub(crate) fn shots_of(points: &[CurvePoint], task: &str) -> Vec<u32> {
    points
        .iter()
        .filter(|p| p.task == task)
        .map(|p| p.shots)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Metrics of a task in display order: the four standard ones, then others.
pub(crate) fn metrics_of(points: &[CurvePoint], task: &str) -> Vec<String> {
    let present: BTreeSet<&str> = points
        .iter()
        .filter(|p| p.task == task)
        .map(|p| p.metric.as_str())
        .collect();
    let mut out: Vec<String> = metric::ALL
        .iter()
        .filter(|m| present.contains(*m))
        .map(|m| m.to_string())
        .collect();
    out.extend(
        present
            .iter()
            .filter(|m| !metric::ALL.contains(m))
            .map(|m| m.to_string()),
    );
    out
}

pub(crate) fn series_label(mode: Mode, shots: u32, all_shots: &[u32]) -> String {
    if all_shots.len() > 1 {
        format!("{mode} {shots}-shot")
    } else {
        mode.to_string()
    }
}

/// Points of one (task, mode, shots, metric) as panel points, x = log10
/// size: the seed mean with its 95 % interval (with several seeds, over
/// items and seeds: ±1.96 of [`CurvePoint::sigma`], kept within a
/// proportion's range).
pub(crate) fn final_points(run: &Run, task: &str, mode: Mode, shots: u32, m: &str) -> Vec<Point> {
    run.final_points
        .iter()
        .filter(|p| p.task == task && p.mode == mode && p.shots == shots && p.metric == m)
        // A non-finite score (e.g. a log-probability of -inf) cannot be placed.
        .filter(|p| p.value.is_finite())
        .map(|p| {
            let (lo, hi) = if p.n_seeds > 1 {
                let h = 1.96 * p.sigma();
                let (lo, hi) = (p.value - h, p.value + h);
                match ceiling_max(m) {
                    Some(1.0) => (lo.max(0.0), hi.min(1.0)),
                    _ => (lo, hi),
                }
            } else {
                (p.ci_lo, p.ci_hi)
            };
            ((p.params_non_embedding as f64).log10(), p.value, lo, hi)
        })
        .collect()
}

/// Each seed's own points of one (task, mode, shots, metric), x = log10
/// size; empty with one seed.
pub(crate) fn seed_points(
    seeds: &BTreeMap<CurveKey, BTreeMap<u64, Vec<SeedPoint>>>,
    key: &CurveKey,
) -> Vec<Vec<Point>> {
    let Some(by_seed) = seeds.get(key).filter(|m| m.len() > 1) else {
        return Vec::new();
    };
    by_seed
        .values()
        .map(|pts| {
            pts.iter()
                .map(|&(n, v, lo, hi)| ((n as f64).log10(), v, lo, hi))
                .collect()
        })
        .collect()
}

/// Each seed's own curve, joined and faint in the series' colour.
pub(crate) fn faint_seed_series(
    per_seed: Vec<Vec<Point>>,
    color: RGBColor,
) -> impl Iterator<Item = PointSeries> {
    per_seed.into_iter().map(move |points| PointSeries {
        label: String::new(),
        color,
        points,
        joined: true,
        marker: 0,
        dashed: false,
        faint: true,
    })
}

/// The range over seeds at every size (x ascending).
pub(crate) fn seed_band(per_seed: &[Vec<Point>]) -> Vec<(f64, f64, f64)> {
    let mut by_x: BTreeMap<u64, (f64, f64, f64)> = BTreeMap::new();
    for p in per_seed.iter().flatten() {
        let e = by_x.entry(p.0.to_bits()).or_insert((p.0, p.1, p.1));
        e.1 = e.1.min(p.1);
        e.2 = e.2.max(p.1);
    }
    let mut out: Vec<(f64, f64, f64)> = by_x.into_values().collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Fitted curves and N* markers of one series onto `panel`.
pub(crate) fn add_fits(panel: &mut Panel, fits: &[&FitRow], color: RGBColor, xr: (f64, f64)) {
    for r in fits.iter().filter(|r| r.status == "ok") {
        let pts: Vec<(f64, f64)> = (0..=120)
            .filter_map(|i| {
                let x = xr.0 + (xr.1 - xr.0) * i as f64 / 120.0;
                r.eval(x).map(|y| (x, y))
            })
            .collect();
        panel.curves.push(Curve {
            color,
            points: pts,
            solid: r.preferred,
        });
    }
    // N* at its level: both shape rows carry it; none where not located.
    if let Some(r) = fits.iter().find(|r| r.threshold_params.is_some()) {
        if let (Some(n), Some(level)) = (r.threshold_params, r.level) {
            let label = match (r.interval_method.as_str(), r.threshold_lo, r.threshold_hi) {
                ("bracket", Some(lo), Some(hi)) => format!("N* {}–{}", si(lo), si(hi)),
                (_, None, _) | (_, _, None) => "N* (interval open)".to_string(),
                _ => "N*".to_string(),
            };
            panel.thresholds.push(Threshold {
                color,
                x: n.log10(),
                y: level,
                lo: r.threshold_lo.map(f64::log10),
                hi: r.threshold_hi.map(f64::log10),
                label,
            });
        }
    }
}

pub(crate) fn x_span(pts: &[Point]) -> (f64, f64) {
    let lo = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let hi = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    (lo - 0.15, hi + 0.15)
}

/// The panel of one task × metric: every (mode, shots) series with fits
/// (only the preferred ones when `all_fits` is false, to keep grids legible).
pub(crate) fn metric_panel(
    run: &Run,
    fits: &[FitRow],
    task: &str,
    m: &str,
    title: String,
    all_fits: bool,
) -> Panel {
    let all_shots = shots_of(&run.final_points, task);
    let seeds = &run.seed_curves();
    let mut panel = Panel {
        title,
        x_label: "non-embedding parameters".into(),
        y_label: m.to_string(),
        legend: true,
        y_range: is_proportion(m).then_some((-0.03, 1.05)),
        ..Default::default()
    };
    let mut chance = BTreeSet::new();
    for mode in [Mode::Direct, Mode::Cot] {
        for (k, &shots) in all_shots.iter().enumerate() {
            let pts = final_points(run, task, mode, shots, m);
            if pts.is_empty() {
                continue;
            }
            // Many shots settings (icl: 0…8) fade gradually from the mode's
            // colour; the legend names only the first and last of them.
            let n = all_shots.len();
            let color = if n > 1 {
                lighten(mode_color(mode), 0.65 * k as f64 / (n - 1) as f64)
            } else {
                mode_color(mode)
            };
            let label = if n <= 3 || k == 0 || k + 1 == n {
                series_label(mode, shots, &all_shots)
            } else {
                String::new()
            };
            let rows: Vec<&FitRow> = params_fits(fits, task, mode, shots, m)
                // With several shots settings the other shape's dashed curves
                // would bury the data: preferred fits only.
                .filter(|r| r.preferred || (all_fits && all_shots.len() <= 2))
                .collect();
            add_fits(&mut panel, &rows, color, x_span(&pts));
            let key = CurveKey {
                task: task.to_string(),
                mode,
                shots,
                metric: m.to_string(),
            };
            let per_seed = seed_points(seeds, &key);
            if !per_seed.is_empty() {
                panel.bands.push(Band {
                    color,
                    points: seed_band(&per_seed),
                });
            }
            panel.series.extend(faint_seed_series(per_seed, color));
            for p in run
                .final_points
                .iter()
                .filter(|p| p.task == task && p.mode == mode && p.shots == shots && p.metric == m)
            {
                chance.insert(p.chance.to_bits());
            }
            panel.series.push(PointSeries {
                label,
                color,
                points: pts,
                joined: false,
                marker: k,
                dashed: false,
                faint: false,
            });
        }
    }
    panel.chance = chance.into_iter().map(f64::from_bits).collect();
    panel
}
