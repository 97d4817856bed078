//! The training stream: shapes, determinism, resumption, mixture, loss mask.

use tasks::format::Mode;
use tasks::stream::{LossMask, MixtureEntry, Stream, StreamConfig};
use tasks::vocab::{self, EOS};
use tasks::{TaskConfig, TaskError};

fn entry(task: &str, weight: f64) -> MixtureEntry {
    MixtureEntry {
        task: TaskConfig::default_for(task).unwrap(),
        weight,
    }
}

fn config(seed: u64, mixture: Vec<MixtureEntry>, loss_mask: LossMask) -> StreamConfig {
    StreamConfig {
        seed,
        context: 96,
        mixture,
        cot_fraction: 0.5,
        loss_mask,
    }
}

fn mixed() -> Vec<MixtureEntry> {
    ["add", "mul", "sort", "modp", "icl", "hop"]
        .iter()
        .map(|t| entry(t, 1.0))
        .collect()
}

#[test]
fn sequences_have_the_promised_shape() {
    let s = Stream::new(config(1, mixed(), LossMask::All)).unwrap();
    assert_eq!(s.context(), 96);
    assert_eq!(s.vocab_size(), vocab::vocab_size());
    for p in 0..500 {
        let seq = s.sequence(p).unwrap();
        assert_eq!(seq.tokens.len(), 97);
        assert_eq!(seq.loss_mask.len(), 96);
        assert_eq!(seq.tokens[0], EOS);
        assert!(seq
            .tokens
            .iter()
            .all(|&t| (t as usize) < vocab::vocab_size()));
        assert!(
            seq.loss_mask.iter().all(|&m| m == 1.0),
            "All counts every target"
        );
        assert!(!seq.examples.is_empty());
        // The text is the examples, back to back, cut at the end.
        let text: String = seq.examples.iter().map(|(i, m)| i.text(*m)).collect();
        let decoded = vocab::decode(&seq.tokens);
        assert!(text.starts_with(&decoded), "{p}: {decoded:?}");
        assert_eq!(seq.truncated, text.len() > decoded.len());
        assert!(seq.examples.iter().all(|(i, _)| i.id.starts_with(seq.task)));
    }
}

#[test]
fn same_seed_and_position_give_the_same_sequence_in_any_order() {
    let a = Stream::new(config(42, mixed(), LossMask::Completion)).unwrap();
    let b = Stream::new(config(42, mixed(), LossMask::Completion)).unwrap();
    let forward: Vec<_> = (0..300).map(|p| a.sequence(p).unwrap()).collect();
    // A resumed run starting mid-way, reading backwards, in another stream.
    for p in (100..300).rev() {
        assert_eq!(b.sequence(p).unwrap(), forward[p as usize], "position {p}");
    }
    assert_eq!(a.batch(17, 5).unwrap(), forward[17..22].to_vec());
    let far = a.sequence(1 << 40).unwrap();
    assert_eq!(b.sequence(1 << 40).unwrap(), far);
}

#[test]
fn mixture_order_in_the_config_does_not_matter() {
    let mut reversed = mixed();
    reversed.reverse();
    let a = Stream::new(config(5, mixed(), LossMask::All)).unwrap();
    let b = Stream::new(config(5, reversed, LossMask::All)).unwrap();
    for p in 0..200 {
        assert_eq!(a.sequence(p).unwrap(), b.sequence(p).unwrap());
    }
}

#[test]
fn different_seeds_give_different_streams() {
    let a = Stream::new(config(1, mixed(), LossMask::All)).unwrap();
    let b = Stream::new(config(2, mixed(), LossMask::All)).unwrap();
    let same = (0..100)
        .filter(|&p| a.sequence(p).unwrap().tokens == b.sequence(p).unwrap().tokens)
        .count();
    assert!(same < 5, "{same} of 100 sequences equal");
}

#[test]
fn mixture_weights_and_cot_fraction_are_respected() {
    let mut cfg = config(
        9,
        vec![entry("add", 3.0), entry("modp", 1.0), entry("sort", 0.0)],
        LossMask::All,
    );
    cfg.cot_fraction = 0.25;
    let s = Stream::new(cfg).unwrap();
    let (mut add, mut cot, mut examples) = (0, 0, 0);
    let n = 4000;
    for p in 0..n {
        let seq = s.sequence(p).unwrap();
        assert_ne!(seq.task, "sort", "weight 0 is never drawn");
        add += usize::from(seq.task == "add");
        for (_, mode) in &seq.examples {
            examples += 1;
            cot += usize::from(*mode == Mode::Cot);
        }
    }
    let add_share = add as f64 / n as f64;
    assert!((0.72..0.78).contains(&add_share), "{add_share}");
    let cot_share = cot as f64 / examples as f64;
    assert!((0.22..0.28).contains(&cot_share), "{cot_share}");

    for fraction in [0.0, 1.0] {
        let mut cfg = config(9, vec![entry("add", 1.0)], LossMask::All);
        cfg.cot_fraction = fraction;
        let s = Stream::new(cfg).unwrap();
        for p in 0..100 {
            let seq = s.sequence(p).unwrap();
            let want = if fraction == 1.0 {
                Mode::Cot
            } else {
                Mode::Direct
            };
            assert!(seq.examples.iter().all(|(_, m)| *m == want));
        }
    }
}

#[test]
fn completion_mask_covers_exactly_what_a_model_writes() {
    let s = Stream::new(config(4, mixed(), LossMask::Completion)).unwrap();
    for p in 0..300 {
        let seq = s.sequence(p).unwrap();
        // Rebuild the expected mask from the example texts.
        let mut want = vec![false];
        for (item, mode) in &seq.examples {
            want.extend(std::iter::repeat_n(false, item.prompt(*mode).len()));
            want.extend(std::iter::repeat_n(true, item.completion(*mode).len()));
        }
        want.truncate(97);
        let got: Vec<bool> = seq.loss_mask.iter().map(|&m| m == 1.0).collect();
        assert_eq!(got, want[1..].to_vec(), "position {p}");
        assert!(got.iter().any(|&m| m) && got.iter().any(|&m| !m));
    }
}

#[test]
fn icl_sequences_share_one_rule() {
    // Both rule families: 40 affine rules and 8! substitutions.
    let icl = MixtureEntry {
        task: TaskConfig::Icl(tasks::IclParams {
            rules: vec!["affine".into(), "subst".into()],
            len: 3,
            min_len: None,
        }),
        weight: 1.0,
    };
    let s = Stream::new(config(6, vec![icl], LossMask::All)).unwrap();
    let mut rules = std::collections::BTreeSet::new();
    let mut modes = std::collections::BTreeSet::new();
    for p in 0..200 {
        let seq = s.sequence(p).unwrap();
        let rule = |k: &str| k.split('|').next().unwrap().to_string();
        let first = rule(&seq.examples[0].0.key);
        assert!(seq.examples.len() >= 3);
        assert!(seq.examples.iter().all(|(i, _)| rule(&i.key) == first));
        rules.insert(first);
        // One mode per sequence, so example k+1 reads as a k-shot prompt.
        let mode = seq.examples[0].1;
        assert!(seq.examples.iter().all(|(_, m)| *m == mode), "{p}");
        modes.insert(mode.as_str());
    }
    assert!(
        rules.len() > 100,
        "a fresh rule per sequence: {}",
        rules.len()
    );
    assert_eq!(modes.len(), 2, "both modes across sequences");
    // Other tasks draw the mode per example.
    let add = Stream::new(config(6, vec![entry("add", 1.0)], LossMask::All)).unwrap();
    assert!((0..50).any(|p| {
        let seq = add.sequence(p).unwrap();
        seq.examples.iter().any(|(_, m)| *m != seq.examples[0].1)
    }));
}

#[test]
fn bad_stream_configs_are_refused_with_the_reason() {
    let err = |cfg: StreamConfig| Stream::new(cfg).err().expect("refused").to_string();
    let mut cfg = config(0, vec![entry("word", 1.0)], LossMask::All);
    let e = err(cfg.clone());
    assert!(e.contains("`word`") && e.contains("context is 96"), "{e}");
    cfg.context = 200;
    assert!(Stream::new(cfg).is_ok());

    let e = err(config(0, vec![entry("word_ood", 1.0)], LossMask::All));
    assert!(
        e.contains("word_ood") && e.contains("evaluation-only"),
        "{e}"
    );
    let e = err(config(0, vec![entry("add", -1.0)], LossMask::All));
    assert!(e.contains("mixture.add.weight") && e.contains("-1"), "{e}");
    let e = err(config(0, vec![entry("add", f64::NAN)], LossMask::All));
    assert!(e.contains("mixture.add.weight"), "{e}");
    let e = err(config(0, vec![entry("add", 0.0)], LossMask::All));
    assert!(e.contains("at least one training task"), "{e}");
    let e = err(config(
        0,
        vec![entry("add", 1.0), entry("add", 1.0)],
        LossMask::All,
    ));
    assert!(e.contains("twice"), "{e}");
    let mut cfg = config(0, vec![entry("add", 1.0)], LossMask::All);
    cfg.cot_fraction = 1.5;
    assert!(err(cfg).contains("cot_fraction"));
    let cfg = config(
        0,
        vec![MixtureEntry {
            task: TaskConfig::Add(tasks::AddParams { digits: vec![0] }),
            weight: 1.0,
        }],
        LossMask::All,
    );
    assert!(matches!(
        Stream::new(cfg).err(),
        Some(TaskError::BadParam { .. })
    ));
}

#[test]
fn loss_mask_parses_from_config_text() {
    #[derive(serde::Deserialize)]
    struct C {
        m: LossMask,
    }
    let c: C = toml::from_str("m = \"completion\"").unwrap();
    assert_eq!(c.m, LossMask::Completion);
    let c: C = toml::from_str("m = \"all\"").unwrap();
    assert_eq!(c.m, LossMask::All);
    assert!(toml::from_str::<C>("m = \"some\"").is_err());
}

#[test]
fn streams_can_be_shared_across_loader_threads() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let s = Stream::new(config(8, mixed(), LossMask::All)).unwrap();
    shareable(&s);
    let in_threads: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let s = &s;
                scope.spawn(move || s.sequence(t).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (p, seq) in in_threads.iter().enumerate() {
        assert_eq!(*seq, s.sequence(p as u64).unwrap());
    }
}

/// The code ablation's displacement control: at every position the arm
/// with `code_shuffled` trains on the sequence the `code` arm trains on,
/// with each example's characters shuffled within its query, trace and
/// answer: the same task slot, examples, modes, token count, characters and
/// loss mask; only the program is gone.
#[test]
fn shuffled_code_displaces_exactly_what_code_does() {
    let word = MixtureEntry {
        task: TaskConfig::from_named(
            "word",
            toml::Value::Table(toml::from_str("steps = [2]").unwrap()),
        )
        .unwrap(),
        weight: 0.75,
    };
    let arm = |other: &str| {
        let mut c = config(
            5,
            vec![word.clone(), entry(other, 0.25)],
            LossMask::Completion,
        );
        c.context = 128;
        Stream::new(c).unwrap()
    };
    let (code, control) = (arm("code"), arm("code_shuffled"));
    let sorted = |s: &str| {
        let mut v: Vec<char> = s.chars().collect();
        v.sort_unstable();
        v
    };
    let (mut displaced, mut moved) = (0, 0);
    for p in 0..2000 {
        let (a, b) = (code.sequence(p).unwrap(), control.sequence(p).unwrap());
        assert_eq!(a.tokens.len(), b.tokens.len());
        assert_eq!(a.loss_mask, b.loss_mask, "position {p}");
        if a.task == "word" {
            assert_eq!(a, b, "position {p}");
            continue;
        }
        assert_eq!((a.task, b.task), ("code", "code_shuffled"));
        displaced += 1;
        assert_eq!(a.examples.len(), b.examples.len());
        for ((x, mx), (y, my)) in a.examples.iter().zip(&b.examples) {
            assert_eq!((&x.key, mx), (&y.key, my));
            assert_eq!(sorted(&x.text(*mx)), sorted(&y.text(*my)));
            moved += usize::from(x.query != y.query);
        }
        // Whole examples carry the same tokens; only the cut-off tail differs.
        let whole: usize = a.examples[..a.examples.len() - 1]
            .iter()
            .map(|(i, m)| i.len(*m))
            .sum();
        let upto = whole + 1;
        let count = |t: &[u32]| {
            let mut v = t[..upto].to_vec();
            v.sort_unstable();
            v
        };
        assert_eq!(count(&a.tokens), count(&b.tokens), "position {p}");
    }
    assert!((400..600).contains(&displaced), "{displaced} of 2000");
    assert!(moved > displaced, "{moved}");
}
