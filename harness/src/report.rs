//! `report.md`: the one page a person reads first in a run folder. It is
//! written from the folder's own files (fits, claims, forecast, arms, the
//! scores' seed means, the config and manifest), so it can be rewritten at
//! any time without changing anything else; `emerge plot` and the end of a
//! sweep write it, and `emerge report` on its own (the gallery's folders,
//! whose charts sit beside the CSVs rather than in `plots/`).

use crate::cmd_status;
use crate::sweep::folder;
use plots::chart::Chart;
use results::human::{secs, si};
use runfolder::ids::arm_dir;
use runfolder::schema::CurveKey;
use runfolder::schema::{claim, files, ArmRow, ClaimRow, FitRow, ForecastRow, TimeRow};
use runfolder::Mode;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const REPORT: &str = "report.md";

fn opt_csv<T: runfolder::CsvRow>(path: &Path) -> Result<Vec<T>, String> {
    Ok(runfolder::read::read_csv_optional(path)
        .map_err(|e| e.to_string())?
        .unwrap_or_default())
}

/// `12.3k [9.87k, 15.1k]`, an open bound as `…`.
fn interval(v: Option<f64>, lo: Option<f64>, hi: Option<f64>) -> String {
    let b = |x: Option<f64>| x.map_or("…".to_string(), si);
    match v {
        Some(v) => format!("{} [{}, {}]", si(v), b(lo), b(hi)),
        None => "not located".into(),
    }
}

fn signed(v: f64) -> String {
    format!("{v:+.2}")
}

/// The headline rows of a fits table: exact match on the parameter axis,
/// the preferred shape (N* and the verdict are the same on both rows).
fn headline(fits: &[FitRow]) -> Vec<&FitRow> {
    fits.iter()
        .filter(|f| f.metric == "exact_match" && f.x_axis == "params" && f.preferred)
        .collect()
}

/// Seed-mean final exact match at the smallest and the largest size, with
/// chance, per curve.
fn ends(run: &results::Run) -> BTreeMap<CurveKey, (f64, f64, f64)> {
    run.final_curves()
        .into_iter()
        .filter(|(k, _)| k.metric == "exact_match")
        .filter_map(|(k, pts)| {
            let first = pts.iter().min_by_key(|p| p.params_non_embedding)?;
            let last = pts.iter().max_by_key(|p| p.params_non_embedding)?;
            Some((k, (first.chance, first.value, last.value)))
        })
        .collect()
}

fn verdict_table(s: &mut String, run: Option<&results::Run>, fits: &[FitRow]) {
    let ends = run.map(ends).unwrap_or_default();
    s.push_str("| task | mode | shots | chance | exact match, smallest → largest size | N* (95% interval) | verdict (seeds) |\n");
    s.push_str("|---|---|---|---|---|---|---|\n");
    for f in headline(fits) {
        let key = CurveKey {
            task: f.task.clone(),
            mode: f.mode,
            shots: f.shots,
            metric: f.metric.clone(),
        };
        let (chance, em) = ends.get(&key).map_or(("".into(), "".into()), |(c, a, b)| {
            (format!("{c:.3}"), format!("{a:.3} → {b:.3}"))
        });
        let verdict = f.verdict.replace('_', " ");
        let verdict = if f.verdict_seeds.is_empty() {
            verdict
        } else {
            format!("{verdict} ({})", f.verdict_seeds)
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {chance} | {em} | {} | {verdict} |",
            f.task,
            f.mode.as_str(),
            f.shots,
            interval(f.threshold_params, f.threshold_lo, f.threshold_hi),
        );
    }
}

/// Each claim at the size where it is largest, and at the largest size.
fn claims_table(s: &mut String, claims: &[ClaimRow]) {
    let mut keys: Vec<(&str, &str, Mode, u32)> = claims
        .iter()
        .map(|c| (c.claim.as_str(), c.task.as_str(), c.mode, c.shots))
        .collect();
    keys.dedup();
    s.push_str(
        "| claim | task | mode | shots | at the largest size | largest value (size) | seeds |\n",
    );
    s.push_str("|---|---|---|---|---|---|---|\n");
    for (claim, task, mode, shots) in keys {
        let rows: Vec<&ClaimRow> = claims
            .iter()
            .filter(|c| c.claim == claim && c.task == task && c.mode == mode && c.shots == shots)
            .collect();
        let (Some(last), Some(top)) = (
            rows.iter().max_by_key(|c| c.params_non_embedding),
            rows.iter().max_by(|a, b| a.value.total_cmp(&b.value)),
        ) else {
            continue;
        };
        // Gains and gaps are differences, signed; a rate or a loss is not.
        let difference = [claim::COT_GAIN, claim::OOD_GAP, claim::SHOT_GAIN].contains(&claim);
        let v = |x: f64| {
            if difference {
                signed(x)
            } else {
                format!("{x:.3}")
            }
        };
        // The loss at which a size crosses the level is a position, not an
        // amount: its largest value says nothing.
        let top = if claim == claim::LOSS_AT_LEVEL {
            "—".to_string()
        } else {
            format!("{} ({})", v(top.value), si(top.params_non_embedding as f64))
        };
        let _ = writeln!(
            s,
            "| {claim} | {task} | {} | {shots} | {} [{}, {}] at {} | {top} | {} |",
            mode.as_str(),
            v(last.value),
            v(last.ci_lo),
            v(last.ci_hi),
            si(last.params_non_embedding as f64),
            last.n_seeds
        );
    }
}

/// The forecasts that were made, then one line on those that were not,
/// grouped by reason: a row per (curve, predictor) pair that could not
/// forecast reads as noise.
fn forecast_table(s: &mut String, rows: &[ForecastRow]) {
    let (made, none): (Vec<&ForecastRow>, Vec<&ForecastRow>) =
        rows.iter().partition(|r| r.forecast.is_some());
    if made.is_empty() {
        s.push_str("No predictor reached the level from the sizes below it.\n");
    } else {
        forecast_rows(s, &made);
    }
    if !none.is_empty() {
        let mut why: BTreeMap<String, usize> = BTreeMap::new();
        for r in &none {
            let reason = match r.status.as_str() {
                "too_few_sizes_below" => "fewer than 3 sizes below the level".to_string(),
                _ => {
                    // `note` holds "; "-separated parts; the reason is the
                    // one that names the predictor.
                    let own = format!("{}: ", r.predictor);
                    let n = r
                        .note
                        .split("; ")
                        .find_map(|part| part.strip_prefix(own.as_str()))
                        .unwrap_or(r.note.as_str());
                    if n.is_empty() {
                        r.status.replace('_', " ")
                    } else {
                        n.to_string()
                    }
                }
            };
            *why.entry(reason).or_default() += 1;
        }
        let reasons: Vec<String> = why.iter().map(|(w, n)| format!("{w} ({n})")).collect();
        let _ = writeln!(
            s,
            "\nNo forecast for {} of {} (curve, predictor) pairs: {}. `forecast.csv` has every pair.",
            none.len(),
            rows.len(),
            reasons.join("; ")
        );
    }
}

fn forecast_rows(s: &mut String, rows: &[&ForecastRow]) {
    s.push_str("| task | mode | shots | predictor | forecast N* | measured N* | error (decades) | held |\n");
    s.push_str("|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let held = match r.covered {
            Some(true) => "yes",
            Some(false) => "no",
            None => "",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {held} |",
            r.task,
            r.mode.as_str(),
            r.shots,
            r.predictor,
            interval(r.forecast, r.forecast_lo, r.forecast_hi),
            interval(Some(r.measured), r.measured_lo, r.measured_hi),
            r.error_decades.map_or(String::new(), signed),
        );
    }
}

fn arms_table(s: &mut String, rows: &[ArmRow]) {
    s.push_str("| task | mode | shots | arm | lr | N* (95% interval) | shift from the baseline (decades) | shift from the control | verdict |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    let shift = |v: Option<f64>, lo: Option<f64>, hi: Option<f64>, kind: &str| match (v, kind) {
        (Some(v), _) => format!(
            "{} [{}, {}]",
            signed(v),
            lo.map_or("…".into(), signed),
            hi.map_or("…".into(), signed)
        ),
        (None, "bound") => format!(
            "within [{}, {}]",
            lo.map_or("…".into(), signed),
            hi.map_or("…".into(), signed)
        ),
        (None, k) => k.replace('_', " "),
    };
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}{} |",
            r.task,
            r.mode.as_str(),
            r.shots,
            r.arm,
            r.lr.map_or(String::new(), |x| format!("{x:e}")),
            interval(r.n_star, r.n_star_lo, r.n_star_hi),
            shift(r.shift, r.shift_lo, r.shift_hi, &r.shift_kind),
            shift(
                r.control_shift,
                r.control_shift_lo,
                r.control_shift_hi,
                &r.control_shift_kind
            ),
            r.verdict,
            if r.verdict_changes {
                " (changes with lr)"
            } else {
                ""
            }
        );
    }
}

/// The PNGs of `dir` (in `plots/`, or beside the CSVs in a gallery copy),
/// relative to `run`: the overview first, then the task charts, then the rest.
fn pngs(run: &Path, dir: &Path) -> Vec<PathBuf> {
    let plots = dir.join(files::PLOTS_DIR);
    let from = if plots.is_dir() {
        plots
    } else {
        dir.to_path_buf()
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(&from)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .filter_map(|p| p.strip_prefix(run).ok().map(Path::to_path_buf))
        .collect();
    // In [`Chart`]'s order, then by name; other PNGs last.
    let rank = |p: &PathBuf| {
        let n = p.file_name().unwrap_or_default().to_string_lossy();
        let chart = Chart::of_file(&n).map(|(c, _)| c);
        (chart.is_none(), chart, n.into_owned())
    };
    out.sort_by_key(rank);
    out
}

fn figures(s: &mut String, run: &Path, dir: &Path) {
    for p in pngs(run, dir) {
        let rel = p.to_string_lossy().replace('\\', "/");
        let name = p.file_stem().unwrap_or_default().to_string_lossy();
        let file = p.file_name().unwrap_or_default().to_string_lossy();
        // The sentence above the chart says what it shows; the alt text
        // names the file.
        if let Some(c) = plots::chart::caption(&file) {
            let _ = writeln!(s, "{c}\n");
        }
        let _ = writeln!(s, "![{name}]({rel})\n");
    }
}

/// Each finished job's planned time against what it took: from `jobs/`
/// (and then saved as `times.csv`, which a gallery copy keeps), or from
/// `times.csv` in a folder without jobs.
fn times(run: &Path) -> Result<Vec<TimeRow>, String> {
    if !run.join(files::JOBS_DIR).is_dir() {
        return opt_csv(&run.join(files::TIMES));
    }
    let Ok(v) = cmd_status::view(run) else {
        return Ok(Vec::new());
    };
    let rows: Vec<TimeRow> = v
        .jobs
        .iter()
        .filter_map(|j| match &j.state {
            cmd_status::State::Done(st) => Some(TimeRow {
                model_id: j.job.model_id.clone(),
                estimated_seconds: j.estimate.as_ref().map(|e| e.total()),
                train_seconds: st.train_seconds,
                eval_seconds: st.eval_seconds,
            }),
            _ => None,
        })
        .collect();
    if !rows.is_empty() {
        runfolder::write_csv(&run.join(files::TIMES), &rows).map_err(|e| e.to_string())?;
    }
    Ok(rows)
}

fn timing(s: &mut String, rows: &[TimeRow]) {
    let planned: Vec<(&TimeRow, f64)> = rows
        .iter()
        .filter_map(|r| r.estimated_seconds.map(|e| (r, e)))
        .collect();
    if planned.is_empty() {
        return;
    }
    let took = |r: &TimeRow| r.train_seconds + r.eval_seconds;
    let a: f64 = planned.iter().map(|(r, _)| took(r)).sum();
    let e: f64 = planned.iter().map(|(_, e)| e).sum();
    s.push_str("\n## Time: the plan against the run\n\n");
    let _ = writeln!(
        s,
        "{} jobs took {} of training and scoring; the plan estimated {} for them ({:+.0}%). `times.csv` has every job.\n",
        planned.len(),
        secs(a),
        secs(e),
        100.0 * (a / e - 1.0)
    );
    s.push_str("| job | estimated | took | difference |\n|---|---|---|---|\n");
    for (r, e) in planned {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:+.0}% |",
            r.model_id,
            secs(e),
            secs(took(r)),
            100.0 * (took(r) / e - 1.0)
        );
    }
}

fn config_essentials(s: &mut String, run: &Path) {
    let Ok(cfg) = folder::read_config(run) else {
        return;
    };
    s.push_str("\n## Config\n\n");
    let mut sizes: Vec<(u64, String)> = crate::sweep::jobs::jobs(&cfg)
        .iter()
        .map(|j| {
            let m = &j.model;
            let n = m.params_non_embedding() as u64;
            (
                n,
                format!(
                    "({}, {}, {}) {}",
                    m.n_layer,
                    m.d_model,
                    m.n_head,
                    si(n as f64)
                ),
            )
        })
        .collect();
    sizes.sort();
    sizes.dedup();
    let sizes: Vec<String> = sizes.into_iter().map(|(_, s)| s).collect();
    let t = &cfg.train;
    let tokens = match (t.tokens, t.tokens_per_param) {
        (Some(n), _) => format!("{} tokens per model", si(n as f64)),
        (None, Some(r)) => format!("{r} tokens per parameter"),
        (None, None) => String::new(),
    };
    let mixture: Vec<String> = cfg
        .train
        .mixture
        .iter()
        .map(|e| format!("{} ×{}", e.task, e.weight))
        .collect();
    let scored: Vec<&str> = cfg.eval.tasks.iter().map(|e| e.task.as_str()).collect();
    let _ = writeln!(
        s,
        "- ladder (layers, width, heads; non-embedding parameters): {}",
        sizes.join(", ")
    );
    let _ = writeln!(
        s,
        "- training: {tokens}, batch {} × context {}, lr {:e}, seeds {:?}",
        t.batch, cfg.model.context, t.lr, cfg.run.seeds
    );
    if cfg.arms.is_empty() {
        let _ = writeln!(s, "- mixture: {}", mixture.join(", "));
    } else {
        let names: Vec<&str> = cfg.arms.iter().map(|a| a.name.as_str()).collect();
        let _ = writeln!(s, "- arms: {}", names.join(", "));
    }
    let _ = writeln!(
        s,
        "- scored: {} ({} items, modes {:?}); `config.toml` has the rest",
        scored.join(", "),
        cfg.eval.items,
        cfg.eval
            .modes
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
    );
}

fn provenance(s: &mut String, run: &Path) {
    s.push_str("\n## Provenance\n\n");
    if let Ok(m) = std::fs::read_to_string(run.join(files::MANIFEST)) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&m) {
            let f = |k: &str| v[k].to_string().trim_matches('"').to_string();
            let _ = writeln!(
                s,
                "- emerge {} at revision {}, candle {}; {} ({} kernels, {} threads) on host {}",
                f("emerge_version"),
                f("git_revision"),
                f("candle_version"),
                f("device"),
                f("kernels"),
                f("threads"),
                f("host")
            );
            let _ = writeln!(
                s,
                "- last sweep invocation: started {}, finished {}; {} of {} jobs done ({} diverged)",
                f("started"),
                f("finished"),
                f("jobs_done"),
                f("jobs_total"),
                f("jobs_diverged")
            );
        }
    }
    if let Ok(p) = std::fs::read_to_string(run.join("provenance.txt")) {
        let _ = write!(s, "\n```\n{}```\n", p);
        return;
    }
    s.push_str(
        "\nThe same config, seed, machine and thread count give byte-identical scores; another thread count or CPU changes float summation order, so a re-run agrees in distribution (within the seed bands), not bit for bit.\n",
    );
}

/// Write `run/report.md` from what the folder holds.
pub fn write(run: &Path) -> Result<PathBuf, String> {
    let fits: Vec<FitRow> = opt_csv(&run.join(files::FITS))?;
    let arm_rows: Vec<ArmRow> = opt_csv(&run.join(<ArmRow as runfolder::CsvRow>::FILE))?;
    let name = folder::read_config(run).map_or_else(
        |_| {
            run.file_name()
                .map_or("run".into(), |n| n.to_string_lossy().into_owned())
        },
        |c| c.run.name,
    );
    let mut s = format!("# emerge run `{name}`\n\n");
    s.push_str(
        "Read this first; the CSVs beside it hold every number. N* is the size (non-embedding parameters) at which seed-mean exact match crosses the config's fixed level (halfway between chance and 1 unless `eval.threshold_level` says otherwise); its interval is a bootstrap over seeds and items, never narrower than the gap between the two sizes around it when neither lies on the slope. A curve that never crosses is *not located*. A curve is *emergent* when the jump is bracketed in the seed mean and in at least 2 of 3 seeds (docs/DESIGN.md of the emerge repository states the rule).\n",
    );
    if !arm_rows.is_empty() {
        s.push_str("\n## Arms: thresholds and shifts (exact match)\n\n");
        arms_table(&mut s, &arm_rows);
        for arm in arm_rows
            .iter()
            .map(|r| r.arm.as_str())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let dir = arm_dir(run, arm);
            let fits: Vec<FitRow> = opt_csv(&dir.join(files::FITS))?;
            let _ = write!(s, "\n### Arm `{arm}`\n\n");
            let loaded = results::Run::load_arm(run, arm).ok();
            verdict_table(&mut s, loaded.as_ref(), &fits);
        }
    } else if !fits.is_empty() {
        s.push_str("\n## Verdicts (exact match)\n\n");
        let loaded = results::Run::load(run).ok();
        verdict_table(&mut s, loaded.as_ref(), &fits);
    } else {
        s.push_str("\nNo fits yet: `emerge analyze` writes them once the sweep's jobs are done.\n");
    }
    let claims: Vec<ClaimRow> = opt_csv(&run.join(files::CLAIMS))?;
    if !claims.is_empty() {
        s.push_str("\n## Claims\n\nEach claim's value with its 95% interval at the largest size, and the size where it is largest (`claims.csv` has every size).\n\n");
        claims_table(&mut s, &claims);
    }
    let forecast: Vec<ForecastRow> = opt_csv(&run.join(files::FORECAST))?;
    if !forecast.is_empty() {
        s.push_str("\n## Forecast backtest\n\nEach located N* forecast from the sizes below the level alone, against the measured one (`emerge forecast`); *held* when the measured N* lies in the forecast's interval.\n\n");
        forecast_table(&mut s, &forecast);
    }
    timing(&mut s, &times(run)?);
    s.push_str("\n## Figures\n\n");
    figures(&mut s, run, run);
    if run.join(files::ARMS_DIR).is_dir() {
        for r in arm_rows
            .iter()
            .map(|r| r.arm.as_str())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let _ = write!(s, "### Arm `{r}`\n\n");
            figures(&mut s, run, &arm_dir(run, r));
        }
    }
    config_essentials(&mut s, run);
    provenance(&mut s, run);
    let path = run.join(REPORT);
    runfolder::write_bytes_atomic(&path, s.as_bytes()).map_err(|e| e.to_string())?;
    Ok(path)
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run folder (as written by `emerge sweep`, or a gallery copy).
    #[arg(long)]
    pub run: PathBuf,
}

pub fn run(args: &ReportArgs) -> Result<(), String> {
    if !results::load::is_run_folder(&args.run) {
        return Err(format!(
            "{}: not a run folder (no {})",
            args.run.display(),
            files::MODELS
        ));
    }
    let p = write(&args.run)?;
    crate::output::say(&format!("wrote {}\n", p.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The forecasts made get a row each; the others are counted in one
    /// line by their own predictor's reason, whatever else the note holds.
    #[test]
    fn forecasts_not_made_are_counted_by_their_own_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forecast.csv");
        let csv = "\
task,mode,shots,predictor,basis,status,sizes_used,largest_used,level,forecast,forecast_lo,forecast_hi,measured,measured_lo,measured_hi,error_decades,covered,interval_noise,note
sort,direct,0,sigmoid,points,ok,4,56640,0.5,57950,54195,63653,60851,51379,65398,-0.0212,true,items,
add,direct,0,sigmoid,points,no_forecast,5,100096,0.5,,,,217221,100096,335712,,,items,sigmoid: exact match is within 0.05 of chance at every size below: no rise to extrapolate
add,direct,0,logprob,items,no_forecast,5,100096,0.5,,,,217221,100096,335712,,,items,\"fewer than 5 items right (or wrong) below the level: the link is sampling's, exp(s); logprob: the fitted trend stays below the level within 2 decades of the largest size used\"
modp,cot,0,logprob,items,no_forecast,5,100096,0.505,,,,243479,113786,277933,,,items,logprob: the fitted trend stays below the level within 2 decades of the largest size used
mul,cot,0,log_linear,points,too_few_sizes_below,2,12768,0.5,,,,451000,336000,,,,items,
";
        std::fs::write(&path, csv).unwrap();
        let rows: Vec<ForecastRow> = runfolder::read::read_csv(&path).unwrap();
        let mut s = String::new();
        forecast_table(&mut s, &rows);
        assert!(
            s.contains("| sort | direct | 0 | sigmoid | 58k [54.2k, 63.7k] | 60.9k [51.4k, 65.4k] | -0.02 | yes |"),
            "{s}"
        );
        assert_eq!(
            s.lines().filter(|l| l.starts_with("| ")).count(),
            2,
            "a header and one forecast:\n{s}"
        );
        assert!(
            s.contains(
                "No forecast for 4 of 5 (curve, predictor) pairs: \
                 exact match is within 0.05 of chance at every size below: no rise to extrapolate (1); \
                 fewer than 3 sizes below the level (1); \
                 the fitted trend stays below the level within 2 decades of the largest size used (2)."
            ),
            "{s}"
        );
    }
}
