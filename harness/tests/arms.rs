//! Ablation arms (`[[arms]]`) as a user runs them: a small two-arm sweep
//! end to end, its jobs killed and resumed, split into shards and merged,
//! configs whose arms differ in anything but the mixture and the learning
//! rate refused, and learning-rate arms trained at their rates and recorded.

use std::path::Path;

mod common;
use common::{emerge, kill_when, read, s, spawn, text};

fn scratch(name: &str) -> common::Scratch {
    common::scratch("arms", name)
}

/// The smoke preset with room for `code` (context 112) and two arms: 2-digit
/// addition alone, and addition with a quarter of the sequences replaced by
/// code. `ARMS` replaces the `mixture = ...` line.
const SMOKE: &str = include_str!("../presets/smoke.toml");
const MIXTURE: &str = "mixture = [{ task = \"add\", digits = [2] }]";
const ARMS: &str = r#"
[[arms]]
name = "add"
mixture = [{ task = "add", digits = [2] }]

[[arms]]
name = "add+code"
mixture = [
  { task = "add", weight = 0.75, digits = [2] },
  { task = "code", weight = 0.25, lines = [3], max_value = 9 },
]
"#;
/// Files that must not differ between an interrupted and a clean run.
const EXACT: [&str; 5] = [
    "scores.csv",
    "models.csv",
    "samples.csv",
    "arms.csv",
    "arms_paired.csv",
];

/// The smoke config at context 112 (16 steps of 16 × 112 tokens), either
/// plain or with the two arms. `[[arms]]` tables go last: TOML would read
/// any later key as the last arm's.
fn config(arms: bool) -> String {
    let base = SMOKE
        .replace("context = 48", "context = 112")
        .replace("tokens = 12_288 ", "tokens = 28_672 ");
    if arms {
        format!("{}\n{ARMS}", base.replace(MIXTURE, ""))
    } else {
        base
    }
}

/// Write `text` as `dir/name.toml` and return the sweep arguments for it.
fn args_for(dir: &Path, name: &str, text: &str, extra: &[&str]) -> Vec<String> {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, text).unwrap();
    let mut a: Vec<String> = [
        "sweep",
        "--config",
        s(&cfg),
        "--runs-dir",
        s(&dir.join("runs")),
        "--name",
        name,
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    a.extend(extra.iter().map(|x| x.to_string()));
    a
}

fn refs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

fn assert_same(a: &Path, b: &Path) {
    for f in EXACT {
        assert!(
            read(&a.join(f)) == read(&b.join(f)),
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn an_arms_sweep_trains_every_arm_and_compares_them() {
    let dir = scratch("complete");
    let out = emerge(&refs(&args_for(&dir, "ab", &config(true), &[])));
    assert!(out.status.success(), "{}", text(&out));
    let run = dir.join("runs/ab");
    // Every size in every arm: 4 sizes × 2 arms, the arm in the job id.
    let mut ids: Vec<String> = std::fs::read_dir(run.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 8, "{ids:?}");
    for arm in ["add", "add+code"] {
        let n = ids
            .iter()
            .filter(|i| runfolder::ids::arm_of(i) == Some(arm))
            .count();
        assert_eq!(n, 4, "{arm}: {ids:?}");
    }
    let models: Vec<runfolder::ModelRow> =
        runfolder::read::read_csv(&run.join("models.csv")).unwrap();
    assert_eq!(models.len(), 16, "8 jobs × 2 scored checkpoints");
    for f in [
        "arms.csv",
        "arms_paired.csv",
        "arms/add/fits.csv",
        "arms/add+code/claims.csv",
        "arms/add/plots/task_add.png",
        "arms/add+code/plots/task_add.png",
        "plots/arms_add.png",
    ] {
        assert!(run.join(f).is_file(), "missing {f}\n{}", text(&out));
    }
    assert_overlay_shows_each_arm(&run, &["add", "add+code"], "add");
    common::assert_report_shows(
        &run,
        &[
            "## Arms: thresholds and shifts (exact match)",
            "| add | direct | 0 | add+code |",
            "### Arm `add+code`",
            "- arms: add, add+code",
        ],
    );
    // No fits that would average the arms together.
    assert!(!run.join("fits.csv").exists());
    let rows: Vec<runfolder::ArmRow> = runfolder::read::read_csv(&run.join("arms.csv")).unwrap();
    assert_eq!(rows.len(), 4, "add × (direct, cot) × 2 arms: {rows:?}");
    assert!(rows
        .iter()
        .all(|r| r.baseline == "add" && (r.arm == "add") == (r.shift_kind == "baseline")));
    // Paired tests at every size on the same 12 items.
    let paired: Vec<runfolder::ArmPairRow> =
        runfolder::read::read_csv(&run.join("arms_paired.csv")).unwrap();
    assert_eq!(paired.len(), 2 * 4, "{paired:?}");
    assert!(paired
        .iter()
        .all(|p| p.arm == "add+code" && p.n_paired == 12 && p.p_value.is_some()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("paired McNemar tests"), "{stdout}");

    // The baseline arm trains on exactly the data of a plain sweep with the
    // same mixture: only the data may differ between arms, so its models
    // write the plain run's outputs item for item and score the same values
    // (the bootstrap intervals of continuous metrics are seeded by model id).
    let plain = emerge(&refs(&args_for(&dir, "plain", &config(false), &[])));
    assert!(plain.status.success(), "{}", text(&plain));
    let as_plain = |id: &str| id.strip_suffix("@add").map(str::to_string);
    let samples = |d: &Path| -> Vec<runfolder::SampleRow> {
        runfolder::read::read_csv(&d.join("samples.csv")).unwrap()
    };
    let baseline: Vec<runfolder::SampleRow> = samples(&run)
        .into_iter()
        .filter_map(|mut r| {
            r.model_id = as_plain(&r.model_id)?;
            Some(r)
        })
        .collect();
    assert_eq!(samples(&dir.join("runs/plain")), baseline);
    let values = |d: &Path, keep: &dyn Fn(&str) -> Option<String>| -> Vec<String> {
        let rows: Vec<runfolder::ScoreRow> =
            runfolder::read::read_csv(&d.join("scores.csv")).unwrap();
        rows.into_iter()
            .filter_map(|r| {
                let id = keep(&r.model_id)?;
                Some(format!(
                    "{id} {} {} {} {} {}",
                    r.step, r.task, r.mode, r.metric, r.value
                ))
            })
            .collect()
    };
    assert_eq!(
        values(&dir.join("runs/plain"), &|id| Some(id.to_string())),
        values(&run, &as_plain)
    );

    // analyze and plot on their own redo the same files; compare refuses
    // to average the arms.
    let before = read(&run.join("arms.csv"));
    let a = emerge(&["analyze", "--run", s(&run)]);
    assert!(a.status.success(), "{}", text(&a));
    assert_eq!(before, read(&run.join("arms.csv")));
    let p = emerge(&["plot", "--run", s(&run)]);
    assert!(p.status.success(), "{}", text(&p));
    // A half-written analysis (arms.csv there, one arm's fits.csv gone) is
    // not trusted: plot analyzes the arms in memory, says so, and draws the
    // same overlay; analyze then writes the files again.
    let overlay = std::fs::read(run.join("plots/arms_add.png")).unwrap();
    std::fs::remove_file(run.join("arms/add+code/fits.csv")).unwrap();
    let p = emerge(&["plot", "--run", s(&run)]);
    assert!(p.status.success(), "{}", text(&p));
    assert!(text(&p).contains("analyzing now"), "{}", text(&p));
    assert_eq!(
        overlay,
        std::fs::read(run.join("plots/arms_add.png")).unwrap()
    );
    let a = emerge(&["analyze", "--run", s(&run)]);
    assert!(a.status.success(), "{}", text(&a));
    assert_eq!(before, read(&run.join("arms.csv")));
    let c = emerge(&["compare", s(&run), s(&dir.join("runs/plain"))]);
    assert!(!c.status.success());
    assert!(
        text(&c).contains("ablation arms add, add+code"),
        "{}",
        text(&c)
    );

    // `emerge runs` takes each arm's fits and names the arm on every row of
    // the arms run, and on none of the plain run's.
    let table = dir.join("table.csv");
    let r = emerge(&[
        "runs",
        s(&run),
        s(&dir.join("runs/plain")),
        "--out",
        s(&table),
    ]);
    assert!(r.status.success(), "{}", text(&r));
    assert!(!text(&r).contains("no fits.csv"), "{}", text(&r));
    let mut rdr = csv::Reader::from_path(&table).unwrap();
    let head = rdr.headers().unwrap().clone();
    let at = |name: &str| head.iter().position(|h| h == name).unwrap();
    let (row, run_col, arm, task) = (at("row"), at("run"), at("arm"), at("task"));
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    for wanted in ["add", "add+code"] {
        let arm_fits = |from: &Path| -> usize {
            let fits: Vec<runfolder::FitRow> = runfolder::read::read_csv(from).unwrap();
            fits.len()
        };
        let n = rows
            .iter()
            .filter(|r| &r[row] == "fit" && &r[arm] == wanted && &r[task] == "add")
            .count();
        assert_eq!(n, arm_fits(&run.join(format!("arms/{wanted}/fits.csv"))));
        assert!(n > 0);
    }
    for r in &rows {
        let arm_of_row = &r[arm];
        match &r[run_col] {
            "ab" => assert!(arm_of_row == "add" || arm_of_row == "add+code", "{r:?}"),
            _ => assert_eq!(arm_of_row, "", "{r:?}"),
        }
    }
}

#[test]
fn arms_jobs_resume_after_kill_9_and_merge_from_shards_like_any_others() {
    let dir = scratch("resume");
    let clean = emerge(&refs(&args_for(&dir, "clean", &config(true), &[])));
    assert!(clean.status.success(), "{}", text(&clean));

    let args = args_for(&dir, "killed", &config(true), &[]);
    let run = dir.join("runs/killed");
    let job = |id: &str, f: &str| run.join("jobs").join(id).join(f);
    let mut log = String::new();
    let moments: Vec<Box<dyn Fn() -> bool>> = vec![
        Box::new(|| job("L1-D16-H2-s0@add+code", "checkpoint").exists()),
        Box::new(|| job("L1-D32-H2-s0@add+code", "train_log.csv").exists()),
        Box::new(|| job("L2-D48-H4-s0@add", "checkpoint").exists()),
    ];
    // Each process resumes where the last was killed and writes these files
    // before it can end: every kill must land.
    for (i, ready) in moments.into_iter().enumerate() {
        match kill_when(spawn(&refs(&args)), ready) {
            Ok(out) => log += &out,
            Err(why) => panic!("kill {} of 3 did not land: {why}\n{log}", i + 1),
        }
    }
    let last = emerge(&refs(&args));
    log += &text(&last);
    assert!(last.status.success(), "{log}");
    assert!(log.contains("resumed at step"), "{log}");
    assert_same(&dir.join("runs/clean"), &run);

    // Two shards side by side, then an unsharded run that only merges.
    let sh = |i: &str| spawn(&refs(&args_for(&dir, "sh", &config(true), &["--shard", i])));
    for c in [sh("0/2"), sh("1/2")] {
        let out = c.wait_with_output();
        assert!(out.status.success(), "{}", text(&out));
    }
    let merged = emerge(&refs(&args_for(&dir, "sh", &config(true), &[])));
    assert!(merged.status.success(), "{}", text(&merged));
    assert!(text(&merged).contains("0 ran now"), "{}", text(&merged));
    assert_same(&dir.join("runs/clean"), &dir.join("runs/sh"));
}

/// A refused config: exit status 2, the problem named, nothing written.
fn refused(name: &str, text_: &str, needles: &[&str]) {
    let dir = scratch(name);
    let out = emerge(&refs(&args_for(&dir, name, text_, &[])));
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(2), "{msg}");
    for n in needles {
        assert!(msg.contains(n), "`{n}` not in: {msg}");
    }
    assert!(!dir.join("runs").exists(), "something was written: {msg}");
}

#[test]
fn arms_that_differ_in_anything_but_the_mixture_and_lr_are_refused() {
    // An arm with its own weight decay: the key and its value, on its line.
    let wd = config(true).replace(
        "name = \"add+code\"\n",
        "name = \"add+code\"\nweight_decay = 0.01\n",
    );
    let line = wd.lines().position(|l| l == "weight_decay = 0.01").unwrap() + 1;
    let dir = scratch("wd");
    let out = emerge(&refs(&args_for(&dir, "wd", &wd, &[])));
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(2), "{msg}");
    let problem: Vec<&str> = msg
        .lines()
        .filter(|l| l.contains("arms[1].weight_decay"))
        .collect();
    assert_eq!(problem.len(), 1, "{msg}");
    assert!(
        problem[0].contains(&format!("wd.toml:{line}:"))
            && problem[0].contains("= 0.01")
            && problem[0].contains("only in the training mixture and the learning rate"),
        "{msg}"
    );
    assert!(!dir.join("runs").exists());
    // A learning rate must be a positive number.
    refused(
        "badlr",
        &config(true).replace("name = \"add+code\"\n", "name = \"add+code\"\nlr = -1.0\n"),
        &["arms[1].lr", "-1 must be a positive number"],
    );
    // An arm without a mixture trains on train.mixture, which must exist.
    refused(
        "nomix",
        &format!(
            "{}\n[[arms]]\nname = \"a\"\n{MIXTURE}\n[[arms]]\nname = \"b\"\nlr = 0.01\n",
            config(false).replace(MIXTURE, "")
        ),
        &["train.mixture", "at least one task"],
    );
    // Two arms at the same mixture and learning rate train the same models.
    refused(
        "samelr",
        &format!(
            "{}\n[[arms]]\nname = \"a\"\nlr = 0.003\n[[arms]]\nname = \"b\"\n",
            config(false)
        ),
        &["arms[1].name", "arms[0]"],
    );

    // Another ladder or budget in an arm: the same refusal.
    refused(
        "tokens",
        &config(true).replace("name = \"add\"\n", "name = \"add\"\ntokens = 999\n"),
        &["arms[0].tokens", "= 999"],
    );
    // One arm is no ablation; two arms with one mixture train the same models.
    let one = format!(
        "{}\n[[arms]]\nname = \"add\"\n{MIXTURE}\n",
        config(false).replace(MIXTURE, "")
    );
    refused("one", &one, &["`arms`", "at least two"]);
    let same = config(true).replace(
        "mixture = [\n  { task = \"add\", weight = 0.75, digits = [2] },\n  { task = \"code\", weight = 0.25, lines = [3], max_value = 9 },\n]",
        MIXTURE,
    );
    refused("same", &same, &["arms[1].mixture", "arms[0]"]);
    // A shared mixture beside the arms would be ambiguous.
    let both = config(true).replace("log_every = 2\n", &format!("log_every = 2\n{MIXTURE}\n"));
    refused(
        "both",
        &both,
        &["train.mixture", "each give their own mixture"],
    );
    // Arm names become folder names.
    refused(
        "slash",
        &config(true).replace("name = \"add+code\"", "name = \"add/code\""),
        &["arms[1].name"],
    );
    // A code arm whose programs do not fit the context.
    refused(
        "long",
        &config(true).replace("lines = [3], max_value = 9", "lines = [5], comments = true"),
        &["arms[1].mixture[1].task", "model.context = 112"],
    );
}

#[test]
fn an_arms_run_refuses_a_changed_arm_on_resume() {
    let dir = scratch("changed");
    let out = emerge(&refs(&args_for(&dir, "r", &config(true), &["--plan-only"])));
    assert!(out.status.success(), "{}", text(&out));
    // --plan-only writes nothing: the folder holds the config the test wrote
    // and no run folder, runs folder or plan timings.
    assert_eq!(common::walk(&dir), [dir.join("r.toml")], "{}", text(&out));
    assert!(!dir.join("runs").exists(), "{}", text(&out));
    // A real start stores the config.
    let quick = config(true).replace("tokens = 28_672 ", "tokens = 3_584 ");
    let out = emerge(&refs(&args_for(&dir, "r", &quick, &[])));
    assert!(out.status.success(), "{}", text(&out));
    let changed = quick.replace("weight = 0.25", "weight = 0.5");
    let out = emerge(&refs(&args_for(&dir, "r", &changed, &[])));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("arms[1].mixture[1].weight: 0.25 -> 0.5"),
        "{}",
        text(&out)
    );
    // --refine picks sizes from one curve; with arms it is refused.
    let out = emerge(&refs(&args_for(&dir, "r", &quick, &["--refine", "2"])));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--refine with [[arms]]"),
        "{}",
        text(&out)
    );
}

/// Arms that differ in the learning rate alone: the shared `train.mixture`,
/// each job trained at its arm's rate, the rates stored in `config.toml`
/// and `manifest.json` and written into `arms.csv`.
#[test]
fn learning_rate_arms_train_at_their_rate_and_are_recorded() {
    let dir = scratch("lr");
    let text_ = format!(
        "{}\n[[arms]]\nname = \"lr\"\n\n[[arms]]\nname = \"lr-double\"\nlr = 0.006\n",
        config(false).replace("tokens = 28_672 ", "tokens = 3_584 ")
    );
    let out = emerge(&refs(&args_for(&dir, "lr", &text_, &[])));
    assert!(out.status.success(), "{}", text(&out));
    let run = dir.join("runs/lr");
    let stored = read(&run.join("config.toml"));
    assert!(stored.contains("lr = 0.006"), "{stored}");
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&run.join("manifest.json"))).unwrap();
    let arms: Vec<(String, f64)> = manifest["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["lr"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        arms,
        [("lr".to_string(), 0.003), ("lr-double".to_string(), 0.006)]
    );
    // The schedule's peak in each arm's training log.
    let log: Vec<runfolder::TrainLogRow> =
        runfolder::read::read_csv(&run.join("train_log.csv")).unwrap();
    let peak = |arm: &str| {
        log.iter()
            .filter(|r| runfolder::ids::arm_of(&r.model_id) == Some(arm))
            .map(|r| r.lr)
            .fold(0.0, f64::max)
    };
    assert!(peak("lr") > 0.0);
    assert!(
        (peak("lr-double") / peak("lr") - 2.0).abs() < 1e-9,
        "{} {}",
        peak("lr"),
        peak("lr-double")
    );
    let rows: Vec<runfolder::ArmRow> = runfolder::read::read_csv(&run.join("arms.csv")).unwrap();
    for r in &rows {
        let want = if r.arm == "lr" { 0.003 } else { 0.006 };
        assert_eq!(r.lr, Some(want), "{r:?}");
    }
}

/// `plots/arms_<task>.png` of the run `run`: a panel per mode, each arm's
/// exact match (its own seed mean) in the arm's colour where its data are,
/// or under a later arm's point at the same place (the smoke models score
/// alike); the last arm, drawn on top, shows every point.
fn assert_overlay_shows_each_arm(run: &Path, arms: &[&str], task: &str) {
    use plots::inspect::{check_points, Axes, Expected, Image};
    let path = run.join(format!("plots/arms_{task}.png"));
    let img = Image::read(&path).unwrap();
    let loaded: Vec<results::Run> = arms
        .iter()
        .map(|a| results::Run::load_arm(run, a).unwrap())
        .collect();
    let rects = img.grid_panels(2, 2, None);
    for (mode, rect) in [runfolder::Mode::Direct, runfolder::Mode::Cot]
        .into_iter()
        .zip(rects)
    {
        let series: Vec<Expected> = loaded
            .iter()
            .enumerate()
            .map(|(i, r)| Expected {
                label: format!("{} {mode}", arms[i]),
                color: plots::style::arm_color(i),
                points: r
                    .final_points
                    .iter()
                    .filter(|p| {
                        p.task == task
                            && p.mode == mode
                            && p.shots == 0
                            && p.metric == "exact_match"
                    })
                    .map(|p| ((p.params_non_embedding as f64).log10(), p.value))
                    .collect(),
            })
            .collect();
        let last = series.last().unwrap().points.len();
        assert_eq!(last, 4, "{mode}: one point per size");
        let area = img
            .plot_area(rect)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let x = plots::panel::x_range_of(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
        let axes = Axes {
            area,
            x,
            y: (-0.03, 1.05),
        };
        let (seen, _) = check_points(&img, &axes, &series, 1)
            .unwrap_or_else(|e| panic!("{} {mode}: {e}", path.display()));
        assert!(seen >= last, "{mode}: {seen} points seen");
    }
}
