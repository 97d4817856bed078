//! `emerge sweep` as a user runs it: the smoke preset end to end, kill -9 at
//! several moments and resume, shards, locks, bad configs and divergence.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{
    assert_same_results, copy_tree, emerge, emerge_with_file_cap, kill_when, read, s, smoke_args,
    spawn, text, truncate, EXACT,
};

fn scratch(name: &str) -> common::Scratch {
    common::scratch("sweep", name)
}

const SMOKE: &str = include_str!("../presets/smoke.toml");

fn smoke(runs: &Path, name: &str, extra: &[&str]) -> Output {
    emerge(&smoke_args(runs, name, extra))
}

/// `emerge sweep --config cfg --runs-dir runs`, plus `extra` flags.
fn sweep_config(cfg: &Path, runs: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["sweep", "--config", s(cfg), "--runs-dir", s(runs)];
    args.extend_from_slice(extra);
    emerge(&args)
}

#[test]
fn smoke_sweep_writes_a_complete_run_folder() {
    let runs = scratch("complete");
    let out = smoke(&runs, "r", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let run = runs.join("r");
    for f in [
        "config.toml",
        "manifest.json",
        "models.csv",
        "train_log.csv",
        "scores.csv",
        "samples.csv",
        "fits.csv",
        "claims.csv",
        "plots/task_add.png",
        "plots/overview.png",
        "plots/claims.png",
    ] {
        assert!(run.join(f).is_file(), "missing {f}\n{}", text(&out));
    }
    // The backend is recorded: the default on the CPU is the fast one.
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&run.join("manifest.json"))).unwrap();
    assert_eq!(manifest["kernels"], "fast");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("4 of 4 jobs finished"), "{stdout}");
    assert!(stdout.contains("0 diverged"), "{stdout}");
    assert!(
        stdout.contains("est. time"),
        "the plan is printed: {stdout}"
    );

    let models: Vec<runfolder::ModelRow> =
        runfolder::read::read_csv(&run.join("models.csv")).unwrap();
    // 4 sizes × (one intermediate checkpoint + the last).
    assert_eq!(models.len(), 8);
    assert!(models
        .iter()
        .all(|m| m.status == runfolder::ModelStatus::Ok));
    let samples: Vec<runfolder::SampleRow> =
        runfolder::read::read_csv(&run.join("samples.csv")).unwrap();
    // 8 checkpoints × 2 modes × 12 items.
    assert_eq!(samples.len(), 8 * 2 * 12);
    let scores: Vec<runfolder::ScoreRow> =
        runfolder::read::read_csv(&run.join("scores.csv")).unwrap();
    // Every aggregate is the mean of its items, with an interval around it.
    for sc in &scores {
        let vals: Vec<f64> = samples
            .iter()
            .filter(|x| x.model_id == sc.model_id && x.step == sc.step && x.mode == sc.mode)
            .filter_map(|x| x.metric_value(&sc.metric))
            .collect();
        assert_eq!(vals.len() as u64, sc.n, "{sc:?}");
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        assert!((mean - sc.value).abs() < 1e-12, "{sc:?} vs {mean}");
        assert!(
            sc.ci_lo <= sc.value + 1e-12 && sc.value <= sc.ci_hi + 1e-12,
            "{sc:?}"
        );
        if sc.metric == "exact_match" {
            assert!(sc.ci_hi > sc.ci_lo, "Wilson is never zero-width: {sc:?}");
        }
    }
    // Test items are the same for every model and checkpoint.
    let ids = |m: &str, st: u64| -> Vec<String> {
        samples
            .iter()
            .filter(|x| x.model_id == m && x.step == st)
            .map(|x| x.item_id.clone())
            .collect()
    };
    assert_eq!(
        ids(&models[0].model_id, models[0].step),
        ids(&models[7].model_id, models[7].step)
    );

    // Rerunning a finished sweep trains nothing and changes nothing.
    let before: Vec<String> = EXACT.iter().map(|f| read(&run.join(f))).collect();
    let again = smoke(&runs, "r", &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 ran now"),
        "{}",
        text(&again)
    );
    let after: Vec<String> = EXACT.iter().map(|f| read(&run.join(f))).collect();
    assert_eq!(before, after);
}

#[test]
fn kill_9_at_several_moments_then_resume_equals_an_uninterrupted_run() {
    let runs = scratch("kill");
    // Two threads: resumed multi-threaded training must repeat bit for bit.
    let clean = smoke(&runs, "clean", &["--threads", "2"]);
    assert!(clean.status.success(), "{}", text(&clean));

    let run = runs.join("killed");
    let args = smoke_args(&runs, "killed", &["--threads", "2"]);
    let job = |id: &str, f: &str| run.join("jobs").join(id).join(f);
    // Mid-job after a first checkpoint; mid-job between checkpoints of a
    // later job; between two jobs; right after a job scored its last step;
    // at the merge.
    let moments: Vec<Box<dyn Fn() -> bool>> = vec![
        Box::new(|| job("L1-D16-H2-s0", "checkpoint").exists()),
        Box::new(|| job("L1-D32-H2-s0", "train_log.csv").exists()),
        Box::new(|| job("L1-D32-H2-s0", "status.json").exists()),
        Box::new(|| job("L2-D32-H4-s0", "scores.csv").exists()),
        Box::new(|| job("L2-D48-H4-s0", "status.json").exists()),
    ];
    let mut log = String::new();
    // Every moment comes in every run (each process resumes where the last
    // was killed, and writes these files before it can end), so every kill
    // must land.
    for (i, ready) in moments.into_iter().enumerate() {
        match kill_when(spawn(&args), ready) {
            Ok(out) => log += &out,
            Err(why) => panic!("kill {} of 5 did not land: {why}\n{log}", i + 1),
        }
    }
    let last = emerge(&args);
    assert!(last.status.success(), "{}", text(&last));
    log += &text(&last);
    // The kills interrupted real work: some job continued from a checkpoint,
    // and the lock of a killed run was taken over.
    assert!(log.contains("resumed at step"), "{log}");
    assert!(log.contains("taking over the lock"), "{log}");
    assert_same_results(&runs.join("clean"), &run);
}

#[test]
fn damaged_job_files_are_moved_aside_and_the_sweep_still_equals_a_clean_run() {
    let runs = scratch("damage");
    let clean = smoke(&runs, "clean", &["--threads", "2"]);
    assert!(clean.status.success(), "{}", text(&clean));
    let run = runs.join("damaged");
    let args = smoke_args(&runs, "damaged", &["--threads", "2"]);
    let job = |id: &str, f: &str| run.join("jobs").join(id).join(f);
    let mut log = String::new();
    // Kill -9 while `id` is mid-job (it has a checkpoint but no status).
    let mut kill_mid = |id: &str| {
        let out = kill_when(spawn(&args), || job(id, "checkpoint").exists())
            .unwrap_or_else(|why| panic!("the kill in {id} did not land: {why}"));
        assert!(!job(id, "status.json").exists(), "{id} finished: {out}");
        log += &out;
    };

    // 1. The issue's case: a truncated weights file.
    kill_mid("L1-D32-H2-s0");
    truncate(&job("L1-D32-H2-s0", "checkpoint/model.safetensors"), 100);
    // 2. A foreign checkpoint (another model's) with the job's own good one
    //    left as checkpoint.old, as a crash in the middle of a save does.
    kill_mid("L2-D32-H4-s0");
    copy_tree(
        &job("L2-D32-H4-s0", "checkpoint"),
        &job("L2-D32-H4-s0", "checkpoint.old"),
    );
    std::fs::remove_dir_all(job("L2-D32-H4-s0", "checkpoint")).unwrap();
    copy_tree(
        &job("L1-D32-H2-s0", "checkpoint"),
        &job("L2-D32-H4-s0", "checkpoint"),
    );
    // 3. Torn rows: a log cut at a line end (mid-job), which still parses
    //    (the checksums catch it), a finished job's scores cut inside the
    //    last number (no line end: the parse catches it too); and a
    //    finished job's torn status.
    kill_mid("L2-D48-H4-s0");
    let tlog = job("L2-D48-H4-s0", "train_log.csv");
    let text_log = read(&tlog);
    let cut = text_log.trim_end().rfind('\n').unwrap() + 1;
    truncate(&tlog, cut);
    assert!(runfolder::read::read_csv::<runfolder::TrainLogRow>(&tlog).is_ok());
    let scores = job("L1-D32-H2-s0", "scores.csv");
    truncate(&scores, read(&scores).len() - 2);
    let torn = runfolder::read::read_csv::<runfolder::ScoreRow>(&scores).unwrap_err();
    assert!(torn.to_string().contains("cut short"), "{torn}");
    let status = job("L1-D16-H2-s0", "status.json");
    truncate(&status, read(&status).len() / 2);

    let last = emerge(&args);
    log += &text(&last);
    assert!(last.status.success(), "{log}");
    for (file, then) in [
        (
            "L1-D32-H2-s0/checkpoint/model.safetensors",
            "restarts from step 0",
        ),
        (
            "L2-D32-H4-s0/checkpoint/trainer.json",
            "resumes from checkpoint.old at step",
        ),
        ("L2-D48-H4-s0/train_log.csv", "restarts from step 0"),
        ("L1-D32-H2-s0/scores.csv", "restarts from step 0"),
        (
            "L1-D16-H2-s0/status.json",
            "resumes from its last checkpoint",
        ),
    ] {
        let warnings: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("warning:") && l.contains(file))
            .collect();
        assert_eq!(warnings.len(), 1, "one warning for {file}:\n{log}");
        assert!(warnings[0].contains(then), "{}", warnings[0]);
    }
    // Kept for inspection, not deleted.
    let aside = job("L1-D32-H2-s0", "checkpoint.damaged/model.safetensors");
    assert_eq!(std::fs::metadata(&aside).unwrap().len(), 100);
    assert!(job("L2-D32-H4-s0", "checkpoint.damaged/trainer.json").is_file());
    assert_eq!(
        read(&job("L2-D48-H4-s0", "train_log.csv.damaged")),
        text_log[..cut]
    );
    assert!(job("L1-D32-H2-s0", "scores.csv.damaged").is_file());
    assert!(job("L1-D16-H2-s0", "status.json.damaged").is_file());
    // The finished job with a torn status resumed at its last step.
    assert!(
        log.contains("L1-D16-H2-s0 done (resumed at step 16)"),
        "{log}"
    );
    let summary = String::from_utf8_lossy(&last.stdout);
    assert!(summary.contains("recovered 3 damaged files"), "{summary}");
    assert!(summary.contains("4 of 4 jobs finished"), "{summary}");
    assert_same_results(&runs.join("clean"), &run);
}

#[test]
fn a_live_lock_refuses_a_dead_one_is_taken_over() {
    let runs = scratch("lock");
    let run = runs.join("r");
    std::fs::create_dir_all(&run).unwrap();
    let sleeper = common::Running::new(Command::new("sleep").arg("60").spawn().unwrap());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let lock = |pid: u32| format!("{{\"pid\":{pid},\"host\":\"{host}\"}}");
    std::fs::write(run.join(".lock"), lock(sleeper.id())).unwrap();
    let out = smoke(&runs, "r", &[]);
    let pid = sleeper.id();
    drop(sleeper);
    assert!(!out.status.success());
    let err = text(&out);
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    // The sleeper is gone now: its lock is stale.
    let out = smoke(&runs, "r", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("taking over the lock"),
        "{}",
        text(&out)
    );
    assert!(!run.join(".lock").exists(), "released at the end");
}

#[test]
fn shards_run_side_by_side_and_an_unsharded_rerun_merges_them() {
    let runs = scratch("shards");
    let clean = smoke(&runs, "clean", &[]);
    assert!(clean.status.success(), "{}", text(&clean));
    let shard = |i: &str| spawn(&smoke_args(&runs, "sh", &["--shard", i]));
    // Both are started before either is waited for; a failed assertion on
    // the first kills the second as it drops.
    let (a, b) = (shard("0/2"), shard("1/2"));
    for c in [a, b] {
        let out = c.wait_with_output();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let run = runs.join("sh");
    let ids: Vec<String> = std::fs::read_dir(run.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    let out = smoke(&runs, "sh", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 ran now"),
        "{}",
        text(&out)
    );
    assert_same_results(&runs.join("clean"), &run);
    assert!(run.join("fits.csv").is_file());
}

#[test]
fn a_different_config_for_an_existing_run_is_refused_with_its_keys() {
    let runs = scratch("differ");
    assert!(smoke(&runs, "r", &[]).status.success());
    let cfg = runs.join("changed.toml");
    std::fs::write(&cfg, SMOKE.replace("items = 12", "items = 13")).unwrap();
    let before = read(&runs.join("r/scores.csv"));
    let out = sweep_config(&cfg, &runs, &["--name", "r"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("eval.items: 12 -> 13"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(before, read(&runs.join("r/scores.csv")));
}

/// `train.tokens` of a run folder's stored config.
fn stored_tokens(run: &Path) -> u64 {
    let cfg: toml::Table = toml::from_str(&read(&run.join("config.toml"))).unwrap();
    cfg["train"]["tokens"].as_integer().unwrap() as u64
}

#[test]
fn hours_size_the_budget_once_and_a_resume_keeps_it() {
    let runs = scratch("hours");
    // The plan alone: the scaled budget is printed, nothing is written.
    let out = smoke(&runs, "h", &["--hours", "0.01", "--plan-only"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    let planned: u64 = said
        .split("budget for 0.01 h on this machine: train.tokens = ")
        .nth(1)
        .unwrap_or_else(|| panic!("{said}"))
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(!runs.join("h").exists());
    // Its timings are kept beside the run folder for the sweep after it.
    let timings = runs.join(".h.plan-timings.json");
    assert!(timings.is_file(), "{said}");
    // Fewer hours than the evaluation needs: refused, naming the key. A
    // ten-billionth of an hour (0.36 µs) is less than any decoding batch
    // takes on any machine; a larger value would test this machine's speed.
    let out = smoke(&runs, "h", &["--hours", "0.0000000001"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("run.hours = 0.0000000001"),
        "{}",
        text(&out)
    );
    assert!(!runs.join("h").exists());
    // A real start stores the scaled budget with the hours...
    let run = runs.join("h");
    let log = kill_when(spawn(&smoke_args(&runs, "h", &["--hours", "0.01"])), || {
        run.join("manifest.json").is_file()
    })
    .unwrap_or_else(|why| panic!("the kill did not land: {why}"));
    let tokens = stored_tokens(&run);
    assert_ne!(tokens, 12_288, "the budget was scaled");
    // The budget the plan printed, not one from timing the machine again;
    // the run folder holds it now, and the plan's timings are spent.
    assert!(log.contains("from the timings `--plan-only` took"), "{log}");
    assert_eq!(tokens, planned);
    assert!(!timings.exists());
    assert_eq!(tokens % (16 * 48), 0, "whole batches");
    assert!(read(&run.join("config.toml")).contains("hours = 0.01"));
    // ...which a resume keeps rather than timing the machine again.
    let out = smoke(&runs, "h", &["--hours", "0.01", "--plan-only"]);
    assert!(
        text(&out).contains("budget for 0.01 h: kept from"),
        "{}",
        text(&out)
    );
    assert_eq!(stored_tokens(&run), tokens);
    // Other hours would be another sweep: refused with the keys that differ.
    let out = smoke(&runs, "h", &["--hours", "0.02"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("run.hours: 0.01 -> 0.02"),
        "{}",
        text(&out)
    );
}

/// `err` lists a problem for `key` at the line of `config` holding `needle`
/// (a leading newline in `needle` anchors it to a line start).
fn assert_problem_at(err: &str, config: &str, key: &str, needle: &str) {
    let at = config
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in config"));
    let line_no = config[..at + needle.len() - needle.trim_start_matches('\n').len()]
        .matches('\n')
        .count()
        + 1;
    let line = err
        .lines()
        .find(|l| l.contains(&format!("`{key}`")))
        .unwrap_or_else(|| panic!("no problem for {key}:\n{err}"));
    assert!(line.contains(&format!(":{line_no}:")), "{line}");
}

#[test]
fn config_problems_are_all_listed_with_positions_and_nothing_is_written() {
    let runs = scratch("badcfg");
    let cfg = runs.join("bad.toml");
    let bad = SMOKE
        .replace("[run]\n", "[run]\ncolour = \"blue\"\n")
        .replace(
            "{ n_layer = 1, d_model = 32, n_head = 2 }",
            "{ n_layer = 1, d_model = 30, n_head = 4 }",
        )
        .replace("items = 12", "items = 0")
        .replace("context = 48", "context = 24")
        .replace("checkpoints = 1", "checkpoints = 1\nbatchsize = 3");
    std::fs::write(&cfg, &bad).unwrap();
    let out = sweep_config(&cfg, &runs, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for (key, needle) in [
        ("run.colour", "colour"),
        ("eval.batchsize", "batchsize"),
        ("model.ladder[1]", "d_model = 30"),
        ("eval.items", "items = 0"),
    ] {
        assert_problem_at(&err, &bad, key, needle);
    }
    // 2-digit addition's chain of thought does not fit in 40 tokens.
    assert!(err.contains("more than model.context = 24"), "{err}");
    assert!(!runs.join("smoke").exists(), "nothing is written");

    // Wrong types in two sections, and a missing key: all listed, with
    // positions where the file has them.
    let typed = SMOKE
        .replace("batch = 16", "batch = \"big\"")
        .replace("items = 12", "items = [12]")
        .replace("seeds = [0]\n", "");
    std::fs::write(&cfg, &typed).unwrap();
    let out = sweep_config(&cfg, &runs, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for (key, needle) in [
        ("train.batch", "\nbatch = \"big\""),
        ("eval.items", "items = [12]"),
    ] {
        assert_problem_at(&err, &typed, key, needle);
    }
    assert!(err.contains("seeds"), "{err}");

    // An unknown backend is a usage error naming the choices.
    let out = smoke(&runs, "k", &["--kernels", "gpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("expected fast or candle"),
        "{}",
        text(&out)
    );

    // A missing config file and an unwritable output folder name the path.
    let out = emerge(&["sweep", "--config", "/nonexistent/x.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.toml"));
    let file = runs.join("a-file");
    std::fs::write(&file, "").unwrap();
    let under = file.join("runs");
    let out = smoke(&under, "r", &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(s(&under)), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_diverging_job_is_recorded_and_the_sweep_says_so() {
    let runs = scratch("diverge");
    let cfg = runs.join("hot.toml");
    std::fs::write(
        &cfg,
        SMOKE.replace("lr = 3e-3", "lr = 1e38\ngrad_clip = 0.0"),
    )
    .unwrap();
    let out = sweep_config(&cfg, &runs, &["--name", "hot"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("4 diverged"), "{stdout}");
    let models: Vec<runfolder::ModelRow> =
        runfolder::read::read_csv(&runs.join("hot/models.csv")).unwrap();
    let diverged: Vec<_> = models
        .iter()
        .filter(|m| m.status == runfolder::ModelStatus::Diverged)
        .collect();
    assert_eq!(diverged.len(), 4, "{models:?}");
    assert!(diverged.iter().all(|m| m.step >= 1 && m.step <= 16));
    assert!(diverged.iter().all(|m| m.train_loss.is_nan()));
    assert!(stdout.contains("nothing to fit"), "{stdout}");
    // A finished diverged job is not retrained.
    let again = sweep_config(&cfg, &runs, &["--name", "hot"]);
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 ran now"));
}

#[test]
fn a_failed_write_names_its_path_and_leaves_no_torn_file() {
    let runs = scratch("full");
    let clean = smoke(&runs, "clean", &[]);
    assert!(clean.status.success(), "{}", text(&clean));
    let args = smoke_args(&runs, "full", &[]);
    // Big enough for the config and the first job's small files, too small
    // for a samples file or a larger model's checkpoint.
    let out = emerge_with_file_cap(&args, 24 * 1024);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(s(&runs.join("full"))), "names the path: {err}");
    // Every CSV under its final name is whole.
    let csvs = common::csvs_whole(&runs.join("full")).unwrap();
    assert!(csvs > 0);
    // With room again, the same command finishes and matches a clean run.
    let again = emerge(&args);
    assert!(again.status.success(), "{}", text(&again));
    assert_same_results(&runs.join("clean"), &runs.join("full"));
}

#[test]
fn eval_rescores_final_checkpoints_to_the_same_numbers() {
    let runs = scratch("eval");
    assert!(smoke(&runs, "r", &[]).status.success());
    let run = runs.join("r");
    let before: Vec<String> = EXACT.iter().map(|f| read(&run.join(f))).collect();
    // Spoil the final rows of one job: `eval` must rebuild them.
    let job = run.join("jobs/L1-D32-H2-s0/scores.csv");
    let spoiled: String = read(&job)
        .lines()
        .filter(|l| !l.contains(",16,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&job, spoiled).unwrap();
    let out = emerge(&["eval", "--run", s(&run)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("rescored 4 models"), "{}", text(&out));
    // Weights loaded from the checkpoints score exactly as the live ones did.
    let after: Vec<String> = EXACT.iter().map(|f| read(&run.join(f))).collect();
    assert_eq!(before, after);
}

/// Set exact match at the final step of every job's scores (cot mode) to
/// `value(job index in size order)`, as if the curve jumped there.
fn plant_cot_jump(run: &Path, value: impl Fn(usize) -> f64) {
    let mut ids: Vec<String> = std::fs::read_dir(run.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let params = |id: &str| -> u64 {
        let models = read(&run.join("models.csv"));
        let header: Vec<&str> = models.lines().next().unwrap().split(',').collect();
        let at = |c: &str| header.iter().position(|h| *h == c).unwrap();
        models
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f[at("model_id")] == id)
            .map(|f| f[at("params_non_embedding")].parse().unwrap())
            .unwrap()
    };
    ids.sort_by_key(|id| params(id));
    for (i, id) in ids.iter().enumerate() {
        let path = run.join("jobs").join(id).join("scores.csv");
        let old = read(&path);
        let header: Vec<&str> = old.lines().next().unwrap().split(',').collect();
        let at = |c: &str| header.iter().position(|h| *h == c).unwrap();
        let last: u64 = old
            .lines()
            .skip(1)
            .map(|l| {
                l.split(',')
                    .nth(at("step"))
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            })
            .max()
            .unwrap();
        let mut out = String::new();
        for (n, line) in old.lines().enumerate() {
            let mut f: Vec<String> = line.split(',').map(str::to_string).collect();
            if n > 0
                && f[at("metric")] == "exact_match"
                && f[at("mode")] == "cot"
                && f[at("step")] == last.to_string()
            {
                f[at("value")] = value(i).to_string();
            }
            out += &f.join(",");
            out.push('\n');
        }
        std::fs::write(&path, &out).unwrap();
        // Hand-edited rows match none of the job's checksums, and a resume
        // would take them for damage (or, without checksums, not trust them):
        // record the edited file's as the job's own.
        let sums_path = run.join("jobs").join(id).join("sums.json");
        let mut sums: serde_json::Value = serde_json::from_str(&read(&sums_path)).unwrap();
        sums["current"]["scores.csv"] = serde_json::json!({
            "bytes": out.len(),
            "crc32": crc32fast::hash(out.as_bytes()),
        });
        std::fs::write(&sums_path, sums.to_string()).unwrap();
    }
}

#[test]
fn refine_bisects_the_straddling_sizes_as_ordinary_jobs_of_the_run() {
    let runs = scratch("refine");
    let first = smoke(&runs, "ref", &[]);
    assert!(first.status.success(), "{}", text(&first));
    let run = runs.join("ref");
    let sizes = || -> Vec<u64> {
        let mut v: Vec<u64> = read(&run.join("models.csv"))
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(6).unwrap().parse().unwrap())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let ladder = sizes();
    // The smoke models learn little; plant a jump between the 2nd and 3rd size.
    plant_cot_jump(&run, |i| if i < 2 { 0.0 } else { 1.0 });
    let refused = smoke(&runs, "ref", &["--refine", "2", "--shard", "0/2"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--refine"), "{}", text(&refused));

    let out = smoke(&runs, "ref", &["--refine", "2"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("refine round:"), "{log}");
    assert!(log.contains("before: add/cot/0sh"), "{log}");
    let jobs = std::fs::read_dir(run.join("jobs")).unwrap().count();
    assert!((5..=6).contains(&jobs), "{jobs} jobs\n{log}");
    let stored = read(&run.join("config.toml"));
    assert!(stored.contains("refined"), "{stored}");
    let mut ids: Vec<String> = read(&run.join("models.csv"))
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), jobs, "{ids:?}");
    // The first added size lies strictly between the two that straddled.
    let refined = sizes();
    assert!(
        refined.iter().any(|&n| ladder[1] < n && n < ladder[2]),
        "{ladder:?} -> {refined:?}"
    );

    // A plain resume keeps the refined sizes and has nothing to run.
    let again = smoke(&runs, "ref", &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("0 ran now"), "{}", text(&again));
    assert_eq!(read(&run.join("config.toml")), stored);
    assert_eq!(std::fs::read_dir(run.join("jobs")).unwrap().count(), jobs);
}

/// `word_twin` through a real sweep: each of its samples says whether the
/// answer is the changed training problem's (`parrot`), no other task's
/// does, `scores.csv` has the rate with its chance level, and `claims.csv`
/// carries it as the parrot claim.
#[test]
fn word_twin_samples_carry_the_parrot_flag_and_claims_report_its_rate() {
    use tasks::{word_twin::WordTwin, Item, Task, WordParams};
    let dir = scratch("twin");
    let cfg = dir.join("twin.toml");
    let text_ = SMOKE
        .replace("context = 48", "context = 128")
        .replace("tokens = 12_288 ", "tokens = 16_384 ")
        .replace(
            "mixture = [{ task = \"add\", digits = [2] }]",
            "mixture = [{ task = \"word\", steps = [2] }]",
        )
        .replace(
            "tasks = [{ task = \"add\", digits = [2] }]",
            "tasks = [{ task = \"word\", steps = [2] }, { task = \"word_twin\", steps = [2] }]",
        );
    std::fs::write(&cfg, &text_).unwrap();
    let out = sweep_config(&cfg, &dir.join("runs"), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let run = dir.join("runs/smoke");
    let samples: Vec<runfolder::SampleRow> =
        runfolder::read::read_csv(&run.join("samples.csv")).unwrap();
    let twin = WordTwin::new(WordParams {
        steps: vec![2],
        ..WordParams::default()
    });
    let mut flags = 0;
    for r in &samples {
        if r.task != "word_twin" {
            assert_eq!(r.parrot, None, "{r:?}");
            continue;
        }
        let item = Item::new(
            "word_twin",
            r.item_id.strip_prefix("word_twin:").unwrap().into(),
            r.prompt
                .rsplit_once(" A:")
                .or(r.prompt.rsplit_once(" T:"))
                .unwrap()
                .0
                .into(),
            String::new(),
            r.target.clone(),
        );
        let parrot = twin.parrot_answer(&item).unwrap();
        assert_ne!(parrot, r.target);
        assert_eq!(r.parrot, Some(r.answer == parrot), "{r:?}");
        flags += 1;
    }
    assert_eq!(
        flags,
        4 * 2 * 2 * 12,
        "4 sizes, 2 checkpoints, 2 modes, 12 items"
    );
    let scores: Vec<runfolder::ScoreRow> =
        runfolder::read::read_csv(&run.join("scores.csv")).unwrap();
    let parrot: Vec<&runfolder::ScoreRow> =
        scores.iter().filter(|r| r.metric == "parrot").collect();
    assert_eq!(parrot.len(), 4 * 2 * 2);
    for r in &parrot {
        assert_eq!((r.task.as_str(), r.n), ("word_twin", 12));
        assert!(r.chance > 0.0 && r.chance < 0.2, "{r:?}");
        let flagged = samples
            .iter()
            .filter(|x| {
                x.model_id == r.model_id && x.step == r.step && x.task == r.task && x.mode == r.mode
            })
            .filter(|x| x.parrot == Some(true))
            .count();
        assert!((r.value - flagged as f64 / 12.0).abs() < 1e-12, "{r:?}");
    }
    let claims: Vec<runfolder::ClaimRow> =
        runfolder::read::read_csv(&run.join("claims.csv")).unwrap();
    let rates: Vec<&runfolder::ClaimRow> = claims.iter().filter(|c| c.claim == "parrot").collect();
    assert_eq!(rates.len(), 4 * 2, "{claims:?}");
    assert!(rates.iter().all(|c| c.task == "word_twin"));
}

/// What a run trained, whatever its numbers: the rows of `models.csv` as
/// (model_id, step, status), and the (model_id, step) of `train_log.csv`.
#[derive(Debug, PartialEq)]
struct RunShape {
    models: Vec<(String, u64, String)>,
    log: Vec<(String, u64)>,
}

fn shape_of_run(run: &Path) -> RunShape {
    let models: Vec<runfolder::ModelRow> =
        runfolder::read::read_csv(&run.join("models.csv")).unwrap();
    let log: Vec<runfolder::TrainLogRow> =
        runfolder::read::read_csv(&run.join("train_log.csv")).unwrap();
    RunShape {
        models: models
            .into_iter()
            .map(|m| (m.model_id, m.step, format!("{:?}", m.status)))
            .collect(),
        log: log.into_iter().map(|r| (r.model_id, r.step)).collect(),
    }
}

/// A run trained with one thread count and resumed with another. The batch
/// is split into one slice per thread and the slices' gradients are summed
/// in order, so the thread count changes float rounding: the resumed run is
/// not the bits of either clean run (docs/USAGE.md says so), but it is a valid
/// run: the same jobs and steps, the rows before the checkpoint kept as
/// they were, every score finite.
#[test]
fn a_resume_with_another_thread_count_is_a_valid_run() {
    let runs = scratch("threads");
    let clean = smoke(&runs, "one", &["--threads", "1"]);
    assert!(clean.status.success(), "{}", text(&clean));
    let run = runs.join("mixed");
    let ck = run.join("jobs/L1-D32-H2-s0/checkpoint");
    let first = kill_when(
        spawn(&smoke_args(&runs, "mixed", &["--threads", "1"])),
        || ck.exists(),
    )
    .unwrap_or_else(|why| panic!("the kill did not land: {why}"));
    // The job killed mid-way resumes on two threads.
    let out = smoke(&runs, "mixed", &["--threads", "2"]);
    let log = first + &text(&out);
    assert!(out.status.success(), "{log}");
    let resumed: u64 = log
        .split("L1-D32-H2-s0 done (resumed at step ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("L1-D32-H2-s0 did not resume:\n{log}"));
    assert!((1..16).contains(&resumed), "{log}");
    let one = runs.join("one");
    assert_eq!(shape_of_run(&one), shape_of_run(&run));
    // The job finished before the kill, and the first half of the killed
    // one, trained on one thread as in the clean run: their rows are the
    // clean run's.
    let rows = |d: &Path, keep: &dyn Fn(&runfolder::TrainLogRow) -> bool| -> Vec<String> {
        let r: Vec<runfolder::TrainLogRow> =
            runfolder::read::read_csv(&d.join("train_log.csv")).unwrap();
        r.into_iter()
            .filter(|r| keep(r))
            .map(|r| format!("{} {} {} {}", r.model_id, r.step, r.loss, r.grad_norm))
            .collect()
    };
    let before_kill = |r: &runfolder::TrainLogRow| {
        r.model_id == "L1-D16-H2-s0" || r.model_id == "L1-D32-H2-s0" && r.step <= resumed
    };
    assert!(!rows(&one, &before_kill).is_empty());
    assert_eq!(rows(&one, &before_kill), rows(&run, &before_kill));
    let scores: Vec<runfolder::ScoreRow> =
        runfolder::read::read_csv(&run.join("scores.csv")).unwrap();
    assert!(!scores.is_empty());
    for r in &scores {
        assert!(
            r.value.is_finite() && r.ci_lo.is_finite() && r.ci_hi.is_finite(),
            "{r:?}"
        );
    }
    let losses: Vec<runfolder::TrainLogRow> =
        runfolder::read::read_csv(&run.join("train_log.csv")).unwrap();
    assert!(losses.iter().all(|r| r.loss.is_finite() && r.loss > 0.0));
    assert!(run.join("fits.csv").is_file() && run.join("plots/task_add.png").is_file());
}

/// `--refine 1` killed while it trains the size it added, then the same
/// command again: it finishes that size and ends where an uninterrupted
/// `--refine 1` ends, the same sizes and the same results byte for byte.
/// The ladder has a decade between its two smallest sizes and the jump is
/// planted there, so one added size leaves a gap that another could split:
/// a rerun that forgot the size it had added would add a second one.
#[test]
fn refine_killed_mid_size_and_rerun_equals_an_uninterrupted_refine() {
    let runs = scratch("refinekill");
    let cfg = runs.join("wide.toml");
    std::fs::write(
        &cfg,
        SMOKE.replace(
            "  { n_layer = 1, d_model = 32, n_head = 2 },\n  { n_layer = 2, d_model = 32, n_head = 4 },\n  { n_layer = 2, d_model = 48, n_head = 4 },",
            "  { n_layer = 1, d_model = 64, n_head = 4 },\n  { n_layer = 2, d_model = 64, n_head = 4 },\n  { n_layer = 2, d_model = 80, n_head = 4 },",
        ),
    )
    .unwrap();
    let sweep = |name: &'static str, refine: &'static str| {
        let cfg = s(&cfg);
        vec![
            "sweep",
            "--config",
            cfg,
            "--runs-dir",
            s(&runs),
            "--name",
            name,
            "--refine",
            refine,
        ]
    };
    let first = emerge(&sweep("base", "0"));
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(
        std::fs::read_dir(runs.join("base/jobs")).unwrap().count(),
        4
    );
    plant_cot_jump(&runs.join("base"), |i| if i < 1 { 0.0 } else { 1.0 });
    copy_tree(&runs.join("base"), &runs.join("clean"));
    copy_tree(&runs.join("base"), &runs.join("killed"));
    let clean = emerge(&sweep("clean", "1"));
    assert!(clean.status.success(), "{}", text(&clean));
    let jobs = |run: &Path| std::fs::read_dir(run.join("jobs")).unwrap().count();
    assert_eq!(jobs(&runs.join("clean")), 5, "{}", text(&clean));
    assert!(
        text(&clean).contains("the budget of 1 size is spent"),
        "a second size would fit: {}",
        text(&clean)
    );

    let run = runs.join("killed");
    let ladder: Vec<String> = std::fs::read_dir(runs.join("base/jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // A job folder the ladder did not have, with a checkpoint and no
    // status: the added size, mid-training.
    let added_mid_job = || {
        std::fs::read_dir(run.join("jobs")).unwrap().any(|e| {
            let e = e.unwrap();
            !ladder.contains(&e.file_name().to_string_lossy().into_owned())
                && e.path().join("checkpoint").exists()
                && !e.path().join("status.json").exists()
        })
    };
    let mut log = kill_when(spawn(&sweep("killed", "1")), added_mid_job)
        .unwrap_or_else(|why| panic!("the kill did not land: {why}"));
    let again = emerge(&sweep("killed", "1"));
    log += &text(&again);
    assert!(again.status.success(), "{log}");
    assert!(log.contains("resumed at step"), "{log}");
    // The stored configs differ in the run's name only.
    let config =
        |d: &Path| read(&d.join("config.toml")).replace("name = \"killed\"", "name = \"clean\"");
    assert_eq!(
        config(&runs.join("clean")),
        config(&run),
        "the same sizes added\n{log}\n---- uninterrupted:\n{}",
        text(&clean)
    );
    assert_eq!(jobs(&run), 5, "{log}");
    assert_same_results(&runs.join("clean"), &run);
    assert_eq!(
        read(&runs.join("clean/fits.csv")),
        read(&run.join("fits.csv"))
    );
    // Both refinements ended: no record is left to shorten a later one.
    assert!(!runs.join("clean/.refine.json").exists());
    assert!(!run.join(".refine.json").exists());
}
