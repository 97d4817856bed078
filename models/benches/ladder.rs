//! One training step and one greedy generation call on the peer ladder
//! (batch 32, context 64, vocab 32), the shapes of
//! `scripts/peers/torch_gpt_bench.py` and of issue 6's targets. Throughput
//! is reported in tokens, so a regression shows as fewer elements/s against
//! the saved baseline (`cargo bench -p models --bench ladder -- --save-baseline
//! main`, then `--baseline main`). The side-by-side comparison with PyTorch is
//! `scripts/bench-vs-torch.sh`; BENCHMARKS.md has the numbers.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use models::{Batch, Device, GenerateOptions, ModelConfig, TrainConfig, Trainer};

const LADDER: [(usize, usize, usize); 6] = [
    (1, 32, 2),
    (2, 64, 2),
    (4, 128, 4),
    (6, 192, 6),
    (8, 256, 8),
    (8, 384, 8),
];
const B: usize = 32;
const T: usize = 64;
const V: usize = 32;

fn batch(seed: u64) -> Batch {
    // A cheap deterministic pattern; the content does not matter for speed.
    let tok = |i: usize| ((i as u64 * 2654435761 + seed) % V as u64) as u32;
    Batch {
        batch: B,
        seq_len: T,
        inputs: (0..B * T).map(tok).collect(),
        targets: (1..=B * T).map(tok).collect(),
        mask: None,
    }
}

fn train_step(c: &mut Criterion) {
    models::set_cpu_threads(2).unwrap();
    models::tune_allocator();
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements((B * T) as u64));
    for (l, d, h) in LADDER {
        let cfg = ModelConfig::new(V, T, l, d, h);
        let mut t = Trainer::new(cfg, TrainConfig::default(), &Device::Cpu, 0).unwrap();
        let b = batch(1);
        g.bench_function(
            BenchmarkId::from_parameter(format!("{l}x{d}x{h}")),
            |bench| bench.iter(|| t.step(&b).unwrap()),
        );
    }
    g.finish();
}

fn generate(c: &mut Criterion) {
    let mut g = c.benchmark_group("generate");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    let (prompt, new) = (16, 48);
    g.throughput(Throughput::Elements((B * new) as u64));
    for (l, d, h) in LADDER {
        let cfg = ModelConfig::new(V, T, l, d, h);
        let t = Trainer::new(cfg, TrainConfig::default(), &Device::Cpu, 0).unwrap();
        let inf = t.model.inference();
        let prompts: Vec<Vec<u32>> = (0..B)
            .map(|i| (0..prompt).map(|j| ((i * 7 + j * 3) % V) as u32).collect())
            .collect();
        let opts = GenerateOptions {
            max_new_tokens: new,
            stop_tokens: vec![],
            no_cache: false,
        };
        g.bench_function(
            BenchmarkId::from_parameter(format!("{l}x{d}x{h}")),
            |bench| bench.iter(|| inf.generate(&prompts, &opts).unwrap()),
        );
    }
    g.finish();
}

criterion_group!(benches, train_step, generate);
criterion_main!(benches);
