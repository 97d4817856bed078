//! The plan printed before training: every job's size, budget and an
//! estimated wall time from a few timed steps of each shape on this machine.

use super::config::SweepConfig;
use super::eval::Suite;
use super::job;
use super::jobs::Job;
use crate::stream::Stream;
use models::{Device, Trainer};
use std::collections::BTreeMap;
use std::time::Instant;

/// Seconds per training step and per scored checkpoint, by shape.
pub struct Estimate {
    pub step_secs: f64,
    pub eval_secs: f64,
}

/// Shapes whose first step takes longer than this are not timed further:
/// larger shapes are extrapolated from the last timed one by FLOPs per token.
const TIMING_BUDGET_SECS: f64 = 1.0;

/// Time two training steps (after one warmup step) and one decoding batch
/// per distinct shape among `jobs`, smallest first, until a shape gets
/// expensive; larger ones are scaled from it by FLOPs per token (so a plan
/// for a GPU ladder prints in seconds on a CPU). Decoding an untrained model
/// runs to the token limit, so the evaluation estimate is an upper bound.
pub fn calibrate(
    cfg: &SweepConfig,
    jobs: &[&Job],
    stream: &Stream,
    suite: &Suite,
    device: &Device,
) -> Result<BTreeMap<String, Estimate>, String> {
    let mut out = BTreeMap::new();
    let batch = job::batch_at(stream, 0, cfg.train.batch)?;
    let mut ordered: Vec<&&Job> = jobs.iter().collect();
    ordered.sort_by_key(|j| j.model.flops_per_token());
    let mut last: Option<(u64, f64, f64)> = None;
    for j in ordered {
        let key = shape_key(j);
        if out.contains_key(&key) {
            continue;
        }
        let flops = j.model.flops_per_token();
        if let Some((f0, step0, eval0)) = last.filter(|l| l.1 > TIMING_BUDGET_SECS) {
            let r = flops as f64 / f0 as f64;
            out.insert(
                key,
                Estimate {
                    step_secs: step0 * r,
                    eval_secs: eval0 * r,
                },
            );
            continue;
        }
        let mut t = Trainer::new(j.model, job::train_config(cfg, j), device, j.seed)
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
        let step_secs = if first > TIMING_BUDGET_SECS {
            first
        } else {
            let t1 = Instant::now();
            step(&mut t)?;
            step(&mut t)?;
            t1.elapsed().as_secs_f64() / 2.0
        };
        let eval_secs = suite.time_one_batch(&t.model.inference())? * suite.batches() as f64;
        last = Some((flops, step_secs.max(first), eval_secs));
        out.insert(
            key,
            Estimate {
                step_secs,
                eval_secs,
            },
        );
    }
    Ok(out)
}

pub fn shape_key(j: &Job) -> String {
    format!("{}x{}x{}", j.model.n_layer, j.model.d_model, j.model.n_head)
}

pub fn human_secs(s: f64) -> String {
    if !s.is_finite() {
        return "?".into();
    }
    let s = s.round() as u64;
    match s {
        0..=99 => format!("{s}s"),
        100..=5999 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn si(x: f64) -> String {
    let (v, unit) = match x.abs() {
        a if a >= 1e18 => (x / 1e18, "E"),
        a if a >= 1e15 => (x / 1e15, "P"),
        a if a >= 1e12 => (x / 1e12, "T"),
        a if a >= 1e9 => (x / 1e9, "G"),
        a if a >= 1e6 => (x / 1e6, "M"),
        a if a >= 1e3 => (x / 1e3, "k"),
        _ => (x, ""),
    };
    format!("{v:.3}{unit}").replace(".000", "")
}

/// The plan table; `est` covers the jobs still to run (others print `done`).
pub fn table(
    cfg: &SweepConfig,
    jobs: &[&Job],
    finished: &[usize],
    est: &BTreeMap<String, Estimate>,
) -> (String, f64) {
    let b = cfg.train.batch;
    let mut s = format!(
        "{:<18} {:>9} {:>9} {:>8} {:>9} {:>9} {:>6} {:>9}\n",
        "model", "params", "non-emb", "steps", "tokens", "flops", "evals", "est. time"
    );
    let mut total = 0.0;
    for j in jobs {
        let time = if finished.contains(&j.index) {
            "done".to_string()
        } else if let Some(e) = est.get(&shape_key(j)) {
            let t = e.step_secs * j.total_steps as f64 + e.eval_secs * j.eval_steps.len() as f64;
            total += t;
            human_secs(t)
        } else {
            "?".into()
        };
        s += &format!(
            "{:<18} {:>9} {:>9} {:>8} {:>9} {:>9} {:>6} {:>9}\n",
            j.model_id,
            si(j.model.params() as f64),
            si(j.model.params_non_embedding() as f64),
            j.total_steps,
            si(j.tokens(b) as f64),
            si(j.flops(b)),
            j.eval_steps.len(),
            time
        );
    }
    (s, total)
}
