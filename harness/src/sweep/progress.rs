//! What a job says about itself while it runs, for `emerge status` and the
//! morning report: the plan's estimate of its time (`estimate.json`, written
//! once, when a sweep first plans the job: `plan::record_estimates`) and its latest step
//! (`progress.json`, rewritten every few seconds while it trains).
//!
//! Both are advisory. Results never read them, and a run folder without them
//! (an older run, or a job that never started) is still whole: `status.json`
//! stays the one record that a job is over.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

pub const ESTIMATE_FILE: &str = "estimate.json";
pub const PROGRESS_FILE: &str = "progress.json";

/// The plan's estimate of one job, as first planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEstimate {
    pub train_seconds: f64,
    pub eval_seconds: f64,
    /// When the plan was made (UTC, RFC 3339).
    pub planned: String,
}

impl JobEstimate {
    pub fn total(&self) -> f64 {
        self.train_seconds + self.eval_seconds
    }
}

/// A running job's latest logged step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub step: u64,
    pub total_steps: u64,
    /// Training loss and throughput over the last log window.
    pub loss: f64,
    pub tokens_per_sec: f64,
    /// Seconds of training and scoring so far, over every attempt.
    pub seconds: f64,
    /// When this was written (UTC, RFC 3339).
    pub updated: String,
}

/// Read a job's JSON record; `None` when absent or unreadable (a reader
/// racing the writer's rename sees the old file or the new one, never a
/// torn one, but an older run may simply not have it).
pub fn read<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Option<T> {
    std::fs::read(dir.join(name))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// How often a training job rewrites `progress.json`: often enough for a
/// person looking in, rarely enough to cost nothing next to training.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Writes `progress.json` at most every [`PROGRESS_EVERY`].
#[derive(Default)]
pub struct ProgressWriter {
    last: Option<Instant>,
}

impl ProgressWriter {
    /// Write `p` unless the last write was under [`PROGRESS_EVERY`] ago. Not
    /// synced: it is advisory, and a crash that loses it loses only the last
    /// few seconds' step.
    pub fn offer(&mut self, dir: &Path, p: impl FnOnce() -> Progress) {
        if self.last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        let path = dir.join(PROGRESS_FILE);
        let tmp = runfolder::write::temp_path(&path);
        let json = serde_json::to_vec_pretty(&p()).expect("progress serializes");
        // A failed write is not the job's failure: the next one may succeed.
        if std::fs::write(&tmp, json).is_err() || std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
