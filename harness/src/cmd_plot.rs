//! `emerge plot --run DIR`: PNG charts into `DIR/plots/`. Uses `DIR/fits.csv`
//! when present; otherwise fits are computed in memory (and not saved). Then
//! `DIR/report.md`, the page that shows them (see [`crate::report`]).

use crate::output::{esay, say};
use clap::Args;
use results::schema::{files, FitRow};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
}

pub fn run(args: &PlotArgs) -> Result<(), String> {
    let arms = crate::cmd_analyze::arm_specs(&args.run);
    if !arms.is_empty() {
        return plot_arms(&args.run, &arms);
    }
    let run = results::Run::load(&args.run).map_err(|e| e.to_string())?;
    run.require_scores().map_err(|e| e.to_string())?;
    let fits_path = args.run.join(files::FITS);
    let fits: Vec<FitRow> = if fits_path.is_file() {
        results::read::read_csv(&fits_path).map_err(|e| e.to_string())?
    } else {
        eprintln!(
            "emerge: note: {} missing; fitting now (run `emerge analyze` to save the fits)",
            fits_path.display()
        );
        results::analyze::analyze(&run)
            .map_err(|e| e.to_string())?
            .fits
    };
    for n in &run.notes {
        esay(&format!("emerge: note: {n}\n"));
    }
    let out = args.run.join(files::PLOTS_DIR);
    let (mut written, notes) = plots::plot_run(&run, &fits, &out).map_err(|e| e.to_string())?;
    written.extend(crate::cmd_forecast::plot(&run, &fits, &out)?);
    for n in notes {
        esay(&format!("emerge: note: {n}\n"));
    }
    for p in &written {
        say(&format!("wrote {}\n", p.display()));
    }
    report(&args.run)
}

/// After the charts, the page that shows them.
fn report(run: &Path) -> Result<(), String> {
    let p = crate::report::write(run)?;
    say(&format!("wrote {}\n", p.display()));
    Ok(())
}

/// An ablation run: every arm's own charts into `DIR/arms/<arm>/plots/`,
/// then `DIR/plots/arms_<task>.png` with the arms overlaid. Uses the files
/// `emerge analyze` wrote when present; otherwise analyzes in memory.
fn plot_arms(dir: &Path, specs: &[results::arms::ArmSpec]) -> Result<(), String> {
    use results::arms::{self, ArmRow};
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let err = |e: results::Error| e.to_string();
    let rows_path = dir.join(<ArmRow as results::CsvRow>::FILE);
    let analyzed = if rows_path.is_file()
        && names
            .iter()
            .all(|n| arms::arm_dir(dir, n).join(files::FITS).is_file())
    {
        let mut out = Vec::new();
        for &n in &names {
            let run = results::Run::load_arm(dir, n).map_err(err)?;
            let fits: Vec<FitRow> =
                results::read::read_csv(&arms::arm_dir(dir, n).join(files::FITS)).map_err(err)?;
            out.push((n.to_string(), run, fits));
        }
        (
            out,
            results::read::read_csv::<ArmRow>(&rows_path).map_err(err)?,
        )
    } else {
        eprintln!(
            "emerge: note: {} missing; analyzing now (run `emerge analyze` to save it)",
            rows_path.display()
        );
        let a = arms::analyze_arms(dir, specs).map_err(err)?;
        let out = a
            .arms
            .into_iter()
            .map(|(n, run, an)| (n, run, an.fits))
            .collect();
        (out, a.rows)
    };
    let (per_arm, rows) = analyzed;
    for (name, run, fits) in &per_arm {
        let out = arms::arm_dir(dir, name).join(files::PLOTS_DIR);
        let (mut written, notes) = plots::plot_run(run, fits, &out).map_err(|e| e.to_string())?;
        written.extend(crate::cmd_forecast::plot(run, fits, &out)?);
        for n in notes {
            esay(&format!("emerge: note: {name}: {n}\n"));
        }
        say(&format!(
            "wrote {} charts of arm `{name}` into {}\n",
            written.len(),
            out.display()
        ));
    }
    let overlay: Vec<(String, &results::Run, &[FitRow])> = per_arm
        .iter()
        .map(|(n, r, f)| (n.clone(), r, f.as_slice()))
        .collect();
    let written = plots::plot_arms(&overlay, &rows, &dir.join(files::PLOTS_DIR))
        .map_err(|e| e.to_string())?;
    for p in &written {
        say(&format!("wrote {}\n", p.display()));
    }
    report(dir)
}
