//! `emerge runs DIR...`: one tidy CSV over any number of run folders, so
//! sweeps from different configs and machines can be compared in one frame.
//!
//! One `score` row per (run, config hash, task, mode, shots, metric, size,
//! seed, step) with its value and interval, and one `fit` row per row of each
//! run's `fits.csv` (shape, N*, its interval, ...). A run with ablation arms
//! has one `fits.csv` per arm (`arms/<arm>/fits.csv`); the `arm` column says
//! which arm a score or fit row belongs to, and is empty for ordinary runs.
//! `fits.csv` is read through [`FitRow`] and its columns are taken from
//! [`FitRow::HEADER`], so a column added to the fits appears here without a
//! change to this module.
//! polars joins scores with models and sorts; only plain Rust types leave.

use crate::error::{Error, Result};
use crate::load::is_run_folder;
use polars::prelude::*;
use runfolder::ids::{arm_dir, arm_of};
use runfolder::read::{read_csv, read_csv_optional};
use runfolder::schema::{files, CsvRow, FitRow, ModelRow, ScoreRow};
use std::path::{Path, PathBuf};

/// The leading columns, shared by score and fit rows where they apply.
pub const LEADING: [&str; 21] = [
    "row",
    "run",
    "run_dir",
    "config_hash",
    "task",
    "mode",
    "shots",
    "metric",
    "params_non_embedding",
    "seed",
    "step",
    "model_id",
    "arm",
    "value",
    "ci_lo",
    "ci_hi",
    "n",
    "chance",
    "params",
    "tokens",
    "flops",
];

/// What [`write_runs_table`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSummary {
    /// The run folders, in the order of their rows.
    pub runs: Vec<PathBuf>,
    pub score_rows: usize,
    pub fit_rows: usize,
    /// Runs without `fits.csv` (no fit rows; `emerge analyze` writes it).
    pub notes: Vec<String>,
}

/// A stable 64-bit FNV-1a, printed as 16 hex digits (std's hasher is not
/// stable across Rust releases, and the hash must match between machines).
fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Hash of a stored `config.toml` without what does not change the
/// experiment: the `[device]` section (which may differ between machines
/// and resumes) and `run.name`. Two runs of one config under other names or
/// on other machines share it. Run folders store the config in emerge's own
/// canonical layout (one key per line, sections in a fixed order), so this
/// works line by line.
pub fn config_hash(toml_text: &str) -> String {
    let mut section = String::new();
    let mut kept = String::new();
    for line in toml_text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').to_string();
        }
        let device = section == "device" || section.starts_with("device.");
        let name = section == "run" && t.split('=').next().map(str::trim) == Some("name");
        if !device && !name && !t.is_empty() {
            kept.push_str(t);
            kept.push('\n');
        }
    }
    fnv1a(kept.as_bytes())
}

/// The run folders `dirs` name: each a run folder, or a folder whose
/// subfolders are run folders (e.g. `runs/`), which stands for those.
pub fn expand(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in dirs {
        if is_run_folder(d) {
            out.push(d.clone());
            continue;
        }
        let mut inner: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|_| Error::not_a_run_folder(d.clone()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_run_folder(p))
            .collect();
        if inner.is_empty() {
            return Err(Error::not_a_run_folder(d.clone()));
        }
        inner.sort();
        out.append(&mut inner);
    }
    Ok(out)
}

/// Per run: its identity columns, repeated over `n` rows.
fn identity(run_index: u32, dir: &Path, hash: &Option<String>, n: usize) -> Vec<Column> {
    let name = dir
        .file_name()
        .map_or_else(|| dir.display().to_string(), |s| s.to_string_lossy().into());
    vec![
        Column::new("run_index".into(), vec![run_index; n]),
        Column::new("run".into(), vec![name; n]),
        Column::new("run_dir".into(), vec![dir.display().to_string(); n]),
        Column::new("config_hash".into(), vec![hash.clone(); n]),
    ]
}

fn score_frame(
    run_index: u32,
    dir: &Path,
    hash: &Option<String>,
    scores: &[ScoreRow],
    models: &[ModelRow],
) -> Result<LazyFrame> {
    let n = scores.len();
    let mut cols = identity(run_index, dir, hash, n);
    cols.push(Column::new("row".into(), vec!["score"; n]));
    macro_rules! take {
        ($rows:expr, $name:literal, $f:expr) => {
            Column::new($name.into(), $rows.iter().map($f).collect::<Vec<_>>())
        };
    }
    cols.extend([
        take!(scores, "model_id", |r| r.model_id.as_str()),
        take!(scores, "arm", |r| arm_of(&r.model_id)),
        take!(scores, "step", |r| r.step),
        take!(scores, "task", |r| r.task.as_str()),
        take!(scores, "mode", |r| r.mode.as_str()),
        take!(scores, "shots", |r| r.shots),
        take!(scores, "metric", |r| r.metric.as_str()),
        take!(scores, "value", |r| r.value),
        take!(scores, "ci_lo", |r| r.ci_lo),
        take!(scores, "ci_hi", |r| r.ci_hi),
        take!(scores, "n", |r| r.n),
        take!(scores, "chance", |r| r.chance),
    ]);
    let models = DataFrame::new_infer_height(vec![
        take!(models, "model_id", |r| r.model_id.as_str()),
        take!(models, "step", |r| r.step),
        take!(models, "seed", |r| r.seed),
        take!(models, "params", |r| r.params),
        take!(models, "params_non_embedding", |r| r.params_non_embedding),
        take!(models, "tokens", |r| r.tokens),
        take!(models, "flops", |r| r.flops),
    ])?;
    let keys = [col("model_id"), col("step")];
    // Inner: a score row of a model missing from models.csv has no size,
    // so it cannot sit on any curve (`Run::load` leaves it out too).
    Ok(DataFrame::new_infer_height(cols)?.lazy().join(
        models.lazy(),
        keys.clone(),
        keys,
        JoinArgs::new(JoinType::Inner),
    ))
}

/// The fit rows as text columns, exactly as `fits.csv` spells them (after a
/// round trip through [`FitRow`], which checks every cell); `arm` is the
/// arm whose `fits.csv` they come from, if any.
fn fit_frame(
    run_index: u32,
    dir: &Path,
    hash: &Option<String>,
    arm: Option<&str>,
    fits: &[FitRow],
) -> Result<LazyFrame> {
    let bytes =
        runfolder::write::csv_bytes(fits).map_err(|e| Error::io(dir.join(files::FITS), e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let records: Vec<csv::StringRecord> = rdr
        .records()
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::invalid(format!("{}: {e}", dir.join(files::FITS).display())))?;
    let n = records.len();
    let mut cols = identity(run_index, dir, hash, n);
    cols.push(Column::new("row".into(), vec!["fit"; n]));
    cols.push(Column::new("arm".into(), vec![arm; n]));
    for (i, name) in FitRow::HEADER.iter().enumerate() {
        let vals: Vec<Option<&str>> = records
            .iter()
            .map(|r| r.get(i).filter(|v| !v.is_empty()))
            .collect();
        cols.push(Column::new((*name).into(), vals));
    }
    Ok(DataFrame::new_infer_height(cols)?
        .lazy()
        .with_column(col("shots").cast(DataType::UInt32)))
}

/// Every column of the table: [`LEADING`], then the fit columns it lacks.
pub fn columns() -> Vec<&'static str> {
    let mut out: Vec<&str> = LEADING.to_vec();
    out.extend(FitRow::HEADER.iter().filter(|c| !LEADING.contains(c)));
    out
}

/// `frame` with exactly `names` (in order), missing ones null of `dtype`'s type.
fn aligned(frame: LazyFrame, names: &[&str], dtypes: &[(String, DataType)]) -> Result<LazyFrame> {
    let have = frame.clone().collect_schema()?;
    let exprs: Vec<Expr> = names
        .iter()
        .map(|n| {
            if have.contains(n) {
                col(*n)
            } else {
                let t = dtypes
                    .iter()
                    .find(|(c, _)| c == n)
                    .map_or(DataType::String, |(_, t)| t.clone());
                lit(NULL).cast(t).alias(*n)
            }
        })
        .collect();
    Ok(frame.select(exprs))
}

/// Build the table over `dirs` (see [`expand`]) and write it whole to `out`.
pub fn write_runs_table(dirs: &[PathBuf], out: &Path) -> Result<TableSummary> {
    let mut notes = Vec::new();
    // A run named twice (`runs A A`, or `runs runs/ runs/A`) is one run.
    let mut seen = std::collections::BTreeSet::new();
    let runs: Vec<PathBuf> = expand(dirs)?
        .into_iter()
        .filter(|d| {
            let first = seen.insert(d.canonicalize().unwrap_or_else(|_| d.clone()));
            if !first {
                notes.push(format!(
                    "{}: named more than once; its rows are in the table once",
                    d.display()
                ));
            }
            first
        })
        .collect();
    let mut frames = Vec::new();
    let mut summary = TableSummary {
        runs: runs.clone(),
        score_rows: 0,
        fit_rows: 0,
        notes,
    };
    for (i, dir) in runs.iter().enumerate() {
        let models: Vec<ModelRow> = read_csv(&dir.join(files::MODELS))?;
        let scores: Vec<ScoreRow> = read_csv(&dir.join(files::SCORES))?;
        let hash = match std::fs::read_to_string(dir.join(files::CONFIG)) {
            Ok(t) => Some(config_hash(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(dir.join(files::CONFIG), e)),
        };
        frames.push(score_frame(i as u32, dir, &hash, &scores, &models)?);
        // An ordinary run has one fits.csv; a run with arms one per arm.
        let arms: std::collections::BTreeSet<&str> =
            models.iter().filter_map(|m| arm_of(&m.model_id)).collect();
        let sources: Vec<(Option<&str>, PathBuf)> = if arms.is_empty() {
            vec![(None, dir.clone())]
        } else {
            arms.iter().map(|a| (Some(*a), arm_dir(dir, a))).collect()
        };
        for (arm, from) in sources {
            match read_csv_optional::<FitRow>(&from.join(files::FITS))? {
                Some(f) => {
                    summary.fit_rows += f.len();
                    frames.push(fit_frame(i as u32, dir, &hash, arm, &f)?);
                }
                None => summary.notes.push(format!(
                    "{}: no {} (run `emerge analyze --run {}`): scores only",
                    from.display(),
                    files::FITS,
                    dir.display()
                )),
            }
        }
    }
    let dtypes: Vec<(String, DataType)> = {
        let first = frames[0].clone().collect_schema()?;
        first
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect()
    };
    let mut names = vec!["run_index"];
    names.extend(columns());
    let aligned: Vec<LazyFrame> = frames
        .into_iter()
        .map(|f| aligned(f, &names, &dtypes))
        .collect::<Result<_>>()?;
    let sort_by = [
        "run_index",
        "row",
        "arm",
        "task",
        "mode",
        "shots",
        "metric",
        "x_axis",
        "shape",
        "params_non_embedding",
        "seed",
        "step",
    ];
    let mut df = concat(aligned, UnionArgs::default())?
        .sort(
            sort_by,
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .select(names[1..].iter().map(|n| col(*n)).collect::<Vec<_>>())
        .collect()?;
    summary.score_rows = df.height() - summary.fit_rows;
    runfolder::write::write_atomic(out, |w| {
        CsvWriter::new(w)
            .include_header(true)
            .finish(&mut df)
            .map_err(std::io::Error::other)
    })
    .map_err(|e| Error::io(out, e))?;
    Ok(summary)
}
