//! What README and docs/USAGE.md promise about the command line, checked as a user meets it:
//! `--device` in a build without CUDA, `emerge bench`'s last line (which
//! scripts parse), and the candle backend end to end.

use std::path::Path;

mod common;
use common::{emerge, read, smoke_args, text};

fn scratch(name: &str) -> common::Scratch {
    common::scratch("cli", name)
}

/// stderr's lines.
fn err_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A bench shape small enough for a second on any machine.
const TINY: [&str; 14] = [
    "--layers",
    "1",
    "--d-model",
    "32",
    "--heads",
    "2",
    "--context",
    "32",
    "--batch",
    "8",
    "--steps",
    "5",
    "--warmup-steps",
    "1",
];

fn bench(mode: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["bench", mode];
    args.extend_from_slice(&TINY);
    args.extend_from_slice(&["--threads", "1"]);
    args.extend_from_slice(extra);
    emerge(&args)
}

// The `--device` tests are about a build without the `cuda` feature (what
// CI builds); a CUDA build's choices are `models::device::tests`'.
#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_in_a_build_without_it_is_one_error_line_with_the_promised_status() {
    let runs = scratch("cuda");
    let want = "emerge: error: device \"cuda:0\" needs a build with the `cuda` feature (cargo build --features cuda)";
    // sweep: a usage error (2), before anything is written.
    let out = emerge(&smoke_args(&runs, "r", &["--device", "cuda:0"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(err_lines(&out), [want], "{}", text(&out));
    assert!(!runs.join("r").exists(), "something was written");
    // bench: any failure (1).
    let out = bench("train", &["--device", "cuda:0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(err_lines(&out), [want], "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
}

#[cfg(not(feature = "cuda"))]
#[test]
fn auto_without_cuda_runs_on_the_cpu_and_says_nothing() {
    // Without CUDA in the build there is no GPU to fall back from, so no
    // line (a CUDA build's fallback line is `backend::tests`').
    let out = bench("train", &["--device", "auto"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("device=cpu | kernels=fast"),
        "{}",
        text(&out)
    );
    let runs = scratch("auto");
    let out = emerge(&smoke_args(
        &runs,
        "r",
        &["--device", "auto", "--plan-only"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
    assert!(text(&out).contains("cpu, fast kernels"), "{}", text(&out));
}

/// `key=value` of the last stdout line, parsed as `scripts/bench-vs-torch.sh`
/// does (`sed -n "s/^$key=//p"`): exactly one such line, and it is the last.
fn last_value(out: &std::process::Output, key: &str) -> f64 {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("{key}=");
    let hits: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    assert_eq!(hits.len(), 1, "one {key}= line:\n{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with(&prefix), "last line: {last}\n{stdout}");
    hits[0]
        .parse()
        .unwrap_or_else(|e| panic!("{key}={}: {e}", hits[0]))
}

/// The number after `key=` on the line starting with `line`.
fn field(out: &std::process::Output, line: &str, key: &str) -> f64 {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let l = stdout
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no {line} line:\n{stdout}"));
    l.split_once(&format!("{key}="))
        .and_then(|(_, rest)| rest.split([' ', ',', ')']).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {l}"))
}

#[test]
fn bench_ends_with_the_line_scripts_parse_and_it_is_the_measured_rate() {
    for kernels in ["fast", "candle"] {
        let out = bench("train", &["--kernels", kernels]);
        assert!(out.status.success(), "{}", text(&out));
        let tps = last_value(&out, "tokens_per_sec");
        // The rate is the tokens of a step (8 × 32) over the median step,
        // which is printed in ms to two decimals: tps must lie within what
        // that rounding allows (and its own rounding to 0.1).
        let ms = field(&out, "step_ms", "median");
        assert_eq!(field(&out, "step_ms", "tokens/step"), 256.0);
        assert!(ms > 0.0, "{}", text(&out));
        let (lo, hi) = (256e3 / (ms + 0.005), 256e3 / (ms - 0.005).max(1e-9));
        assert!(
            tps.is_finite() && tps >= lo - 0.05 && tps <= hi + 0.05,
            "{kernels}: tokens_per_sec={tps} but 256 tokens per {ms} ms step\n{}",
            text(&out)
        );
    }
    let out = bench("generate", &["--gen-tokens", "8", "--prompt-len", "4"]);
    assert!(out.status.success(), "{}", text(&out));
    let gps = last_value(&out, "gen_tokens_per_sec");
    // 8 prompts × 8 new tokens per call.
    let ms = field(&out, "call_ms", "median");
    let (lo, hi) = (64e3 / (ms + 0.005), 64e3 / (ms - 0.005).max(1e-9));
    assert!(
        gps.is_finite() && gps >= lo - 0.05 && gps <= hi + 0.05,
        "gen_tokens_per_sec={gps} but 64 tokens per {ms} ms call\n{}",
        text(&out)
    );
}

/// (model_id, step, loss) of every row of a run's `train_log.csv`.
fn losses(run: &Path) -> Vec<(String, u64, f64)> {
    let rows: Vec<runfolder::TrainLogRow> =
        runfolder::read::read_csv(&run.join("train_log.csv")).unwrap();
    rows.into_iter()
        .map(|r| (r.model_id, r.step, r.loss))
        .collect()
}

#[test]
fn the_candle_backend_runs_a_sweep_end_to_end_and_trains_like_the_fast_one() {
    let runs = scratch("candle");
    let fast = emerge(&smoke_args(&runs, "fast", &["--threads", "1"]));
    assert!(fast.status.success(), "{}", text(&fast));
    let out = emerge(&smoke_args(
        &runs,
        "candle",
        &["--threads", "1", "--kernels", "candle"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let run = runs.join("candle");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("4 of 4 jobs finished"),
        "{}",
        text(&out)
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&run.join("manifest.json"))).unwrap();
    assert_eq!(manifest["kernels"], "candle");
    for f in ["fits.csv", "claims.csv", "plots/task_add.png"] {
        assert!(run.join(f).is_file(), "missing {f}\n{}", text(&out));
    }
    // The two backends compute the same function from the same weights on
    // the same batches: every logged loss agrees to f32 rounding, grown
    // over 16 steps.
    let (a, b) = (losses(&runs.join("fast")), losses(&run));
    assert_eq!(a.len(), b.len());
    for ((ida, sa, la), (idb, sb, lb)) in a.iter().zip(&b) {
        assert_eq!((ida, sa), (idb, sb));
        assert!(
            lb.is_finite() && (la - lb).abs() <= 1e-3 * la.abs(),
            "{ida} step {sa}: fast {la}, candle {lb}"
        );
    }
    // Scored on the same items, every model and step.
    let scores = |d: &Path| -> Vec<(String, u64, String, String)> {
        let rows: Vec<runfolder::ScoreRow> =
            runfolder::read::read_csv(&d.join("scores.csv")).unwrap();
        rows.into_iter()
            .map(|r| (r.model_id, r.step, r.mode.to_string(), r.metric))
            .collect()
    };
    assert_eq!(scores(&runs.join("fast")), scores(&run));
}
