//! `emerge export`: one job's initial weights and its first K training
//! batches, as files another framework can replay (`scripts/torch_replay.py`),
//! and optionally emerge's own training trace over the same K steps.
//!
//! The folder holds:
//! - `init.safetensors`: the weights at step 0, under the checkpoint names;
//! - `batches.safetensors`: `tokens` `(K, batch, context + 1)` (U8 when the
//!   vocabulary fits in a byte, else U32; inputs are `[..context]`, targets
//!   `[1..]`) and `loss_mask` `(K, batch, context)` (U8, 1 where the target
//!   counts), exactly what step `k` of the job trains on;
//! - `meta.json`: the model shape, the optimizer and schedule
//!   ([`models::TrainConfig`], with the job's `total_steps`), the batch size,
//!   and each parameter's name, shape and whether AdamW decays it;
//! - with `--train`: `trace_<kernels>.csv` (step, loss, grad_norm, lr at every
//!   step) and `final_<kernels>.safetensors` (the weights after K steps).

use crate::backend::Backend;
use crate::sweep::config::{self, SweepConfig};
use crate::sweep::jobs::{self, Job};
use crate::sweep::{job, stream_for, Preset};
use clap::Args;
use models::{Batch, ModelConfig, TrainConfig};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A built-in config (harness/presets/*.toml); `quick` when no --config.
    #[arg(long, value_enum, conflicts_with = "config")]
    pub preset: Option<Preset>,
    /// A TOML sweep config file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The model shape `n_layer,d_model,n_head` (any shape; its step budget
    /// comes from the config's `train.tokens` as in a sweep).
    #[arg(long, value_name = "L,D,H")]
    pub shape: String,
    /// The job's seed: initial weights and data stream (default: the
    /// config's first seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Batches to export, the job's first K (default: all of its steps).
    #[arg(long, value_name = "K")]
    pub steps: Option<u64>,
    /// Output folder (created; existing files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Also train the K steps with emerge and write its trace and final weights.
    #[arg(long)]
    pub train: bool,
    /// Backend for --train: `fast` or `candle` (default: fast on the CPU).
    #[arg(long, value_name = "fast|candle")]
    pub kernels: Option<models::Kernels>,
    /// Device for --train (default: the config's).
    #[arg(long)]
    pub device: Option<String>,
    /// CPU threads for --train (0 = all cores; default: the config's).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Precision of --train: `f32` (what sweeps train in) or `f64` (to tell
    /// rounding from a real difference). Output names gain `_f64`.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub dtype: Precision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    F32,
    F64,
}

/// `meta.json`: what a replay needs besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportMeta {
    pub format: u32,
    /// Where the config came from (a preset or a file).
    pub origin: String,
    pub model_id: String,
    pub seed: u64,
    pub model: ModelConfig,
    /// Optimizer and schedule; `total_steps` is the job's, which may exceed `steps`.
    pub train: TrainConfig,
    pub batch: usize,
    /// Batches exported.
    pub steps: u64,
    pub params: Vec<ParamMeta>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamMeta {
    pub name: String,
    pub shape: Vec<usize>,
    /// AdamW's weight decay applies (matrices of linear layers only).
    pub decay: bool,
}

pub const META_FILE: &str = "meta.json";
pub const INIT_FILE: &str = "init.safetensors";
pub const BATCHES_FILE: &str = "batches.safetensors";

fn parse_shape(s: &str) -> Result<(usize, usize, usize), String> {
    let bad = || format!("--shape {s:?}: expected n_layer,d_model,n_head, e.g. 2,64,4");
    let v: Vec<usize> = s
        .split(',')
        .map(|x| x.trim().parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [l, d, h] => Ok((l, d, h)),
        _ => Err(bad()),
    }
}

fn load_config(args: &ExportArgs) -> Result<(SweepConfig, String), String> {
    let (text, origin) = match &args.config {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("config file {}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        None => {
            let p = args.preset.unwrap_or(Preset::Quick);
            (p.text().to_string(), format!("preset {}", p.name()))
        }
    };
    let mut cfg = config::parse(&text, &origin).map_err(|e| e.to_string())?;
    if let Some(d) = &args.device {
        cfg.device.device = d.clone();
    }
    if let Some(t) = args.threads {
        cfg.device.threads = t;
    }
    let problems = config::check(&cfg);
    if !problems.is_empty() {
        let e = config::ConfigErrors {
            origin: format!("{origin} with command-line overrides"),
            problems,
        };
        return Err(e.to_string());
    }
    Ok((cfg, origin))
}

/// The job `--shape` and `--seed` name, as a sweep of `cfg` would run it.
fn job_for(cfg: &SweepConfig, shape: (usize, usize, usize), seed: u64) -> Result<Job, String> {
    let (n_layer, d_model, n_head) = shape;
    let model = ModelConfig::new(cfg.model.vocab, cfg.model.context, n_layer, d_model, n_head);
    model.validate().map_err(|e| format!("--shape: {e}"))?;
    let total = jobs::total_steps(cfg, model.params_non_embedding());
    let s = config::Shape {
        n_layer,
        d_model,
        n_head,
    };
    // A config with arms exports its first (baseline) arm's job.
    let arm = (!cfg.arms.is_empty()).then_some(0);
    Ok(Job {
        index: 0,
        model_id: match arm {
            Some(a) => jobs::arm_model_id(&s, seed, &cfg.arms[a].name),
            None => jobs::model_id(&s, seed),
        },
        seed,
        arm,
        model,
        total_steps: total,
        eval_steps: vec![total],
    })
}

/// Each file whole, under a temporary name and renamed (see `results::write`).
fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    runfolder::write_bytes_atomic(path, bytes).map_err(|e| e.to_string())
}

/// Named tensors as safetensors bytes: (name, dtype, shape, little-endian data).
fn serialize(tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let views = tensors
        .iter()
        .map(|(n, dt, shape, data)| {
            TensorView::new(*dt, shape.clone(), data)
                .map(|v| (n.clone(), v))
                .map_err(|e| format!("{n}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None).map_err(|e| e.to_string())
}

/// The weights of `params` as f32 safetensors bytes, under their checkpoint names.
pub fn weights_bytes(params: &[models::model::Param]) -> Result<Vec<u8>, String> {
    let tensors = params
        .iter()
        .map(|p| {
            let t = p.var.as_tensor();
            let v = t
                .to_dtype(models::DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| format!("{}: {e}", p.name))?;
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            Ok((p.name.clone(), Dtype::F32, t.dims().to_vec(), bytes))
        })
        .collect::<Result<Vec<_>, String>>()?;
    serialize(&tensors)
}

/// `batches` as the `tokens` and `loss_mask` tensors of `batches.safetensors`.
pub fn batches_bytes(batches: &[Batch], vocab: usize) -> Result<Vec<u8>, String> {
    let first = batches.first().ok_or("no batch to export")?;
    let (b, t) = (first.batch, first.seq_len);
    let k = batches.len();
    let mut tokens = Vec::with_capacity(k * b * (t + 1));
    let mut mask = Vec::with_capacity(k * b * t);
    for batch in batches {
        if (batch.batch, batch.seq_len) != (b, t) {
            return Err(format!(
                "batches differ in shape: {}x{} vs {b}x{t}",
                batch.batch, batch.seq_len
            ));
        }
        for r in 0..b {
            let row = &batch.inputs[r * t..(r + 1) * t];
            // Inputs shifted by one are the targets: one sequence of t + 1.
            if row[1..] != batch.targets[r * t..(r + 1) * t - 1] {
                return Err("a batch whose targets are not its inputs shifted by one".into());
            }
            tokens.extend_from_slice(row);
            tokens.push(batch.targets[(r + 1) * t - 1]);
            for i in 0..t {
                let on = batch.mask.as_ref().map_or(1.0, |m| m[r * t + i]);
                mask.push(u8::from(on > 0.0));
            }
        }
    }
    let tokens = if vocab <= 256 {
        (Dtype::U8, tokens.iter().map(|&x| x as u8).collect())
    } else {
        (
            Dtype::U32,
            tokens.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    };
    serialize(&[
        ("tokens".into(), tokens.0, vec![k, b, t + 1], tokens.1),
        ("loss_mask".into(), Dtype::U8, vec![k, b, t], mask),
    ])
}

pub fn run(args: &ExportArgs) -> Result<(), String> {
    let (cfg, origin) = load_config(args)?;
    let shape = parse_shape(&args.shape)?;
    let seed = args.seed.unwrap_or(cfg.run.seeds[0]);
    let job = job_for(&cfg, shape, seed)?;
    let steps = args.steps.unwrap_or(job.total_steps);
    if steps == 0 {
        return Err("--steps must be positive".into());
    }
    if steps > job.total_steps {
        return Err(format!(
            "--steps {steps}: {} trains for {} steps in {origin}; export at most that many",
            job.model_id, job.total_steps
        ));
    }
    let threads = crate::sweep::thread_count(cfg.device.threads);
    models::set_cpu_threads(threads).map_err(|e| e.to_string())?;
    let backend = Backend::new(&cfg.device.device, args.kernels)?;
    let train = job::train_config(&cfg, &job);
    let dtype = match args.dtype {
        Precision::F32 => models::DType::F32,
        Precision::F64 => models::DType::F64,
    };
    let mut trainer =
        models::Trainer::with_dtype(job.model, train.clone(), &backend.device, seed, dtype)
            .and_then(|t| t.with_kernels(backend.kernels))
            .map_err(|e| format!("{}: {e}", job.model_id))?;
    // Weights are drawn in f64 and rounded once per dtype: an f64 trainer
    // starts from the exported (f32) values, as a replay does.
    for p in trainer
        .model
        .params
        .iter()
        .filter(|_| dtype != models::DType::F32)
    {
        let t = p.var.as_tensor();
        let rounded = t
            .to_dtype(models::DType::F32)
            .and_then(|x| x.to_dtype(dtype))
            .and_then(|x| p.var.set(&x))
            .map_err(|e| format!("{}: {e}", p.name));
        rounded?;
    }
    let stream = stream_for(&cfg, job.arm, seed)?;
    let batches = (0..steps)
        .map(|s| job::batch_at(&stream, s, cfg.train.batch))
        .collect::<Result<Vec<_>, _>>()?;

    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let meta = ExportMeta {
        format: 1,
        origin,
        model_id: job.model_id.clone(),
        seed,
        model: job.model,
        train,
        batch: cfg.train.batch,
        steps,
        params: trainer
            .model
            .params
            .iter()
            .map(|p| ParamMeta {
                name: p.name.clone(),
                shape: p.var.dims().to_vec(),
                decay: p.decay,
            })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&meta).expect("meta serializes");
    write(&out.join(META_FILE), &json)?;
    write(&out.join(INIT_FILE), &weights_bytes(&trainer.model.params)?)?;
    write(
        &out.join(BATCHES_FILE),
        &batches_bytes(&batches, job.model.vocab)?,
    )?;
    crate::output::say(&format!(
        "exported {} (seed {seed}): initial weights and {steps} batches of {} -> {}\n",
        job.model_id,
        cfg.train.batch,
        out.display()
    ));
    if !args.train {
        return Ok(());
    }
    let k = match args.dtype {
        Precision::F32 => backend.kernels.name().to_string(),
        Precision::F64 => format!("{}_f64", backend.kernels.name()),
    };
    let trace_path = out.join(format!("trace_{k}.csv"));
    let mut trace = String::from("step,loss,grad_norm,lr\n");
    for b in &batches {
        let s = trainer
            .step(b)
            .map_err(|e| format!("{} step {}: {e}", job.model_id, trainer.steps_done() + 1))?;
        // Shortest round-trip decimal: the file holds the exact f64.
        trace.push_str(&format!("{},{},{},{}\n", s.step, s.loss, s.grad_norm, s.lr));
    }
    write(&trace_path, trace.as_bytes())?;
    write(
        &out.join(format!("final_{k}.safetensors")),
        &weights_bytes(&trainer.model.params)?,
    )?;
    crate::output::say(&format!(
        "trained {steps} steps ({k}): {} and final_{k}.safetensors\n",
        trace_path.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_or_name_the_flag() {
        assert_eq!(parse_shape("2,64,4").unwrap(), (2, 64, 4));
        assert_eq!(parse_shape(" 1, 8 ,2").unwrap(), (1, 8, 2));
        for bad in ["2,64", "2,64,4,1", "a,b,c", ""] {
            let e = parse_shape(bad).unwrap_err();
            assert!(e.contains("--shape"), "{e}");
        }
    }
}
