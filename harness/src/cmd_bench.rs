//! `emerge bench train|generate`: throughput on the same shapes and with the
//! same printed last line as `scripts/peers/torch_gpt_bench.py`, so the two
//! can be run side by side.

use std::time::Instant;

use crate::backend::Backend;
use clap::{Args, ValueEnum};
use models::{Batch, GenerateOptions, ModelConfig, TrainConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use results::stats::median;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BenchMode {
    /// Training steps (forward, backward, AdamW): prints `tokens_per_sec=`.
    Train,
    /// Greedy KV-cached generation: prints `gen_tokens_per_sec=`.
    Generate,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    pub mode: BenchMode,
    #[arg(long, default_value_t = 32)]
    pub vocab: usize,
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    #[arg(long, default_value_t = 128)]
    pub d_model: usize,
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Timed steps (train) or generate calls (generate) after warmup.
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    #[arg(long, default_value_t = 5)]
    pub warmup_steps: usize,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// cpu, cuda:N or auto (a CUDA build's GPU 0 when it opens, else the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Backend: `fast` (the CPU kernels and hand-written backward) or
    /// `candle` (candle's ops and autograd, any device). Default: fast on
    /// the CPU, candle elsewhere.
    #[arg(long, value_name = "fast|candle")]
    pub kernels: Option<models::Kernels>,
    /// generate: prompt length.
    #[arg(long, default_value_t = 16)]
    pub prompt_len: usize,
    /// generate: new tokens per prompt.
    #[arg(long, default_value_t = 48)]
    pub gen_tokens: usize,
    /// generate: recompute the sequence every step instead of using the KV cache.
    #[arg(long)]
    pub no_kv_cache: bool,
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    models::set_cpu_threads(args.threads).map_err(|e| e.to_string())?;
    if args.steps == 0 {
        return Err("--steps must be positive".into());
    }
    let cfg = ModelConfig::new(
        args.vocab,
        args.context,
        args.layers,
        args.d_model,
        args.heads,
    );
    cfg.validate().map_err(|e| e.to_string())?;
    let backend = Backend::new(&args.device, args.kernels)?;
    println!(
        "emerge bench: candle 0.11.1 | device={} | kernels={} | threads={} | layers={} d_model={} heads={} context={} batch={} vocab={}",
        models::device_name(&backend.device),
        backend.kernels,
        args.threads,
        args.layers,
        args.d_model,
        args.heads,
        args.context,
        args.batch,
        args.vocab
    );
    println!(
        "total_params={} non_embedding_params={}",
        cfg.params(),
        cfg.params_non_embedding()
    );
    match args.mode {
        BenchMode::Train => bench_train(args, cfg, &backend),
        BenchMode::Generate => bench_generate(args, cfg, &backend),
    }
}

/// Waits for the device's queued work (a GPU's), so a timing covers it.
fn sync(backend: &Backend) -> Result<(), String> {
    backend.device.synchronize().map_err(|e| e.to_string())
}

fn bench_train(args: &BenchArgs, cfg: ModelConfig, backend: &Backend) -> Result<(), String> {
    let (b, t) = (args.batch, args.context);
    // The peer's optimizer settings: AdamW lr 1e-3, betas (0.9, 0.95), wd 0.1.
    let train = TrainConfig {
        lr: 1e-3,
        min_lr_ratio: 1.0,
        warmup_steps: 0,
        total_steps: (args.warmup_steps + args.steps) as u64,
        ..TrainConfig::default()
    };
    let mut trainer = backend
        .trainer(cfg, train, args.seed)
        .map_err(|e| e.to_string())?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed + 1);
    let pool: Vec<Batch> = (0..8)
        .map(|_| {
            let seqs: Vec<Vec<u32>> = (0..b)
                .map(|_| {
                    (0..=t)
                        .map(|_| rng.gen_range(0..args.vocab as u32))
                        .collect()
                })
                .collect();
            Batch::from_sequences(&seqs, None).expect("well-formed batch")
        })
        .collect();
    let mut times = Vec::new();
    let (mut first, mut last) = (f64::NAN, f64::NAN);
    for step in 0..args.warmup_steps + args.steps {
        let t0 = Instant::now();
        let stats = trainer
            .step(&pool[step % pool.len()])
            .map_err(|e| e.to_string())?;
        sync(backend)?;
        let dt = t0.elapsed().as_secs_f64();
        if step == 0 {
            first = stats.loss;
        }
        last = stats.loss;
        if step >= args.warmup_steps {
            times.push(dt);
        }
    }
    let med = median(&mut times);
    let tps = (b * t) as f64 / med;
    let flops = cfg.flops_per_token() as f64;
    println!(
        "loss first={first:.4} last={last:.4} (ln V = {:.4})",
        (args.vocab as f64).ln()
    );
    println!(
        "step_ms median={:.2} min={:.2} max={:.2} (n={}, tokens/step={})",
        1e3 * med,
        1e3 * times.iter().copied().fold(f64::INFINITY, f64::min),
        1e3 * times.iter().copied().fold(0.0, f64::max),
        times.len(),
        b * t
    );
    println!("achieved GFLOP/s (6N+attn)={:.2}", flops * tps / 1e9);
    println!("tokens_per_sec={tps:.1}");
    Ok(())
}

fn bench_generate(args: &BenchArgs, cfg: ModelConfig, backend: &Backend) -> Result<(), String> {
    let (b, p, g) = (args.batch, args.prompt_len, args.gen_tokens);
    if p + g > args.context {
        return Err(format!(
            "prompt_len + gen_tokens = {} exceeds context {}",
            p + g,
            args.context
        ));
    }
    let trainer = backend
        .trainer(cfg, TrainConfig::default(), args.seed)
        .map_err(|e| e.to_string())?;
    let inf = trainer.model.inference();
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed + 2);
    let prompts: Vec<Vec<u32>> = (0..b)
        .map(|_| {
            (0..p)
                .map(|_| rng.gen_range(0..args.vocab as u32))
                .collect()
        })
        .collect();
    let opts = GenerateOptions {
        max_new_tokens: g,
        stop_tokens: vec![],
        no_cache: args.no_kv_cache,
    };
    let mut times = Vec::new();
    for rep in 0..args.warmup_steps + args.steps {
        let t0 = Instant::now();
        let out = inf.generate(&prompts, &opts).map_err(|e| e.to_string())?;
        sync(backend)?;
        let dt = t0.elapsed().as_secs_f64();
        debug_assert!(out.iter().all(|o| o.len() == g));
        if rep >= args.warmup_steps {
            times.push(dt);
        }
    }
    let med = median(&mut times);
    println!(
        "generate: B={b} prompt={p} new={g} kv_cache={} reps={}",
        !args.no_kv_cache,
        times.len()
    );
    println!("call_ms median={:.2}", 1e3 * med);
    println!("gen_tokens_per_sec={:.1}", (b * g) as f64 / med);
    Ok(())
}
