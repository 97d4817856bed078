//! Training-side charts: loss against tokens per model, and exact match
//! against training FLOPs through the scored checkpoints.

use crate::grid::*;
use crate::panel::{Panel, Point, PointSeries};
use crate::style::*;
use crate::Error;
use results::Run;
use runfolder::schema::{claim, files, metric, Mode};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub(crate) fn loss_vs_tokens(run: &Run, path: &Path) -> Result<(), Error> {
    let size_of = run.size_of();
    let sizes: Vec<u64> = run.sizes().into_iter().collect();
    let mut by_model: BTreeMap<(u64, &str), Vec<Point>> = BTreeMap::new();
    for r in &run.train_log {
        let Some(&size) = size_of.get(&r.model_id) else {
            continue;
        };
        if r.tokens > 0 && r.loss > 0.0 && r.loss.is_finite() {
            let (x, y) = ((r.tokens as f64).log10(), r.loss.log10());
            by_model
                .entry((size, r.model_id.as_str()))
                .or_default()
                .push((x, y, f64::NAN, f64::NAN));
        }
    }
    if by_model.is_empty() {
        return Err(Error::Nothing(format!(
            "{} is empty or missing",
            files::TRAIN_LOG
        )));
    }
    let mut labelled = BTreeSet::new();
    let mut panel = Panel {
        title: "training loss vs tokens".into(),
        x_label: "training tokens".into(),
        y_label: "loss (nats/token)".into(),
        y_log: true,
        legend: true,
        legend_right: true,
        ..Default::default()
    };
    for ((size, _), pts) in by_model {
        let i = sizes.iter().position(|&s| s == size).unwrap_or(0);
        let label = if labelled.insert(size) {
            format!("N = {}", si(size as f64))
        } else {
            String::new()
        };
        panel.series.push(PointSeries {
            label,
            color: size_color(i, sizes.len()),
            points: pts,
            joined: true,
            marker: 0,
            dashed: false,
            faint: false,
        });
    }
    // A marker on every logged step would hide the lines: thin to ~12 per model.
    for s in &mut panel.series {
        let n = s.points.len();
        let keep = (n / 12).max(1);
        s.points = s
            .points
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| i % keep == 0 || i + 1 == n)
            .map(|(_, p)| p)
            .collect();
    }
    let footer = "log-log; one line per model (colour: size), markers every few logged steps";
    let title = format!("Loss vs training tokens ({})", run.name());
    grid_figure_sized(
        path,
        &title,
        footer,
        std::slice::from_ref(&panel),
        1,
        (PANEL_W * 2, PANEL_H * 2 - 80),
    )
}

pub(crate) fn score_vs_flops(run: &Run, path: &Path) -> Result<(), Error> {
    let sizes: Vec<u64> = run.sizes().into_iter().collect();
    let mut panels = Vec::new();
    for task in run.tasks() {
        let shots = *shots_of(&run.checkpoint_points, &task)
            .first()
            .unwrap_or(&0);
        for mode in [Mode::Direct, Mode::Cot] {
            let mut panel = Panel {
                title: format!("{task} · {mode} · exact match"),
                x_label: "training FLOPs".into(),
                y_label: "exact match".into(),
                y_range: Some((-0.03, 1.05)),
                legend: panels.is_empty(),
                ..Default::default()
            };
            for (i, &size) in sizes.iter().enumerate() {
                let pts: Vec<Point> = run
                    .checkpoint_points
                    .iter()
                    .filter(|p| {
                        p.task == task
                            && p.mode == mode
                            && p.shots == shots
                            && p.metric == metric::EXACT_MATCH
                            && p.params_non_embedding == size
                            && p.flops > 0.0
                    })
                    .map(|p| (p.flops.log10(), p.value, p.ci_lo, p.ci_hi))
                    .collect();
                if !pts.is_empty() {
                    panel.chance = run
                        .checkpoint_points
                        .iter()
                        .filter(|p| p.task == task && p.metric == metric::EXACT_MATCH)
                        .map(|p| p.chance)
                        .take(1)
                        .collect();
                    panel.series.push(size_series(i, &sizes, pts));
                }
            }
            if !panel.is_empty() {
                panels.push(panel);
            }
        }
    }
    if panels.is_empty() {
        return Err(Error::Nothing("no exact_match checkpoint scores".into()));
    }
    let footer = "x: training FLOPs = 6·N·D (log); one line per model size through its scored checkpoints; grey dashed: chance";
    grid_figure(
        path,
        &format!("Exact match vs training compute ({})", run.name()),
        footer,
        &panels,
        2,
    )
}

/// Exact match against the held-out loss on the task (−`completion_logprob`,
/// nats per token of the gold completion), every size and scored
/// checkpoint, one panel per task and mode (the completion, hence the loss,
/// differs between modes). If the sizes' lines fall on one curve, the
/// ability tracks loss, not size. The note gives `claims.csv`'s
/// `loss_at_level` over sizes.
pub(crate) fn score_vs_loss(run: &Run, path: &Path) -> Result<(), Error> {
    let sizes: Vec<u64> = run.sizes().into_iter().collect();
    let claims = results::claims::claims(run);
    let mut panels = Vec::new();
    let tasks = run.tasks();
    for task in tasks.iter().map(String::as_str) {
        let shots = *shots_of(&run.checkpoint_points, task).first().unwrap_or(&0);
        for mode in [Mode::Direct, Mode::Cot] {
            let at = |size: u64, m: &'static str| {
                run.checkpoint_points
                    .iter()
                    .filter(move |p| {
                        p.task == task
                            && p.mode == mode
                            && p.shots == shots
                            && p.metric == m
                            && p.params_non_embedding == size
                    })
                    .map(|p| (p.step, p))
                    .collect::<BTreeMap<u64, _>>()
            };
            let mut panel = Panel {
                title: format!("{task} · {mode}"),
                x_label: "held-out loss on the task (nats/token)".into(),
                y_label: "exact match".into(),
                x_linear: true,
                x_decimals: 2,
                y_range: Some((-0.03, 1.05)),
                legend: panels.is_empty(),
                legend_right: true,
                ..Default::default()
            };
            for (i, &size) in sizes.iter().enumerate() {
                let em = at(size, metric::EXACT_MATCH);
                let lp = at(size, metric::COMPLETION_LOGPROB);
                let pts: Vec<Point> = em
                    .iter()
                    .filter_map(|(step, e)| {
                        let l = lp.get(step)?;
                        l.value
                            .is_finite()
                            .then_some((-l.value, e.value, e.ci_lo, e.ci_hi))
                    })
                    .collect();
                if pts.len() < 2 {
                    continue;
                }
                panel.chance = vec![em.values().next().map_or(0.0, |p| p.chance)];
                panel.series.push(size_series(i, &sizes, pts));
            }
            let mut at_level: Vec<f64> = claims
                .iter()
                .filter(|r| {
                    r.claim == claim::LOSS_AT_LEVEL
                        && r.task == task
                        && r.mode == mode
                        && r.shots == shots
                })
                .map(|r| r.value)
                .collect();
            if !at_level.is_empty() {
                at_level.sort_by(f64::total_cmp);
                let (lo, hi, n) = (at_level[0], at_level[at_level.len() - 1], at_level.len());
                panel.note = if n == 1 {
                    format!("level crossed at loss {lo:.2} (1 size)")
                } else {
                    format!("level crossed at loss {lo:.2}–{hi:.2} ({n} sizes)")
                };
            }
            if !panel.is_empty() {
                panels.push(panel);
            }
        }
    }
    if panels.is_empty() {
        return Err(Error::Nothing(
            "fewer than two scored checkpoints with exact match and completion_logprob".into(),
        ));
    }
    let footer = "one line per model size through its scored checkpoints (training runs right to left, \
loss falling); grey dashed: chance; note: the losses at which the sizes cross the level (claims.csv loss_at_level)";
    grid_figure(
        path,
        &format!("Exact match vs held-out loss ({})", run.name()),
        footer,
        &panels,
        2,
    )
}

/// The curve of the `i`-th of `sizes` (ascending), in its shade of the size
/// scale, labelled by its size.
fn size_series(i: usize, sizes: &[u64], points: Vec<Point>) -> PointSeries {
    PointSeries {
        label: format!("N = {}", si(sizes[i] as f64)),
        color: size_color(i, sizes.len()),
        points,
        joined: true,
        marker: 0,
        dashed: false,
        faint: false,
    }
}
