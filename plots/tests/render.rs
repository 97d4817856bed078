//! Render every chart of synthetic runs, decode the PNGs and check their
//! size, and that each data point is drawn in its series' colour where the
//! panel's axes put it (`plots::inspect`).

use plots::inspect::{check_points, Axes, Expected, Image};
use plots::panel::{x_range_of, y_range_of};
use plots::style::{arm_color, lighten, mode_color, shade, size_color, COT, DIRECT};
use results::synth::{write_run, SynthSpec};
use results::Run;
use runfolder::schema::{claim, metric, FitRow, Mode};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn decode(path: &Path) -> Image {
    Image::read(path).unwrap()
}

/// Pixels exactly of colour `c` (markers and lines are drawn opaque).
fn count(img: &Image, c: plotters::style::RGBColor) -> usize {
    img.count(c, img.rect())
}

/// What one panel should show: its series in drawing order, and its y
/// range when it is fixed (else the range of `y_extent`, as the panel
/// computes it from its points' values, interval ends and chance levels).
struct PanelWant {
    series: Vec<Expected>,
    y_fixed: Option<(f64, f64)>,
    y_extent: Vec<f64>,
}

/// Check every panel of the grid figure at `path` (`cols` columns, panels
/// of `size` or the default): each data point in its series' colour where
/// the axes put it. Returns the points seen and covered over all panels.
fn check_figure(
    path: &Path,
    panels: &[PanelWant],
    cols: usize,
    size: Option<(u32, u32)>,
) -> (usize, usize) {
    let img = decode(path);
    let name = path.file_name().unwrap().to_string_lossy();
    let rects = img.grid_panels(panels.len(), cols, size);
    let (w, _) = size.unwrap_or((plots::grid::PANEL_W, plots::grid::PANEL_H));
    assert_eq!(img.width, w * cols as u32, "{name}: width");
    assert!(img.height >= rects.last().unwrap().y1, "{name}: height");
    let (mut seen, mut covered) = (0, 0);
    for (i, (p, r)) in panels.iter().zip(&rects).enumerate() {
        assert!(
            p.series.iter().any(|s| !s.points.is_empty()),
            "{name} panel {i}: the test expects no data"
        );
        let area = img
            .plot_area(*r)
            .unwrap_or_else(|e| panic!("{name} panel {i}: {e}"));
        let x = x_range_of(p.series.iter().flat_map(|s| s.points.iter().map(|q| q.0)));
        let y = p
            .y_fixed
            .unwrap_or_else(|| y_range_of(p.y_extent.iter().copied()));
        let axes = Axes { area, x, y };
        let (s, c) = check_points(&img, &axes, &p.series, 1)
            .unwrap_or_else(|e| panic!("{name} panel {i}: {e}"));
        seen += s;
        covered += c;
    }
    // Covering is the exception (series that coincide, as the synthetic
    // runs' log-probabilities nearly do): most points show their own colour.
    // A series drawn last is never covered, so each panel's top series
    // shows every point (`check_points`).
    assert!(
        seen >= covered,
        "{name}: {seen} points seen, {covered} covered"
    );
    (seen, covered)
}

/// (x = log10 size, y) of one curve's final points, finite ones only.
fn final_xy(run: &Run, task: &str, mode: Mode, shots: u32, m: &str) -> Vec<(f64, f64)> {
    run.final_points
        .iter()
        .filter(|p| p.task == task && p.mode == mode && p.shots == shots && p.metric == m)
        .filter(|p| p.value.is_finite())
        .map(|p| ((p.params_non_embedding as f64).log10(), p.value))
        .collect()
}

/// Every value, interval end and chance level of one task × metric's final
/// points: what a panel without a fixed range spans (one seed).
fn extent(run: &Run, task: &str, m: &str) -> Vec<f64> {
    run.final_points
        .iter()
        .filter(|p| p.task == task && p.metric == m && p.value.is_finite())
        .flat_map(|p| [p.value, p.ci_lo, p.ci_hi, p.chance])
        .collect()
}

fn proportion(m: &str) -> Option<(f64, f64)> {
    (results::analyze::ceiling_max(m) == Some(1.0)).then_some((-0.03, 1.05))
}

/// One task × metric panel: each mode and shot count in the mode's colour,
/// further shot counts paler.
fn metric_want(run: &Run, task: &str, m: &str) -> PanelWant {
    let shots: BTreeSet<u32> = run
        .final_points
        .iter()
        .filter(|p| p.task == task)
        .map(|p| p.shots)
        .collect();
    let n = shots.len();
    let mut series = Vec::new();
    for mode in [Mode::Direct, Mode::Cot] {
        for (k, &sh) in shots.iter().enumerate() {
            let color = if n > 1 {
                lighten(mode_color(mode), 0.65 * k as f64 / (n - 1) as f64)
            } else {
                mode_color(mode)
            };
            series.push(Expected {
                label: format!("{task} {m} {mode} {sh}-shot"),
                color,
                points: final_xy(run, task, mode, sh, m),
            });
        }
    }
    PanelWant {
        series,
        y_fixed: proportion(m),
        y_extent: extent(run, task, m),
    }
}

/// The metrics of a task, in the figure's order.
fn metrics(run: &Run, task: &str) -> Vec<String> {
    let present: BTreeSet<&str> = run
        .final_points
        .iter()
        .filter(|p| p.task == task)
        .map(|p| p.metric.as_str())
        .collect();
    metric::ALL
        .iter()
        .filter(|m| present.contains(*m))
        .map(|m| m.to_string())
        .collect()
}

#[test]
fn plot_run_draws_every_chart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    write_run(&dir, &SynthSpec::example()).unwrap();
    let (analysis, _) = results::analyze::analyze_run(&dir).unwrap();
    let run = Run::load(&dir).unwrap();
    let out = dir.join("plots");
    let (mut written, notes) = plots::plot_run(&run, &analysis.fits, &out).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    // The example's add/cot curve has three sizes below its level: forecast.
    let f = results::forecast::forecast(&run, &analysis.fits);
    assert!(f.curves.iter().any(|c| !c.lines.is_empty()), "{f:?}");
    written.extend(plots::plot_forecast(&run, &f, &out).unwrap());
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "task_add.png",
        "task_sort.png",
        "overview.png",
        "mirage.png",
        "loss_vs_tokens.png",
        "score_vs_flops.png",
        "score_vs_loss.png",
        "forecast_add.png",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    for p in &written {
        let img = decode(p);
        assert!(
            img.width >= 800 && img.height >= 400,
            "{}: {}x{}",
            p.display(),
            img.width,
            img.height
        );
    }
    // Every figure shows each data point in its series' colour where the
    // axes put it.
    let mut seen = BTreeMap::new();
    for task in run.tasks() {
        let panels: Vec<PanelWant> = metrics(&run, &task)
            .iter()
            .map(|m| metric_want(&run, &task, m))
            .collect();
        let name = format!("task_{task}.png");
        seen.insert(
            name.clone(),
            check_figure(&out.join(&name), &panels, 2, None),
        );
    }
    let overview: Vec<PanelWant> = run
        .tasks()
        .iter()
        .map(|t| metric_want(&run, t, metric::EXACT_MATCH))
        .collect();
    seen.insert(
        "overview.png".into(),
        check_figure(&out.join("overview.png"), &overview, 2, None),
    );
    seen.insert("mirage.png".into(), check_mirage(&run, &out));
    seen.insert("loss_vs_tokens.png".into(), check_loss(&run, &out));
    seen.insert("score_vs_flops.png".into(), check_flops(&run, &out));
    seen.insert("claims.png".into(), check_claims(&run, &out));
    // Every point of the synthetic run is in some figure; all are there.
    for (name, (s, c)) in &seen {
        assert!(*s > 10, "{name}: {s} points seen, {c} covered");
    }
    // Task and overview charts show both modes in their fixed colours.
    for name in ["task_add.png", "overview.png"] {
        let img = decode(&out.join(name));
        assert!(
            count(&img, DIRECT) > 300,
            "{name}: direct colour barely drawn"
        );
        assert!(count(&img, COT) > 300, "{name}: cot colour barely drawn");
    }
    // A 2x2 panel figure for the four metrics, with a three-line key (what
    // the points, bars and N*'s band are and what noise they cover).
    let add = decode(&out.join("task_add.png"));
    assert_eq!((add.width, add.height), (1040, 2 * 390 + 40 + 3 * 26));
    // No temporary files left behind.
    for e in std::fs::read_dir(&out).unwrap() {
        assert!(!e.unwrap().file_name().to_string_lossy().contains(".tmp."));
    }
}

#[test]
fn missing_train_log_skips_that_chart_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let spec = SynthSpec {
        steps: vec![1000],
        ..SynthSpec::example()
    };
    write_run(&dir, &spec).unwrap();
    std::fs::remove_file(dir.join("train_log.csv")).unwrap();
    let run = Run::load(&dir).unwrap();
    let fits = results::analyze::analyze(&run).unwrap().fits;
    let (written, notes) = plots::plot_run(&run, &fits, &dir.join("plots")).unwrap();
    assert!(
        notes.iter().any(|n| n.contains("loss_vs_tokens.png")),
        "{notes:?}"
    );
    assert!(!written.iter().any(|p| p.ends_with("loss_vs_tokens.png")));
    assert!(!dir.join("plots/loss_vs_tokens.png").exists());
}

#[test]
fn compare_overlay_draws_both_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    let spec = SynthSpec {
        steps: vec![1000],
        ..SynthSpec::example()
    };
    write_run(&da, &spec).unwrap();
    write_run(
        &db,
        &SynthSpec {
            rng_seed: 99,
            ..spec
        },
    )
    .unwrap();
    let (a, b) = (Run::load(&da).unwrap(), Run::load(&db).unwrap());
    let written = plots::plot_compare(&a, &b, &tmp.path().join("cmp")).unwrap();
    assert_eq!(written.len(), 2);
    let img = decode(&tmp.path().join("cmp_add.png"));
    assert!(count(&img, DIRECT) > 200 && count(&img, COT) > 200);
    // Run B is drawn in lighter shades of the same colours.
    assert!(count(&img, plots::style::shade(COT, 1)) > 100);
}

#[test]
fn several_seeds_are_drawn_faint_around_their_bold_mean() {
    // The same run with one seed and with three: only the second draws each
    // seed's points in the pale shade of its mode's colour.
    let tmp = tempfile::tempdir().unwrap();
    let mut pale = Vec::new();
    for seeds in [vec![0], vec![0, 1, 2]] {
        let dir = tmp.path().join(format!("s{}", seeds.len()));
        let spec = SynthSpec {
            steps: vec![1000],
            seeds,
            seed_spread: 0.2,
            ..SynthSpec::example()
        };
        write_run(&dir, &spec).unwrap();
        let run = Run::load(&dir).unwrap();
        let fits = results::analyze::analyze(&run).unwrap().fits;
        plots::plot_run(&run, &fits, &dir.join("plots")).unwrap();
        let img = decode(&dir.join("plots/task_add.png"));
        let faint = plots::style::lighten(COT, 0.45);
        pale.push(count(&img, faint));
        assert!(count(&img, COT) > 300, "the bold seed mean stays drawn");
    }
    assert!(
        pale[0] < 20 && pale[1] > 200,
        "pale seed pixels, 1 vs 3 seeds: {pale:?}"
    );
}

/// `mirage.png`: per task and mode, exact match, edit similarity and token
/// accuracy in their fixed colours.
fn check_mirage(run: &Run, out: &Path) -> (usize, usize) {
    let colors = [
        (metric::EXACT_MATCH, plotters::style::RGBColor(20, 20, 20)),
        (
            metric::EDIT_SIMILARITY,
            plotters::style::RGBColor(44, 160, 44),
        ),
        (
            metric::TOKEN_ACCURACY,
            plotters::style::RGBColor(148, 103, 189),
        ),
    ];
    let mut panels = Vec::new();
    for task in run.tasks() {
        let shots = run
            .final_points
            .iter()
            .filter(|p| p.task == task)
            .map(|p| p.shots)
            .min()
            .unwrap();
        for mode in [Mode::Direct, Mode::Cot] {
            panels.push(PanelWant {
                series: colors
                    .iter()
                    .map(|&(m, color)| Expected {
                        label: format!("{task} {mode} {m}"),
                        color,
                        points: final_xy(run, &task, mode, shots, m),
                    })
                    .collect(),
                y_fixed: Some((-0.03, 1.05)),
                y_extent: vec![],
            });
        }
    }
    check_figure(&out.join("mirage.png"), &panels, 2, None)
}

/// `loss_vs_tokens.png`: one panel, a line per model in its size's colour,
/// a marker every few logged steps and at the last.
fn check_loss(run: &Run, out: &Path) -> (usize, usize) {
    let sizes: Vec<u64> = run.sizes().into_iter().collect();
    let size_of = run.size_of();
    let mut by_model: BTreeMap<(u64, &str), Vec<(f64, f64)>> = BTreeMap::new();
    for r in run
        .train_log
        .iter()
        .filter(|r| r.tokens > 0 && r.loss > 0.0 && r.loss.is_finite())
    {
        by_model
            .entry((size_of[&r.model_id], r.model_id.as_str()))
            .or_default()
            .push(((r.tokens as f64).log10(), r.loss.log10()));
    }
    let mut series = Vec::new();
    let mut ys = Vec::new();
    for ((size, id), pts) in by_model {
        let keep = (pts.len() / 12).max(1);
        let n = pts.len();
        let pts: Vec<(f64, f64)> = pts
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % keep == 0 || i + 1 == n)
            .map(|(_, p)| p)
            .collect();
        ys.extend(pts.iter().map(|p| p.1));
        let i = sizes.iter().position(|&s| s == size).unwrap();
        series.push(Expected {
            label: id.to_string(),
            color: size_color(i, sizes.len()),
            points: pts,
        });
    }
    let (w, h) = (plots::grid::PANEL_W, plots::grid::PANEL_H);
    let panel = PanelWant {
        series,
        y_fixed: None,
        y_extent: ys,
    };
    check_figure(
        &out.join("loss_vs_tokens.png"),
        &[panel],
        1,
        Some((w * 2, h * 2 - 80)),
    )
}

/// `score_vs_flops.png`: per task and mode, exact match at every scored
/// checkpoint against training FLOPs, a line per size.
fn check_flops(run: &Run, out: &Path) -> (usize, usize) {
    let sizes: Vec<u64> = run.sizes().into_iter().collect();
    let mut panels = Vec::new();
    for task in run.tasks() {
        let shots = run
            .checkpoint_points
            .iter()
            .filter(|p| p.task == task)
            .map(|p| p.shots)
            .min()
            .unwrap();
        for mode in [Mode::Direct, Mode::Cot] {
            let series = sizes
                .iter()
                .enumerate()
                .map(|(i, &size)| Expected {
                    label: format!("{task} {mode} N={size}"),
                    color: size_color(i, sizes.len()),
                    points: run
                        .checkpoint_points
                        .iter()
                        .filter(|p| {
                            p.task == task
                                && p.mode == mode
                                && p.shots == shots
                                && p.metric == metric::EXACT_MATCH
                                && p.params_non_embedding == size
                        })
                        .map(|p| (p.flops.log10(), p.value))
                        .collect(),
                })
                .collect();
            panels.push(PanelWant {
                series,
                y_fixed: Some((-0.03, 1.05)),
                y_extent: vec![],
            });
        }
    }
    check_figure(&out.join("score_vs_flops.png"), &panels, 2, None)
}

/// `claims.png`: a panel per (claim, task), a series per (mode, shots) in
/// the mode's colour (paler for further shot counts of one mode); then, per
/// task scored at several shot counts, exact match against shots, a line
/// per mode and size in the size's colour.
fn check_claims(run: &Run, out: &Path) -> (usize, usize) {
    // The loss at the level belongs to score_vs_loss.png, not to claims.png.
    let rows: Vec<_> = results::claims::claims(run)
        .into_iter()
        .filter(|r| r.claim != claim::LOSS_AT_LEVEL)
        .collect();
    let keys: BTreeSet<(&str, &str)> = rows
        .iter()
        .map(|r| (r.claim.as_str(), r.task.as_str()))
        .collect();
    let mut panels = Vec::new();
    for (c, task) in keys {
        let of: Vec<_> = rows
            .iter()
            .filter(|r| r.claim == c && r.task == task)
            .collect();
        let cells: BTreeSet<(Mode, u32)> = of.iter().map(|r| (r.mode, r.shots)).collect();
        let series = cells
            .iter()
            .enumerate()
            .map(|(k, &(mode, shots))| Expected {
                label: format!("{c} {task} {mode} {shots}-shot"),
                color: shade(
                    mode_color(mode),
                    cells.iter().take(k).filter(|x| x.0 == mode).count(),
                ),
                points: of
                    .iter()
                    .filter(|r| r.mode == mode && r.shots == shots)
                    .map(|r| ((r.params_non_embedding as f64).log10(), r.value))
                    .collect(),
            })
            .collect();
        panels.push(PanelWant {
            series,
            y_fixed: Some(if c == claim::PARROT {
                (-0.03, 1.05)
            } else {
                (-1.05, 1.05)
            }),
            y_extent: vec![],
        });
    }
    let sizes: Vec<u64> = run.sizes().into_iter().collect();
    for task in run.tasks() {
        let shots: BTreeSet<u32> = run
            .final_points
            .iter()
            .filter(|p| p.task == task)
            .map(|p| p.shots)
            .collect();
        if shots.len() < 2 {
            continue;
        }
        let mut series = Vec::new();
        for mode in [Mode::Direct, Mode::Cot] {
            for (i, &size) in sizes.iter().enumerate() {
                series.push(Expected {
                    label: format!("{task} shots {mode} N={size}"),
                    color: size_color(i, sizes.len()),
                    points: shots
                        .iter()
                        .filter_map(|&k| {
                            run.final_points.iter().find(|p| {
                                p.task == task
                                    && p.mode == mode
                                    && p.shots == k
                                    && p.metric == metric::EXACT_MATCH
                                    && p.params_non_embedding == size
                            })
                        })
                        .map(|p| (f64::from(p.shots), p.value))
                        .collect(),
                });
            }
        }
        panels.push(PanelWant {
            series,
            y_fixed: Some((-0.03, 1.05)),
            y_extent: vec![],
        });
    }
    let cols = (panels.len() as f64).sqrt().ceil() as usize;
    check_figure(&out.join("claims.png"), &panels, cols, None)
}

/// The arms overlay: two synthetic runs as the arms of one, a panel per
/// mode, each arm's exact match in its colour where its data are.
#[test]
fn arms_overlay_draws_each_arm_where_its_data_are() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = SynthSpec {
        steps: vec![1000],
        ..SynthSpec::example()
    };
    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    write_run(&da, &spec).unwrap();
    write_run(
        &db,
        &SynthSpec {
            rng_seed: 99,
            ..spec
        },
    )
    .unwrap();
    let (a, b) = (Run::load(&da).unwrap(), Run::load(&db).unwrap());
    let fits = |r: &Run| -> Vec<FitRow> { results::analyze::analyze(r).unwrap().fits };
    let (fa, fb) = (fits(&a), fits(&b));
    let arms: Vec<(String, &Run, &[FitRow])> =
        vec![("base".into(), &a, &fa[..]), ("other".into(), &b, &fb[..])];
    let out = tmp.path().join("arms");
    let written = plots::plot_arms(&arms, &[], &out).unwrap();
    assert_eq!(written.len(), 2, "{written:?}");
    assert_arms_overlay(
        &out.join("arms_add.png"),
        &[("base", &a), ("other", &b)],
        "add",
    );
}

/// Check an arms overlay figure of `task`: a panel per mode, each arm's
/// seed-mean exact match (the fewest shots) in its colour where its data
/// are; the second arm's points are not all covered by the first's.
fn assert_arms_overlay(path: &Path, arms: &[(&str, &Run)], task: &str) {
    let mut panels = Vec::new();
    for mode in [Mode::Direct, Mode::Cot] {
        let series = arms
            .iter()
            .enumerate()
            .map(|(i, (name, run))| {
                let shots = run
                    .final_points
                    .iter()
                    .filter(|p| p.task == task)
                    .map(|p| p.shots)
                    .min()
                    .unwrap();
                Expected {
                    label: format!("{name} {mode}"),
                    color: arm_color(i),
                    points: final_xy(run, task, mode, shots, metric::EXACT_MATCH),
                }
            })
            .collect();
        panels.push(PanelWant {
            series,
            y_fixed: Some((-0.03, 1.05)),
            y_extent: vec![],
        });
    }
    let (seen, _) = check_figure(path, &panels, 2, None);
    assert!(seen >= arms.len() * 4, "{seen} points seen");
}
