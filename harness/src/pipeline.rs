//! What happens to a run folder after training: fit every curve
//! ([`analyze`]), forecast each located threshold from the sizes below it
//! ([`forecast`]), draw the charts ([`plot`]) and write the page that shows
//! them (`report.md`, [`crate::report`]). The sweep runs all of it at its end
//! ([`analyze_and_plot`]); `emerge analyze`, `forecast` and `plot` each run
//! their step. The computing is in `results` and `plots`; this is the order
//! of the steps, where each step's files go, and what each step prints.
//!
//! A run of ablation arms (`[[arms]]` in its config) is handled arm by arm:
//! each arm's fits, forecast and charts go into `DIR/arms/<arm>/`, the
//! comparison of arms into `DIR/arms.csv` and `DIR/plots/arms_<task>.png`.

use crate::output::{esay, say};
use results::arms::ArmSpec;
use runfolder::ids::arm_dir;
use runfolder::schema::{files, metric};
use runfolder::{ArmRow, CsvRow, FitRow};
use std::path::{Path, PathBuf};

/// A `results` error as the CLI's one line.
fn err(e: results::Error) -> String {
    e.to_string()
}

/// The arms of the run's stored config, baseline first, each with its
/// learning rate, its mixture and whether it is a displacement control;
/// empty for a run without arms (or a folder without a readable config,
/// which `results` then loads as one run).
pub fn arm_specs(run: &Path) -> Vec<ArmSpec> {
    if !run.join(files::CONFIG).is_file() {
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

/// Whether an analysis located any exact-match N* on the parameter axis:
/// only then is there a threshold to forecast.
pub fn has_located(fits: &[FitRow]) -> bool {
    results::threshold::transitions(fits)
        .iter()
        .any(|t| t.key.metric == metric::EXACT_MATCH)
}

/// `emerge analyze`: `fits.csv` and `claims.csv` (each arm's, and the
/// comparison of arms), then `forecast.csv` where a threshold is located.
pub fn analyze(dir: &Path) -> Result<(), String> {
    analyze_with(dir, &arm_specs(dir))
}

/// [`analyze`] of a run with these arms (none: a plain run). The forecast
/// reads N* from the analysis just made, on the runs already loaded.
fn analyze_with(dir: &Path, arms: &[ArmSpec]) -> Result<(), String> {
    if !arms.is_empty() {
        let a = results::arms::analyze_arms_run(dir, arms).map_err(err)?;
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
            dir.join(files::ARMS_DIR).display(),
            a.arms.len(),
            dir.join(files::ARMS).display(),
            a.rows.len(),
            dir.join(files::ARMS_PAIRED).display(),
            a.paired.len()
        ));
        // Every arm is forecast once any has a located N*, so the arms'
        // forecast.csv files always come together.
        if a.arms.iter().any(|(_, _, an)| has_located(&an.fits)) {
            for (name, run, an) in &a.arms {
                let label = format!("{name}: ");
                forecast_fits(run, &an.fits, &arm_dir(dir, name), &label, &[], false)?;
            }
        }
        return Ok(());
    }
    let run = results::Run::load(dir).map_err(err)?;
    let analysis = results::analyze::analyze(&run).map_err(err)?;
    let path = results::analyze::write_analysis(dir, &analysis).map_err(err)?;
    say(&results::analyze::summary(&analysis));
    for n in &analysis.notes {
        esay(&format!("emerge: note: {n}\n"));
    }
    say(&format!(
        "wrote {} ({} rows)\n",
        path.display(),
        analysis.fits.len()
    ));
    if has_located(&analysis.fits) {
        forecast_fits(&run, &analysis.fits, dir, "", &[], false)?;
    }
    Ok(())
}

/// `emerge forecast`: `forecast.csv` of the run in `dir` (each arm's, for a
/// run of arms), from the fits `emerge analyze` saved; with `draw`, its
/// charts too.
pub fn forecast(dir: &Path, draw: bool) -> Result<(), String> {
    let arms = arm_specs(dir);
    if arms.is_empty() {
        let run = results::Run::load(dir).map_err(err)?;
        run.require_scores().map_err(err)?;
        return forecast_saved(&run, dir, "", draw);
    }
    for a in &arms {
        let run = results::Run::load_arm(dir, &a.name).map_err(err)?;
        forecast_saved(&run, &arm_dir(dir, &a.name), &format!("{}: ", a.name), draw)?;
    }
    Ok(())
}

/// Forecast one run (or one arm's run) whose own files live in `dir`, from
/// its saved fits.
fn forecast_saved(run: &results::Run, dir: &Path, label: &str, draw: bool) -> Result<(), String> {
    let mut notes = Vec::new();
    let fits = results::forecast::fits_for(run, dir, &mut notes).map_err(err)?;
    forecast_fits(run, &fits, dir, label, &notes, draw)
}

/// Forecast one run (or arm) with these fits into `dir/forecast.csv`,
/// printing its summary and `notes` with the forecast's own; with `draw`,
/// its charts too.
fn forecast_fits(
    run: &results::Run,
    fits: &[FitRow],
    dir: &Path,
    label: &str,
    notes: &[String],
    draw: bool,
) -> Result<(), String> {
    let f = results::forecast::forecast(run, fits);
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

/// Every chart of one run (or one arm) with these fits into `out`: the
/// run's own, and `forecast_<task>.png` where an exact-match N* is located.
/// Notes on skipped charts start with `label` (an arm's `name: `).
fn charts(
    run: &results::Run,
    fits: &[FitRow],
    out: &Path,
    label: &str,
) -> Result<Vec<PathBuf>, String> {
    let (mut written, notes) = plots::plot_run(run, fits, out).map_err(|e| e.to_string())?;
    if has_located(fits) {
        let f = results::forecast::forecast(run, fits);
        written.extend(plots::plot_forecast(run, &f, out).map_err(|e| e.to_string())?);
    }
    for n in notes {
        esay(&format!("emerge: note: {label}{n}\n"));
    }
    Ok(written)
}

/// `emerge plot`: PNG charts into `DIR/plots/` (each arm's into
/// `DIR/arms/<arm>/plots/`, with the arms overlaid in `DIR/plots/`), then
/// `DIR/report.md`. Uses the fits `emerge analyze` saved when present.
pub fn plot(dir: &Path) -> Result<(), String> {
    plot_with(dir, &arm_specs(dir))
}

/// [`plot`] of a run with these arms (none: a plain run).
fn plot_with(dir: &Path, arms: &[ArmSpec]) -> Result<(), String> {
    if !arms.is_empty() {
        plot_arms(dir, arms)?;
    } else {
        let run = results::Run::load(dir).map_err(err)?;
        run.require_scores().map_err(err)?;
        let fits_path = dir.join(files::FITS);
        let fits: Vec<FitRow> = if fits_path.is_file() {
            runfolder::read::read_csv(&fits_path).map_err(|e| e.to_string())?
        } else {
            eprintln!(
                "emerge: note: {} missing; fitting now (run `emerge analyze` to save the fits)",
                fits_path.display()
            );
            results::analyze::analyze(&run).map_err(err)?.fits
        };
        for n in &run.notes {
            esay(&format!("emerge: note: {n}\n"));
        }
        for p in charts(&run, &fits, &dir.join(files::PLOTS_DIR), "")? {
            say(&format!("wrote {}\n", p.display()));
        }
    }
    let p = crate::report::write(dir)?;
    say(&format!("wrote {}\n", p.display()));
    Ok(())
}

/// One (arm, its run, its fits) per arm, in the config's order.
type ArmFits = Vec<(String, results::Run, Vec<FitRow>)>;

/// The arms' charts: each arm's own, then the overlay.
fn plot_arms(dir: &Path, specs: &[ArmSpec]) -> Result<(), String> {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let rows_path = dir.join(ArmRow::FILE);
    // The saved analysis when arms.csv and every arm's fits are there;
    // otherwise (none, or a half-written one) the arms are analyzed now.
    let saved = rows_path.is_file()
        && names
            .iter()
            .all(|n| arm_dir(dir, n).join(files::FITS).is_file());
    let (per_arm, rows): (ArmFits, Vec<ArmRow>) = if saved {
        let mut out = Vec::new();
        for &n in &names {
            let run = results::Run::load_arm(dir, n).map_err(err)?;
            let fits = runfolder::read::read_csv(&arm_dir(dir, n).join(files::FITS))
                .map_err(|e| e.to_string())?;
            out.push((n.to_string(), run, fits));
        }
        let rows = runfolder::read::read_csv(&rows_path).map_err(|e| e.to_string())?;
        (out, rows)
    } else {
        eprintln!(
            "emerge: note: {} missing; analyzing now (run `emerge analyze` to save it)",
            rows_path.display()
        );
        let a = results::arms::analyze_arms(dir, specs).map_err(err)?;
        let out = a
            .arms
            .into_iter()
            .map(|(n, run, an)| (n, run, an.fits))
            .collect();
        (out, a.rows)
    };
    for (name, run, fits) in &per_arm {
        let out = arm_dir(dir, name).join(files::PLOTS_DIR);
        let written = charts(run, fits, &out, &format!("{name}: "))?;
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
    Ok(())
}

/// The sweep's last step: [`analyze`] then [`plot`]; the first error, if
/// either fails (the caller makes it its one error line).
pub fn analyze_and_plot(dir: &Path) -> Result<(), String> {
    let arms = arm_specs(dir);
    analyze_with(dir, &arms)?;
    plot_with(dir, &arms)
}
