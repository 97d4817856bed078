//! `forecast_<task>.png`: per curve with a located N*, the sizes the
//! forecast used, each predictor's forecast curve with its 95 % band, the
//! larger sizes it never saw, and the measured N* with its interval.

use crate::chart::Chart;
use crate::grid::{final_points, grid_figure};
use crate::panel::{Band, Curve, Panel, PointSeries, Threshold};
use crate::style::{arm_color, si};
use crate::Error;
use plotters::style::RGBColor;
use results::forecast::{CurveForecast, Forecast};
use results::Run;
use runfolder::schema::metric;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Measured N* in black, so the predictors' colours stand apart from it.
const MEASURED: RGBColor = RGBColor(20, 20, 20);

fn panel(run: &Run, c: &CurveForecast, legend: bool) -> Panel {
    let k = &c.key;
    let pts = final_points(run, &k.task, k.mode, k.shots, metric::EXACT_MATCH);
    let used: BTreeSet<u64> = c.used.iter().map(|x| x.to_bits()).collect();
    let (fitted, held): (Vec<_>, Vec<_>) =
        pts.into_iter().partition(|p| used.contains(&p.0.to_bits()));
    let title = if c.lines.is_empty() {
        format!(
            "{} · {} · {}-shot: too few sizes below",
            k.task, k.mode, k.shots
        )
    } else {
        format!("{} · {} · {}-shot", k.task, k.mode, k.shots)
    };
    let mut p = Panel {
        title,
        x_label: "non-embedding parameters".into(),
        y_label: "exact match".into(),
        y_range: Some((-0.03, 1.05)),
        chance: vec![c.chance],
        legend,
        legend_right: false,
        ..Default::default()
    };
    for (i, l) in c.lines.iter().enumerate() {
        let color = arm_color(i + 1);
        p.bands.push(Band {
            color,
            points: l.curve.iter().map(|&(x, _, lo, hi)| (x, lo, hi)).collect(),
        });
        p.curves.push(Curve {
            color,
            points: l.curve.iter().map(|&(x, y, _, _)| (x, y)).collect(),
            solid: true,
        });
        let label = match l.n_star {
            Some(n) => format!("{}: {:+.2} dec", l.predictor, n.x - c.measured.x),
            None => format!("{}: none", l.predictor),
        };
        p.series.push(PointSeries {
            label,
            color,
            points: l
                .n_star
                .map(|n| vec![(n.x, c.level, f64::NAN, f64::NAN)])
                .unwrap_or_default(),
            joined: false,
            marker: 1,
            dashed: false,
            faint: false,
        });
    }
    p.series.push(PointSeries {
        label: "sizes used".into(),
        color: MEASURED,
        points: fitted,
        joined: false,
        marker: 0,
        dashed: false,
        faint: false,
    });
    p.series.push(PointSeries {
        label: "held out".into(),
        color: MEASURED,
        points: held,
        joined: false,
        marker: 3,
        dashed: false,
        faint: false,
    });
    let m = c.measured;
    p.thresholds.push(Threshold {
        color: MEASURED,
        x: m.x,
        y: c.level,
        lo: m.lo,
        hi: m.hi,
        label: format!("measured N* {}", si(10f64.powf(m.x))),
    });
    p
}

/// One figure per task with a forecast curve into `out_dir`.
pub fn plot_forecast(run: &Run, f: &Forecast, out_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", out_dir.display())))?;
    let tasks: BTreeSet<&str> = f.curves.iter().map(|c| c.key.task.as_str()).collect();
    let mut written = Vec::new();
    for task in tasks {
        let panels: Vec<Panel> = f
            .curves
            .iter()
            .filter(|c| c.key.task == task)
            .enumerate()
            .map(|(i, c)| panel(run, c, i == 0))
            .collect();
        let path = out_dir.join(Chart::Forecast.task_file(task));
        grid_figure(
            &path,
            &format!("Forecast, then check: N* from the sizes below it ({task}, {})", run.name()),
            "dots: sizes fitted (below the level)   crosses: larger sizes, held out   \
lines: each predictor's forecast exact match, shaded its 95% band   triangles: forecast N* at the level \
(legend: its error in decades)   black band: measured N* and its 95% interval",
            &panels,
            2,
        )?;
        written.push(path);
    }
    Ok(written)
}
