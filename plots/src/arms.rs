//! The arms overlay: one figure per task of an ablation run, a panel per
//! mode (exact match), every arm in its own colour with its preferred fit
//! and N* band, and each arm's N* and shift from the baseline in the key.

use crate::chart::Chart;
use crate::grid::*;
use crate::panel::{Panel, PointSeries};
use crate::style::arm_color;
use crate::Error;
use results::arms::{describe_control_shift, describe_n_star, describe_shift};
use results::Run;
use runfolder::schema::CurveKey;
use runfolder::schema::{metric, ArmRow, FitRow, Mode};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `arms_<task>.png` in `out_dir` for every task: `arms` are (name, run,
/// fits) with the baseline first, `rows` the `arms.csv` rows.
pub fn plot_arms(
    arms: &[(String, &Run, &[FitRow])],
    rows: &[ArmRow],
    out_dir: &Path,
) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", out_dir.display())))?;
    let tasks: BTreeSet<String> = arms.iter().flat_map(|(_, r, _)| r.tasks()).collect();
    // Each arm's per-seed curves, read once for every task and mode.
    let seed_curves: Vec<_> = arms.iter().map(|(_, r, _)| r.seed_curves()).collect();
    let mut written = Vec::new();
    for task in tasks {
        let shots = arms
            .iter()
            .flat_map(|(_, r, _)| shots_of(&r.final_points, &task))
            .min()
            .unwrap_or(0);
        let mut panels = Vec::new();
        let mut key = Vec::new();
        for mode in [Mode::Direct, Mode::Cot] {
            let mut panel = Panel {
                title: format!("{mode}: exact match"),
                x_label: "non-embedding parameters".into(),
                y_label: metric::EXACT_MATCH.into(),
                legend: true,
                y_range: Some((-0.03, 1.05)),
                ..Default::default()
            };
            let mut chance = BTreeSet::new();
            for (i, (name, run, fits)) in arms.iter().enumerate() {
                let pts = final_points(run, &task, mode, shots, metric::EXACT_MATCH);
                if pts.is_empty() {
                    continue;
                }
                let color = arm_color(i);
                let preferred: Vec<&FitRow> =
                    params_fits(fits, &task, mode, shots, metric::EXACT_MATCH)
                        .filter(|r| r.preferred)
                        .collect();
                add_fits(&mut panel, &preferred, color, x_span(&pts));
                let curve = CurveKey {
                    task: task.clone(),
                    mode,
                    shots,
                    metric: metric::EXACT_MATCH.to_string(),
                };
                panel.series.extend(faint_seed_series(
                    seed_points(&seed_curves[i], &curve),
                    color,
                ));
                for p in run.final_points.iter().filter(|p| {
                    p.task == task
                        && p.mode == mode
                        && p.shots == shots
                        && p.metric == metric::EXACT_MATCH
                }) {
                    chance.insert(p.chance.to_bits());
                }
                panel.series.push(PointSeries {
                    label: name.clone(),
                    color,
                    points: pts,
                    joined: true,
                    marker: i % 4,
                    dashed: false,
                    faint: false,
                });
                if let Some(r) = rows.iter().find(|r| {
                    r.task == task && r.mode == mode && r.shots == shots && &r.arm == name
                }) {
                    let vs_control = match r.control_shift_kind.as_str() {
                        "" => String::new(),
                        "control" => " (the control)".into(),
                        _ => format!(", vs control {}", describe_control_shift(r)),
                    };
                    key.push(if r.shift_kind == "baseline" {
                        format!(
                            "{mode} {name} (baseline): N* {}{vs_control}",
                            describe_n_star(r)
                        )
                    } else {
                        format!(
                            "{mode} {name}: N* {}, shift {}{vs_control}",
                            describe_n_star(r),
                            describe_shift(r)
                        )
                    });
                }
            }
            panel.chance = chance.into_iter().map(f64::from_bits).collect();
            if !panel.is_empty() {
                panels.push(panel);
            }
        }
        if panels.is_empty() {
            continue;
        }
        let p = out_dir.join(Chart::Arms.task_file(&task));
        let title = format!("{task}: arms overlaid (baseline `{}`)", arms[0].0);
        let seeds = arms
            .iter()
            .map(|(_, r, _)| {
                r.models
                    .iter()
                    .map(|m| m.seed)
                    .collect::<BTreeSet<_>>()
                    .len()
            })
            .min()
            .unwrap_or(0);
        let noise = if seeds > 1 {
            format!("bold: seed mean, bars: its 95% interval (items and seeds), faint: each of {seeds} seeds")
        } else {
            "bars: 95% intervals (one seed: item noise only)".to_string()
        };
        let footer = format!(
            "{}.   x: non-embedding parameters (log); {noise}; lines: preferred fit; \
shaded: N* 95% interval; shift = log10 N* − log10 N* of the baseline, interval combined from the \
two N* intervals (conservative)",
            key.join(";   ")
        );
        grid_figure(&p, &title, &footer, &panels, 2)?;
        written.push(p);
    }
    Ok(written)
}
