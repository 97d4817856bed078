//! `emerge analyze --run DIR`: fit every curve of a run and write `DIR/fits.csv`.
//! For a run of ablation arms, each arm is fitted on its own into
//! `DIR/arms/<arm>/` and the arms are compared in `DIR/arms.csv`. The work is
//! in `results::analyze` and `results::arms`; this is the command-line shell.
//! A run with a located exact-match N* is then forecast (`emerge forecast`).

use crate::output::{esay, say};
use clap::Args;
use results::arms::ArmSpec;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
}

/// The arms of the run's stored config, baseline first, each with its
/// learning rate, its mixture and whether it is a displacement control;
/// empty for a run without arms (or a folder without a readable config,
/// which `results` then loads as one run).
pub fn arm_specs(run: &Path) -> Vec<ArmSpec> {
    if !run.join(results::schema::files::CONFIG).is_file() {
        return Vec::new();
    }
    let Ok(cfg) = crate::sweep::folder::read_config(run) else {
        return Vec::new();
    };
    (0..cfg.arms.len())
        .map(|i| ArmSpec {
            name: cfg.arms[i].name.clone(),
            lr: Some(cfg.lr(Some(i))),
            mixture: serde_json::to_string(cfg.mixture(Some(i))).expect("a mixture serializes"),
            control: crate::sweep::config::control_arm(&cfg, i),
        })
        .collect()
}

pub fn run(args: &AnalyzeArgs) -> Result<(), String> {
    let arms = arm_specs(&args.run);
    if !arms.is_empty() {
        let a = results::arms::analyze_arms_run(&args.run, &arms).map_err(|e| e.to_string())?;
        for (name, _, an) in &a.arms {
            say(&format!("arm `{name}`:\n"));
            say(&results::analyze::summary(an));
            for n in &an.notes {
                esay(&format!("emerge: note: {name}: {n}\n"));
            }
        }
        say(&results::arms::summary(&a));
        say(&format!(
            "wrote {}/<arm>/fits.csv for {} arms, {} ({} rows), {} ({} rows)\n",
            args.run.join(results::arms::DIR).display(),
            a.arms.len(),
            args.run
                .join(<results::arms::ArmRow as results::CsvRow>::FILE)
                .display(),
            a.rows.len(),
            args.run.join(results::arms::PAIRED_FILE).display(),
            a.paired.len()
        ));
        if a.arms
            .iter()
            .any(|(_, _, an)| crate::cmd_forecast::has_located(&an.fits))
        {
            forecast(&args.run)?;
        }
        return Ok(());
    }
    let (analysis, path) = results::analyze::analyze_run(&args.run).map_err(|e| e.to_string())?;
    say(&results::analyze::summary(&analysis));
    for n in &analysis.notes {
        esay(&format!("emerge: note: {n}\n"));
    }
    say(&format!(
        "wrote {} ({} rows)\n",
        path.display(),
        analysis.fits.len()
    ));
    if crate::cmd_forecast::has_located(&analysis.fits) {
        forecast(&args.run)?;
    }
    Ok(())
}

/// A run with a located threshold is also forecast (`forecast.csv`; the
/// charts are `emerge plot`'s).
fn forecast(run: &Path) -> Result<(), String> {
    crate::cmd_forecast::forecast_run(run, false)
}
