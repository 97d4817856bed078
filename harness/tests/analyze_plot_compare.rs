//! `emerge analyze`, `emerge plot` and `emerge compare` as a user runs them,
//! on synthetic run folders written with the `results` schema.

use results::synth::{write_run, Planted, SynthSpec};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{emerge, s, text};

fn scratch(name: &str) -> common::Scratch {
    common::scratch("cli", name)
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn analyze_plot_compare_end_to_end() {
    let tmp = scratch("e2e");
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    let spec = SynthSpec {
        steps: vec![300, 1000],
        items: 100,
        ..SynthSpec::example()
    };
    write_run(&a, &spec).unwrap();
    let mut spec_b = SynthSpec {
        rng_seed: 11,
        ..spec
    };
    spec_b.tasks[0].cot = Planted::Sigmoid {
        ceiling: 0.95,
        k: 6.0,
        x0: 4.6,
    };
    write_run(&b, &spec_b).unwrap();

    let out = emerge(&["analyze", "--run", s(&a)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sigmoid") && stdout.contains("fits.csv"),
        "{stdout}"
    );
    let fits = std::fs::read(a.join("fits.csv")).unwrap();
    // Byte-identical on a second run.
    assert!(emerge(&["analyze", "--run", s(&a)]).status.success());
    assert_eq!(std::fs::read(a.join("fits.csv")).unwrap(), fits);

    let out = emerge(&["plot", "--run", s(&a)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "task_add.png",
        "task_sort.png",
        "overview.png",
        "mirage.png",
        "loss_vs_tokens.png",
        "score_vs_flops.png",
    ] {
        assert!(a.join("plots").join(f).is_file(), "{f}");
    }
    // plot without fits.csv fits in memory and says so.
    let out = emerge(&["plot", "--run", s(&b)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fits.csv missing"));
    assert!(!b.join("fits.csv").exists());

    let cmp = tmp.join("cmp");
    let out = emerge(&["compare", s(&a), s(&b), "--out", s(&cmp)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = cmp.join("compare.csv");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("mcnemar") && table.contains("paired_bootstrap"),
        "{table}"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("task,mode,shots,metric,params_non_embedding,value_a"));
    assert!(cmp.join("compare_add.png").is_file() && cmp.join("compare_sort.png").is_file());
    // Without --out: a folder named after both runs next to run A, whatever
    // the current directory; nothing lands in the current directory.
    let cwd = tmp.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_emerge"))
        .args(["compare", s(&a), s(&b)])
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let named = a.parent().unwrap().join("compare_a_vs_b");
    assert_eq!(
        std::fs::read_to_string(named.join("compare.csv")).unwrap(),
        text
    );
    assert!(named.join("compare_add.png").is_file());
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
    // --out naming a file (its old meaning) is refused, nothing written.
    let err = one_line_error(&emerge(&[
        "compare",
        s(&a),
        s(&b),
        "--out",
        s(&tmp.join("c.csv")),
    ]));
    assert!(err.contains("expected a folder"), "{err}");
    assert!(!tmp.join("c.csv").exists());
}

#[test]
fn bad_input_is_a_one_line_error() {
    let tmp = scratch("bad");
    // Not a run folder.
    let err = one_line_error(&emerge(&["analyze", "--run", s(&tmp)]));
    assert!(err.contains("not a run folder"), "{err}");
    let err = one_line_error(&emerge(&["plot", "--run", s(&tmp.join("missing"))]));
    assert!(err.contains("not a run folder"), "{err}");

    // Malformed models.csv: file and line named, nothing written.
    let run = tmp.join("run");
    write_run(
        &run,
        &SynthSpec {
            items: 20,
            ..SynthSpec::example()
        },
    )
    .unwrap();
    let models = std::fs::read_to_string(run.join("models.csv")).unwrap();
    let broken: Vec<String> = models
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 3 {
                l.replace(",ok", ",maybe")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(run.join("models.csv"), broken.join("\n")).unwrap();
    let err = one_line_error(&emerge(&["analyze", "--run", s(&run)]));
    assert!(err.contains("models.csv:4:"), "{err}");
    assert!(!run.join("fits.csv").exists());
    let err = one_line_error(&emerge(&[
        "compare",
        s(&run),
        s(&run),
        "--out",
        s(&tmp.join("c")),
    ]));
    assert!(err.contains("models.csv:4:"), "{err}");
    assert!(!tmp.join("c").exists());

    // Empty task selection: scores.csv with a header only.
    std::fs::write(run.join("models.csv"), models).unwrap();
    let header = std::fs::read_to_string(run.join("scores.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(run.join("scores.csv"), header + "\n").unwrap();
    let err = one_line_error(&emerge(&["analyze", "--run", s(&run)]));
    assert!(err.contains("no scores"), "{err}");
    let err = one_line_error(&emerge(&["plot", "--run", s(&run)]));
    assert!(err.contains("no scores"), "{err}");
    assert!(!run.join("plots").exists());

    // One model: analyze succeeds, says no fit, records too_few_points.
    let one = tmp.join("one");
    let mut spec = SynthSpec {
        items: 20,
        ..SynthSpec::example()
    };
    spec.sizes.truncate(1);
    write_run(&one, &spec).unwrap();
    let out = emerge(&["analyze", "--run", s(&one)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only 1 model size"));
    let fits = std::fs::read_to_string(one.join("fits.csv")).unwrap();
    assert!(fits.lines().skip(1).all(|l| l.contains("too_few_points")));
}

/// Rows of a CSV file as header-keyed maps.
fn csv_maps(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut rdr = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn runs_writes_one_tidy_table_over_three_run_folders() {
    let tmp = scratch("runs");
    let runs = tmp.join("runs");
    let config = |name: &str, items: u32, device: &str| {
        format!("[run]\nname = \"{name}\"\nseeds = [0]\n\n[eval]\nitems = {items}\n\n[device]\ndevice = \"{device}\"\nthreads = 2\n")
    };
    for (name, seeds, items, device) in [
        ("a", vec![0], 100, "cpu"),
        ("b", vec![0], 100, "cuda:0"),
        ("c", vec![0, 1], 60, "cpu"),
    ] {
        let dir = runs.join(name);
        let spec = SynthSpec {
            steps: vec![300, 1000],
            seeds,
            items: items as usize,
            ..SynthSpec::example()
        };
        write_run(&dir, &spec).unwrap();
        std::fs::write(dir.join("config.toml"), config(name, items, device)).unwrap();
    }
    for name in ["a", "b"] {
        let out = emerge(&["analyze", "--run", s(&runs.join(name))]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Run from another folder: the table lands next to the runs, not here.
    let cwd = tmp.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let dirs: Vec<PathBuf> = ["a", "b", "c"].iter().map(|n| runs.join(n)).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_emerge"))
        .arg("runs")
        .args(dirs.iter().map(|d| s(d)))
        .current_dir(&cwd)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("no fits.csv"), "c has no fits: {err}");
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
    let table = runs.join("runs_table.csv");
    let rows = csv_maps(&table);
    let header = std::fs::read_to_string(&table)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        header.starts_with(
            "row,run,run_dir,config_hash,task,mode,shots,metric,params_non_embedding,seed,step"
        ),
        "{header}"
    );
    // Every fits.csv column is there (new ones flow through FitRow).
    for c in <runfolder::FitRow as runfolder::CsvRow>::HEADER {
        assert!(header.split(',').any(|h| h == *c), "{c} missing: {header}");
    }
    let of = |run: &str, kind: &str| -> Vec<&std::collections::BTreeMap<String, String>> {
        rows.iter()
            .filter(|r| r["run"] == run && r["row"] == kind)
            .collect()
    };
    for name in ["a", "b", "c"] {
        let dir = runs.join(name);
        let scores: Vec<runfolder::ScoreRow> =
            runfolder::read::read_csv(&dir.join("scores.csv")).unwrap();
        let models: Vec<runfolder::ModelRow> =
            runfolder::read::read_csv(&dir.join("models.csv")).unwrap();
        let got = of(name, "score");
        assert_eq!(got.len(), scores.len(), "{name}");
        // Each score row carries its value, interval, size and seed.
        for sc in &scores {
            let m = models
                .iter()
                .find(|m| m.model_id == sc.model_id && m.step == sc.step)
                .unwrap();
            let r = got
                .iter()
                .find(|r| {
                    r["model_id"] == sc.model_id
                        && r["step"] == sc.step.to_string()
                        && r["task"] == sc.task
                        && r["mode"] == sc.mode.as_str()
                        && r["shots"] == sc.shots.to_string()
                        && r["metric"] == sc.metric
                })
                .unwrap_or_else(|| panic!("{name}: no row for {sc:?}"));
            let f = |c: &str| r[c].parse::<f64>().unwrap();
            assert_eq!(f("value"), sc.value, "{sc:?}");
            assert_eq!((f("ci_lo"), f("ci_hi")), (sc.ci_lo, sc.ci_hi), "{sc:?}");
            assert_eq!(
                r["params_non_embedding"],
                m.params_non_embedding.to_string()
            );
            assert_eq!(r["seed"], m.seed.to_string());
            assert_eq!(r["run_dir"], s(&dir));
        }
        // Fit rows: one per fits.csv row, N* and its interval as written.
        let fits = dir.join("fits.csv");
        let want: Vec<_> = if fits.is_file() {
            csv_maps(&fits)
        } else {
            Vec::new()
        };
        let got = of(name, "fit");
        assert_eq!(got.len(), want.len(), "{name}");
        for w in &want {
            assert!(
                got.iter().any(|g| [
                    "task",
                    "mode",
                    "shots",
                    "metric",
                    "x_axis",
                    "shape",
                    "threshold_params",
                    "threshold_lo",
                    "threshold_hi",
                    "preferred"
                ]
                .iter()
                .all(|c| g[*c] == w[*c])),
                "{name}: no fit row like {w:?}"
            );
        }
    }
    assert!(!of("a", "fit").is_empty());
    // The config hash ignores the device and the name, not the experiment.
    let hash = |run: &str| of(run, "score")[0]["config_hash"].clone();
    assert_eq!(hash("a"), hash("b"));
    assert_ne!(hash("a"), hash("c"));
    assert_eq!(hash("a").len(), 16);
    // A folder of runs stands for every run in it: the same table.
    let out = emerge(&["runs", s(&runs), "--out", s(&tmp.join("all.csv"))]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(tmp.join("all.csv")).unwrap(),
        std::fs::read_to_string(&table).unwrap()
    );
    // A run named twice is in the table once, with a note.
    let a_only = tmp.join("a.csv");
    let out = emerge(&["runs", s(&dirs[0]), "--out", s(&a_only)]);
    assert!(out.status.success(), "{}", text(&out));
    let twice = tmp.join("twice.csv");
    let out = emerge(&["runs", s(&dirs[0]), s(&runs), "--out", s(&twice)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("named more than once"),
        "{}",
        text(&out)
    );
    let a_rows = std::fs::read_to_string(&a_only).unwrap();
    let all_rows = std::fs::read_to_string(&twice).unwrap();
    assert_eq!(all_rows, std::fs::read_to_string(&table).unwrap());
    assert!(all_rows.starts_with(&a_rows));
    // The table never replaces a run's own file, whatever the spelling.
    let victim = runs.join("a/scores.csv");
    let before = std::fs::read(&victim).unwrap();
    for out_path in [
        victim.clone(),
        runs.join("b/../a/./scores.csv"),
        runs.join("a/jobs/x/scores.csv"),
        runs.join("a/plots/table.csv"),
    ] {
        let err = one_line_error(&emerge(&["runs", s(&dirs[1]), "--out", s(&out_path)]));
        assert!(
            err.contains(&format!("--out {}", out_path.display())) && err.contains("run folder"),
            "{err}"
        );
    }
    assert_eq!(std::fs::read(&victim).unwrap(), before);
    assert!(!runs.join("a/jobs").exists() && !runs.join("a/plots").exists());
    // Next to the run's files is fine.
    let out = emerge(&["runs", s(&dirs[1]), "--out", s(&runs.join("a/b_table.csv"))]);
    assert!(out.status.success(), "{}", text(&out));
    // Nor does compare write into a run's folders.
    let err = one_line_error(&emerge(&[
        "compare",
        s(&dirs[0]),
        s(&dirs[1]),
        "--out",
        s(&runs.join("a/plots")),
    ]));
    assert!(err.contains("run folder") && err.contains("plots"), "{err}");
    assert!(!runs.join("a/plots").exists());
    // Bad input: one line naming the file or folder, nothing written.
    let err = one_line_error(&emerge(&["runs", s(&cwd), "--out", s(&tmp.join("x.csv"))]));
    assert!(
        err.contains("not a run folder") && err.contains(s(&cwd)),
        "{err}"
    );
    let scores = runs.join("b/scores.csv");
    let text = std::fs::read_to_string(&scores).unwrap();
    std::fs::write(&scores, text.replacen(",direct,", ",sideways,", 1)).unwrap();
    let err = one_line_error(&emerge(&["runs", s(&runs), "--out", s(&tmp.join("x.csv"))]));
    assert!(err.contains("b/scores.csv:2:"), "{err}");
    assert!(!tmp.join("x.csv").exists());
}

/// One task name with other parameters (2-digit against 3-digit `add`) is
/// not one task: left out of the comparison with a note saying how.
#[test]
fn compare_leaves_out_a_task_scored_with_other_parameters() {
    let tmp = scratch("unlike");
    let spec = SynthSpec {
        steps: vec![1000],
        items: 40,
        ..SynthSpec::example()
    };
    let config = |digits: u32, sort_k: u32| {
        format!(
            "[run]\nname = \"x\"\nseeds = [0]\n\n[eval]\nitems = 40\ntasks = [{{ task = \"add\", digits = [{digits}] }}, {{ task = \"sort\", shots = [0, 2], k = {sort_k} }}]\n"
        )
    };
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    for (dir, digits) in [(&a, 2), (&b, 3)] {
        write_run(dir, &spec).unwrap();
        std::fs::write(dir.join("config.toml"), config(digits, 5)).unwrap();
    }
    let out = emerge(&["compare", s(&a), s(&b), "--out", s(&tmp.join("c"))]);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "emerge: note: task add is scored with digits = [2] in A and digits = [3] in B"
        ),
        "{err}"
    );
    let rows = csv_maps(&tmp.join("c/compare.csv"));
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["task"] == "sort"), "add compared");
    assert!(!tmp.join("c/compare_add.png").exists());
    // The same parameters (shots aside) compare as before.
    std::fs::write(b.join("config.toml"), config(2, 5)).unwrap();
    let out = emerge(&["compare", s(&a), s(&b), "--out", s(&tmp.join("d"))]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(csv_maps(&tmp.join("d/compare.csv"))
        .iter()
        .any(|r| r["task"] == "add"));
    // Nothing left in common: one line, nothing written.
    std::fs::write(b.join("config.toml"), config(3, 6)).unwrap();
    let out = emerge(&["compare", s(&a), s(&b), "--out", s(&tmp.join("e"))]);
    assert!(!out.status.success());
    assert!(text(&out).contains("nothing to compare"), "{}", text(&out));
    assert!(!tmp.join("e").exists());
}
