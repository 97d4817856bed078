//! The run folder around the jobs: `config.toml` (refusing a different
//! config), `manifest.json`, and the top-level CSVs merged from the jobs.

use super::config::{self, SweepConfig};
use super::jobs::Job;
use super::layout::{self, job_dir, JobStatus};
use runfolder::schema::files;
use runfolder::{ModelRow, SampleRow, ScoreRow, TrainLogRow};
use serde::Serialize;
use std::fs;
use std::path::{Path, PathBuf};

/// The candle release `models` pins (`=0.11.1` in models/Cargo.toml; a
/// test keeps the two in step).
pub const CANDLE_VERSION: &str = "0.11.1";

/// The config stored in a run folder. Emerge wrote it, so a problem means
/// damage: one line with the first problem, not a list for an author.
pub fn read_config(run: &Path) -> Result<SweepConfig, String> {
    let path = run.join(files::CONFIG);
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    config::parse(&text, &path.display().to_string()).map_err(|e| {
        let first = e.problems.first().map_or(String::new(), |p| {
            let at = p.at.map_or(String::new(), |(l, c)| format!(":{l}:{c}"));
            let key = if p.key.is_empty() {
                String::new()
            } else {
                format!(" `{}`:", p.key)
            };
            format!("{at}:{key} {}", p.message.replace('\n', " "))
        });
        format!(
            "{}{first} (the run's stored config, {} problem{}: damaged? restore it, or delete it and rerun the command that started the run)",
            path.display(),
            e.problems.len(),
            if e.problems.len() == 1 { "" } else { "s" }
        )
    })
}

/// Create the run folder (or check an existing one) and store the config.
/// A folder holding a different config is refused, listing the keys.
pub fn prepare(run: &Path, cfg: &SweepConfig) -> Result<(), String> {
    let path = run.join(files::CONFIG);
    if path.is_file() {
        let old = read_config(run)?;
        let diff = config::differences(&old, cfg);
        if !diff.is_empty() {
            return Err(format!(
                "{} was started with a different config ({} key{} differ: {}); use another --name or the same config",
                run.display(),
                diff.len(),
                if diff.len() == 1 { "" } else { "s" },
                diff.join("; ")
            ));
        }
        return Ok(());
    }
    fs::create_dir_all(run.join(files::JOBS_DIR))
        .map_err(|e| format!("cannot create run folder {}: {e}", run.display()))?;
    runfolder::write_bytes_atomic(&path, cfg.to_toml().as_bytes()).map_err(|e| e.to_string())
}

/// Replace the stored config with one that only adds refined shapes (the
/// folder is locked by the caller; the write is atomic).
pub fn store_refined(run: &Path, cfg: &SweepConfig) -> Result<(), String> {
    let mut old = read_config(run)?;
    old.model.refined.clone_from(&cfg.model.refined);
    let diff = config::differences(&old, cfg);
    if !diff.is_empty() {
        return Err(format!(
            "internal: refinement would change more than model.refined: {}",
            diff.join("; ")
        ));
    }
    runfolder::write_bytes_atomic(&run.join(files::CONFIG), cfg.to_toml().as_bytes())
        .map_err(|e| e.to_string())
}

/// `manifest.json`: what ran where, rewritten at the start and the end of
/// every invocation (a shard writes its own view).
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub emerge_version: &'static str,
    pub git_revision: &'static str,
    pub candle_version: &'static str,
    pub device: String,
    /// `fast` or `candle` (`--kernels`).
    pub kernels: &'static str,
    pub threads: usize,
    pub seeds: Vec<u64>,
    pub host: String,
    pub shard: Option<String>,
    /// RFC 3339, UTC.
    pub started: String,
    pub finished: Option<String>,
    /// Timing: this invocation's seconds spent training and evaluating.
    pub train_seconds: f64,
    pub eval_seconds: f64,
    pub jobs_total: usize,
    pub jobs_done: usize,
    pub jobs_diverged: usize,
    /// An ablation's arms in the config's order, each with the learning
    /// rate it trains at; absent without arms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arms: Vec<ArmRecord>,
}

/// One arm as `manifest.json` records it.
#[derive(Debug, Serialize)]
pub struct ArmRecord {
    pub name: String,
    pub lr: f64,
    /// A displacement control (its mixture trains on filler).
    pub control: bool,
}

pub fn write_manifest(run: &Path, m: &Manifest) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(m).expect("manifest serializes");
    runfolder::write_bytes_atomic(&run.join(files::MANIFEST), &json).map_err(|e| e.to_string())
}

/// Status of every job that has finished (in any process or shard).
pub fn finished(run: &Path, jobs: &[Job]) -> Result<Vec<(usize, JobStatus)>, String> {
    let mut out = Vec::new();
    for j in jobs {
        if let Some(s) = layout::read_status(&job_dir(run, j))? {
            out.push((j.index, s));
        }
    }
    Ok(out)
}

/// Like [`finished`], but a job whose status cannot be read counts as
/// pending: the sweep moves such files aside for its own jobs, and another
/// shard's are for that shard (or the unsharded rerun) to repair.
pub fn finished_readable(run: &Path, jobs: &[Job]) -> Result<Vec<(usize, JobStatus)>, String> {
    Ok(jobs
        .iter()
        .filter_map(|j| match layout::read_status(&job_dir(run, j)) {
            Ok(Some(s)) if s.model_id == j.model_id => Some((j.index, s)),
            _ => None,
        })
        .collect())
}

/// Merge the finished jobs' rows into the top-level CSVs. Unfinished jobs
/// are left out, so the files only ever hold complete models.
pub fn merge(run: &Path, jobs: &[Job], done: &[(usize, JobStatus)]) -> Result<usize, String> {
    let dirs: Vec<PathBuf> = jobs
        .iter()
        .filter(|j| done.iter().any(|(i, _)| *i == j.index))
        .map(|j| job_dir(run, j))
        .collect();
    fn one<T: runfolder::CsvRow>(run: &Path, dirs: &[PathBuf]) -> Result<usize, String> {
        let inputs: Vec<PathBuf> = dirs.iter().map(|d| layout::rows_file::<T>(d)).collect();
        runfolder::read::merge_csv::<T>(&inputs, &run.join(T::FILE)).map_err(|e| e.to_string())
    }
    one::<TrainLogRow>(run, &dirs)?;
    one::<SampleRow>(run, &dirs)?;
    one::<ScoreRow>(run, &dirs)?;
    one::<ModelRow>(run, &dirs)?;
    Ok(dirs.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn candle_version_matches_the_pin_in_models() {
        let manifest = include_str!("../../../models/Cargo.toml");
        let pin = format!("\"={}\"", super::CANDLE_VERSION);
        let line = manifest
            .lines()
            .find(|l| l.starts_with("candle-core"))
            .expect("models depends on candle-core");
        assert!(line.contains(&pin), "{line} vs {pin}");
    }
}
