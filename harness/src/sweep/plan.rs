//! The plan printed before training: every job's size, budget and an
//! estimated wall time from a few timed steps of each shape on this machine.

use super::config::SweepConfig;
use super::eval::Suite;
use super::job;
use super::jobs::Job;
use super::progress;
use crate::backend::Backend;
use models::Trainer;
use results::human::{secs, si};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use tasks::stream::Stream;

/// Seconds per training step and per scored checkpoint, by shape.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    pub step_secs: f64,
    pub eval_secs: f64,
    /// The timed shape this one was scaled from by FLOPs per token, when it
    /// was not timed itself.
    pub scaled_from: Option<String>,
}

/// Shapes whose first step takes longer than this are not timed further:
/// larger shapes are extrapolated from the last timed one by FLOPs per token.
const TIMING_BUDGET_SECS: f64 = 1.0;
/// Cheaper shapes are timed over at least two steps after the warmup step,
/// and over more until this many seconds or [`TIMED_STEPS_MAX`] steps.
const TIMED_SECS: f64 = 0.3;
const TIMED_STEPS_MAX: usize = 50;

/// Time training steps (see [`TIMED_SECS`]) and one decoding batch
/// (see [`Suite::estimate_secs`]) per distinct shape among `jobs`, smallest
/// first, until a shape gets expensive; larger ones are scaled from it by
/// FLOPs per token (so a plan for a GPU ladder prints in seconds on a CPU).
pub fn calibrate(
    cfg: &SweepConfig,
    jobs: &[&Job],
    stream: &Stream,
    suite: &Suite,
    backend: &Backend,
) -> Result<BTreeMap<String, Estimate>, String> {
    let mut out = BTreeMap::new();
    let batch = job::batch_at(stream, 0, cfg.train.batch)?;
    let mut ordered: Vec<&&Job> = jobs.iter().collect();
    ordered.sort_by_key(|j| j.model.flops_per_token());
    let mut last: Option<(u64, f64, f64, String)> = None;
    for j in ordered {
        let key = shape_key(j);
        if out.contains_key(&key) {
            continue;
        }
        let flops = j.model.flops_per_token();
        if let Some((f0, step0, eval0, from)) =
            last.as_ref().filter(|l| l.1 > TIMING_BUDGET_SECS).cloned()
        {
            let r = flops as f64 / f0 as f64;
            out.insert(
                key,
                Estimate {
                    step_secs: step0 * r,
                    eval_secs: eval0 * r,
                    scaled_from: Some(from),
                },
            );
            continue;
        }
        let mut t = backend
            .trainer(j.model, job::train_config(cfg, j), j.seed)
            .map_err(|e| e.to_string())?;
        // A step that diverges still took its time; the job itself will
        // record the divergence.
        let step = |t: &mut Trainer| match t.step(&batch) {
            Ok(_) | Err(models::Error::Diverged { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        let t0 = Instant::now();
        step(&mut t)?;
        let first = t0.elapsed().as_secs_f64();
        // A step of a few milliseconds varies from one to the next by about
        // its own length, so its rate is taken over many.
        let step_secs = if first > TIMING_BUDGET_SECS {
            first
        } else {
            let t1 = Instant::now();
            let mut n = 0;
            while n < 2 || (n < TIMED_STEPS_MAX && t1.elapsed().as_secs_f64() < TIMED_SECS) {
                step(&mut t)?;
                n += 1;
            }
            t1.elapsed().as_secs_f64() / n as f64
        };
        let eval_secs = suite.estimate_secs(&t.model.inference())?;
        last = Some((flops, step_secs.max(first), eval_secs, key.clone()));
        out.insert(
            key,
            Estimate {
                step_secs,
                eval_secs,
                scaled_from: None,
            },
        );
    }
    Ok(out)
}

/// Scale the training budget of `cfg` (tokens, or tokens per parameter) so
/// that the estimated time of every job in `jobs` fits `hours`: evaluation
/// time is taken as estimated and the rest goes to
/// training, rounded down to whole batches. `est` must cover every shape.
/// Returns a line for the user saying what was chosen.
pub fn fit_budget(
    cfg: &mut SweepConfig,
    jobs: &[Job],
    est: &BTreeMap<String, Estimate>,
    hours: f64,
) -> Result<String, String> {
    let (mut train, mut eval) = (0.0, 0.0);
    for j in jobs {
        let e = est
            .get(&shape_key(j))
            .ok_or_else(|| format!("no timing for {}", j.model_id))?;
        train += e.step_secs * j.total_steps as f64;
        eval += e.eval_secs * j.eval_steps.len() as f64;
    }
    let wall = hours * 3600.0;
    if wall <= eval || train <= 0.0 {
        return Err(format!(
            "run.hours = {hours}: the evaluation alone is estimated at {} on this machine; ask for more hours or fewer models",
            secs(eval)
        ));
    }
    let scale = (wall - eval) / train;
    let per_step = (cfg.train.batch * cfg.model.context) as u64;
    let t = &mut cfg.train;
    let what = match (t.tokens, t.tokens_per_param) {
        (Some(tokens), _) => {
            let scaled = ((tokens as f64 * scale) as u64 / per_step).max(1) * per_step;
            t.tokens = Some(scaled);
            format!("train.tokens = {scaled} per model")
        }
        (None, Some(r)) => {
            let scaled = r * scale;
            t.tokens_per_param = Some(scaled);
            format!("train.tokens_per_param = {scaled:.4}")
        }
        (None, None) => return Err("train: neither tokens nor tokens_per_param is set".into()),
    };
    Ok(format!(
        "budget for {hours} h on this machine: {what} ({scale:.3}x the config's; evaluation estimated at {})\n",
        secs(eval)
    ))
}

/// What the plan's time estimate rests on, for the line under the table:
/// where the shapes were timed, how many were timed and how many scaled
/// from which one. `asked` is the config's device spec: when it could mean a
/// GPU (`auto`, `cuda:N`) but the estimate was timed on the CPU, the line
/// says that a GPU run must be re-planned there.
pub fn basis(
    est: &BTreeMap<String, Estimate>,
    backend: &Backend,
    threads: usize,
    asked: &str,
) -> String {
    let timed = est.values().filter(|e| e.scaled_from.is_none()).count();
    let scaled: Vec<&str> = est
        .values()
        .filter_map(|e| e.scaled_from.as_deref())
        .collect();
    let device = models::device_name(&backend.device);
    let on = if backend.device.is_cpu() {
        let plural = if threads == 1 { "" } else { "s" };
        format!(
            "{device}, {} kernels, {threads} thread{plural}",
            backend.kernels
        )
    } else {
        format!("{device}, {} kernels", backend.kernels)
    };
    let mut s = format!(
        "estimate based on: {timed} shape{} timed on this machine ({on}: training steps for up to {TIMED_SECS} s after a warmup step, 1 decoding batch)",
        if timed == 1 { "" } else { "s" }
    );
    if let Some(from) = scaled.first() {
        s += &format!(
            "; {} larger shape{} scaled from {from} by FLOPs per token",
            scaled.len(),
            if scaled.len() == 1 { "" } else { "s" }
        );
    }
    s += "\n";
    if backend.device.is_cpu() && asked != "cpu" {
        s += &format!(
            "device = {asked:?} resolved to the CPU here: this is a CPU estimate, not a GPU one; re-plan on the GPU (`--plan-only` there) before trusting it for a GPU run\n"
        );
    }
    s
}

/// Record the plan's estimate for each job in `jobs` that has none yet. The
/// first plan is kept: a resumed sweep re-times the machine, but the
/// question the record answers is whether the first plan held.
pub fn record_estimates(
    run: &Path,
    jobs: &[&Job],
    est: &BTreeMap<String, Estimate>,
) -> Result<(), String> {
    let planned = super::layout::now();
    for j in jobs {
        let Some(e) = est.get(&shape_key(j)) else {
            continue;
        };
        let dir = super::layout::job_dir(run, j);
        let path = dir.join(progress::ESTIMATE_FILE);
        if path.exists() {
            continue;
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let rec = progress::JobEstimate {
            train_seconds: e.step_secs * j.total_steps as f64,
            eval_seconds: e.eval_secs * j.eval_steps.len() as f64,
            planned: planned.clone(),
        };
        let json = serde_json::to_vec_pretty(&rec).expect("an estimate serializes");
        runfolder::write_bytes_atomic(&path, &json).map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub fn shape_key(j: &Job) -> String {
    format!("{}x{}x{}", j.model.n_layer, j.model.d_model, j.model.n_head)
}

/// The plan table; `est` covers the jobs still to run (others print `done`).
pub fn table(
    cfg: &SweepConfig,
    jobs: &[&Job],
    finished: &[usize],
    est: &BTreeMap<String, Estimate>,
) -> (String, f64) {
    let b = cfg.train.batch;
    // Arms' ids (`L3-D96-H6-s0@word+commented`) widen the first column.
    let w = jobs
        .iter()
        .map(|j| j.model_id.len())
        .max()
        .unwrap_or(0)
        .max(18);
    let mut s = format!(
        "{:<w$} {:>9} {:>9} {:>8} {:>9} {:>9} {:>6} {:>9} {:>9}\n",
        "model", "params", "non-emb", "steps", "tokens", "flops", "evals", "eval time", "est. time"
    );
    let mut total = 0.0;
    for j in jobs {
        // The scored checkpoints' share of the estimate, shown on its own:
        // a log-spaced schedule of many points can cost as much as training.
        let (eval, time) = if finished.contains(&j.index) {
            ("done".to_string(), "done".to_string())
        } else if let Some(e) = est.get(&shape_key(j)) {
            let eval = e.eval_secs * j.eval_steps.len() as f64;
            let t = e.step_secs * j.total_steps as f64 + eval;
            total += t;
            (secs(eval), secs(t))
        } else {
            ("?".into(), "?".into())
        };
        s += &format!(
            "{:<w$} {:>9} {:>9} {:>8} {:>9} {:>9} {:>6} {:>9} {:>9}\n",
            j.model_id,
            si(j.model.params() as f64),
            si(j.model.params_non_embedding() as f64),
            j.total_steps,
            si(j.tokens(b) as f64),
            si(j.flops(b)),
            j.eval_steps.len(),
            eval,
            time
        );
    }
    (s, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::{config, jobs, Preset};

    /// Every built-in preset parses, checks, builds its streams and its
    /// evaluation suite (so every task can produce its items and few-shot
    /// prompts) and lays out a plan; each per-task preset trains that task
    /// alone on a ladder of at least six sizes.
    #[test]
    fn every_preset_parses_and_plans() {
        for p in Preset::ALL {
            let cfg = config::parse(p.text(), p.name()).unwrap_or_else(|e| panic!("{e}"));
            assert!(config::check(&cfg).is_empty(), "{}", p.name());
            let all = jobs::jobs(&cfg);
            assert!(!all.is_empty(), "{}", p.name());
            Suite::build(&cfg).unwrap_or_else(|e| panic!("{}: {e}", p.name()));
            let arms: Vec<Option<usize>> = match cfg.arms.len() {
                0 => vec![None],
                n => (0..n).map(Some).collect(),
            };
            for &arm in &arms {
                for &seed in &cfg.run.seeds {
                    crate::sweep::stream_for(&cfg, arm, seed).unwrap_or_else(|e| panic!("{e}"));
                }
            }
            let est: BTreeMap<String, Estimate> = all
                .iter()
                .map(|j| {
                    let e = Estimate {
                        step_secs: 1e-3,
                        eval_secs: 1.0,
                        scaled_from: None,
                    };
                    (shape_key(j), e)
                })
                .collect();
            let refs: Vec<&Job> = all.iter().collect();
            let (table, total) = table(&cfg, &refs, &[], &est);
            assert!(total.is_finite() && total > 0.0, "{}", p.name());
            assert_eq!(table.lines().count(), all.len() + 1, "{}", p.name());
            if tasks::TASK_NAMES.contains(&p.name()) {
                let sizes = jobs::shapes(&cfg).len();
                assert!(sizes >= 6, "{}: {sizes} sizes", p.name());
                let trained: Vec<&str> =
                    cfg.train.mixture.iter().map(|e| e.task.as_str()).collect();
                assert_eq!(trained, [p.name()]);
            }
        }
        // The overnight suite trains every trainable task and scores word_ood
        // beside word and icl at several shot counts, over three seeds.
        let night = config::parse(Preset::Overnight.text(), "overnight").unwrap();
        let trained: Vec<&str> = night
            .train
            .mixture
            .iter()
            .map(|e| e.task.as_str())
            .collect();
        for t in ["add", "mul", "sort", "word", "modp", "icl", "hop"] {
            assert!(trained.contains(&t), "overnight does not train {t}");
        }
        let scored: Vec<&str> = night.eval.tasks.iter().map(|e| e.task.as_str()).collect();
        assert!(scored.contains(&"word") && scored.contains(&"word_ood"));
        let icl = night.eval.tasks.iter().find(|e| e.task == "icl").unwrap();
        assert!(night.eval.shots_of(icl).len() >= 3);
        assert!(night.run.seeds.len() >= 3);
    }

    /// The budget is scaled so that the estimate fits the hours asked for,
    /// in whole batches, with evaluation time set aside.
    #[test]
    fn fit_budget_fills_the_hours() {
        let mut cfg = config::parse(Preset::Quick.text(), "quick").unwrap();
        let all = jobs::jobs(&cfg);
        let est: BTreeMap<String, Estimate> = all
            .iter()
            .map(|j| {
                let e = Estimate {
                    step_secs: j.model.flops_per_token() as f64 * 1e-9,
                    eval_secs: 2.0,
                    scaled_from: None,
                };
                (shape_key(j), e)
            })
            .collect();
        let line = fit_budget(&mut cfg, &all, &est, 0.5).unwrap();
        assert!(line.contains("train.tokens"), "{line}");
        let per_step = (cfg.train.batch * cfg.model.context) as u64;
        assert_eq!(cfg.train.tokens.unwrap() % per_step, 0);
        let scaled = jobs::jobs(&cfg);
        let (train, eval): (f64, f64) = scaled.iter().fold((0.0, 0.0), |(t, e), j| {
            let x = &est[&shape_key(j)];
            (
                t + x.step_secs * j.total_steps as f64,
                e + x.eval_secs * j.eval_steps.len() as f64,
            )
        });
        let wall = train + eval;
        assert!((wall - 1800.0).abs() < 0.02 * 1800.0, "{wall} s for 0.5 h");
        // Less time than the evaluation alone is refused, naming the key.
        let err = fit_budget(&mut cfg, &all, &est, 1e-4).unwrap_err();
        assert!(err.starts_with("run.hours = 0.0001"), "{err}");
    }
}
