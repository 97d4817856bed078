//! A job's folder, `jobs/<model_id>/`, as files: what each is called, the
//! status record that says the job is over, and how those files are read.
//! Every part of the sweep that touches a job's files (the job itself,
//! damage repair, merging, `emerge status`) takes the names from here.
//!
//! ```text
//! jobs/<model_id>/
//!   status.json        present once the job is over (JobStatus)
//!   checkpoint/        the latest checkpoint (models::checkpoint)
//!   checkpoint.old/    the one before it, while a save is under way
//!   sums.json          length and CRC-32 of the CSVs below (sweep::damage)
//!   train_log.csv, samples.csv, scores.csv, models.csv
//!   timing.json        seconds trained and scored before an interruption
//!   estimate.json      the plan's estimate (sweep::progress)
//!   progress.json      the latest step, while training (sweep::progress)
//! ```

use super::jobs::Job;
use models::checkpoint::FileSum;
use runfolder::schema::files;
use runfolder::{CsvRow, ModelStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub const STATUS_FILE: &str = "status.json";
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The checkpoint a crash in the middle of a save leaves behind.
pub const OLD_CHECKPOINT_DIR: &str = "checkpoint.old";
pub const SUMS_FILE: &str = "sums.json";
pub const TIMING_FILE: &str = "timing.json";

/// `jobs/<model_id>` of `run`.
pub fn job_dir(run: &Path, job: &Job) -> PathBuf {
    run.join(files::JOBS_DIR).join(&job.model_id)
}

/// A job's own file of `T` rows (merged into the run's file of that name).
pub fn rows_file<T: CsvRow>(dir: &Path) -> PathBuf {
    dir.join(T::FILE)
}

/// `jobs/<model_id>/status.json`: present once the job is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    pub model_id: String,
    pub status: ModelStatus,
    /// Last step trained (the diverging step for a diverged job).
    pub step: u64,
    pub tokens: u64,
    /// Timing: seconds spent training and evaluating, over all attempts.
    pub train_seconds: f64,
    pub eval_seconds: f64,
    pub device: String,
    pub threads: usize,
    /// Length and CRC-32 of each file of `checkpoint/` when the job ended,
    /// which every later sweep checks (absent in statuses written before
    /// they were recorded; see `sweep::damage`).
    #[serde(default)]
    pub checkpoint: Option<BTreeMap<String, FileSum>>,
}

/// `bytes` of the status file `path`, parsed.
pub fn parse_status(path: &Path, bytes: &[u8]) -> Result<JobStatus, String> {
    serde_json::from_slice(bytes)
        .map_err(|e| format!("{}: not a job status file: {e}", path.display()))
}

/// The status of the job in `dir`; `None` while it is not over.
pub fn read_status(dir: &Path) -> Result<Option<JobStatus>, String> {
    let path = dir.join(STATUS_FILE);
    read_file(&path)?
        .map(|bytes| parse_status(&path, &bytes))
        .transpose()
}

/// The bytes of `path`, `None` when it does not exist. Any other failure to
/// read it (a permission, say) is an error that stops the sweep: only a file
/// that was read can be judged damaged.
pub fn read_file(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable(path, &e)),
    }
}

/// The one-line error for a file that exists but cannot be read.
pub fn unreadable(path: &Path, e: &dyn std::fmt::Display) -> String {
    format!(
        "{}: cannot be read: {e} (a read error, not damage: nothing was moved aside)",
        path.display()
    )
}

/// The time now (UTC, RFC 3339, to the second), as job records stamp it.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
