//! `emerge forecast --run DIR`: N* of every located exact-match curve
//! forecast from the sizes below it, checked against the measured N*, into
//! `DIR/forecast.csv` and `DIR/plots/forecast_<task>.png` (for a run of
//! ablation arms, each arm's into `DIR/arms/<arm>/`). `emerge analyze`
//! writes the CSV too and `emerge plot` the charts. The work is in
//! `results::forecast` and `plots`.

use crate::output::{esay, say};
use clap::Args;
use results::schema::files;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
}

/// Forecast one run (or one arm's run) whose own files live in `dir`;
/// with `draw`, also its charts (`emerge analyze` writes CSVs only, and
/// `emerge plot` draws them).
fn forecast_one(run: &results::Run, dir: &Path, label: &str, draw: bool) -> Result<(), String> {
    let err = |e: results::Error| e.to_string();
    let mut notes = Vec::new();
    let fits = results::forecast::fits_for(run, dir, &mut notes).map_err(err)?;
    let f = results::forecast::forecast(run, &fits);
    let path = results::forecast::write_forecast(dir, &f).map_err(err)?;
    say(&results::forecast::summary(&f));
    for n in notes.iter().chain(&f.notes) {
        esay(&format!("emerge: note: {label}{n}\n"));
    }
    say(&format!(
        "wrote {} ({} curves)\n",
        path.display(),
        f.curves.len()
    ));
    if draw {
        let out = dir.join(files::PLOTS_DIR);
        for p in plots::plot_forecast(run, &f, &out).map_err(|e| e.to_string())? {
            say(&format!("wrote {}\n", p.display()));
        }
    }
    Ok(())
}

pub fn run(args: &ForecastArgs) -> Result<(), String> {
    forecast_run(&args.run, true)
}

/// `emerge forecast` on `dir` (each arm's, for a run of arms); with
/// `draw`, the charts too.
pub fn forecast_run(dir: &Path, draw: bool) -> Result<(), String> {
    let arms = crate::cmd_analyze::arm_specs(dir);
    if arms.is_empty() {
        let run = results::Run::load(dir).map_err(|e| e.to_string())?;
        run.require_scores().map_err(|e| e.to_string())?;
        return forecast_one(&run, dir, "", draw);
    }
    for a in &arms {
        let run = results::Run::load_arm(dir, &a.name).map_err(|e| e.to_string())?;
        let arm_dir = results::arms::arm_dir(dir, &a.name);
        forecast_one(&run, &arm_dir, &format!("{}: ", a.name), draw)?;
    }
    Ok(())
}

/// `forecast_<task>.png` of a run (or an arm) with these fits into `out`,
/// for `emerge plot`; none when no exact-match N* is located.
pub fn plot(
    run: &results::Run,
    fits: &[results::FitRow],
    out: &Path,
) -> Result<Vec<PathBuf>, String> {
    if !has_located(fits) {
        return Ok(Vec::new());
    }
    let f = results::forecast::forecast(run, fits);
    plots::plot_forecast(run, &f, out).map_err(|e| e.to_string())
}

/// Whether an analysis located any exact-match N* on the parameter axis:
/// then `emerge analyze` forecasts it.
pub fn has_located(fits: &[results::FitRow]) -> bool {
    results::threshold::transitions(fits)
        .iter()
        .any(|t| t.key.metric == results::schema::metric::EXACT_MATCH)
}
