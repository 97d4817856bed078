//! `emerge plot`'s charts of one run: a figure per task, the overview, and
//! the claims, mirage and training figures, each built from [`crate::grid`]'s
//! parts and written by [`plot_run`].

use crate::grid::{grid_figure, metric_panel, metrics_of, threshold_key, FOOTER};
use crate::panel::Panel;
use crate::style::slug;
use crate::Error;
use results::Run;
use runfolder::schema::{metric, FitRow};
use std::path::{Path, PathBuf};

fn write_task_figure(run: &Run, fits: &[FitRow], task: &str, path: &Path) -> Result<(), Error> {
    let panels: Vec<Panel> = metrics_of(&run.final_points, task)
        .iter()
        .map(|m| metric_panel(run, fits, task, m, m.replace('_', " "), true))
        .collect();
    let title = format!(
        "{task}: score vs model size, direct and chain of thought ({})",
        run.name()
    );
    let footer = format!("{FOOTER}   {}", threshold_key(fits));
    grid_figure(path, &title, &footer, &panels, 2)
}

fn overview(run: &Run, fits: &[FitRow], path: &Path) -> Result<(), Error> {
    let panels: Vec<Panel> = run
        .tasks()
        .iter()
        .map(|t| metric_panel(run, fits, t, metric::EXACT_MATCH, t.clone(), false))
        .filter(|p| !p.is_empty())
        .collect();
    if panels.is_empty() {
        return Err(Error::Nothing("no exact_match scores to plot".into()));
    }
    let cols = (panels.len() as f64).sqrt().ceil() as usize;
    let footer = format!(
        "x: non-embedding parameters (log)   lines: preferred fit   grey dashed: chance   {}",
        threshold_key(fits)
    );
    grid_figure(
        path,
        &format!("All tasks: exact match vs model size ({})", run.name()),
        &footer,
        &panels,
        cols,
    )
}

/// What a chart written by this crate shows, from its file name, in a
/// sentence for a reader of `report.md` (`None` for other files).
pub fn caption(file_name: &str) -> Option<String> {
    let stem = file_name.strip_suffix(".png")?;
    let fixed = match stem {
        "overview" => "Exact match against model size for every task, direct and chain of thought: the seed means with their intervals, the two fitted shapes, and N* with its interval where located.",
        "claims" => "The number behind each claim, with its 95% interval, by model size.",
        "mirage" => "Exact match beside the continuous metrics on the same items: does the jump survive a smoother metric?",
        "loss_vs_tokens" => "Training loss against tokens seen, one line per model.",
        "score_vs_flops" => "Exact match against training compute, at each scored checkpoint.",
        "score_vs_loss" => "Exact match against held-out loss, at each scored checkpoint: does the ability follow the loss whatever the size?",
        _ => "",
    };
    if !fixed.is_empty() {
        return Some(fixed.into());
    }
    let (kind, task) = stem.split_once('_')?;
    Some(match kind {
        "task" => {
            format!("`{task}`: every metric against model size, direct and chain of thought.")
        }
        "forecast" => format!(
            "`{task}`: N* forecast from the sizes below the level alone, against the measured N*."
        ),
        "arms" => format!("`{task}`: the arms' curves overlaid on the baseline's."),
        _ => return None,
    })
}

/// Write every chart of a run into `out_dir` (created if needed): one PNG per
/// task, `overview.png`, `claims.png`, `mirage.png`, `loss_vs_tokens.png` (when a train log
/// exists), `score_vs_flops.png` and `score_vs_loss.png`. Returns the files written and notes on
/// charts skipped for lack of data.
pub fn plot_run(
    run: &Run,
    fits: &[FitRow],
    out_dir: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>), Error> {
    if run.final_points.is_empty() {
        return Err(Error::Nothing(format!(
            "{}: no scores to plot",
            run.dir.display()
        )));
    }
    std::fs::create_dir_all(out_dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", out_dir.display())))?;
    let mut written = Vec::new();
    let mut notes = Vec::new();
    for task in run.tasks() {
        let p = out_dir.join(format!("task_{}.png", slug(&task)));
        write_task_figure(run, fits, &task, &p)?;
        written.push(p);
    }
    type Fig<'a> = Box<dyn Fn(&Path) -> Result<(), Error> + 'a>;
    let figs: Vec<(&str, Fig)> = vec![
        ("overview.png", Box::new(|p| overview(run, fits, p))),
        (
            "claims.png",
            Box::new(|p| crate::claims::claims_figure(run, p)),
        ),
        (
            "mirage.png",
            Box::new(|p| crate::mirage::mirage_figure(run, fits, p)),
        ),
        (
            "loss_vs_tokens.png",
            Box::new(|p| crate::training::loss_vs_tokens(run, p)),
        ),
        (
            "score_vs_flops.png",
            Box::new(|p| crate::training::score_vs_flops(run, p)),
        ),
        (
            "score_vs_loss.png",
            Box::new(|p| crate::training::score_vs_loss(run, p)),
        ),
    ];
    for (name, f) in figs {
        let p = out_dir.join(name);
        match f(&p) {
            Ok(()) => written.push(p),
            Err(Error::Nothing(why)) => notes.push(format!("{name} skipped: {why}")),
            Err(e) => return Err(e),
        }
    }
    Ok((written, notes))
}
