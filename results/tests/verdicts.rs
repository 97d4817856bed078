//! The verdict on a curve and its fixed-level N* through the whole analysis
//! of a synthetic run folder: flat and falling curves are not located,
//! seeds that disagree widen N*'s interval, and the verdict counts seeds.

use results::analyze::analyze_run;
use results::synth::{write_run, Planted, SynthSpec, SynthTask};
use runfolder::schema::{metric, shape, x_axis, FitRow, Mode};

fn exact_match_rows<'a>(fits: &'a [FitRow], task: &str, mode: Mode) -> Vec<&'a FitRow> {
    fits.iter()
        .filter(|r| {
            r.task == task
                && r.mode == mode
                && r.metric == metric::EXACT_MATCH
                && r.x_axis == x_axis::PARAMS
        })
        .collect()
}

fn sigmoid_row<'a>(fits: &'a [FitRow], task: &str, mode: Mode) -> &'a FitRow {
    exact_match_rows(fits, task, mode)
        .into_iter()
        .find(|r| r.shape == shape::SIGMOID)
        .unwrap()
}

/// Eight sizes over 2.5 decades, add/cot a jump at 10^5.2 from chance.
fn spec(seeds: Vec<u64>, spread: f64) -> SynthSpec {
    let mut s = SynthSpec::example();
    s.sizes = (0..8)
        .map(|j| 10f64.powf(4.0 + 2.5 * j as f64 / 7.0).round() as u64)
        .collect();
    s.steps = vec![1000];
    s.items = 200;
    s.seeds = seeds;
    s.seed_spread = spread;
    s.tasks.truncate(1);
    s.tasks[0].cot = Planted::Sigmoid {
        ceiling: 0.95,
        k: 8.0,
        x0: 5.2,
    };
    s
}

#[test]
fn flat_and_falling_curves_are_not_located_and_get_no_n_star() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut s = spec(vec![0, 1, 2], 0.0);
    s.tasks = vec![SynthTask {
        name: "flat".into(),
        chance: 0.0,
        // Never leaves chance: the hop/icl direct curves of the issue.
        direct: Planted::LogLinear { a: 0.002, b: 0.0 },
        // High at the smallest size, gone at the largest.
        cot: Planted::LogLinear { a: 2.6, b: -0.4 },
        shots: vec![0],
    }];
    write_run(&dir, &s).unwrap();
    let (a, _) = analyze_run(&dir).unwrap();
    for (mode, why) in [
        (Mode::Direct, "never reaches the level"),
        (Mode::Cot, "from the smallest size"),
    ] {
        for r in exact_match_rows(&a.fits, "flat", mode) {
            assert_eq!(r.threshold_method, "not_located", "{r:?}");
            assert_eq!(r.verdict, "not_located", "{r:?}");
            assert_eq!(r.verdict_seeds, "3 of 3", "{r:?}");
            assert!(
                r.threshold_params.is_none()
                    && r.threshold_lo.is_none()
                    && r.threshold_hi.is_none(),
                "{r:?}"
            );
            assert!(r.note.contains(why), "{mode}: {}", r.note);
        }
    }
    let table = results::analyze::summary(&a);
    let flat_lines: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("flat") && l.contains("exact_match"))
        .collect();
    assert_eq!(flat_lines.len(), 2, "{table}");
    assert!(
        flat_lines.iter().all(|l| l.contains("not located")),
        "{table}"
    );
}

#[test]
fn seeds_that_disagree_widen_the_interval_and_the_verdict_counts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut widths = Vec::new();
    for spread in [0.0, 0.35] {
        let dir = tmp.path().join(format!("spread{spread}"));
        write_run(&dir, &spec(vec![0, 1, 2], spread)).unwrap();
        let (a, _) = analyze_run(&dir).unwrap();
        let r = sigmoid_row(&a.fits, "add", Mode::Cot);
        assert_eq!(r.interval_noise, "items+seeds");
        let (lo, hi) = (r.threshold_lo.unwrap(), r.threshold_hi.unwrap());
        let n = r.threshold_params.unwrap();
        assert!(lo <= n && n <= hi, "{r:?}");
        // Each seed is its own emergent curve, and all three say so.
        assert_eq!(
            (r.verdict.as_str(), r.verdict_seeds.as_str()),
            ("emergent", "3 of 3"),
            "{r:?}"
        );
        widths.push((hi / lo).log10());
    }
    eprintln!("N* interval widths, seeds agreeing / 0.35 decade apart: {widths:?}");
    assert!(
        widths[1] > widths[0] + 0.15,
        "disagreeing seeds must widen N*'s interval: {widths:?}"
    );
}
