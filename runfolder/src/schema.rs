//! The run-folder CSV schema: one serde row struct per file of docs/DESIGN.md's
//! run-folder table, with exactly its column names in its column order (serde
//! writes struct fields in declaration order, so the field order here IS the
//! file format). The sweep writes these rows; `analyze`, `plot` and `compare`
//! read them. Nothing here needs polars.
//!
//! Conventions shared by every file:
//! - a header row, comma separated, RFC 4180 quoting (the `csv` crate);
//! - `Option` fields are written as an empty cell when `None`;
//! - booleans are `true` / `false`;
//! - floats use Rust's shortest round-trip formatting, so a value read back
//!   is bit-identical to the value written.
//!
//! How the sweep writes a job's rows (no polars involved):
//!
//! ```text
//! use runfolder::{write_csv, ScoreRow, Mode};
//! let rows: Vec<ScoreRow> = ...;                       // one per model × step × task × mode × shots × metric
//! write_csv(&job_dir.join("scores.csv"), &rows)?;      // temp name + rename: never a torn file
//! runfolder::read::merge_csv::<ScoreRow>(&job_files, &run_dir.join("scores.csv"))?;
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

/// File names inside a run folder.
pub mod files {
    pub const CONFIG: &str = "config.toml";
    pub const MANIFEST: &str = "manifest.json";
    pub const MODELS: &str = "models.csv";
    pub const TRAIN_LOG: &str = "train_log.csv";
    pub const SCORES: &str = "scores.csv";
    pub const SAMPLES: &str = "samples.csv";
    pub const FITS: &str = "fits.csv";
    pub const CLAIMS: &str = "claims.csv";
    pub const FORECAST: &str = "forecast.csv";
    pub const TIMES: &str = "times.csv";
    pub const PLOTS_DIR: &str = "plots";
    pub const JOBS_DIR: &str = "jobs";
    /// An ablation run's comparison of arms (`emerge analyze` on `[[arms]]`).
    pub const ARMS: &str = "arms.csv";
    pub const ARMS_PAIRED: &str = "arms_paired.csv";
    /// The folder that holds one analysis per arm (`arms/<arm>/`).
    pub const ARMS_DIR: &str = "arms";
    /// `emerge compare`'s table (written where the user asks).
    pub const COMPARE: &str = "compare.csv";
}

/// Metric names used in `scores.csv` (`metric` column). The sweep may add
/// others (for example a parrot rate on `word_twin`); the analysis fits every
/// metric it finds and knows which of these are proportions.
pub mod metric {
    /// 1 when the extracted answer equals the target exactly (discontinuous).
    pub const EXACT_MATCH: &str = "exact_match";
    /// 1 − Levenshtein(answer, target) / max length (continuous).
    pub const EDIT_SIMILARITY: &str = "edit_similarity";
    /// Fraction of the gold completion's tokens that are the model's argmax,
    /// teacher forced from the prompt. The completion is what the mode asks
    /// the model to write: the answer in direct mode, the trace, answer cue
    /// and answer in chain-of-thought mode. So in both modes it scores the
    /// same text free generation must produce (like for like with exact
    /// match), not an answer made easy by a gold trace that already ends in it.
    pub const TOKEN_ACCURACY: &str = "token_accuracy";
    /// Mean log-probability per token of the gold completion (as for
    /// `token_accuracy`), teacher forced; 0 is certainty.
    pub const COMPLETION_LOGPROB: &str = "completion_logprob";
    /// Rate of items whose answer could not be extracted (`extraction_failed`).
    pub const EXTRACTION_FAILURE: &str = "extraction_failure";
    /// `word_twin` only: rate of answers that equal the answer of the
    /// training problem the item changes (`parrot`).
    pub const PARROT: &str = "parrot";
    /// The four per-item metrics, in the order plots show them.
    pub const ALL: [&str; 4] = [
        EXACT_MATCH,
        EDIT_SIMILARITY,
        TOKEN_ACCURACY,
        COMPLETION_LOGPROB,
    ];
    /// The continuous metrics the mirage check compares exact match with.
    pub const CONTINUOUS: [&str; 2] = [EDIT_SIMILARITY, TOKEN_ACCURACY];
}

/// Prompt format: answer at once, or think first (chain of thought).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Direct,
    Cot,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Direct, Mode::Cot];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Cot => "cot",
        }
    }
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "direct" => Some(Mode::Direct),
            "cot" => Some(Mode::Cot),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A curve's identity: the task, mode, shot count and metric that every
/// file naming a curve (`scores.csv`, `fits.csv`, `claims.csv`, ...) keys
/// it by; everything but the x value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CurveKey {
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    pub metric: String,
}

/// Whether a model's training is healthy at this checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelStatus {
    Ok,
    /// A non-finite loss was seen at or before this step; the job stopped.
    Diverged,
}

impl ModelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStatus::Ok => "ok",
            ModelStatus::Diverged => "diverged",
        }
    }
}

/// `models.csv`: one row per model × checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    /// Unique per (size, seed), e.g. `L2-D64-H4-s0`. Also the `jobs/` folder name.
    pub model_id: String,
    pub seed: u64,
    pub n_layer: u32,
    pub d_model: u32,
    pub n_head: u32,
    /// All parameters, embeddings included.
    pub params: u64,
    /// Kaplan's N: parameters excluding token and position embeddings. The
    /// x-axis of every scaling curve.
    pub params_non_embedding: u64,
    /// Optimizer steps taken at this checkpoint.
    pub step: u64,
    /// Training tokens seen at this checkpoint (D).
    pub tokens: u64,
    /// Training FLOPs at this checkpoint, 6·N·D with N non-embedding.
    pub flops: f64,
    /// Training loss (nats/token) around this checkpoint.
    pub train_loss: f64,
    pub status: ModelStatus,
}

/// `train_log.csv`: one row per model × logged step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainLogRow {
    pub model_id: String,
    pub step: u64,
    pub tokens: u64,
    /// Training loss in nats per token.
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    /// Timing column: the only kind allowed to differ between identical runs.
    pub tokens_per_sec: f64,
}

/// `scores.csv`: one row per model × checkpoint × task × mode × shots × metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub model_id: String,
    pub step: u64,
    pub task: String,
    pub mode: Mode,
    /// Solved examples placed before the query (0 = zero-shot).
    pub shots: u32,
    /// One of [`metric`]'s names (or another the sweep defines).
    pub metric: String,
    /// Mean over the `n` items.
    pub value: f64,
    /// 95 % interval of the mean: Wilson for proportions, bootstrap otherwise.
    pub ci_lo: f64,
    pub ci_hi: f64,
    /// Items scored.
    pub n: u64,
    /// The metric's value for a model that guesses (the sigmoid's floor).
    pub chance: f64,
}

/// `samples.csv`: one row per evaluated item (model × checkpoint × task ×
/// mode × shots × item). The aggregate in `scores.csv` is the mean of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    pub model_id: String,
    pub step: u64,
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    /// Stable id of the test item; identical items in two runs share it, which
    /// is what `compare`'s paired tests rely on.
    pub item_id: String,
    pub prompt: String,
    pub target: String,
    /// The model's whole generated text.
    pub output: String,
    /// The extracted answer (empty when extraction failed).
    pub answer: String,
    pub exact_match: bool,
    pub edit_similarity: f64,
    pub token_accuracy: f64,
    pub completion_logprob: f64,
    /// No answer could be extracted from `output` (counts as wrong).
    pub extraction_failed: bool,
    /// `word_twin` only: the answer is the answer of the training problem
    /// the item changes (one number away). Empty for every other task.
    pub parrot: Option<bool>,
    /// Tokens of the gold completion `completion_logprob` averages over, so
    /// the completion's total log-probability (the log of the chance that
    /// sampling at temperature 1 writes it) is `completion_logprob ·
    /// completion_tokens`. Empty in run folders written before it existed.
    pub completion_tokens: Option<u32>,
}

impl SampleRow {
    /// The per-item value of a metric named in `scores.csv`, if this row has it.
    pub fn metric_value(&self, metric_name: &str) -> Option<f64> {
        match metric_name {
            metric::EXACT_MATCH => Some(if self.exact_match { 1.0 } else { 0.0 }),
            metric::EDIT_SIMILARITY => Some(self.edit_similarity),
            metric::TOKEN_ACCURACY => Some(self.token_accuracy),
            metric::COMPLETION_LOGPROB => Some(self.completion_logprob),
            metric::EXTRACTION_FAILURE => Some(if self.extraction_failed { 1.0 } else { 0.0 }),
            metric::PARROT => self.parrot.map(|p| if p { 1.0 } else { 0.0 }),
            _ => None,
        }
    }
}

/// Fitted curve shapes.
pub mod shape {
    pub const LOG_LINEAR: &str = "log_linear";
    pub const SIGMOID: &str = "sigmoid";
}

/// Values of [`FitRow::x_axis`].
pub mod x_axis {
    /// log10 non-embedding parameters, final checkpoint of every model.
    pub const PARAMS: &str = "params";
    /// log10 training FLOPs, every scored checkpoint of every model.
    pub const FLOPS: &str = "flops";
}

/// `fits.csv`: one row per task × mode × shots × metric × x-axis × curve shape.
///
/// Columns follow DESIGN.md's order (`shape`, parameters, `aicc`, `bic`,
/// `threshold_params`, `threshold_lo`, `threshold_hi`, `breakthroughness`,
/// `preferred`), preceded by the keys and followed by the extra columns.
/// Empty cells mean "not applicable" or "could not be computed"; `status` and
/// `note` say which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitRow {
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    pub metric: String,
    /// [`x_axis::PARAMS`] or [`x_axis::FLOPS`].
    pub x_axis: String,
    /// [`shape::LOG_LINEAR`] or [`shape::SIGMOID`].
    pub shape: String,
    /// log_linear: y = intercept + slope·x, x = log10 of the x-axis quantity.
    pub intercept: Option<f64>,
    pub slope: Option<f64>,
    /// sigmoid: y = floor + (ceiling − floor)/(1 + exp(−steepness·(x − midpoint))),
    /// floor fixed at the task's chance level.
    pub floor: Option<f64>,
    pub ceiling: Option<f64>,
    pub steepness: Option<f64>,
    /// log10 of the threshold.
    pub midpoint: Option<f64>,
    pub aicc: Option<f64>,
    pub bic: Option<f64>,
    /// N*: where the seed-mean curve crosses `level` for the last time
    /// going up (non-embedding parameters, or FLOPs when `x_axis` is
    /// `flops`); proportion metrics that rise only (exact match, edit
    /// similarity, token accuracy), the same on both shape rows. Empty when
    /// `threshold_method` is `not_located` (`results::threshold`).
    pub threshold_params: Option<f64>,
    /// 95 % interval of N*: a bootstrap over seeds and items, never narrower
    /// than the gap between `threshold_below` and `threshold_above` when
    /// neither lies on the slope (`interval_method`). An empty bound is
    /// open: in over 2.5 % of replicates the curve is not located on that
    /// side of the ladder.
    pub threshold_lo: Option<f64>,
    pub threshold_hi: Option<f64>,
    /// BIG-bench breakthroughness of the observed curve (same on both shapes).
    pub breakthroughness: Option<f64>,
    /// The shape with the lower AICc (BIC when AICc is undefined).
    pub preferred: bool,
    /// `ok`, `too_few_points` (fewer than 4 sizes) or `failed`.
    pub status: String,
    /// Distinct x values (sizes, or checkpoints on the FLOPs axis) fitted.
    pub n_points: u32,
    /// Weighted residual sum of squares (chi-square with the intervals' variances).
    pub wrss: Option<f64>,
    /// How N* was read: `fit` (where the preferred fitted curve reaches
    /// the level between the two sizes around the crossing),
    /// `interpolated` (linearly in log size between them) or `not_located`
    /// (`note` says why). Empty for metrics without a level.
    pub threshold_method: String,
    /// The two ladder values of the x axis (sizes, or FLOPs) around N*.
    pub threshold_below: Option<f64>,
    pub threshold_above: Option<f64>,
    /// The noise this row's intervals (N*, cot overtakes) cover: `items`
    /// (one seed per size: how far the threshold moves between seeds is not
    /// measured) or `items+seeds`.
    pub interval_noise: String,
    /// `cot` rows: the scale from which `cot` is ahead of `direct` by more
    /// than the 95 % band of their difference, at every larger size;
    /// interpolated in log10 between the two sizes around it. Empty with
    /// `cot_note` saying why otherwise. Its 95 % interval is never narrower
    /// than the gap between those two sizes (the data cannot tell where in
    /// it the curves cross), widened by a bootstrap over items (and seeds)
    /// when `samples.csv` has them; an empty upper bound means beyond the
    /// ladder in over 2.5 % of replicates.
    pub cot_overtakes: Option<f64>,
    pub cot_overtakes_lo: Option<f64>,
    pub cot_overtakes_hi: Option<f64>,
    /// `bracket` (the interval is exactly the gap between the two sizes) or
    /// `bootstrap` (wider); empty without an interval.
    pub cot_overtakes_method: String,
    /// `overtakes`, `ahead_throughout`, `never_in_range`, or empty.
    pub cot_note: String,
    /// `exact_match` rows: `survives` (the continuous metrics also prefer a
    /// sigmoid), `mixed` (one does), `mirage` (neither does), `no_transition`
    /// (exact match itself prefers log_linear) or empty.
    pub mirage: String,
    /// The level N* is read at: chance + `eval.threshold_level`·(1 − chance).
    pub level: Option<f64>,
    /// What set N*'s interval: `bracket` (exactly the gap between the two
    /// sizes around N*: all the data say) or `bootstrap`.
    pub interval_method: String,
    /// `params` rows of a metric with a level: `emergent`, `smooth` or
    /// `not_located`, by the rule of `results::threshold::verdict` on the
    /// seed mean and on every seed (`results::threshold::combine`).
    pub verdict: String,
    /// How many seeds' own curves give that verdict: `2 of 3`.
    pub verdict_seeds: String,
    /// Free text: why a value is missing.
    pub note: String,
}

impl FitRow {
    /// A row of one curve (task, mode, shots, metric) and shape with every
    /// value empty, status `ok`.
    pub fn empty(curve: (&str, Mode, u32, &str), x_axis: &str, shape: &str) -> FitRow {
        let (task, mode, shots, metric) = curve;
        FitRow {
            task: task.to_string(),
            mode,
            shots,
            metric: metric.to_string(),
            x_axis: x_axis.to_string(),
            shape: shape.to_string(),
            intercept: None,
            slope: None,
            floor: None,
            ceiling: None,
            steepness: None,
            midpoint: None,
            aicc: None,
            bic: None,
            threshold_params: None,
            threshold_lo: None,
            threshold_hi: None,
            breakthroughness: None,
            preferred: false,
            status: "ok".into(),
            n_points: 0,
            wrss: None,
            threshold_method: String::new(),
            threshold_below: None,
            threshold_above: None,
            interval_noise: String::new(),
            cot_overtakes: None,
            cot_overtakes_lo: None,
            cot_overtakes_hi: None,
            cot_overtakes_method: String::new(),
            cot_note: String::new(),
            mirage: String::new(),
            level: None,
            interval_method: String::new(),
            verdict: String::new(),
            verdict_seeds: String::new(),
            note: String::new(),
        }
    }
}

/// `claims.csv`: the number behind each claim of the literature that a run
/// can test, per model size (final checkpoints, averaged over seeds).
///
/// - `cot_gain`: exact match with chain of thought minus direct (`mode` is
///   `cot`), for every task scored both ways: does writing out the steps pay
///   off, and from which size?
/// - `ood_gap`: `word` minus `word_ood` exact match, per mode: how much is
///   lost when names and nouns are new (reasoning vs parroting).
/// - `parrot`: share of `word_twin` answers that are the unchanged training
///   problem's answer (familiar text, changed numbers: parroting).
/// - `shot_gain`: exact match at `shots` minus at the fewest shots scored,
///   per mode: does few-shot learning appear with scale?
/// - `loss_at_level`: the held-out loss on the task (nats per token of the
///   gold completion) at which this size's exact match crosses the level
///   over its scored checkpoints, its interval the losses of the two
///   checkpoints around the crossing (`results::claims`): does the ability
///   track loss rather than size? Its spread over a curve's sizes says.
///
/// Every interval starts from each point's item interval (Wilson), which
/// with several seeds is combined with the spread between seeds. Differences
/// carry Newcombe's interval for a difference of proportions (the facing
/// arms in quadrature), so no interval leaves [−1, 1]; `parrot` its point's
/// interval, within [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRow {
    pub claim: String,
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    pub params_non_embedding: u64,
    pub value: f64,
    pub ci_lo: f64,
    pub ci_hi: f64,
    pub n_seeds: u32,
}

/// `forecast.csv`: one row per curve × predictor, for every exact-match
/// curve (parameter axis) with a located fixed-level N* (`fits.csv`): N*
/// forecast from the sizes below the level alone, then checked against the
/// measured N* (`results::forecast` says how each predictor works).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastRow {
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    /// `log_linear` (exact match linear in log size), `sigmoid` (exact
    /// match rising from chance to 1) or `logprob` (the gold completion's
    /// log-probability per item, its trend extrapolated).
    pub predictor: String,
    /// What the predictor was fitted to: `points` (the seed means of exact
    /// match), `items` (per-item total log-probabilities), `items_per_token`
    /// (per-item means per token: `samples.csv` without `completion_tokens`)
    /// or `means` (`scores.csv`'s mean log-probability per token: no
    /// `samples.csv`).
    pub basis: String,
    /// `ok`, `too_few_sizes_below` (fewer than 3 sizes below the level) or
    /// `no_forecast` (the fitted trend does not reach the level; `note`).
    pub status: String,
    /// Sizes fitted: those up to the crossing whose seed-mean exact match
    /// is below the level.
    pub sizes_used: u32,
    /// The largest of them (non-embedding parameters).
    pub largest_used: Option<f64>,
    /// The level N* is read at (as in `fits.csv`).
    pub level: f64,
    /// Forecast N* (non-embedding parameters) and its 95 % interval; an
    /// empty bound is open (over 2.5 % of replicates never reach the level
    /// within reach on that side).
    pub forecast: Option<f64>,
    pub forecast_lo: Option<f64>,
    pub forecast_hi: Option<f64>,
    /// The measured N* and its interval (`fits.csv`'s `threshold_*`).
    pub measured: f64,
    pub measured_lo: Option<f64>,
    pub measured_hi: Option<f64>,
    /// log10(forecast / measured): positive when the forecast is late.
    pub error_decades: Option<f64>,
    /// Whether the forecast interval holds the measured N* (an open side
    /// holds everything beyond it).
    pub covered: Option<bool>,
    /// What the interval resamples: `items`, `items+seeds`, or `points`
    /// (each point drawn from its own interval: no `samples.csv`).
    pub interval_noise: String,
    pub note: String,
}

/// `times.csv`: one row per finished job, the first plan's estimate of its
/// time against what it took (over every attempt), so that a run says
/// whether its plan held (`emerge plot` writes it from `jobs/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeRow {
    pub model_id: String,
    /// The plan's estimate, training and scoring; empty when the job was
    /// planned by an emerge that did not record it.
    pub estimated_seconds: Option<f64>,
    pub train_seconds: f64,
    pub eval_seconds: f64,
}

/// Claim names used in `claims.csv` (`claim` column).
pub mod claim {
    pub const COT_GAIN: &str = "cot_gain";
    pub const OOD_GAP: &str = "ood_gap";
    pub const PARROT: &str = "parrot";
    pub const SHOT_GAIN: &str = "shot_gain";
    pub const LOSS_AT_LEVEL: &str = "loss_at_level";
}

/// A row type of one run-folder CSV file: its file name and header. `HEADER`
/// must equal the serde field order (a test checks every row type).
pub trait CsvRow: Serialize + for<'de> Deserialize<'de> {
    const FILE: &'static str;
    const HEADER: &'static [&'static str];
    /// How many of the last columns are optional cells added after files
    /// were already written: a file whose header lacks up to this many of
    /// them still reads, with those cells empty (`Option` fields).
    const OPTIONAL_TAIL: usize = 0;
}

impl CsvRow for ModelRow {
    const FILE: &'static str = files::MODELS;
    const HEADER: &'static [&'static str] = &[
        "model_id",
        "seed",
        "n_layer",
        "d_model",
        "n_head",
        "params",
        "params_non_embedding",
        "step",
        "tokens",
        "flops",
        "train_loss",
        "status",
    ];
}

impl CsvRow for TrainLogRow {
    const FILE: &'static str = files::TRAIN_LOG;
    const HEADER: &'static [&'static str] = &[
        "model_id",
        "step",
        "tokens",
        "loss",
        "lr",
        "grad_norm",
        "tokens_per_sec",
    ];
}

impl CsvRow for ScoreRow {
    const FILE: &'static str = files::SCORES;
    const HEADER: &'static [&'static str] = &[
        "model_id", "step", "task", "mode", "shots", "metric", "value", "ci_lo", "ci_hi", "n",
        "chance",
    ];
}

impl CsvRow for SampleRow {
    const FILE: &'static str = files::SAMPLES;
    const HEADER: &'static [&'static str] = &[
        "model_id",
        "step",
        "task",
        "mode",
        "shots",
        "item_id",
        "prompt",
        "target",
        "output",
        "answer",
        "exact_match",
        "edit_similarity",
        "token_accuracy",
        "completion_logprob",
        "extraction_failed",
        "parrot",
        "completion_tokens",
    ];
    /// `completion_tokens` came later: files without it still read.
    const OPTIONAL_TAIL: usize = 1;
}

impl CsvRow for FitRow {
    const FILE: &'static str = files::FITS;
    const HEADER: &'static [&'static str] = &[
        "task",
        "mode",
        "shots",
        "metric",
        "x_axis",
        "shape",
        "intercept",
        "slope",
        "floor",
        "ceiling",
        "steepness",
        "midpoint",
        "aicc",
        "bic",
        "threshold_params",
        "threshold_lo",
        "threshold_hi",
        "breakthroughness",
        "preferred",
        "status",
        "n_points",
        "wrss",
        "threshold_method",
        "threshold_below",
        "threshold_above",
        "interval_noise",
        "cot_overtakes",
        "cot_overtakes_lo",
        "cot_overtakes_hi",
        "cot_overtakes_method",
        "cot_note",
        "mirage",
        "level",
        "interval_method",
        "verdict",
        "verdict_seeds",
        "note",
    ];
}

impl CsvRow for ClaimRow {
    const FILE: &'static str = files::CLAIMS;
    const HEADER: &'static [&'static str] = &[
        "claim",
        "task",
        "mode",
        "shots",
        "params_non_embedding",
        "value",
        "ci_lo",
        "ci_hi",
        "n_seeds",
    ];
}

impl CsvRow for ForecastRow {
    const FILE: &'static str = files::FORECAST;
    const HEADER: &'static [&'static str] = &[
        "task",
        "mode",
        "shots",
        "predictor",
        "basis",
        "status",
        "sizes_used",
        "largest_used",
        "level",
        "forecast",
        "forecast_lo",
        "forecast_hi",
        "measured",
        "measured_lo",
        "measured_hi",
        "error_decades",
        "covered",
        "interval_noise",
        "note",
    ];
}

impl CsvRow for TimeRow {
    const FILE: &'static str = files::TIMES;
    const HEADER: &'static [&'static str] = &[
        "model_id",
        "estimated_seconds",
        "train_seconds",
        "eval_seconds",
    ];
}

/// `arms.csv`: one row per evaluated task × mode × shots × arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmRow {
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    pub arm: String,
    /// The first arm of the config, which every shift is measured from.
    pub baseline: String,
    /// This arm's N* (exact match, non-embedding parameters) and its 95 %
    /// interval, as in its own `arms/<arm>/fits.csv`; empty when not located.
    pub n_star: Option<f64>,
    pub n_star_lo: Option<f64>,
    pub n_star_hi: Option<f64>,
    /// `bracket` or `bootstrap` (see `FitRow::interval_method`).
    pub n_star_method: String,
    /// log10(N*_arm) − log10(N*_baseline) in decades: negative means this
    /// arm's transition comes at a smaller size. Empty unless both N* are
    /// located with a bootstrap interval (not a bracket).
    pub shift: Option<f64>,
    /// 95 % interval of the shift in decades, or, when `shift_kind` is
    /// `bound`, the bounds the two brackets allow.
    pub shift_lo: Option<f64>,
    pub shift_hi: Option<f64>,
    /// `interval`, `bound`, `not_located` or `baseline`.
    pub shift_kind: String,
    /// The displacement control arm, or empty when the run has none.
    pub control: String,
    /// This arm's shift from the control's N*, by the rule of `shift`.
    pub control_shift: Option<f64>,
    pub control_shift_lo: Option<f64>,
    pub control_shift_hi: Option<f64>,
    /// `interval`, `bound`, `not_located`, `control` (this is the control),
    /// or empty without a control.
    pub control_shift_kind: String,
    /// The learning rate this arm trains at, when the config is known.
    pub lr: Option<f64>,
    /// This arm's verdict on the curve (`fits.csv` `verdict`).
    pub verdict: String,
    /// Whether arms with this arm's mixture but another learning rate give
    /// the curve another verdict.
    pub verdict_changes: bool,
    /// Why a value is missing.
    pub note: String,
}

impl CsvRow for ArmRow {
    const FILE: &'static str = files::ARMS;
    const HEADER: &'static [&'static str] = &[
        "task",
        "mode",
        "shots",
        "arm",
        "baseline",
        "n_star",
        "n_star_lo",
        "n_star_hi",
        "n_star_method",
        "shift",
        "shift_lo",
        "shift_hi",
        "shift_kind",
        "control",
        "control_shift",
        "control_shift_lo",
        "control_shift_hi",
        "control_shift_kind",
        "lr",
        "verdict",
        "verdict_changes",
        "note",
    ];
}

/// `arms_paired.csv`: each non-baseline arm against the baseline (and each
/// other arm against the control) at one size, on the identical evaluation
/// items (final checkpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmPairRow {
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    pub arm: String,
    /// The arm compared against: the baseline, or the control.
    pub baseline: String,
    pub params_non_embedding: u64,
    /// Exact match of the baseline and of the arm.
    pub value_baseline: f64,
    pub value_arm: f64,
    /// value_arm − value_baseline with its paired-bootstrap 95 % interval.
    pub diff: f64,
    pub diff_lo: f64,
    pub diff_hi: f64,
    /// Items scored by both with the same id, prompt and target.
    pub n_paired: u64,
    /// Two-sided exact McNemar test on the discordant items; empty when the
    /// items do not pair up.
    pub p_value: Option<f64>,
    /// `p_value` after Holm's adjustment over every paired test of the run
    /// (all arms, references, tasks, modes and sizes).
    pub p_holm: Option<f64>,
}

impl CsvRow for ArmPairRow {
    const FILE: &'static str = files::ARMS_PAIRED;
    const HEADER: &'static [&'static str] = &[
        "task",
        "mode",
        "shots",
        "arm",
        "baseline",
        "params_non_embedding",
        "value_baseline",
        "value_arm",
        "diff",
        "diff_lo",
        "diff_hi",
        "n_paired",
        "p_value",
        "p_holm",
    ];
}

/// One row of the comparison CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    pub metric: String,
    pub params_non_embedding: u64,
    pub value_a: f64,
    pub ci_lo_a: f64,
    pub ci_hi_a: f64,
    pub value_b: f64,
    pub ci_lo_b: f64,
    pub ci_hi_b: f64,
    /// value_b − value_a.
    pub diff: f64,
    /// 95 % interval of the difference: paired bootstrap when items pair up,
    /// otherwise from the two runs' intervals as independent normals.
    pub diff_lo: f64,
    pub diff_hi: f64,
    /// `mcnemar`, `paired_bootstrap`, or empty when no items pair up.
    pub test: String,
    pub p_value: Option<f64>,
    /// Item pairs (same item id, prompt and target in both runs).
    pub n_paired: u64,
}

impl CsvRow for CompareRow {
    const FILE: &'static str = files::COMPARE;
    const HEADER: &'static [&'static str] = &[
        "task",
        "mode",
        "shots",
        "metric",
        "params_non_embedding",
        "value_a",
        "ci_lo_a",
        "ci_hi_a",
        "value_b",
        "ci_lo_b",
        "ci_hi_b",
        "diff",
        "diff_lo",
        "diff_hi",
        "test",
        "p_value",
        "n_paired",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The declared header must be what serde writes, and rows must survive a
    /// write/read round trip bit for bit.
    fn check<T: CsvRow + PartialEq + std::fmt::Debug>(row: T) {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&row).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let header = text.lines().next().unwrap();
        assert_eq!(header, T::HEADER.join(","));
        let bytes = crate::write::csv_bytes(std::slice::from_ref(&row)).unwrap();
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), text);
        let back: Vec<T> = csv::Reader::from_reader(bytes.as_slice())
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![row]);
    }

    #[test]
    fn headers_match_serde_and_round_trip() {
        check(ModelRow {
            model_id: "L2-D64-H4-s0".into(),
            seed: 0,
            n_layer: 2,
            d_model: 64,
            n_head: 4,
            params: 110_000,
            params_non_embedding: 98_304,
            step: 1000,
            tokens: 3_072_000,
            flops: 6.0 * 98_304.0 * 3_072_000.0,
            train_loss: 0.1 + 0.2,
            status: ModelStatus::Diverged,
        });
        check(ClaimRow {
            claim: claim::COT_GAIN.into(),
            task: "hop".into(),
            mode: Mode::Cot,
            shots: 0,
            params_non_embedding: 98_304,
            value: 0.1 + 0.2,
            ci_lo: -0.05,
            ci_hi: 0.65,
            n_seeds: 3,
        });
        check(ForecastRow {
            task: "add".into(),
            mode: Mode::Direct,
            shots: 0,
            predictor: "logprob".into(),
            basis: "items".into(),
            status: "ok".into(),
            sizes_used: 4,
            largest_used: Some(100_096.0),
            level: 0.5,
            forecast: Some(180_000.5),
            forecast_lo: None,
            forecast_hi: Some(4.0e5),
            measured: 152_091.0,
            measured_lo: Some(100_096.0),
            measured_hi: Some(335_712.0),
            error_decades: Some(0.07),
            covered: Some(true),
            interval_noise: "items+seeds".into(),
            note: String::new(),
        });
        check(TimeRow {
            model_id: "L1-D8-H2-s0@lr-half".into(),
            estimated_seconds: None,
            train_seconds: 12.5,
            eval_seconds: 0.25,
        });
        check(TimeRow {
            model_id: "m".into(),
            estimated_seconds: Some(30.0),
            train_seconds: 0.1 + 0.2,
            eval_seconds: 1.0,
        });
        check(TrainLogRow {
            model_id: "m".into(),
            step: 1,
            tokens: 96,
            loss: 3.3,
            lr: 1e-3,
            grad_norm: 0.5,
            tokens_per_sec: 12345.6,
        });
        check(ScoreRow {
            model_id: "m".into(),
            step: 1,
            task: "add".into(),
            mode: Mode::Cot,
            shots: 2,
            metric: metric::EXACT_MATCH.into(),
            value: 0.25,
            ci_lo: 0.1,
            ci_hi: 0.4,
            n: 200,
            chance: 0.0,
        });
        check(SampleRow {
            model_id: "m".into(),
            step: 1,
            task: "word".into(),
            mode: Mode::Direct,
            shots: 0,
            item_id: "word-17".into(),
            prompt: "Ann has 3 eggs, \"a dozen\"?\nQ:".into(),
            target: "12".into(),
            output: "=12\n".into(),
            answer: "12".into(),
            exact_match: true,
            edit_similarity: 1.0,
            token_accuracy: 0.5,
            completion_logprob: -1.25,
            extraction_failed: false,
            parrot: Some(true),
            completion_tokens: Some(2),
        });
        check(FitRow {
            task: "add".into(),
            mode: Mode::Cot,
            shots: 0,
            metric: metric::EXACT_MATCH.into(),
            x_axis: x_axis::PARAMS.into(),
            shape: shape::SIGMOID.into(),
            intercept: None,
            slope: None,
            floor: Some(0.0),
            ceiling: Some(0.97),
            steepness: Some(6.5),
            midpoint: Some(5.2),
            aicc: Some(12.5),
            bic: Some(11.0),
            threshold_params: Some(158_489.3),
            threshold_lo: Some(120_000.0),
            threshold_hi: Some(200_000.0),
            breakthroughness: Some(100.0),
            preferred: true,
            status: "ok".into(),
            n_points: 6,
            wrss: Some(3.2),
            threshold_method: "interpolated".into(),
            threshold_below: Some(100_096.0),
            threshold_above: Some(335_712.0),
            interval_noise: "items".into(),
            cot_overtakes: Some(90_000.0),
            cot_overtakes_lo: None,
            cot_overtakes_hi: Some(1.5e5),
            cot_overtakes_method: "bootstrap".into(),
            cot_note: "overtakes".into(),
            mirage: "survives".into(),
            level: Some(0.5),
            interval_method: "bracket".into(),
            verdict: "emergent".into(),
            verdict_seeds: "2 of 3".into(),
            note: String::new(),
        });
    }
}
