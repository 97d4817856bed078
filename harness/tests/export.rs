//! `emerge export`: the files hold exactly the job's initial weights and
//! batches, and the trace is what the trainer does on them.

use harness::cmd_export::{self, ExportArgs, ExportMeta, Precision};
use harness::sweep::{config, job, stream_for, Preset};
use models::{Device, Trainer};
use safetensors::SafeTensors;

fn args(out: &std::path::Path, shape: &str) -> ExportArgs {
    ExportArgs {
        preset: Some(Preset::Smoke),
        config: None,
        shape: shape.into(),
        seed: Some(3),
        steps: Some(3),
        out: out.to_path_buf(),
        train: true,
        kernels: None,
        device: None,
        threads: Some(1),
        dtype: Precision::F32,
    }
}

#[test]
fn export_holds_the_jobs_weights_batches_and_trace() {
    let dir = tempfile::tempdir().unwrap();
    cmd_export::run(&args(dir.path(), "1,16,2")).unwrap();
    let meta: ExportMeta =
        serde_json::from_slice(&std::fs::read(dir.path().join("meta.json")).unwrap()).unwrap();
    assert_eq!((meta.steps, meta.seed, meta.batch), (3, 3, 16));
    assert_eq!(meta.model_id, "L1-D16-H2-s3");
    let cfg = config::parse(Preset::Smoke.text(), "smoke").unwrap();
    // The smoke preset's budget: 16 steps, whatever K is exported.
    assert_eq!(meta.train.total_steps, 16);

    let bytes = std::fs::read(dir.path().join("batches.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let tokens = st.tensor("tokens").unwrap();
    let mask = st.tensor("loss_mask").unwrap();
    let t = cfg.model.context;
    assert_eq!(tokens.shape(), &[3, 16, t + 1]);
    assert_eq!(mask.shape(), &[3, 16, t]);
    let stream = stream_for(&cfg, None, 3).unwrap();
    let mut batches = Vec::new();
    for k in 0..3 {
        let b = job::batch_at(&stream, k, 16).unwrap();
        for r in 0..16 {
            let row = &tokens.data()[(k as usize * 16 + r) * (t + 1)..][..t + 1];
            let ids: Vec<u32> = row.iter().map(|&x| x as u32).collect();
            assert_eq!(&ids[..t], &b.inputs[r * t..(r + 1) * t]);
            assert_eq!(&ids[1..], &b.targets[r * t..(r + 1) * t]);
            let m = &mask.data()[(k as usize * 16 + r) * t..][..t];
            let want: Vec<u8> = b.mask.as_ref().unwrap()[r * t..(r + 1) * t]
                .iter()
                .map(|&x| x as u8)
                .collect();
            assert_eq!(m, &want[..]);
        }
        batches.push(b);
    }

    let mut trainer = Trainer::new(meta.model, meta.train.clone(), &Device::Cpu, 3).unwrap();
    let init = std::fs::read(dir.path().join("init.safetensors")).unwrap();
    let init = SafeTensors::deserialize(&init).unwrap();
    assert_eq!(init.len(), trainer.model.params.len());
    for (p, pm) in trainer.model.params.iter().zip(&meta.params) {
        assert_eq!((&p.name, p.decay), (&pm.name, pm.decay));
        let w: Vec<f32> = p.var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let got: Vec<f32> = init
            .tensor(&p.name)
            .unwrap()
            .data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(w, got, "{}", p.name);
    }
    let trace = std::fs::read_to_string(dir.path().join("trace_fast.csv")).unwrap();
    let rows: Vec<&str> = trace.lines().skip(1).collect();
    assert_eq!(rows.len(), 3);
    for (b, row) in batches.iter().zip(rows) {
        let s = trainer.step(b).unwrap();
        assert_eq!(
            row,
            format!("{},{},{},{}", s.step, s.loss, s.grad_norm, s.lr)
        );
    }
    assert!(dir.path().join("final_fast.safetensors").is_file());
}

#[test]
fn a_bad_shape_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let e = cmd_export::run(&args(dir.path(), "1,16")).unwrap_err();
    assert!(e.starts_with("--shape \"1,16\""), "{e}");
    let e = cmd_export::run(&args(dir.path(), "1,16,3")).unwrap_err();
    assert!(e.contains("n_head = 3"), "{e}");
}

/// More batches than the job trains on would be another job's data (and a
/// file of any size): refused before anything is written.
#[test]
fn more_steps_than_the_job_has_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let mut a = args(&out, "1,16,2");
    a.steps = Some(100_000);
    let e = cmd_export::run(&a).unwrap_err();
    assert!(
        e.starts_with("--steps 100000: L1-D16-H2-s3 trains for 16 steps"),
        "{e}"
    );
    assert!(!out.exists());
    a.steps = Some(16);
    a.train = false;
    cmd_export::run(&a).unwrap();
    let meta: ExportMeta =
        serde_json::from_slice(&std::fs::read(out.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta.steps, 16);
    // Written whole and renamed: no temporary file is left.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

/// An f64 replay starts from the exported f32 weights, as a replay in
/// another framework does: its first loss is the f32 trainer's to rounding.
#[test]
fn f64_training_runs_from_the_same_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(dir.path(), "1,16,2");
    a.dtype = Precision::F64;
    cmd_export::run(&a).unwrap();
    a.dtype = Precision::F32;
    cmd_export::run(&a).unwrap();
    let first = |name: &str| -> f64 {
        let t = std::fs::read_to_string(dir.path().join(name)).unwrap();
        t.lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let (l64, l32) = (first("trace_fast_f64.csv"), first("trace_fast.csv"));
    assert!((l64 - l32).abs() < 1e-6 * l64, "{l64} vs {l32}");
    assert!(dir.path().join("final_fast_f64.safetensors").is_file());
}
