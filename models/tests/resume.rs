//! Exact resume through a checkpoint, and checkpoint integrity checks.

mod common;

use std::fs;

use models::{Device, ModelConfig, TrainConfig, Trainer};

fn cfg() -> ModelConfig {
    ModelConfig::new(11, 8, 2, 32, 2)
}

fn train_cfg() -> TrainConfig {
    TrainConfig {
        lr: 3e-3,
        warmup_steps: 3,
        total_steps: 12,
        ..TrainConfig::default()
    }
}

fn run(t: &mut Trainer, from: u64, to: u64) {
    for step in from..to {
        let b = common::random_batch(&t.model.config, 4, 8, 1000 + step, step % 2 == 0);
        t.step(&b).unwrap();
    }
}

fn weight_bits(t: &Trainer) -> Vec<(String, Vec<u32>)> {
    t.model
        .params
        .iter()
        .map(|p| {
            let v = p
                .var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (p.name.clone(), v.iter().map(|x| x.to_bits()).collect())
        })
        .collect()
}

#[test]
fn training_2k_steps_equals_k_save_load_k() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let mut straight = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 11).unwrap();
    run(&mut straight, 0, 12);

    let mut first = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 11).unwrap();
    run(&mut first, 0, 6);
    first.save(&ckpt, 6).unwrap();
    drop(first);
    // A different seed: everything must come from the checkpoint.
    let mut resumed = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 999).unwrap();
    let info = resumed.load(&ckpt).unwrap();
    assert_eq!((info.step, info.data_position), (6, 6));
    run(&mut resumed, 6, 12);
    assert_eq!(resumed.steps_done(), straight.steps_done());
    assert_eq!(resumed.tokens_seen(), straight.tokens_seen());
    assert!(
        weight_bits(&resumed) == weight_bits(&straight),
        "weights differ after resume"
    );
    // And the run really moved the weights.
    let fresh = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 11).unwrap();
    assert!(weight_bits(&fresh) != weight_bits(&straight));
}

#[test]
fn checkpoint_has_readable_names_and_survives_a_crash_mid_save() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let mut t = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 1).unwrap();
    run(&mut t, 0, 2);
    t.save(&ckpt, 42).unwrap();
    let bytes = fs::read(ckpt.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let qkv = st.tensor("blocks.0.attn.qkv.weight").unwrap();
    assert_eq!(qkv.shape(), &[96, 32]);
    assert_eq!(st.names().len(), t.model.params.len());
    assert!(!dir.path().join("ckpt.tmp").exists());

    // A crash between the two renames of a later save leaves only `.old`.
    fs::rename(&ckpt, dir.path().join("ckpt.old")).unwrap();
    assert!(Trainer::checkpoint_exists(&ckpt));
    let mut u = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 2).unwrap();
    assert_eq!(u.load(&ckpt).unwrap().data_position, 42);
    assert!(weight_bits(&u) == weight_bits(&t));
}

#[test]
fn corrupt_checkpoints_are_detected_and_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let mut t = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 1).unwrap();
    run(&mut t, 0, 2);
    t.save(&ckpt, 2).unwrap();
    let weights = ckpt.join("model.safetensors");
    let moments = ckpt.join("optimizer.safetensors");
    let good_w = fs::read(&weights).unwrap();
    let good_m = fs::read(&moments).unwrap();

    let mut fresh = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 5).unwrap();
    let before = weight_bits(&fresh);
    let mut expect_err = |needle: &str| {
        let e = fresh.load(&ckpt).unwrap_err().to_string();
        assert!(e.contains(needle), "{e:?} lacks {needle:?}");
        assert!(
            weight_bits(&fresh) == before,
            "a failed load changed the weights"
        );
    };

    fs::write(&weights, &good_w[..good_w.len() / 2]).unwrap();
    expect_err("truncated");
    let mut flipped = good_w.clone();
    let mid = flipped.len() - 10;
    flipped[mid] ^= 0x40;
    fs::write(&weights, &flipped).unwrap();
    expect_err("CRC");
    fs::write(&weights, &good_w).unwrap();
    fs::write(&moments, &good_m[..100]).unwrap();
    expect_err("optimizer.safetensors");
    fs::write(&moments, &good_m).unwrap();
    fs::write(ckpt.join("trainer.json"), b"{ not json").unwrap();
    expect_err("trainer.json");
    fs::remove_dir_all(&ckpt).unwrap();
    expect_err("trainer.json");

    // A checkpoint of another model shape is refused.
    let other = dir.path().join("other");
    let o = Trainer::new(
        ModelConfig::new(11, 8, 1, 32, 2),
        train_cfg(),
        &Device::Cpu,
        1,
    )
    .unwrap();
    o.save(&other, 0).unwrap();
    let e = fresh.load(&other).unwrap_err().to_string();
    assert!(e.contains("model config"), "{e}");
}

/// `verify` reads every byte against `trainer.json` without loading; the
/// weights alone load (for scoring) whatever became of the optimizer file.
#[test]
fn verify_checks_every_file_and_weights_load_without_the_optimizer() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let mut t = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 1).unwrap();
    run(&mut t, 0, 3);
    t.save(&ckpt, 3).unwrap();
    assert_eq!(models::checkpoint::verify(&ckpt).unwrap().step, 3);
    let moments = ckpt.join("optimizer.safetensors");
    let good_m = fs::read(&moments).unwrap();
    fs::write(&moments, &good_m[..1000]).unwrap();
    let e = models::checkpoint::verify(&ckpt).unwrap_err().to_string();
    assert!(
        e.contains("optimizer.safetensors") && e.contains("1000 bytes"),
        "{e}"
    );
    let mut fresh = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 7).unwrap();
    assert!(fresh.load(&ckpt).is_err());
    let info = fresh.load_weights(&ckpt).unwrap();
    assert_eq!(info.step, 3);
    assert!(weight_bits(&fresh) == weight_bits(&t));
    // Only the weights: the counters are the fresh trainer's.
    assert_eq!(fresh.steps_done(), 0);
    // Damaged weights are refused by both, and change nothing.
    let weights = ckpt.join("model.safetensors");
    let good_w = fs::read(&weights).unwrap();
    let mut flipped = good_w.clone();
    flipped[good_w.len() - 5] ^= 1;
    fs::write(&weights, &flipped).unwrap();
    assert!(models::checkpoint::verify(&ckpt)
        .unwrap_err()
        .to_string()
        .contains("CRC"));
    let mut other = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 8).unwrap();
    let before = weight_bits(&other);
    assert!(other.load_weights(&ckpt).is_err());
    assert!(weight_bits(&other) == before);
}

#[test]
fn non_finite_loss_is_a_typed_divergence() {
    let mut t = Trainer::new(cfg(), train_cfg(), &Device::Cpu, 1).unwrap();
    run(&mut t, 0, 2);
    let p = &t.model.params[2];
    let nan = (p.var.as_tensor() * f64::NAN).unwrap();
    p.var.set(&nan).unwrap();
    let b = common::random_batch(&t.model.config, 2, 8, 3, false);
    match t.step(&b) {
        Err(models::Error::Diverged { step }) => assert_eq!(step, 3),
        other => panic!("expected Diverged, got {other:?}"),
    }
    assert_eq!(t.steps_done(), 2);
}
