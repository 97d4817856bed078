//! `emerge plot`'s charts of one run: a figure per task, the overview, and
//! the claims, mirage and training figures, each built from [`crate::grid`]'s
//! parts and written by [`plot_run`].

use crate::chart::Chart;
use crate::grid::{grid_figure, metric_panel, metrics_of, threshold_key, FOOTER};
use crate::panel::Panel;
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

/// Write every chart of a run into `out_dir` (created if needed): a
/// [`Chart::Task`] per task and each [`Chart`] drawn once per run, those
/// without data (a run without a train log has no `LossVsTokens`) skipped.
/// Returns the files written and notes on the charts skipped.
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
        let p = out_dir.join(Chart::Task.task_file(&task));
        write_task_figure(run, fits, &task, &p)?;
        written.push(p);
    }
    type Fig<'a> = Box<dyn Fn(&Path) -> Result<(), Error> + 'a>;
    let figs: Vec<(Chart, Fig)> = vec![
        (Chart::Overview, Box::new(|p| overview(run, fits, p))),
        (
            Chart::Claims,
            Box::new(|p| crate::claims::claims_figure(run, p)),
        ),
        (
            Chart::Mirage,
            Box::new(|p| crate::mirage::mirage_figure(run, fits, p)),
        ),
        (
            Chart::LossVsTokens,
            Box::new(|p| crate::training::loss_vs_tokens(run, p)),
        ),
        (
            Chart::ScoreVsFlops,
            Box::new(|p| crate::training::score_vs_flops(run, p)),
        ),
        (
            Chart::ScoreVsLoss,
            Box::new(|p| crate::training::score_vs_loss(run, p)),
        ),
    ];
    for (chart, f) in figs {
        let name = chart.file();
        let p = out_dir.join(&name);
        match f(&p) {
            Ok(()) => written.push(p),
            Err(Error::Nothing(why)) => notes.push(format!("{name} skipped: {why}")),
            Err(e) => return Err(e),
        }
    }
    Ok((written, notes))
}
