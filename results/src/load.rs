//! A run folder loaded and aggregated over seeds.
//!
//! Every CSV is first read row by row into the schema structs (so a bad cell
//! is reported as `file:line`), then polars joins `scores.csv` with
//! `models.csv` and averages over seeds. Only plain Rust types leave this
//! module: polars stays an implementation detail of the `results` crate.

use crate::error::{Error, Result};
use polars::prelude::*;
use runfolder::read::{read_csv, read_csv_optional};
use runfolder::schema::{
    files, CsvRow, CurveKey, Mode, ModelRow, ModelStatus, SampleRow, ScoreRow, TrainLogRow,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One point of a curve: a model size (and checkpoint) averaged over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    pub task: String,
    pub mode: Mode,
    pub shots: u32,
    pub metric: String,
    pub params_non_embedding: u64,
    /// Checkpoint step (the largest over seeds for final points).
    pub step: u64,
    /// Mean training FLOPs over seeds at this checkpoint.
    pub flops: f64,
    /// Mean over seeds of the metric.
    pub value: f64,
    /// Mean over seeds of the per-model 95 % interval bounds.
    pub ci_lo: f64,
    pub ci_hi: f64,
    /// Standard deviation across seeds (0 with one seed).
    pub seed_sd: f64,
    pub n_seeds: u32,
    /// Items scored, summed over seeds.
    pub n: u64,
    pub chance: f64,
}

impl CurvePoint {
    /// Standard error of the seed mean used as the fit weight: the interval's
    /// half-width (item noise) combined with the spread across seeds.
    pub fn sigma(&self) -> f64 {
        let item = (self.ci_hi - self.ci_lo) / (2.0 * 1.96);
        let k = self.n_seeds.max(1) as f64;
        ((item * item + self.seed_sd * self.seed_sd) / k).sqrt()
    }
}

impl CurvePoint {
    pub fn key(&self) -> CurveKey {
        CurveKey {
            task: self.task.clone(),
            mode: self.mode,
            shots: self.shots,
            metric: self.metric.clone(),
        }
    }
}

/// Everything in one run folder, validated, with seed-averaged curves.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    pub models: Vec<ModelRow>,
    pub scores: Vec<ScoreRow>,
    /// Empty when the run has no `samples.csv` (then no bootstrap, no paired tests).
    pub samples: Vec<SampleRow>,
    /// Empty when the run has no `train_log.csv`.
    pub train_log: Vec<TrainLogRow>,
    /// Model ids used (healthy, scored), sorted.
    pub used_models: Vec<String>,
    /// Final checkpoint step of each used model.
    pub final_step: BTreeMap<String, u64>,
    /// Final-checkpoint points, sorted by key then size.
    pub final_points: Vec<CurvePoint>,
    /// Every scored checkpoint, sorted by key, size, step.
    pub checkpoint_points: Vec<CurvePoint>,
    /// Human-readable notes: jobs left out and why, missing optional files.
    pub notes: Vec<String>,
    /// Where N* is read, as a fraction of the way from chance to 1: the
    /// run's `eval.threshold_level` (`config.toml`), else the default.
    pub threshold_level: f64,
}

/// One seed's final value at one size: (size, value, interval low, high).
pub type SeedPoint = (u64, f64, f64, f64);

/// Does `dir` look like a run folder at all?
pub fn is_run_folder(dir: &Path) -> bool {
    dir.is_dir()
        && [files::CONFIG, files::MANIFEST, files::MODELS]
            .iter()
            .any(|f| dir.join(f).is_file())
}

impl Run {
    /// Load and aggregate the run folder `dir`. A run of several ablation
    /// arms is refused: averaging their models as if they were seeds would
    /// describe no arm ([`Run::load_arm`] loads one).
    pub fn load(dir: &Path) -> Result<Run> {
        let run = Run::load_where(dir, |_| true)?;
        let arms: BTreeSet<&str> = run
            .models
            .iter()
            .filter_map(|m| runfolder::ids::arm_of(&m.model_id))
            .collect();
        if arms.len() > 1 {
            return Err(Error::invalid(format!(
                "{}: holds the ablation arms {}; each arm is analyzed and plotted on its own under {}/<arm>/ (`emerge analyze` and `emerge plot` do that), never averaged together",
                dir.display(),
                arms.into_iter().collect::<Vec<_>>().join(", "),
                runfolder::schema::files::ARMS_DIR
            )));
        }
        Ok(run)
    }

    /// The models of one ablation arm of `dir` (model ids ending in
    /// `@<arm>`) as a run of their own: every row of the other arms is left
    /// out, so curves, fits, bootstraps and paired tests see this arm only.
    pub fn load_arm(dir: &Path, arm: &str) -> Result<Run> {
        let mut run = Run::load_where(dir, |id| runfolder::ids::arm_of(id) == Some(arm))?;
        // Named after the arm (legends, titles): the folder its analysis goes to.
        run.dir = runfolder::ids::arm_dir(dir, arm);
        if run.models.is_empty() {
            return Err(Error::invalid(format!(
                "{}: no model of arm `{arm}` in {}",
                dir.display(),
                files::MODELS
            )));
        }
        Ok(run)
    }

    /// Load `dir` keeping only the rows of models whose id passes `keep`.
    fn load_where(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Run> {
        if !is_run_folder(dir) {
            return Err(Error::not_a_run_folder(dir.to_path_buf()));
        }
        let mut models: Vec<ModelRow> = read_csv(&dir.join(files::MODELS))?;
        let mut scores: Vec<ScoreRow> = read_csv(&dir.join(files::SCORES))?;
        let mut notes = Vec::new();
        let mut samples = read_csv_optional::<SampleRow>(&dir.join(files::SAMPLES))?
            .unwrap_or_else(|| {
                notes.push(format!(
                    "{}: missing, no item-level bootstrap",
                    files::SAMPLES
                ));
                Vec::new()
            });
        let mut train_log =
            read_csv_optional::<TrainLogRow>(&dir.join(files::TRAIN_LOG))?.unwrap_or_default();
        models.retain(|r| keep(&r.model_id));
        scores.retain(|r| keep(&r.model_id));
        samples.retain(|r| keep(&r.model_id));
        train_log.retain(|r| keep(&r.model_id));

        let (used, final_step) = select_models(&models, &scores, &mut notes);
        let threshold_level = threshold_level(dir)?;
        let mut run = Run {
            dir: dir.to_path_buf(),
            models,
            scores,
            samples,
            train_log,
            used_models: used.into_iter().collect(),
            final_step,
            final_points: Vec::new(),
            checkpoint_points: Vec::new(),
            notes,
            threshold_level,
        };
        if !run.used_models.is_empty() {
            run.final_points = aggregate(dir, &run.final_step, true)?;
            run.checkpoint_points = aggregate(dir, &run.final_step, false)?;
        }
        Ok(run)
    }

    /// An error unless some usable model has scores: an empty task
    /// selection, or a sweep whose every job is unfinished or diverged.
    pub fn require_scores(&self) -> Result<()> {
        if self.final_points.is_empty() {
            return Err(Error::invalid(format!(
                "{}: no scores for any usable model (empty task selection, or every job unfinished/diverged)",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// A short name for tables and legends: the folder's name.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.dir.display().to_string())
    }

    /// Final points grouped into curves (BTreeMap: deterministic order).
    pub fn final_curves(&self) -> BTreeMap<CurveKey, Vec<CurvePoint>> {
        group(&self.final_points)
    }

    /// Checkpoint points grouped into curves.
    pub fn checkpoint_curves(&self) -> BTreeMap<CurveKey, Vec<CurvePoint>> {
        group(&self.checkpoint_points)
    }

    /// Distinct model sizes (non-embedding parameters) among used models.
    pub fn sizes(&self) -> BTreeSet<u64> {
        self.models
            .iter()
            .filter(|m| self.final_step.contains_key(&m.model_id))
            .map(|m| m.params_non_embedding)
            .collect()
    }

    /// Tasks present in the final points.
    pub fn tasks(&self) -> BTreeSet<String> {
        self.final_points.iter().map(|p| p.task.clone()).collect()
    }

    /// Each seed's own final curve of every (task, mode, shots, metric):
    /// per seed, its points by size ascending (used models only).
    pub fn seed_curves(&self) -> BTreeMap<CurveKey, BTreeMap<u64, Vec<SeedPoint>>> {
        let model: BTreeMap<&str, &ModelRow> = self
            .models
            .iter()
            .filter(|m| self.final_step.get(&m.model_id) == Some(&m.step))
            .map(|m| (m.model_id.as_str(), m))
            .collect();
        let mut out: BTreeMap<CurveKey, BTreeMap<u64, Vec<SeedPoint>>> = BTreeMap::new();
        for s in &self.scores {
            let Some(m) = model.get(s.model_id.as_str()) else {
                continue;
            };
            if s.step != m.step || !s.value.is_finite() {
                continue;
            }
            let key = CurveKey {
                task: s.task.clone(),
                mode: s.mode,
                shots: s.shots,
                metric: s.metric.clone(),
            };
            out.entry(key)
                .or_default()
                .entry(m.seed)
                .or_default()
                .push((m.params_non_embedding, s.value, s.ci_lo, s.ci_hi));
        }
        for seeds in out.values_mut() {
            for pts in seeds.values_mut() {
                pts.sort_by_key(|p| p.0);
            }
        }
        out
    }

    /// Size (non-embedding parameters) of every model id.
    pub fn size_of(&self) -> BTreeMap<String, u64> {
        self.models
            .iter()
            .map(|m| (m.model_id.clone(), m.params_non_embedding))
            .collect()
    }
}

/// `eval.threshold_level` of the run's `config.toml`: a fraction strictly
/// between 0 and 1; the default when the file or the key is absent.
fn threshold_level(dir: &Path) -> Result<f64> {
    const KEY: &str = "eval.threshold_level";
    let path = dir.join(files::CONFIG);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(crate::threshold::DEFAULT_LEVEL_FRACTION)
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| Error::invalid(format!("{}: {}", path.display(), e.message())))?;
    let Some(v) = table.get("eval").and_then(|e| e.get("threshold_level")) else {
        return Ok(crate::threshold::DEFAULT_LEVEL_FRACTION);
    };
    match v.as_float() {
        Some(f) if f > 0.0 && f < 1.0 => Ok(f),
        _ => Err(Error::invalid(format!(
            "{}: {KEY} = {v}: must be a number strictly between 0 and 1",
            path.display()
        ))),
    }
}

fn group(points: &[CurvePoint]) -> BTreeMap<CurveKey, Vec<CurvePoint>> {
    let mut out: BTreeMap<CurveKey, Vec<CurvePoint>> = BTreeMap::new();
    for p in points {
        out.entry(p.key()).or_default().push(p.clone());
    }
    out
}

/// Decide which models enter the curves: healthy ones with scores. Diverged,
/// unscored and unknown models are noted and left out, never an error, so a
/// partial or half-failed sweep still gives curves.
fn select_models(
    models: &[ModelRow],
    scores: &[ScoreRow],
    notes: &mut Vec<String>,
) -> (BTreeSet<String>, BTreeMap<String, u64>) {
    let known: BTreeSet<&str> = models.iter().map(|m| m.model_id.as_str()).collect();
    let diverged: BTreeSet<&str> = models
        .iter()
        .filter(|m| m.status == ModelStatus::Diverged)
        .map(|m| m.model_id.as_str())
        .collect();
    let mut last_scored: BTreeMap<&str, u64> = BTreeMap::new();
    let mut unknown: BTreeSet<&str> = BTreeSet::new();
    for s in scores {
        if !known.contains(s.model_id.as_str()) {
            unknown.insert(&s.model_id);
            continue;
        }
        let e = last_scored.entry(&s.model_id).or_insert(s.step);
        *e = (*e).max(s.step);
    }
    for id in &diverged {
        notes.push(format!("{id}: diverged, left out"));
    }
    for id in &unknown {
        notes.push(format!(
            "{id}: in {} but not in {}, left out",
            files::SCORES,
            files::MODELS
        ));
    }
    for id in &known {
        if !diverged.contains(id) && !last_scored.contains_key(id) {
            notes.push(format!("{id}: no scores yet (unfinished job?), left out"));
        }
    }
    let mut used = BTreeSet::new();
    let mut final_step = BTreeMap::new();
    for (id, step) in last_scored {
        if !diverged.contains(id) {
            used.insert(id.to_string());
            final_step.insert(id.to_string(), step);
        }
    }
    (used, final_step)
}

/// A lazy frame over a CSV with the columns of `R::HEADER` (the schema's one
/// list of names), typed by `types` in the same order.
fn scan<R: CsvRow>(path: &Path, types: &[DataType]) -> Result<LazyFrame> {
    assert_eq!(
        R::HEADER.len(),
        types.len(),
        "{}: a type per column",
        R::FILE
    );
    let schema = Schema::from_iter(
        R::HEADER
            .iter()
            .zip(types)
            .map(|(n, t)| Field::new((*n).into(), t.clone())),
    );
    let p = PlRefPath::try_from_path(path)?;
    Ok(LazyCsvReader::new(p)
        .with_has_header(true)
        .with_schema(Some(Arc::new(schema)))
        .finish()?)
}

fn scores_frame(dir: &Path) -> Result<LazyFrame> {
    use DataType::*;
    // model_id, step, task, mode, shots, metric, value, ci_lo, ci_hi, n, chance
    scan::<ScoreRow>(
        &dir.join(files::SCORES),
        &[
            String, UInt64, String, String, UInt32, String, Float64, Float64, Float64, UInt64,
            Float64,
        ],
    )
}

fn models_frame(dir: &Path) -> Result<LazyFrame> {
    use DataType::*;
    // model_id, seed, n_layer, d_model, n_head, params, params_non_embedding,
    // step, tokens, flops, train_loss, status
    scan::<ModelRow>(
        &dir.join(files::MODELS),
        &[
            String, UInt64, UInt32, UInt32, UInt32, UInt64, UInt64, UInt64, UInt64, Float64,
            Float64, String,
        ],
    )
}

/// Join scores with models and average over seeds with polars. `finals`:
/// only each model's final step, grouped by size; otherwise every checkpoint,
/// grouped by size and step.
fn aggregate(
    dir: &Path,
    final_step: &BTreeMap<String, u64>,
    finals: bool,
) -> Result<Vec<CurvePoint>> {
    let ids: Vec<&str> = final_step.keys().map(|s| s.as_str()).collect();
    let steps: Vec<u64> = final_step.values().copied().collect();
    let keep = DataFrame::new_infer_height(vec![
        Column::new("model_id".into(), ids),
        Column::new("final_step".into(), steps),
    ])?
    .lazy();
    let models = models_frame(dir)?.select([
        col("model_id"),
        col("step"),
        col("params_non_embedding"),
        col("flops"),
    ]);
    let joined = scores_frame(dir)?
        .join(
            models,
            [col("model_id"), col("step")],
            [col("model_id"), col("step")],
            JoinArgs::new(JoinType::Inner),
        )
        .join(
            keep,
            [col("model_id")],
            [col("model_id")],
            JoinArgs::new(JoinType::Inner),
        );
    let mut keys = vec!["task", "mode", "shots", "metric", "params_non_embedding"];
    let joined = if finals {
        joined.filter(col("step").eq(col("final_step")))
    } else {
        keys.push("step");
        joined
    };
    let key_exprs: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
    let mut aggs = vec![
        col("value").mean().alias("value"),
        col("value").std(1).fill_null(lit(0.0)).alias("seed_sd"),
        col("ci_lo").mean().alias("ci_lo"),
        col("ci_hi").mean().alias("ci_hi"),
        col("chance").mean().alias("chance"),
        col("n").sum().alias("n"),
        col("flops").mean().alias("flops"),
        col("model_id")
            .count()
            .cast(DataType::UInt32)
            .alias("n_seeds"),
    ];
    if finals {
        aggs.push(col("step").max().alias("step"));
    }
    let df = joined
        .group_by(key_exprs)
        .agg(aggs)
        .sort(keys.clone(), SortMultipleOptions::default())
        .collect()?;
    to_points(&df)
}

fn to_points(df: &DataFrame) -> Result<Vec<CurvePoint>> {
    let task = df.column("task")?.str()?;
    let mode = df.column("mode")?.str()?;
    let shots = df.column("shots")?.u32()?;
    let metric = df.column("metric")?.str()?;
    let size = df.column("params_non_embedding")?.u64()?;
    let step = df.column("step")?.u64()?;
    let f = |name: &str| -> Result<Float64Chunked> { Ok(df.column(name)?.f64()?.clone()) };
    let (value, seed_sd, ci_lo, ci_hi, chance, flops) = (
        f("value")?,
        f("seed_sd")?,
        f("ci_lo")?,
        f("ci_hi")?,
        f("chance")?,
        f("flops")?,
    );
    let n = df.column("n")?.u64()?;
    let n_seeds = df.column("n_seeds")?.u32()?;
    let missing = |what: &str| Error::invalid(format!("aggregation produced a null {what}"));
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mode_s = mode.get(i).ok_or_else(|| missing("mode"))?;
        out.push(CurvePoint {
            task: task.get(i).ok_or_else(|| missing("task"))?.to_string(),
            mode: Mode::parse(mode_s)
                .ok_or_else(|| Error::invalid(format!("unknown mode `{mode_s}`")))?,
            shots: shots.get(i).ok_or_else(|| missing("shots"))?,
            metric: metric.get(i).ok_or_else(|| missing("metric"))?.to_string(),
            params_non_embedding: size.get(i).ok_or_else(|| missing("size"))?,
            step: step.get(i).ok_or_else(|| missing("step"))?,
            flops: flops.get(i).unwrap_or(f64::NAN),
            value: value.get(i).ok_or_else(|| missing("value"))?,
            ci_lo: ci_lo.get(i).unwrap_or(f64::NAN),
            ci_hi: ci_hi.get(i).unwrap_or(f64::NAN),
            seed_sd: seed_sd.get(i).unwrap_or(0.0),
            n_seeds: n_seeds.get(i).unwrap_or(1),
            n: n.get(i).unwrap_or(0),
            chance: chance.get(i).unwrap_or(0.0),
        });
    }
    Ok(out)
}
