//! The arms comparison on planted curves: an arm whose transition is planted
//! 0.7 decade earlier is found earlier, with an interval that excludes no
//! shift, and with paired tests that see it near the threshold; arms planted
//! equal get a shift interval around zero and no paired difference.

use results::arms::{analyze_arms_run, ArmSpec};
use results::synth::{write_run, Planted, SynthSpec, SynthTask};
use results::Run;
use runfolder::read::read_csv;
use runfolder::schema::{files, Mode, ModelRow, SampleRow, ScoreRow, TrainLogRow};
use runfolder::{write_csv, ArmPairRow, ArmRow, CsvRow};
use std::path::Path;

fn spec(cot_x0: f64, rng_seed: u64) -> SynthSpec {
    // Twelve sizes over 2.5 decades, 300 items: the threshold is located.
    let sizes = (0..12)
        .map(|i| 10f64.powf(4.0 + 2.5 * i as f64 / 11.0).round() as u64)
        .collect();
    SynthSpec {
        sizes,
        seeds: vec![0],
        items: 300,
        tasks: vec![SynthTask {
            name: "word".into(),
            chance: 0.0,
            direct: Planted::Sigmoid {
                ceiling: 0.8,
                k: 6.0,
                x0: 5.4,
            },
            cot: Planted::Sigmoid {
                ceiling: 0.95,
                k: 6.0,
                x0: cot_x0,
            },
            shots: vec![0],
        }],
        steps: vec![1000],
        tokens_per_step: 4096,
        with_samples: true,
        rng_seed,
        seed_spread: 0.0,
    }
}

/// Rows of `file` in `from`, each model id given the arm's suffix.
fn rows_as_arm<T: CsvRow>(from: &Path, arm: &str, id: impl Fn(&mut T) -> &mut String) -> Vec<T> {
    let mut rows: Vec<T> = read_csv(&from.join(T::FILE)).unwrap();
    for r in &mut rows {
        let m = id(r);
        *m = format!("{m}@{arm}");
    }
    rows
}

/// One run folder holding a synthetic run per arm, as an arms sweep writes it.
fn arms_run(dir: &Path, arms: &[(&str, SynthSpec)]) {
    let (mut models, mut scores, mut samples, mut log) = (vec![], vec![], vec![], vec![]);
    for (arm, spec) in arms {
        let one = dir.join(format!("synth-{arm}"));
        write_run(&one, spec).unwrap();
        models.extend(rows_as_arm::<ModelRow>(&one, arm, |r| &mut r.model_id));
        scores.extend(rows_as_arm::<ScoreRow>(&one, arm, |r| &mut r.model_id));
        samples.extend(rows_as_arm::<SampleRow>(&one, arm, |r| &mut r.model_id));
        log.extend(rows_as_arm::<TrainLogRow>(&one, arm, |r| &mut r.model_id));
    }
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join(files::CONFIG), "# synthetic arms run\n").unwrap();
    write_csv(&run.join(files::MODELS), &models).unwrap();
    write_csv(&run.join(files::SCORES), &scores).unwrap();
    write_csv(&run.join(files::SAMPLES), &samples).unwrap();
    write_csv(&run.join(files::TRAIN_LOG), &log).unwrap();
}

fn row<'a>(rows: &'a [ArmRow], arm: &str, mode: Mode) -> &'a ArmRow {
    rows.iter()
        .find(|r| r.arm == arm && r.mode == mode)
        .unwrap_or_else(|| panic!("no row for {arm} {mode}: {rows:?}"))
}

/// Arms known by name only: no learning rates, no control.
fn named(names: &[&str]) -> Vec<ArmSpec> {
    names.iter().map(|n| ArmSpec::named(n)).collect()
}

fn contains_zero(r: &ArmRow) -> bool {
    r.shift_lo.unwrap() <= 0.0 && 0.0 <= r.shift_hi.unwrap()
}

fn significant(paired: &[ArmPairRow], mode: Mode, alpha: f64) -> usize {
    paired
        .iter()
        .filter(|p| p.mode == mode && p.p_value.is_some_and(|p| p < alpha))
        .count()
}

#[test]
fn an_arm_planted_earlier_shifts_n_star_down_with_an_interval_that_excludes_zero() {
    let tmp = tempfile::tempdir().unwrap();
    // `code` learns the cot task 0.7 decade earlier; direct is planted equal.
    arms_run(
        tmp.path(),
        &[("word", spec(5.2, 1)), ("code", spec(4.5, 2))],
    );
    let run = tmp.path().join("run");
    let a = analyze_arms_run(&run, &named(&["word", "code"])).unwrap();

    let cot = row(&a.rows, "code", Mode::Cot);
    assert_eq!(cot.shift_kind, "interval", "{cot:?}");
    let s = cot.shift.unwrap();
    assert!(
        (s + 0.7).abs() < 0.2,
        "shift {s} for a planted -0.7: {cot:?}"
    );
    assert!(cot.shift_lo.unwrap() < s && s < cot.shift_hi.unwrap());
    assert!(cot.shift_hi.unwrap() < 0.0, "excludes no shift: {cot:?}");
    let direct = row(&a.rows, "code", Mode::Direct);
    assert_eq!(direct.shift_kind, "interval", "{direct:?}");
    assert!(contains_zero(direct), "{direct:?}");
    let base = row(&a.rows, "word", Mode::Cot);
    assert_eq!(base.shift_kind, "baseline");
    assert!(base.shift.is_none() && base.n_star.is_some());

    // Paired tests at every size on all 300 items; near the planted gap
    // (cot) the code arm is right on many items the baseline misses.
    assert_eq!(a.paired.len(), 2 * 12);
    assert!(a.paired.iter().all(|p| p.n_paired == 300));
    assert!(
        significant(&a.paired, Mode::Cot, 0.001) >= 3,
        "{:?}",
        a.paired
    );
    assert!(
        significant(&a.paired, Mode::Direct, 0.01) <= 1,
        "{:?}",
        a.paired
    );

    // Written where the plots and the README look for them.
    let rows: Vec<ArmRow> = read_csv(&run.join("arms.csv")).unwrap();
    assert_eq!(rows, a.rows);
    let paired: Vec<ArmPairRow> = read_csv(&run.join("arms_paired.csv")).unwrap();
    assert_eq!(paired, a.paired);
    for arm in ["word", "code"] {
        assert!(run.join("arms").join(arm).join("fits.csv").is_file());
    }
    // Each arm alone is an ordinary run; the whole folder is refused.
    assert_eq!(Run::load_arm(&run, "code").unwrap().sizes().len(), 12);
    let err = Run::load(&run).unwrap_err().to_string();
    assert!(err.contains("ablation arms code, word"), "{err}");
}

#[test]
fn arms_planted_equal_show_no_shift_and_no_paired_difference() {
    let tmp = tempfile::tempdir().unwrap();
    arms_run(
        tmp.path(),
        &[("word", spec(5.2, 1)), ("same", spec(5.2, 2))],
    );
    let run = tmp.path().join("run");
    let a = analyze_arms_run(&run, &named(&["word", "same"])).unwrap();
    for mode in [Mode::Direct, Mode::Cot] {
        let r = row(&a.rows, "same", mode);
        assert_eq!(r.shift_kind, "interval", "{r:?}");
        assert!(contains_zero(r), "{r:?}");
        assert!(r.shift.unwrap().abs() < 0.15, "{r:?}");
        assert!(significant(&a.paired, mode, 0.01) <= 1, "{:?}", a.paired);
    }
}

#[test]
fn a_bracketed_or_missing_threshold_gives_a_bound_or_nothing_never_a_number() {
    let tmp = tempfile::tempdir().unwrap();
    // A jump so steep it falls between two sizes (bracket) in `steep`, and
    // no transition at all (flat at chance) in `flat`.
    let mut steep = spec(5.2, 2);
    steep.tasks[0].cot = Planted::Sigmoid {
        ceiling: 1.0,
        k: 200.0,
        x0: 5.25,
    };
    let mut flat = spec(5.2, 3);
    flat.tasks[0].cot = Planted::LogLinear { a: 0.0, b: 0.0 };
    arms_run(
        tmp.path(),
        &[("word", spec(5.2, 1)), ("steep", steep), ("flat", flat)],
    );
    let run = tmp.path().join("run");
    let a = analyze_arms_run(&run, &named(&["word", "steep", "flat"])).unwrap();
    let steep = row(&a.rows, "steep", Mode::Cot);
    assert_eq!(steep.n_star_method, "bracket", "{steep:?}");
    assert_eq!(steep.shift_kind, "bound", "{steep:?}");
    assert!(
        steep.shift.is_none(),
        "a bound has no point value: {steep:?}"
    );
    assert!(steep.shift_lo.unwrap() < steep.shift_hi.unwrap());
    let flat = row(&a.rows, "flat", Mode::Cot);
    assert_eq!(flat.shift_kind, "not_located", "{flat:?}");
    assert!(flat.shift.is_none() && flat.shift_lo.is_none() && flat.n_star.is_none());
    assert!(flat.note.starts_with("flat: "), "{flat:?}");
}

#[test]
fn a_control_arm_is_a_second_reference_and_every_p_value_is_holm_adjusted() {
    let tmp = tempfile::tempdir().unwrap();
    // Displacing a quarter of the data delays cot by 0.2 decade (control);
    // code comes 0.5 decade before the control.
    arms_run(
        tmp.path(),
        &[
            ("word", spec(5.0, 1)),
            ("code", spec(4.7, 2)),
            ("control", spec(5.2, 3)),
        ],
    );
    let run = tmp.path().join("run");
    let mut specs = named(&["word", "code", "control"]);
    specs[2].control = true;
    let a = analyze_arms_run(&run, &specs).unwrap();
    let code = row(&a.rows, "code", Mode::Cot);
    assert_eq!(
        (code.control.as_str(), code.control_shift_kind.as_str()),
        ("control", "interval"),
        "{code:?}"
    );
    let vs_control = code.control_shift.unwrap();
    assert!((vs_control + 0.5).abs() < 0.2, "{code:?}");
    assert!(code.control_shift_hi.unwrap() < 0.0, "{code:?}");
    // Against the baseline the same arm moves less: the two references differ.
    assert!(code.shift.unwrap() > vs_control + 0.1, "{code:?}");
    let ctrl = row(&a.rows, "control", Mode::Cot);
    assert_eq!(ctrl.control_shift_kind, "control");
    assert!(
        ctrl.control_shift.is_none() && ctrl.shift.unwrap() > 0.0,
        "{ctrl:?}"
    );
    let word = row(&a.rows, "word", Mode::Cot);
    assert_eq!(word.shift_kind, "baseline");
    assert!(word.control_shift.unwrap() < 0.0, "{word:?}");

    // Paired: code and control against word, code against the control.
    assert_eq!(a.paired.len(), 3 * 2 * 12);
    let against = |arm: &str, reference: &str| {
        a.paired
            .iter()
            .filter(|p| p.arm == arm && p.baseline == reference)
            .count()
    };
    assert_eq!(
        (
            against("code", "word"),
            against("control", "word"),
            against("code", "control")
        ),
        (24, 24, 24)
    );
    // Holm over all 72: never below the raw p, fewer or as many below 0.05,
    // and equal to the adjustment of the whole family.
    let ps: Vec<Option<f64>> = a.paired.iter().map(|p| p.p_value).collect();
    let holm = results::stats::holm(&ps);
    for (p, h) in a.paired.iter().zip(&holm) {
        assert_eq!(p.p_holm, *h);
        assert!(p.p_holm.unwrap() >= p.p_value.unwrap());
    }
    let raw = a
        .paired
        .iter()
        .filter(|p| p.p_value.unwrap() < 0.05)
        .count();
    let adj = a.paired.iter().filter(|p| p.p_holm.unwrap() < 0.05).count();
    assert!(adj <= raw && adj > 0, "{raw} {adj}");
    let text = results::arms::summary(&a);
    assert!(text.contains(&format!("{raw} of 72")), "{text}");
    assert!(
        text.contains(&format!("{adj} after Holm's adjustment over all 72")),
        "{text}"
    );
    assert!(text.contains("vs control"), "{text}");
    let rows: Vec<ArmRow> = read_csv(&run.join("arms.csv")).unwrap();
    assert_eq!(rows, a.rows);
}

#[test]
fn a_verdict_that_changes_with_the_learning_rate_is_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    // One mixture at three learning rates: at the highest, cot never leaves
    // chance.
    let mut flat = spec(5.2, 3);
    flat.tasks[0].cot = Planted::LogLinear { a: 0.0, b: 0.0 };
    arms_run(
        tmp.path(),
        &[
            ("lr", spec(5.2, 1)),
            ("lr-half", spec(5.0, 2)),
            ("lr-double", flat),
        ],
    );
    let run = tmp.path().join("run");
    let specs: Vec<ArmSpec> = [("lr", 2e-3), ("lr-half", 1e-3), ("lr-double", 4e-3)]
        .iter()
        .map(|&(name, lr)| ArmSpec {
            lr: Some(lr),
            mixture: "add".into(),
            ..ArmSpec::named(name)
        })
        .collect();
    let a = analyze_arms_run(&run, &specs).unwrap();
    for arm in ["lr", "lr-half", "lr-double"] {
        let r = row(&a.rows, arm, Mode::Cot);
        assert!(r.verdict_changes, "{r:?}");
        assert!(
            r.note
                .contains("the verdict changes with the learning rate"),
            "{r:?}"
        );
        assert!(r.lr.is_some() && !r.verdict.is_empty(), "{r:?}");
    }
    assert_eq!(row(&a.rows, "lr-double", Mode::Cot).verdict, "not_located");
    assert_ne!(row(&a.rows, "lr", Mode::Cot).verdict, "not_located");
    let cot_notes: Vec<&String> = a.notes.iter().filter(|n| n.contains("cot")).collect();
    assert_eq!(cot_notes.len(), 1, "{:?}", a.notes);
    assert!(
        cot_notes[0].contains("lr-double (lr 0.004) not_located"),
        "{cot_notes:?}"
    );
    assert!(results::arms::summary(&a).contains("note: word cot 0-shot: the verdict changes"));
    // The same curves from arms with different mixtures are an ablation's
    // effect, not a learning rate's: no flag.
    let plain = analyze_arms_run(&run, &named(&["lr", "lr-half", "lr-double"])).unwrap();
    assert!(
        plain.rows.iter().all(|r| !r.verdict_changes),
        "{:?}",
        plain.rows
    );
    assert!(plain.notes.is_empty());
}
