//! The claims chart: one panel per claim and task from `claims.csv`'s rows
//! (chain-of-thought gain, `word` vs `word_ood` gap, `word_twin`'s parrot rate, few-shot
//! gain) against model size, and, for a task scored at several shot counts,
//! exact match against shots with one line per size.

use crate::grid::*;
use crate::panel::{Panel, Point, PointSeries};
use crate::style::{mode_color, shade, si, size_color};
use crate::Error;
use results::Run;
use runfolder::schema::{claim, metric, ClaimRow, Mode};
use std::collections::BTreeSet;
use std::path::Path;

fn title(c: &str, task: &str) -> String {
    match c {
        claim::COT_GAIN => format!("{task}: cot minus direct"),
        claim::OOD_GAP => format!("{task} minus {task}_ood (new names)"),
        claim::PARROT => format!("{task}: parrot rate"),
        claim::SHOT_GAIN => format!("{task}: k shots minus fewest"),
        _ => format!("{task}: {c}"),
    }
}

/// Exact match against shot count, one line per model size and mode.
fn shots_panel(run: &Run, task: &str, shots: &[u32]) -> Panel {
    let sizes: Vec<u64> = run.sizes().into_iter().collect();
    let mut panel = Panel {
        // One legend row per size, the modes told apart by marker and line
        // (a row per mode and size made a legend tall enough to cover the
        // 0-shot points of the larger sizes).
        title: format!("{task}: exact match vs shots (●: cot, ▲ dashed: direct)"),
        x_label: "shots".into(),
        y_label: "exact match".into(),
        x_linear: true,
        y_range: Some((-0.03, 1.05)),
        legend: true,
        ..Default::default()
    };
    for mode in [Mode::Direct, Mode::Cot] {
        for (i, &size) in sizes.iter().enumerate() {
            let pts: Vec<Point> = shots
                .iter()
                .filter_map(|&k| {
                    run.final_points.iter().find(|p| {
                        p.task == task
                            && p.mode == mode
                            && p.shots == k
                            && p.metric == metric::EXACT_MATCH
                            && p.params_non_embedding == size
                    })
                })
                .map(|p| (f64::from(p.shots), p.value, p.ci_lo, p.ci_hi))
                .collect();
            if pts.is_empty() {
                continue;
            }
            panel.series.push(PointSeries {
                label: if mode == Mode::Cot {
                    format!("N={}", si(size as f64))
                } else {
                    String::new()
                },
                color: size_color(i, sizes.len()),
                points: pts,
                joined: true,
                marker: if mode == Mode::Cot { 0 } else { 1 },
                dashed: mode == Mode::Direct,
                faint: false,
            });
        }
    }
    panel
}

pub(crate) fn claims_figure(run: &Run, path: &Path) -> Result<(), Error> {
    // The loss at the level is drawn against loss (score_vs_loss.png), not size.
    let rows: Vec<ClaimRow> = results::claims::claims(run)
        .into_iter()
        .filter(|r| r.claim != claim::LOSS_AT_LEVEL)
        .collect();
    let keys: BTreeSet<(&str, &str)> = rows
        .iter()
        .map(|r| (r.claim.as_str(), r.task.as_str()))
        .collect();
    let mut panels = Vec::new();
    for (c, task) in keys {
        let of: Vec<&ClaimRow> = rows
            .iter()
            .filter(|r| r.claim == c && r.task == task)
            .collect();
        let cells: BTreeSet<(Mode, u32)> = of.iter().map(|r| (r.mode, r.shots)).collect();
        let all_shots: Vec<u32> = cells
            .iter()
            .map(|c| c.1)
            .collect::<BTreeSet<u32>>()
            .into_iter()
            .collect();
        let mut panel = Panel {
            title: title(c, task),
            x_label: "non-embedding parameters".into(),
            y_label: if c == claim::PARROT {
                "rate".into()
            } else {
                "difference in exact match".into()
            },
            chance: if c == claim::PARROT {
                vec![]
            } else {
                vec![0.0]
            },
            y_range: Some(if c == claim::PARROT {
                (-0.03, 1.05)
            } else {
                (-1.05, 1.05)
            }),
            legend: true,
            ..Default::default()
        };
        for (k, &(mode, shots)) in cells.iter().enumerate() {
            let pts: Vec<Point> = of
                .iter()
                .filter(|r| r.mode == mode && r.shots == shots)
                .map(|r| {
                    let x = (r.params_non_embedding as f64).log10();
                    (x, r.value, r.ci_lo, r.ci_hi)
                })
                .collect();
            panel.series.push(PointSeries {
                label: series_label(mode, shots, &all_shots),
                color: shade(
                    mode_color(mode),
                    cells.iter().take(k).filter(|c| c.0 == mode).count(),
                ),
                points: pts,
                joined: true,
                marker: k % 4,
                dashed: false,
                faint: false,
            });
        }
        panels.push(panel);
    }
    for task in run.tasks() {
        let shots = shots_of(&run.final_points, &task);
        if shots.len() > 1 {
            panels.push(shots_panel(run, &task, &shots));
        }
    }
    if panels.is_empty() {
        return Err(Error::Nothing(
            "no claim to show (needs both modes, word with word_ood, word_twin, or several shot counts)"
                .into(),
        ));
    }
    let cols = (panels.len() as f64).sqrt().ceil() as usize;
    let footer = "x: non-embedding parameters (log), or shots   bars: 95% interval (items, \
and seeds where there are several; Newcombe's for differences)   grey dashed: no difference   colours: direct / cot, or model size (dark = small)";
    grid_figure(
        path,
        &format!("Claims: the number behind each ({})", run.name()),
        footer,
        &panels,
        cols,
    )
}
