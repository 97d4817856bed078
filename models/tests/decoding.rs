//! Greedy decoding: the KV cache changes nothing, left padding changes
//! nothing, stop tokens stop, and teacher-forced scores agree with decoding.

mod common;

use models::{DType, Device, GenerateOptions, Gpt, ModelConfig};

fn model() -> Gpt {
    let m = Gpt::new(
        ModelConfig::new(13, 24, 2, 32, 4),
        3,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    // Large random weights: decisive logits, so greedy choices are not ties.
    common::randomize(&m, 17, 0.5);
    m
}

fn prompts() -> Vec<Vec<u32>> {
    (0..7u32)
        .map(|i| (0..=i).map(|j| (i * 5 + j * 3) % 13).collect())
        .collect()
}

fn opts(no_cache: bool, stop: Vec<u32>) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: 12,
        stop_tokens: stop,
        no_cache,
    }
}

#[test]
fn cache_and_no_cache_decode_identically() {
    let inf = model().inference();
    let p = prompts();
    let cached = inf.generate(&p, &opts(false, vec![])).unwrap();
    let plain = inf.generate(&p, &opts(true, vec![])).unwrap();
    assert_eq!(cached, plain);
    assert!(cached.iter().all(|o| o.len() == 12));
    // The outputs are not all the same sequence (the prompts matter).
    assert!(cached.iter().any(|o| o != &cached[0]));
}

#[test]
fn batching_with_left_padding_matches_one_prompt_at_a_time() {
    let inf = model().inference();
    let p = prompts();
    let batched = inf.generate(&p, &opts(false, vec![])).unwrap();
    for (prompt, out) in p.iter().zip(&batched) {
        let alone = inf
            .generate(std::slice::from_ref(prompt), &opts(false, vec![]))
            .unwrap();
        assert_eq!(&alone[0], out, "prompt {prompt:?}");
    }
}

#[test]
fn stop_tokens_and_context_end_sequences() {
    let inf = model().inference();
    let p = prompts();
    let free = inf.generate(&p, &opts(false, vec![])).unwrap();
    // Stop each sequence at the token it emits third: it must end right there.
    let stop = free[3][2];
    let stopped = inf.generate(&p, &opts(false, vec![stop])).unwrap();
    for (f, s) in free.iter().zip(&stopped) {
        let cut = f.iter().position(|&t| t == stop).map_or(f.len(), |i| i + 1);
        assert_eq!(s, &f[..cut]);
    }
    assert!(stopped[3].len() <= 3 && stopped[3].last() == Some(&stop));
    // A 20-token prompt in a 24-token context gets at most 4 new tokens.
    let long = vec![(0..20).map(|i| i % 13).collect::<Vec<u32>>()];
    assert_eq!(
        inf.generate(&long, &opts(false, vec![])).unwrap()[0].len(),
        4
    );
}

#[test]
fn teacher_forced_scores_agree_with_greedy_decoding() {
    let inf = model().inference();
    let p = prompts();
    let out = inf.generate(&p, &opts(false, vec![])).unwrap();
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = p.iter().cloned().zip(out.iter().cloned()).collect();
    let scores = inf.score(&pairs).unwrap();
    for s in &scores {
        assert_eq!(s.len(), 12);
        assert!(s
            .iter()
            .all(|t| t.is_argmax && t.logprob <= 0.0 && t.logprob.is_finite()));
    }
    // A continuation that differs from the greedy one is not argmax there,
    // and has a lower log-probability than the greedy token.
    let mut alt = out[0].clone();
    alt[0] = (alt[0] + 1) % 13;
    let s = inf.score(&[(p[0].clone(), alt)]).unwrap();
    assert!(!s[0][0].is_argmax);
    assert!(s[0][0].logprob < scores[0][0].logprob);
    // Scores of one pair do not depend on what else is in the batch.
    let one = inf.score(&pairs[2..3]).unwrap();
    for (a, b) in one[0].iter().zip(&scores[2]) {
        assert!((a.logprob - b.logprob).abs() < 1e-5);
    }
}

#[test]
fn bad_prompts_are_errors_not_panics() {
    let inf = model().inference();
    assert!(inf.generate(&[vec![]], &opts(false, vec![])).is_err());
    assert!(inf.generate(&[vec![99]], &opts(false, vec![])).is_err());
    assert!(inf.generate(&[vec![1; 25]], &opts(false, vec![])).is_err());
    assert!(inf.score(&[(vec![1; 20], vec![1; 6])]).is_err());
    // Batches are split over threads; errors still name the caller's row.
    let mut prompts = vec![vec![1, 2]; 4];
    prompts[3] = vec![];
    let e = inf.generate(&prompts, &opts(false, vec![])).unwrap_err();
    assert!(e.to_string().contains("prompt 3"), "{e}");
    let mut pairs = vec![(vec![1, 2], vec![3]); 4];
    pairs[3].1 = vec![];
    let e = inf.score(&pairs).unwrap_err();
    assert!(e.to_string().contains("pair 3"), "{e}");
}
