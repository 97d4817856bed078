//! Synthetic run folders with planted curves, for tests and for eyeballing
//! plots before a real sweep exists. Written with the schema structs and the
//! atomic writer, exactly as the sweep writes them. Not used by the sweep.
//!
//! Each item's exact match is a Bernoulli draw from the planted curve; the
//! continuous metrics rise smoothly (log-linearly) with scale for wrong
//! answers and are 1 for right ones, which is the setting of the mirage
//! argument (Schaeffer et al. 2023).

use crate::stats::wilson;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use runfolder::schema::{
    files, metric, Mode, ModelRow, ModelStatus, SampleRow, ScoreRow, TrainLogRow,
};
use runfolder::write::write_csv;
use std::io;
use std::path::Path;

/// A planted exact-match curve as a function of x = log10(non-embedding params).
#[derive(Debug, Clone, Copy)]
pub enum Planted {
    /// chance + (ceiling − chance)/(1 + exp(−k(x − x0))).
    Sigmoid { ceiling: f64, k: f64, x0: f64 },
    /// a + b·x, clipped to [0, 1].
    LogLinear { a: f64, b: f64 },
    /// A law per item (PassUntil's): item i of n has its gold completion's
    /// total log-probability s_i(x) = −exp(a0 + spread·z_i − b·x), with z_i
    /// the i-th of n evenly spaced quantiles of a unit-variance logistic
    /// (item difficulty), and is answered right with probability
    /// σ(alpha + beta·s_i) (greedy decoding passes an item well before
    /// sampling does). Exact match is the mean of that over items.
    ItemLaw {
        a0: f64,
        spread: f64,
        b: f64,
        alpha: f64,
        beta: f64,
    },
}

impl Planted {
    /// Item i of n: its gold completion's total log-probability (the law's
    /// only; `None` for the curve shapes) and its chance of a right answer.
    pub fn item(&self, chance: f64, x: f64, i: usize, n: usize) -> (Option<f64>, f64) {
        match *self {
            Planted::Sigmoid { ceiling, k, x0 } => (
                None,
                chance + (ceiling - chance) / (1.0 + (-k * (x - x0)).exp()),
            ),
            Planted::LogLinear { a, b } => (None, (a + b * x).clamp(0.0, 1.0)),
            Planted::ItemLaw {
                a0,
                spread,
                b,
                alpha,
                beta,
            } => {
                let u = (i as f64 + 0.5) / n as f64;
                let z = (u / (1.0 - u)).ln() * 3f64.sqrt() / std::f64::consts::PI;
                let s = -(a0 + spread * z - b * x).exp();
                (Some(s), 1.0 / (1.0 + (-(alpha + beta * s)).exp()))
            }
        }
    }

    /// The expected exact match at x over `n` items.
    pub fn prob(&self, chance: f64, x: f64, n: usize) -> f64 {
        (0..n).map(|i| self.item(chance, x, i, n).1).sum::<f64>() / n as f64
    }
}

#[derive(Debug, Clone)]
pub struct SynthTask {
    pub name: String,
    /// Exact-match chance level.
    pub chance: f64,
    pub direct: Planted,
    pub cot: Planted,
    pub shots: Vec<u32>,
}

#[derive(Debug, Clone)]
pub struct SynthSpec {
    /// Non-embedding parameter counts of the ladder.
    pub sizes: Vec<u64>,
    pub seeds: Vec<u64>,
    pub items: usize,
    pub tasks: Vec<SynthTask>,
    /// Checkpoint steps scored (the last is the final one).
    pub steps: Vec<u64>,
    pub tokens_per_step: u64,
    /// Write `samples.csv` (item rows) too.
    pub with_samples: bool,
    pub rng_seed: u64,
    /// How far apart (in decades) the seeds' curves lie: seed i of n is
    /// planted as if its size were shifted by spread·(i − (n − 1)/2), so
    /// training noise that moves a transition can be planted.
    pub seed_spread: f64,
}

impl SynthSpec {
    /// A small default: six sizes from 1e4 to ~3e6, one seed, two tasks.
    pub fn example() -> Self {
        SynthSpec {
            sizes: vec![10_000, 31_623, 100_000, 316_228, 1_000_000, 3_162_278],
            seeds: vec![0],
            items: 200,
            tasks: vec![
                SynthTask {
                    name: "add".into(),
                    chance: 0.0,
                    direct: Planted::Sigmoid {
                        ceiling: 0.6,
                        k: 5.0,
                        x0: 6.0,
                    },
                    cot: Planted::Sigmoid {
                        ceiling: 0.95,
                        k: 6.0,
                        x0: 5.2,
                    },
                    shots: vec![0],
                },
                SynthTask {
                    name: "sort".into(),
                    chance: 0.1,
                    direct: Planted::LogLinear { a: -0.5, b: 0.15 },
                    cot: Planted::LogLinear { a: -0.6, b: 0.18 },
                    shots: vec![0, 2],
                },
            ],
            steps: vec![100, 300, 1000],
            tokens_per_step: 4096,
            with_samples: true,
            rng_seed: 7,
            seed_spread: 0.0,
        }
    }
}

fn mean_ci(v: &[f64]) -> (f64, f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let h = 1.96 * sd / n.sqrt();
    (m, m - h, m + h)
}

/// Write a complete synthetic run folder into `dir` (created if needed).
pub fn write_run(dir: &Path, spec: &SynthSpec) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.rng_seed);
    let (mut models, mut log, mut scores, mut samples) = (vec![], vec![], vec![], vec![]);
    let final_step = *spec.steps.last().unwrap_or(&1);
    for &size in &spec.sizes {
        let x = (size as f64).log10();
        // A plausible geometry for the size: 12·L·d² non-embedding params.
        let n_layer = 2 + (x as u32).saturating_sub(4);
        let d_model = ((size as f64 / (12.0 * n_layer as f64)).sqrt().round() as u32).max(8);
        for (si, &seed) in spec.seeds.iter().enumerate() {
            let model_id = format!("N{size}-s{seed}");
            let shift = spec.seed_spread * (si as f64 - (spec.seeds.len() - 1) as f64 / 2.0);
            for (li, step) in (1..=final_step)
                .step_by((final_step as usize / 20).max(1))
                .enumerate()
            {
                let tokens = step * spec.tokens_per_step;
                let loss = 1.0
                    + 30.0 * (tokens as f64).powf(-0.3)
                    + 1e3 / size as f64
                    + 0.01 * (li % 3) as f64;
                log.push(TrainLogRow {
                    model_id: model_id.clone(),
                    step,
                    tokens,
                    loss,
                    lr: 1e-3,
                    grad_norm: 1.0,
                    tokens_per_sec: 20_000.0,
                });
            }
            for &step in &spec.steps {
                let tokens = step * spec.tokens_per_step;
                models.push(ModelRow {
                    model_id: model_id.clone(),
                    seed,
                    n_layer,
                    d_model,
                    n_head: 4,
                    params: size + 96 * d_model as u64,
                    params_non_embedding: size,
                    step,
                    tokens,
                    flops: 6.0 * size as f64 * tokens as f64,
                    train_loss: 1.0 + 30.0 * (tokens as f64).powf(-0.3),
                    status: ModelStatus::Ok,
                });
                // Earlier checkpoints behave like a smaller model.
                let xe = x + shift + 0.8 * (step as f64 / final_step as f64).log10();
                for task in &spec.tasks {
                    for mode in [Mode::Direct, Mode::Cot] {
                        let planted = if mode == Mode::Cot {
                            task.cot
                        } else {
                            task.direct
                        };
                        for &shots in &task.shots {
                            let xs = xe + 0.05 * shots as f64;
                            let mut cols: [Vec<f64>; 4] = Default::default();
                            for i in 0..spec.items {
                                let (law, p) = planted.item(task.chance, xs, i, spec.items);
                                let right = rng.gen::<f64>() < p;
                                let partial = (0.2 + 0.08 * (xe - 4.0) + 0.1 * rng.gen::<f64>())
                                    .clamp(0.0, 0.95);
                                let es = if right { 1.0 } else { partial };
                                let ta = if right {
                                    1.0
                                } else {
                                    (partial + 0.05).min(0.99)
                                };
                                // Under a law: its total over the completion's
                                // tokens, measured with a little model noise.
                                let tokens = 3 + (i % 4) as u32;
                                let lp = match law {
                                    Some(s) => {
                                        s * (1.0 + 0.1 * (rng.gen::<f64>() - 0.5)) / tokens as f64
                                    }
                                    None => {
                                        -8.0 / (1.0 + (xe - 3.5))
                                            - if right { 0.0 } else { 1.0 }
                                            - rng.gen::<f64>()
                                    }
                                };
                                for (c, v) in cols.iter_mut().zip([right as u8 as f64, es, ta, lp])
                                {
                                    c.push(v);
                                }
                                if spec.with_samples {
                                    let a = i * 7 % 100;
                                    samples.push(SampleRow {
                                        model_id: model_id.clone(),
                                        step,
                                        task: task.name.clone(),
                                        mode,
                                        shots,
                                        item_id: format!("{}-{i}", task.name),
                                        prompt: format!("{a}+{i}="),
                                        target: (a + i).to_string(),
                                        output: if right {
                                            (a + i).to_string()
                                        } else {
                                            "x".into()
                                        },
                                        answer: if right {
                                            (a + i).to_string()
                                        } else {
                                            String::new()
                                        },
                                        exact_match: right,
                                        edit_similarity: es,
                                        token_accuracy: ta,
                                        completion_logprob: lp,
                                        extraction_failed: !right,
                                        parrot: None,
                                        completion_tokens: Some(tokens),
                                    });
                                }
                            }
                            let k = cols[0].iter().filter(|&&v| v > 0.5).count() as u64;
                            let n = spec.items as u64;
                            let (wlo, whi) = wilson(k, n);
                            let em = (k as f64 / n as f64, wlo, whi);
                            let stats =
                                [em, mean_ci(&cols[1]), mean_ci(&cols[2]), mean_ci(&cols[3])];
                            // Continuous metrics: a guesser still shares some characters with the target.
                            let chances = [task.chance, 0.2, 0.2, -12.0];
                            for (j, m) in metric::ALL.iter().enumerate() {
                                scores.push(ScoreRow {
                                    model_id: model_id.clone(),
                                    step,
                                    task: task.name.clone(),
                                    mode,
                                    shots,
                                    metric: m.to_string(),
                                    value: stats[j].0,
                                    ci_lo: stats[j].1,
                                    ci_hi: stats[j].2,
                                    n,
                                    chance: chances[j],
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    runfolder::write::write_bytes_atomic(
        &dir.join(files::CONFIG),
        b"# synthetic run (results::synth)\n",
    )?;
    write_csv(&dir.join(files::MODELS), &models)?;
    write_csv(&dir.join(files::TRAIN_LOG), &log)?;
    write_csv(&dir.join(files::SCORES), &scores)?;
    if spec.with_samples {
        write_csv(&dir.join(files::SAMPLES), &samples)?;
    }
    Ok(())
}
