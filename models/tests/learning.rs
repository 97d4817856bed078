//! The model learns: a tiny GPT learns to reverse 4-digit strings, checked by
//! greedy decoding on fresh strings.

use models::{Batch, Device, GenerateOptions, ModelConfig, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEP: u32 = 10;
const LEN: usize = 4;

fn example(rng: &mut ChaCha8Rng) -> Vec<u32> {
    let digits: Vec<u32> = (0..LEN).map(|_| rng.gen_range(0..10)).collect();
    let mut s = digits.clone();
    s.push(SEP);
    s.extend(digits.iter().rev());
    s
}

#[test]
fn tiny_model_learns_to_reverse() {
    let cfg = ModelConfig::new(11, 2 * LEN + 1, 2, 64, 4);
    let steps = 500;
    let train = TrainConfig {
        lr: 3e-3,
        warmup_steps: 30,
        total_steps: steps,
        weight_decay: 0.0,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(cfg, train, &Device::Cpu, 7).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    // Loss only on the reversed half: targets at positions LEN.. predict it.
    let mask_row: Vec<f32> = (0..2 * LEN)
        .map(|i| if i >= LEN { 1.0 } else { 0.0 })
        .collect();
    let mut last = f64::NAN;
    for _ in 0..steps {
        let seqs: Vec<Vec<u32>> = (0..64).map(|_| example(&mut rng)).collect();
        let masks = vec![mask_row.clone(); seqs.len()];
        let batch = Batch::from_sequences(&seqs, Some(&masks)).unwrap();
        last = t.step(&batch).unwrap().loss;
    }
    assert!(last < 0.05, "final loss {last}");

    let mut eval_rng = ChaCha8Rng::seed_from_u64(99);
    let tests: Vec<Vec<u32>> = (0..256).map(|_| example(&mut eval_rng)).collect();
    let prompts: Vec<Vec<u32>> = tests.iter().map(|s| s[..=LEN].to_vec()).collect();
    let opts = GenerateOptions {
        max_new_tokens: LEN,
        stop_tokens: vec![],
        no_cache: false,
    };
    let out = t.model.inference().generate(&prompts, &opts).unwrap();
    let (mut right, mut total) = (0, 0);
    for (s, o) in tests.iter().zip(&out) {
        assert_eq!(o.len(), LEN);
        right += s[LEN + 1..].iter().zip(o).filter(|(a, b)| a == b).count();
        total += LEN;
    }
    let acc = right as f64 / total as f64;
    assert!(acc >= 0.99, "token accuracy {acc}");
}
