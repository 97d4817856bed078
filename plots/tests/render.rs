//! Render every chart of synthetic runs, decode the PNGs and check their size
//! and that data was drawn (pixels in the fixed direct/cot colours).

use plots::style::{COT, DIRECT};
use results::synth::{write_run, SynthSpec};
use results::Run;
use std::fs::File;
use std::path::Path;

struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

fn decode(path: &Path) -> Image {
    let dec = png::Decoder::new(File::open(path).unwrap());
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    buf.truncate(info.buffer_size());
    Image {
        width: info.width,
        height: info.height,
        rgb: buf,
    }
}

/// Pixels exactly of colour `c` (markers and lines are drawn opaque).
fn count(img: &Image, c: plotters::style::RGBColor) -> usize {
    img.rgb
        .chunks(3)
        .filter(|p| p[0] == c.0 && p[1] == c.1 && p[2] == c.2)
        .count()
}

fn non_white(img: &Image) -> usize {
    img.rgb.chunks(3).filter(|p| p != &[255, 255, 255]).count()
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
        let ink = non_white(&img);
        assert!(ink > 20_000, "{}: only {ink} drawn pixels", p.display());
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
