//! One job: train a (shape, seed) model from its last checkpoint to the end,
//! scoring it at its evaluation steps, and keep its own rows under
//! `jobs/<model_id>/`.
//!
//! Crash safety rests on one order of writes at every checkpoint: first the
//! job's CSVs (each written whole under a temporary name, then renamed), then
//! the checkpoint, and `status.json` only once the job is over. A resumed job
//! keeps the rows up to its checkpoint's step and recomputes the rest, so a
//! kill at any moment changes nothing but timing columns. Checkpoints and
//! scored steps are multiples of `log_every` (or the last step), so the loss
//! window of a `train_log.csv` row never straddles a resume.

use super::config::{Schedule, SweepConfig};
use super::damage;
use super::eval::Suite;
use super::jobs::Job;
use super::layout::{self, rows_file, JobStatus, CHECKPOINT_DIR, STATUS_FILE, TIMING_FILE};
use crate::backend::Backend;
use indicatif::{ProgressBar, ProgressStyle};
use models::{Batch, TrainConfig, Trainer};
use runfolder::read::read_csv_optional;
use runfolder::{CsvRow, ModelRow, ModelStatus, SampleRow, ScoreRow, TrainLogRow};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tasks::stream::Stream;

/// Progress lines when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(30);

/// What a sweep needs to run any of its jobs.
pub struct Shared<'a> {
    pub cfg: &'a SweepConfig,
    pub stream: &'a Stream,
    pub suite: &'a Suite,
    pub backend: &'a Backend,
    pub threads: usize,
    /// Draw progress bars (stderr is a terminal).
    pub bars: bool,
}

/// The rows a job has produced so far.
#[derive(Default)]
struct Rows {
    models: Vec<ModelRow>,
    log: Vec<TrainLogRow>,
    scores: Vec<ScoreRow>,
    samples: Vec<SampleRow>,
}

fn read_rows<T: CsvRow>(dir: &Path, keep: impl Fn(&T) -> bool) -> Result<Vec<T>, String> {
    Ok(read_csv_optional::<T>(&rows_file::<T>(dir))
        .map_err(|e| e.to_string())?
        .unwrap_or_default()
        .into_iter()
        .filter(keep)
        .collect())
}

impl Rows {
    /// The rows of steps up to `step` (the checkpoint a job resumes from).
    fn load(dir: &Path, step: u64) -> Result<Rows, String> {
        Ok(Rows {
            models: read_rows(dir, |r: &ModelRow| r.step <= step)?,
            log: read_rows(dir, |r: &TrainLogRow| r.step <= step)?,
            scores: read_rows(dir, |r: &ScoreRow| r.step <= step)?,
            samples: read_rows(dir, |r: &SampleRow| r.step <= step)?,
        })
    }

    /// Each file whole, after their sums (see [`damage`]).
    fn save(&self, dir: &Path) -> Result<(), String> {
        fn bytes<T: CsvRow>(dir: &Path, rows: &[T]) -> Result<(&'static str, Vec<u8>), String> {
            let b = runfolder::write::csv_bytes(rows)
                .map_err(|e| format!("{}: {e}", rows_file::<T>(dir).display()))?;
            Ok((T::FILE, b))
        }
        damage::write_summed(
            dir,
            &[
                bytes(dir, &self.log)?,
                bytes(dir, &self.samples)?,
                bytes(dir, &self.scores)?,
                bytes(dir, &self.models)?,
            ],
        )
    }
}

pub fn train_config(cfg: &SweepConfig, job: &Job) -> TrainConfig {
    let t = &cfg.train;
    TrainConfig {
        lr: cfg.lr(job.arm),
        min_lr_ratio: match t.schedule {
            Schedule::Cosine => t.min_lr_ratio,
            Schedule::Constant => 1.0,
        },
        warmup_steps: t.warmup_steps,
        total_steps: job.total_steps,
        weight_decay: t.weight_decay,
        beta1: t.beta1,
        beta2: t.beta2,
        eps: t.eps,
        grad_clip: t.grad_clip,
    }
}

/// One training batch: the sequences at stream positions
/// `step·batch .. (step+1)·batch`, the same for every model of a seed.
pub fn batch_at(stream: &Stream, step: u64, batch: usize) -> Result<Batch, String> {
    let seqs = stream
        .batch(step * batch as u64, batch)
        .map_err(|e| e.to_string())?;
    let tokens: Vec<Vec<u32>> = seqs.iter().map(|s| s.tokens.clone()).collect();
    let masks: Vec<Vec<f32>> = seqs.iter().map(|s| s.loss_mask.clone()).collect();
    Batch::from_sequences(&tokens, Some(&masks)).map_err(|e| e.to_string())
}

pub struct Outcome {
    pub status: JobStatus,
    /// Step the job resumed from (0 for a fresh start).
    pub resumed_from: u64,
    /// Damaged checkpoints moved aside on the way (the summary's lines).
    pub recovered: Vec<String>,
    /// Timing of this attempt only.
    pub train: Duration,
    pub eval: Duration,
}

fn bar(job: &Job, shared: &Shared, start: u64) -> ProgressBar {
    if !shared.bars {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(job.total_steps);
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:20}] {pos}/{len} {msg} ETA {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(job.model_id.clone());
    pb.set_position(start);
    pb
}

pub fn run(job: &Job, dir: &Path, shared: &Shared) -> Result<Outcome, String> {
    let cfg = shared.cfg;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ckpt = dir.join(CHECKPOINT_DIR);
    let (mut trainer, start, recovered) = resume(job, dir, shared)?;
    let mut rows = Rows::load(dir, start)?;
    let (prior_train, prior_eval) = prior_timing(dir);
    let pb = bar(job, shared, start);
    let batch = cfg.train.batch;
    let log_every = cfg.train.log_every;
    let mut train_time = Duration::ZERO;
    let mut eval_time = Duration::ZERO;
    let mut window = Window::default();
    let mut status = ModelStatus::Ok;
    let mut step = start;
    let mut window_start = Instant::now();
    let mut last_line = Instant::now();
    let mut progress = super::progress::ProgressWriter::default();
    while step < job.total_steps {
        let t0 = Instant::now();
        let b = batch_at(shared.stream, step, batch)?;
        let stats = match trainer.step(&b) {
            Ok(s) => s,
            Err(models::Error::Diverged { step: at }) => {
                step = at;
                status = ModelStatus::Diverged;
                rows.models
                    .push(model_row(job, at, trainer.tokens_seen(), f64::NAN, status));
                train_time += t0.elapsed();
                break;
            }
            Err(e) => return Err(format!("{} step {}: {e}", job.model_id, step + 1)),
        };
        step = stats.step;
        window.add(stats.loss, stats.grad_norm, stats.lr, b.tokens());
        pb.set_position(step);
        let scored = job.eval_steps.contains(&step);
        if step % log_every == 0 || step == job.total_steps {
            let secs = window_start.elapsed().as_secs_f64();
            let row = window.row(&job.model_id, step, stats.tokens, secs);
            let msg = format!("loss {:.3} {:.0} tok/s", row.loss, row.tokens_per_sec);
            // Without a terminal (a log file overnight) a line now and then
            // stands in for the bar.
            if !shared.bars && last_line.elapsed() >= LINE_EVERY {
                let left = (job.total_steps - step) as f64 * secs / window.losses.len() as f64;
                crate::output::say(&format!(
                    "  {} step {step}/{}  {msg}  ETA {}\n",
                    job.model_id,
                    job.total_steps,
                    results::human::secs(left)
                ));
                last_line = Instant::now();
            }
            pb.set_message(msg);
            progress.offer(dir, || super::progress::Progress {
                step,
                total_steps: job.total_steps,
                loss: row.loss,
                tokens_per_sec: row.tokens_per_sec,
                seconds: prior_train + prior_eval + (train_time + eval_time).as_secs_f64(),
                updated: layout::now(),
            });
            rows.log.push(row);
            window = Window::default();
            window_start = Instant::now();
        }
        train_time += t0.elapsed();
        if scored {
            let t1 = Instant::now();
            pb.set_message(format!("scoring step {step}"));
            let inf = trainer.model.inference();
            let (samples, scores) = shared.suite.evaluate(&inf, &job.model_id, step)?;
            let loss = rows.log.last().map_or(f64::NAN, |r| r.loss);
            rows.models
                .push(model_row(job, step, stats.tokens, loss, status));
            rows.samples.extend(samples);
            rows.scores.extend(scores);
            eval_time += t1.elapsed();
        }
        if scored || step % cfg.train.checkpoint_every == 0 {
            let t2 = Instant::now();
            rows.save(dir)?;
            trainer
                .save(&ckpt, step * batch as u64)
                .map_err(|e| e.to_string())?;
            write_timing(
                dir,
                prior_train + train_time.as_secs_f64(),
                prior_eval + eval_time.as_secs_f64(),
            )?;
            train_time += t2.elapsed();
            // Scored and checkpoint steps end a log window: the next one
            // starts now, so its tokens/s leaves scoring and saving out.
            window_start = Instant::now();
        }
    }
    pb.finish_and_clear();
    rows.save(dir)?;
    // A job resumed at its end after a crash between a save's two renames
    // has only `checkpoint.old`: that is its checkpoint now.
    let old = dir.join(layout::OLD_CHECKPOINT_DIR);
    if !ckpt.exists() && old.exists() {
        std::fs::rename(&old, &ckpt).map_err(|e| format!("{}: {e}", old.display()))?;
    }
    let st = JobStatus {
        model_id: job.model_id.clone(),
        status,
        step,
        tokens: trainer.tokens_seen(),
        train_seconds: prior_train + train_time.as_secs_f64(),
        eval_seconds: prior_eval + eval_time.as_secs_f64(),
        device: models::device_name(&shared.backend.device),
        threads: shared.threads,
        checkpoint: Some(damage::checkpoint_sums(&ckpt)?),
    };
    let json = serde_json::to_vec_pretty(&st).expect("status serializes");
    runfolder::write_bytes_atomic(&dir.join(STATUS_FILE), &json).map_err(|e| e.to_string())?;
    Ok(Outcome {
        status: st,
        resumed_from: start,
        recovered,
        train: train_time,
        eval: eval_time,
    })
}

fn fresh_trainer(job: &Job, shared: &Shared) -> Result<Trainer, String> {
    (shared.backend)
        .trainer(job.model, train_config(shared.cfg, job), job.seed)
        .map_err(|e| format!("{}: {e}", job.model_id))
}

/// Why a checkpoint was not used: damaged (moved aside, the job falls back)
/// or unreadable (the sweep stops with the message).
enum Unusable {
    Damaged(String),
    Unreadable(String),
}

/// Load `ckpt` into `trainer`, refusing a checkpoint that loads but cannot
/// be this job's (another batch size, or past its last step). Returns its step.
fn load_checked(
    trainer: &mut Trainer,
    ckpt: &Path,
    job: &Job,
    cfg: &SweepConfig,
) -> Result<u64, Unusable> {
    if !ckpt.join(models::checkpoint::STATE_FILE).is_file() {
        return Err(Unusable::Damaged(format!(
            "checkpoint {}: no {}",
            ckpt.display(),
            models::checkpoint::STATE_FILE
        )));
    }
    let info = trainer
        .load(ckpt)
        .map_err(|e| match damage::read_error(&e) {
            Some(stop) => Unusable::Unreadable(stop),
            None => Unusable::Damaged(e.to_string()),
        })?;
    let batch = cfg.train.batch as u64;
    if info.data_position != info.step * batch {
        return Err(Unusable::Damaged(format!(
            "checkpoint {}: data position {} does not match step {} at batch {batch} (another run's checkpoint?)",
            ckpt.display(),
            info.data_position,
            info.step,
        )));
    }
    if info.step > job.total_steps {
        return Err(Unusable::Damaged(format!(
            "checkpoint {}: step {} is past this job's last step {} (another run's checkpoint?)",
            ckpt.display(),
            info.step,
            job.total_steps
        )));
    }
    Ok(info.step)
}

/// A trainer at the job's last good checkpoint: `checkpoint`, else the
/// `checkpoint.old` a crash mid-save leaves, else step 0. A checkpoint that
/// fails to load is moved aside with a warning rather than stopping the
/// sweep; one that cannot be read (a permission) stops it. Returns the
/// trainer, its step and the summary's lines.
fn resume(job: &Job, dir: &Path, shared: &Shared) -> Result<(Trainer, u64, Vec<String>), String> {
    let run_dir = dir.parent().and_then(Path::parent).unwrap_or(dir);
    let mut failed: Vec<(PathBuf, String, PathBuf)> = Vec::new();
    let mut found = None;
    for name in [CHECKPOINT_DIR, layout::OLD_CHECKPOINT_DIR] {
        let cand = dir.join(name);
        if !cand.exists() {
            continue;
        }
        // A fresh trainer per attempt: a checkpoint refused after loading
        // has already replaced the weights.
        let mut t = fresh_trainer(job, shared)?;
        match load_checked(&mut t, &cand, job, shared.cfg) {
            Ok(step) => {
                found = Some((t, step, name));
                break;
            }
            Err(Unusable::Unreadable(stop)) => return Err(stop),
            Err(Unusable::Damaged(reason)) => {
                let aside = damage::move_aside(&cand)?;
                failed.push((cand, reason, aside));
            }
        }
    }
    let then = match &found {
        Some((_, step, name)) => format!("the job resumes from {name} at step {step}"),
        None => "the job restarts from step 0".to_string(),
    };
    let notes = failed
        .iter()
        .map(|(cand, reason, aside)| damage::report(run_dir, cand, reason, aside, &then))
        .collect();
    match found {
        Some((t, step, _)) => Ok((t, step, notes)),
        None => Ok((fresh_trainer(job, shared)?, 0, notes)),
    }
}

/// Score a finished job's last checkpoint again (after a change to the
/// scoring code, say) and replace its rows at that step. Only the weights
/// are read. Returns the step.
pub fn rescore(
    job: &Job,
    dir: &Path,
    cfg: &SweepConfig,
    suite: &Suite,
    backend: &Backend,
) -> Result<u64, String> {
    let status =
        layout::read_status(dir)?.ok_or_else(|| format!("{}: job not finished", dir.display()))?;
    let ckpt = dir.join(CHECKPOINT_DIR);
    let mut trainer = backend
        .trainer(job.model, train_config(cfg, job), job.seed)
        .map_err(|e| e.to_string())?;
    let info = trainer.load_weights(&ckpt).map_err(|e| e.to_string())?;
    if info.step != status.step {
        return Err(format!(
            "{}: checkpoint is at step {}, but the job ended at step {}",
            ckpt.display(),
            info.step,
            status.step
        ));
    }
    let step = info.step;
    let (samples, scores) = suite.evaluate(&trainer.model.inference(), &job.model_id, step)?;
    let mut rows = Rows::load(dir, step)?;
    rows.samples.retain(|r| r.step != step);
    rows.scores.retain(|r| r.step != step);
    rows.samples.extend(samples);
    rows.scores.extend(scores);
    rows.save(dir)?;
    Ok(step)
}

/// Wall time spent before an interruption, so a resumed job's totals count
/// every attempt.
fn prior_timing(dir: &Path) -> (f64, f64) {
    std::fs::read(dir.join(TIMING_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<(f64, f64)>(&b).ok())
        .unwrap_or((0.0, 0.0))
}

fn write_timing(dir: &Path, train: f64, eval: f64) -> Result<(), String> {
    let json = serde_json::to_vec(&(train, eval)).expect("timing serializes");
    runfolder::write_bytes_atomic(&dir.join(TIMING_FILE), &json).map_err(|e| e.to_string())
}

fn model_row(job: &Job, step: u64, tokens: u64, train_loss: f64, status: ModelStatus) -> ModelRow {
    let m = &job.model;
    ModelRow {
        model_id: job.model_id.clone(),
        seed: job.seed,
        n_layer: m.n_layer as u32,
        d_model: m.d_model as u32,
        n_head: m.n_head as u32,
        params: m.params() as u64,
        params_non_embedding: m.params_non_embedding() as u64,
        step,
        tokens,
        flops: m.training_flops(tokens),
        train_loss,
        status,
    }
}

/// Steps since the last `train_log.csv` row.
#[derive(Default)]
struct Window {
    losses: Vec<f64>,
    grad_norm: f64,
    lr: f64,
    tokens: u64,
}

impl Window {
    fn add(&mut self, loss: f64, grad_norm: f64, lr: f64, tokens: u64) {
        self.losses.push(loss);
        self.grad_norm = grad_norm;
        self.lr = lr;
        self.tokens += tokens;
    }

    /// Mean loss over the window; gradient norm and learning rate of its
    /// last step.
    fn row(&self, model_id: &str, step: u64, tokens: u64, secs: f64) -> TrainLogRow {
        TrainLogRow {
            model_id: model_id.to_string(),
            step,
            tokens,
            loss: self.losses.iter().sum::<f64>() / self.losses.len().max(1) as f64,
            lr: self.lr,
            grad_norm: self.grad_norm,
            tokens_per_sec: if secs > 0.0 {
                self.tokens as f64 / secs
            } else {
                0.0
            },
        }
    }
}
