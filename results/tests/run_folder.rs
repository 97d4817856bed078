//! End to end on synthetic run folders written with the schema structs:
//! analyze, determinism, partial runs, bad input, compare.

use results::analyze::analyze_run;
use results::compare::{compare, table, Comparison};
use results::synth::{write_run, Planted, SynthSpec};
use results::{CurvePoint, Error, Run};
use runfolder::read::read_csv;
use runfolder::schema::{
    files, metric, shape, x_axis, CompareRow, FitRow, Mode, ModelRow, ModelStatus, ScoreRow,
};
use runfolder::write_csv;
use std::path::Path;

fn fits_for<'a>(
    fits: &'a [FitRow],
    task: &str,
    mode: Mode,
    m: &str,
    axis: &str,
) -> Vec<&'a FitRow> {
    fits.iter()
        .filter(|r| {
            r.task == task && r.mode == mode && r.metric == m && r.shots == 0 && r.x_axis == axis
        })
        .collect()
}

fn preferred<'a>(rows: &[&'a FitRow]) -> &'a FitRow {
    rows.iter().find(|r| r.preferred).expect("a preferred row")
}

fn no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains(".tmp."),
            "temporary file left behind: {name}"
        );
    }
}

#[test]
fn analyze_recovers_planted_shapes_and_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    write_run(&dir, &SynthSpec::example()).unwrap();
    let (analysis, path) = analyze_run(&dir).unwrap();
    let first = std::fs::read(&path).unwrap();
    let fits: Vec<FitRow> = read_csv(&path).unwrap();
    assert_eq!(fits, analysis.fits);

    // add/cot: planted sigmoid, N* = 10^5.2, 6 sizes, chance 0.
    let add_cot = fits_for(&fits, "add", Mode::Cot, metric::EXACT_MATCH, x_axis::PARAMS);
    let best = preferred(&add_cot);
    assert_eq!(best.shape, shape::SIGMOID);
    let n_star = best.threshold_params.unwrap();
    assert!((n_star.log10() - 5.2).abs() < 0.1, "N* = {n_star}");
    let (lo, hi) = (best.threshold_lo.unwrap(), best.threshold_hi.unwrap());
    assert!(
        lo <= n_star && n_star <= hi && hi / lo < 10.0,
        "interval [{lo}, {hi}]"
    );
    assert!(best.breakthroughness.unwrap() > 3.0);
    assert!(
        !best.mirage.is_empty(),
        "exact-match sigmoid rows carry a mirage verdict"
    );
    assert!(
        ["fit", "interpolated"].contains(&best.threshold_method.as_str()),
        "{best:?}"
    );
    assert!(
        ["bootstrap", "bracket"].contains(&best.interval_method.as_str()),
        "{best:?}"
    );
    assert_eq!(best.interval_noise, "items");
    // Jumps from chance with the sigmoid preferred: emergent, one seed of one.
    assert_eq!(
        (best.verdict.as_str(), best.verdict_seeds.as_str()),
        ("emergent", "1 of 1")
    );
    assert_eq!(best.level, Some(0.5));
    // Both shape rows carry the curve's N*.
    assert!(add_cot
        .iter()
        .all(|r| r.threshold_params == best.threshold_params));
    let (below, above) = (best.threshold_below.unwrap(), best.threshold_above.unwrap());
    assert!(
        below <= n_star && n_star < above,
        "{below} {n_star} {above}"
    );
    // cot overtakes direct somewhere inside the ladder, and its interval
    // spans at least the gap between two ladder sizes.
    assert_eq!(best.cot_note, "overtakes");
    let over = best.cot_overtakes.unwrap();
    assert!((1e4..3.2e6).contains(&over), "{over}");
    let (olo, ohi) = (
        best.cot_overtakes_lo.unwrap(),
        best.cot_overtakes_hi.unwrap(),
    );
    assert!(
        olo <= over && over <= ohi && (ohi / olo).log10() >= 0.49,
        "[{olo}, {ohi}]"
    );

    // sort: planted log-linear in both modes.
    for mode in [Mode::Direct, Mode::Cot] {
        let rows = fits_for(&fits, "sort", mode, metric::EXACT_MATCH, x_axis::PARAMS);
        assert_eq!(preferred(&rows).shape, shape::LOG_LINEAR, "sort/{mode}");
        assert_eq!(preferred(&rows).mirage, "no_transition");
    }
    // Intermediate checkpoints exist, so there is a FLOPs axis too.
    assert!(fits
        .iter()
        .any(|r| r.x_axis == x_axis::FLOPS && r.status == "ok"));

    // Same folder, same bytes.
    analyze_run(&dir).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), first);
    no_temp_files(&dir);
}

fn add_exact_match(run: &Run, size: u64) -> &CurvePoint {
    run.final_points
        .iter()
        .find(|p| {
            p.params_non_embedding == size && p.task == "add" && p.metric == metric::EXACT_MATCH
        })
        .unwrap()
}

#[test]
fn seeds_are_averaged_and_diverged_jobs_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut spec = SynthSpec::example();
    spec.seeds = vec![0, 1, 2];
    spec.steps = vec![1000];
    spec.items = 60;
    write_run(&dir, &spec).unwrap();
    // Mark one job diverged.
    let mpath = dir.join(files::MODELS);
    let mut models: Vec<ModelRow> = read_csv(&mpath).unwrap();
    for m in models.iter_mut().filter(|m| m.model_id == "N100000-s1") {
        m.status = ModelStatus::Diverged;
    }
    write_csv(&mpath, &models).unwrap();
    let run = Run::load(&dir).unwrap();
    assert!(run
        .notes
        .iter()
        .any(|n| n.contains("N100000-s1") && n.contains("diverged")));
    let p = add_exact_match(&run, 100_000);
    assert_eq!(p.n_seeds, 2);
    let q = add_exact_match(&run, 10_000);
    assert_eq!(q.n_seeds, 3);
    // The mean over seeds equals the mean of the per-seed scores.
    let scores: Vec<ScoreRow> = read_csv(&dir.join(files::SCORES)).unwrap();
    let per_seed: Vec<f64> = scores
        .iter()
        .filter(|s| {
            s.model_id.starts_with("N10000-")
                && s.task == "add"
                && s.mode == q.mode
                && s.shots == q.shots
                && s.metric == q.metric
        })
        .map(|s| s.value)
        .collect();
    assert_eq!(per_seed.len(), 3);
    assert!((q.value - per_seed.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    // Without intermediate checkpoints: no FLOPs axis.
    let (a, _) = analyze_run(&dir).unwrap();
    assert!(a.fits.iter().all(|r| r.x_axis == x_axis::PARAMS));
    // Several seeds: the intervals say they cover the seed spread too.
    assert!(a.fits.iter().all(|r| r.interval_noise == "items+seeds"));
    let rows = fits_for(
        &a.fits,
        "add",
        Mode::Cot,
        metric::EXACT_MATCH,
        x_axis::PARAMS,
    );
    let sg = rows.iter().find(|r| r.shape == shape::SIGMOID).unwrap();
    let (lo, hi) = (sg.threshold_lo.unwrap(), sg.threshold_hi.unwrap());
    assert!(
        lo <= 10f64.powf(5.2) && 10f64.powf(5.2) <= hi,
        "[{lo}, {hi}]"
    );
}

#[test]
fn too_few_sizes_are_recorded_not_invented() {
    let tmp = tempfile::tempdir().unwrap();
    for (n, name) in [(1usize, "one"), (3, "three")] {
        let dir = tmp.path().join(name);
        let mut spec = SynthSpec::example();
        spec.sizes.truncate(n);
        write_run(&dir, &spec).unwrap();
        let (a, _) = analyze_run(&dir).unwrap();
        assert!(a
            .fits
            .iter()
            .all(|r| r.status == "too_few_points" && !r.preferred && r.aicc.is_none()));
        assert!(
            a.notes.iter().any(|m| m.contains("too_few_points")),
            "{:?}",
            a.notes
        );
    }
}

#[test]
fn bad_input_gives_one_line_errors_and_no_partial_output() {
    let tmp = tempfile::tempdir().unwrap();
    // Not a run folder.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = analyze_run(&empty).unwrap_err();
    assert!(matches!(
        e,
        Error::Folder(runfolder::Error::NotARunFolder(_))
    ));
    assert!(analyze_run(&tmp.path().join("nope")).is_err());

    // Missing scores.csv.
    let dir = tmp.path().join("run");
    let mut spec = SynthSpec::example();
    spec.items = 20;
    write_run(&dir, &spec).unwrap();
    let scores = std::fs::read_to_string(dir.join(files::SCORES)).unwrap();
    std::fs::remove_file(dir.join(files::SCORES)).unwrap();
    let e = analyze_run(&dir).unwrap_err().to_string();
    assert!(e.contains("scores.csv") && e.contains("missing"), "{e}");

    // A malformed cell on line 5: the error names file and line.
    let mut lines: Vec<String> = scores.lines().map(String::from).collect();
    lines[4] = lines[4].replacen(&format!(",{},", spec.items), ",lots,", 1);
    std::fs::write(dir.join(files::SCORES), lines.join("\n")).unwrap();
    let e = analyze_run(&dir).unwrap_err().to_string();
    assert!(e.contains("scores.csv:5:") && e.contains("`n`"), "{e}");
    assert!(!e.contains('\n'));
    // A truncated row.
    lines[4] = "N10000-s0,100,add".into();
    std::fs::write(dir.join(files::SCORES), lines.join("\n")).unwrap();
    let e = analyze_run(&dir).unwrap_err().to_string();
    assert!(e.contains("scores.csv:5:"), "{e}");
    // Wrong header.
    std::fs::write(dir.join(files::SCORES), "a,b\n1,2\n").unwrap();
    let e = analyze_run(&dir).unwrap_err().to_string();
    assert!(e.contains("scores.csv:1:") && e.contains("header"), "{e}");
    assert!(!dir.join(files::FITS).exists());

    // Header only: an empty task selection.
    std::fs::write(dir.join(files::SCORES), format!("{}\n", lines[0])).unwrap();
    let e = analyze_run(&dir).unwrap_err().to_string();
    assert!(e.contains("no scores"), "{e}");
    assert!(!dir.join(files::FITS).exists());
    no_temp_files(&dir);
}

fn cot_row<'a>(c: &'a Comparison, metric: &str, size: u64) -> &'a CompareRow {
    c.rows
        .iter()
        .find(|r| r.mode == Mode::Cot && r.metric == metric && r.params_non_embedding == size)
        .unwrap()
}

#[test]
fn compare_pairs_identical_items_and_reports_differences() {
    let tmp = tempfile::tempdir().unwrap();
    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    let spec_a = SynthSpec {
        steps: vec![1000],
        ..SynthSpec::example()
    };
    let mut spec_b = spec_a.clone();
    spec_b.rng_seed = 8;
    // Run B: cot on add is much better (threshold a decade earlier), one size fewer, no sort.
    spec_b.tasks[0].cot = Planted::Sigmoid {
        ceiling: 0.95,
        k: 6.0,
        x0: 4.2,
    };
    spec_b.tasks.truncate(1);
    spec_b.sizes.pop();
    write_run(&da, &spec_a).unwrap();
    write_run(&db, &spec_b).unwrap();
    let (a, b) = (Run::load(&da).unwrap(), Run::load(&db).unwrap());
    let c = compare(&a, &b).unwrap();
    assert!(c
        .rows
        .iter()
        .all(|r| r.task == "add" && r.params_non_embedding != 3_162_278));
    assert_eq!(c.rows.len(), 5 * 2 * 4);
    let row = cot_row(&c, metric::EXACT_MATCH, 31_623);
    assert_eq!(row.test, "mcnemar");
    assert_eq!(row.n_paired, 200);
    assert!(row.diff > 0.3 && row.p_value.unwrap() < 1e-6, "{row:?}");
    assert!(row.diff_lo < row.diff && row.diff < row.diff_hi);
    let es = cot_row(&c, metric::EDIT_SIMILARITY, 31_623);
    assert_eq!(es.test, "paired_bootstrap");
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("tasks only in a") && n.contains("sort")),
        "{:?}",
        c.notes
    );
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("sizes only in a") && n.contains("3162278")),
        "{:?}",
        c.notes
    );
    let t = table(&c);
    assert!(t.contains("mcnemar") && t.contains("31.6k"), "{t}");
    // Deterministic.
    assert_eq!(compare(&a, &b).unwrap().rows, c.rows);
}

#[test]
fn compare_does_not_pair_a_subset_of_the_seeds() {
    // A has seed 0 only, B seeds 0..3: pairing seed 0 alone would give an
    // interval about seed 0 while the row's difference is of seed means.
    let tmp = tempfile::tempdir().unwrap();
    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    let spec_a = SynthSpec {
        steps: vec![1000],
        ..SynthSpec::example()
    };
    let spec_b = SynthSpec {
        seeds: vec![0, 1, 2],
        ..spec_a.clone()
    };
    write_run(&da, &spec_a).unwrap();
    write_run(&db, &spec_b).unwrap();
    let (a, b) = (Run::load(&da).unwrap(), Run::load(&db).unwrap());
    let c = compare(&a, &b).unwrap();
    assert!(!c.rows.is_empty());
    for r in &c.rows {
        assert_eq!((r.n_paired, r.test.as_str()), (0, ""), "{r:?}");
        assert!(r.diff_lo <= r.diff && r.diff <= r.diff_hi, "{r:?}");
    }
    // The same seeds on both sides pair again.
    let c = compare(&b, &b).unwrap();
    assert!(c.rows.iter().any(|r| r.n_paired == 600), "{:?}", c.rows[0]);
}

#[test]
fn threshold_interval_covers_the_planted_threshold() {
    // The whole pipeline (synthetic folder, load, fit, interval), where
    // `tests/coverage.rs` measures the interval alone on many more runs.
    // The truth is where the planted curve crosses the level 0.5 (ceiling
    // 0.9, steepness 5: 0.045 decade above its midpoint). The bar is 34: a
    // method of true 95 % coverage falls below it in under 1 % of such
    // 40-run samples.
    let tmp = tempfile::tempdir().unwrap();
    let (mut covered, mut runs) = (0, 0);
    for i in 0..40 {
        let x0 = 4.5 + 1.5 * (i % 5) as f64 / 4.0;
        let mut spec = SynthSpec::example();
        spec.sizes = (0..8)
            .map(|j| 10f64.powf(4.0 + 2.5 * j as f64 / 7.0).round() as u64)
            .collect();
        spec.steps = vec![1000];
        spec.items = 150;
        spec.rng_seed = 100 + i;
        spec.tasks.truncate(1);
        spec.tasks[0].cot = Planted::Sigmoid {
            ceiling: 0.9,
            k: 5.0,
            x0,
        };
        let dir = tmp.path().join(format!("r{i}"));
        write_run(&dir, &spec).unwrap();
        let (a, _) = analyze_run(&dir).unwrap();
        let rows = fits_for(
            &a.fits,
            "add",
            Mode::Cot,
            metric::EXACT_MATCH,
            x_axis::PARAMS,
        );
        let sg = rows.iter().find(|r| r.shape == shape::SIGMOID).unwrap();
        let (lo, hi) = (
            sg.threshold_lo.map_or(f64::NEG_INFINITY, f64::log10),
            sg.threshold_hi.map_or(f64::INFINITY, f64::log10),
        );
        let truth = x0 - (0.9f64 / 0.5 - 1.0).ln() / 5.0;
        runs += 1;
        if lo <= truth && truth <= hi {
            covered += 1;
        }
    }
    eprintln!("N* interval covered the planted threshold in {covered}/{runs} runs");
    assert!(covered >= 34, "coverage {covered}/{runs}");
}

/// A run folder written from scores alone (no samples.csv): exact match with
/// a planted jump, the continuous metrics with the shapes given.
fn scores_only_run(dir: &Path, es_jumps: bool, ta_jumps: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let sizes: Vec<u64> = (0..7)
        .map(|j| 10f64.powf(4.0 + 0.4 * j as f64).round() as u64)
        .collect();
    let sig = |x: f64| 0.95 / (1.0 + (-6.0 * (x - 5.2)).exp());
    let lin = |x: f64| 0.3 + 0.1 * (x - 4.0);
    let mut models = Vec::new();
    let mut scores = Vec::new();
    for &n in &sizes {
        let x = (n as f64).log10();
        let id = format!("N{n}");
        models.push(ModelRow {
            model_id: id.clone(),
            seed: 0,
            n_layer: 2,
            d_model: 32,
            n_head: 4,
            params: n + 5000,
            params_non_embedding: n,
            step: 500,
            tokens: 1_000_000,
            flops: 6e6 * n as f64,
            train_loss: 1.0,
            status: ModelStatus::Ok,
        });
        for (m, y, chance) in [
            (metric::EXACT_MATCH, sig(x), 0.0),
            (
                metric::EDIT_SIMILARITY,
                if es_jumps { 0.2 + 0.8 * sig(x) } else { lin(x) },
                0.2,
            ),
            (
                metric::TOKEN_ACCURACY,
                if ta_jumps { 0.2 + 0.8 * sig(x) } else { lin(x) },
                0.2,
            ),
        ] {
            scores.push(ScoreRow {
                model_id: id.clone(),
                step: 500,
                task: "add".into(),
                mode: Mode::Cot,
                shots: 0,
                metric: m.into(),
                value: y,
                ci_lo: y - 0.03,
                ci_hi: y + 0.03,
                n: 200,
                chance,
            });
        }
    }
    write_csv(&dir.join(files::MODELS), &models).unwrap();
    write_csv(&dir.join(files::SCORES), &scores).unwrap();
}

#[test]
fn mirage_verdicts_and_runs_without_samples() {
    let tmp = tempfile::tempdir().unwrap();
    for (es, ta, want) in [
        (false, false, "mirage"),
        (true, true, "survives"),
        (true, false, "mixed"),
    ] {
        let dir = tmp.path().join(want);
        scores_only_run(&dir, es, ta);
        let (a, _) = analyze_run(&dir).unwrap();
        let rows = fits_for(
            &a.fits,
            "add",
            Mode::Cot,
            metric::EXACT_MATCH,
            x_axis::PARAMS,
        );
        let best = preferred(&rows);
        assert_eq!(best.shape, shape::SIGMOID);
        assert_eq!(best.mirage, want);
        assert!(
            (best.threshold_params.unwrap().log10() - 5.2).abs() < 0.1,
            "{best:?}"
        );
        // No samples.csv: no bootstrap, the interval is the gap around N*.
        assert_eq!(best.interval_method, "bracket");
        let (lo, hi) = (best.threshold_lo.unwrap(), best.threshold_hi.unwrap());
        assert!(lo < 10f64.powf(5.2) && 10f64.powf(5.2) < hi, "{best:?}");
        assert_eq!(best.interval_noise, "items");
        assert!(a.notes.iter().any(|n| n.contains("samples.csv")));
    }
}

#[test]
fn merge_concatenates_job_files_in_path_order() {
    let tmp = tempfile::tempdir().unwrap();
    let row = |id: &str| ScoreRow {
        model_id: id.into(),
        step: 1,
        task: "add".into(),
        mode: Mode::Direct,
        shots: 0,
        metric: metric::EXACT_MATCH.into(),
        value: 0.5,
        ci_lo: 0.4,
        ci_hi: 0.6,
        n: 100,
        chance: 0.0,
    };
    let (a, b) = (
        tmp.path().join("jobs/a/scores.csv"),
        tmp.path().join("jobs/b/scores.csv"),
    );
    for (p, id) in [(&a, "a"), (&b, "b")] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_csv(p, &[row(id), row(id)]).unwrap();
    }
    let out = tmp.path().join("scores.csv");
    let missing = tmp.path().join("jobs/c/scores.csv");
    let n = runfolder::read::merge_csv::<ScoreRow>(&[b.clone(), missing, a.clone()], &out).unwrap();
    assert_eq!(n, 4);
    let merged: Vec<ScoreRow> = read_csv(&out).unwrap();
    let ids: Vec<&str> = merged.iter().map(|r| r.model_id.as_str()).collect();
    assert_eq!(ids, ["a", "a", "b", "b"]);
    // An empty merge still writes the header.
    runfolder::read::merge_csv::<ScoreRow>(&[], &out).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text.trim_end(),
        "model_id,step,task,mode,shots,metric,value,ci_lo,ci_hi,n,chance"
    );
}

/// Exact-match scores of 300 items per size with Wilson intervals, for
/// `direct` and `cot` on the sizes given (one seed, no samples.csv).
fn scores_run(dir: &Path, sizes: &[u64], direct: &[u64], cot: &[u64]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut models = Vec::new();
    let mut scores = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let id = format!("N{n}");
        models.push(ModelRow {
            model_id: id.clone(),
            seed: 0,
            n_layer: 2,
            d_model: 32,
            n_head: 4,
            params: n + 5000,
            params_non_embedding: n,
            step: 500,
            tokens: 6_760_000,
            flops: 6.0 * 6.76e6 * n as f64,
            train_loss: 1.0,
            status: ModelStatus::Ok,
        });
        for (mode, right) in [(Mode::Direct, direct[i]), (Mode::Cot, cot[i])] {
            let (lo, hi) = results::stats::wilson(right, 300);
            scores.push(ScoreRow {
                model_id: id.clone(),
                step: 500,
                task: "add".into(),
                mode,
                shots: 0,
                metric: metric::EXACT_MATCH.into(),
                value: right as f64 / 300.0,
                ci_lo: lo,
                ci_hi: hi,
                n: 300,
                chance: 0.0,
            });
        }
    }
    write_csv(&dir.join(files::MODELS), &models).unwrap();
    write_csv(&dir.join(files::SCORES), &scores).unwrap();
}

#[test]
fn a_jump_between_two_sizes_is_reported_as_between_them() {
    // The 3-digit addition run: cot 0 at 100k and 299/300 at 336k;
    // direct 0 at 100k and 111/300 at 336k (its largest size here).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let sizes = [3_312, 12_768, 56_640, 100_096, 335_712, 793_000];
    scores_run(
        &dir,
        &sizes,
        &[0, 0, 0, 0, 111, 111],
        &[0, 0, 0, 0, 299, 300],
    );
    let (a, _) = analyze_run(&dir).unwrap();
    let rows = fits_for(
        &a.fits,
        "add",
        Mode::Cot,
        metric::EXACT_MATCH,
        x_axis::PARAMS,
    );
    let cot = rows.iter().find(|r| r.shape == shape::SIGMOID).unwrap();
    assert_eq!(cot.interval_method, "bracket", "{cot:?}");
    assert_eq!(
        (cot.threshold_lo, cot.threshold_hi),
        (Some(100_096.0), Some(335_712.0))
    );
    assert_eq!(
        (cot.threshold_below, cot.threshold_above),
        (Some(100_096.0), Some(335_712.0))
    );
    // Both modes score 0 at 100k: the crossing cannot be placed within the gap.
    let (lo, hi) = (cot.cot_overtakes_lo.unwrap(), cot.cot_overtakes_hi.unwrap());
    assert!(
        lo <= 100_096.0 * 1.0001 && hi >= 335_712.0 * 0.9999,
        "[{lo}, {hi}]"
    );
    // Direct ends at 0.37: it never reaches the level, so it has no N*.
    let direct = fits_for(
        &a.fits,
        "add",
        Mode::Direct,
        metric::EXACT_MATCH,
        x_axis::PARAMS,
    );
    assert!(
        direct.iter().all(|r| r.threshold_method == "not_located"
            && r.threshold_params.is_none()
            && r.verdict == "not_located"
            && r.note.contains("never reaches the level")),
        "{direct:?}"
    );
    let table = results::analyze::summary(&a);
    assert!(table.contains("between 1.001e5 and 3.357e5"), "{table}");
    assert!(table.contains("not located"), "{table}");
    assert!(table.contains("item noise only"), "{table}");
    // The refinement loop's view: cot straddled by 100k and 336k, not located.
    let t = results::threshold::transitions(&a.fits);
    let tc = t
        .iter()
        .find(|t| t.key.mode == Mode::Cot && t.key.metric == metric::EXACT_MATCH)
        .unwrap();
    assert_eq!(tc.straddle, Some((100_096, 335_712)));
    assert!(!tc.located);
}
