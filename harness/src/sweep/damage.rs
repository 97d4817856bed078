//! Damaged job state: a truncated, corrupt or foreign checkpoint, or a torn
//! per-job CSV or `status.json`, costs that job's progress at most, never
//! the night. Each damaged file gets one warning naming it, is moved aside
//! (`<name>.damaged`, kept for inspection) and the job falls back to
//! `checkpoint.old` if that loads, otherwise restarts from step 0.
//!
//! A torn CSV can still parse (cut at a line end, or inside the last
//! number), so [`Rows`](super::job) writes `sums.json` before its CSVs: the
//! length and CRC-32 of every file it is about to write ("current") and of
//! the file each one replaces ("previous"). A kill between those writes
//! leaves every CSV equal to one of the two, so a file matching neither was
//! damaged after it was written. Folders from before `sums.json` existed get
//! the parse check only.

use super::job::{self, CHECKPOINT_DIR, STATUS_FILE};
use super::jobs::Job;
use results::read::read_csv;
use results::{CsvRow, ModelRow, SampleRow, ScoreRow, TrainLogRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub const SUMS_FILE: &str = "sums.json";
/// The checkpoint a crash in the middle of a save leaves behind.
pub const OLD_CHECKPOINT_DIR: &str = "checkpoint.old";
const ASIDE: &str = ".damaged";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sum {
    pub bytes: u64,
    pub crc32: u32,
}

impl Sum {
    pub fn of(bytes: &[u8]) -> Sum {
        Sum {
            bytes: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        }
    }
}

/// `jobs/<model_id>/sums.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Sums {
    pub current: BTreeMap<String, Sum>,
    pub previous: BTreeMap<String, Sum>,
}

impl Sums {
    fn accepts(&self, name: &str, sum: Sum) -> bool {
        self.current.get(name) == Some(&sum) || self.previous.get(name) == Some(&sum)
    }
}

/// Write `files` (name, contents) into `dir`, each whole, after recording
/// their sums and those of the files they replace (see the module docs).
pub fn write_summed(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<(), String> {
    let mut sums = Sums::default();
    for (name, bytes) in files {
        sums.current.insert(name.to_string(), Sum::of(bytes));
        if let Ok(old) = fs::read(dir.join(name)) {
            sums.previous.insert(name.to_string(), Sum::of(&old));
        }
    }
    let json = serde_json::to_vec_pretty(&sums).expect("sums serialize");
    results::write_bytes_atomic(&dir.join(SUMS_FILE), &json).map_err(|e| e.to_string())?;
    for (name, bytes) in files {
        results::write_bytes_atomic(&dir.join(name), bytes).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Rename `path` to `<path>.damaged` (or `.damaged.2`, ... if an earlier one
/// is still there) and return the new path.
pub fn move_aside(path: &Path) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut n = 1;
    let to = loop {
        let suffix = if n == 1 {
            ASIDE.to_string()
        } else {
            format!("{ASIDE}.{n}")
        };
        let to = path.with_file_name(format!("{name}{suffix}"));
        if !to.exists() {
            break to;
        }
        n += 1;
    };
    fs::rename(path, &to).map_err(|e| {
        format!(
            "{}: damaged, and moving it to {} failed: {e}",
            path.display(),
            to.display()
        )
    })?;
    Ok(to)
}

/// Print the warning for one damaged file and return the summary's line.
pub fn report(run_dir: &Path, damaged: &Path, reason: &str, aside: &Path, then: &str) -> String {
    let to = aside.file_name().unwrap_or_default().to_string_lossy();
    crate::output::esay(&format!(
        "emerge: warning: {reason}; moved aside to {to}; {then}\n"
    ));
    let rel = damaged.strip_prefix(run_dir).unwrap_or(damaged);
    format!("{} ({then})", rel.display())
}

/// Why `dir/T::FILE` cannot be kept, if it cannot.
fn csv_problem<T: CsvRow>(dir: &Path, sums: Option<&Sums>, expected: bool) -> Option<String> {
    let path = dir.join(T::FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Rows are written before the checkpoint and the status: with
            // either present, a missing file lost the rows up to it.
            return expected.then(|| {
                format!(
                    "{}: missing, but the job has a checkpoint or a status",
                    path.display()
                )
            });
        }
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    if let Some(s) = sums {
        let sum = Sum::of(&bytes);
        if !s.accepts(T::FILE, sum) {
            return Some(format!(
                "{}: {} bytes with CRC-32 {:08x}, which the job never wrote (torn or edited)",
                path.display(),
                sum.bytes,
                sum.crc32
            ));
        }
    }
    read_csv::<T>(&path).err().map(|e| e.to_string())
}

/// Check a job's status and row files before the sweep decides what to run.
/// Damaged files are moved aside with a warning; if rows were lost the job
/// restarts from step 0 (its status and checkpoints go, since they stand for
/// rows that no longer exist). Returns the summary's lines.
pub fn recover_rows(run_dir: &Path, job: &Job, dir: &Path) -> Result<Vec<String>, String> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut notes = Vec::new();
    let status = dir.join(STATUS_FILE);
    let finished = match job::read_status(dir) {
        Ok(Some(s)) if s.model_id == job.model_id => true,
        Ok(None) => false,
        other => {
            let reason = match other {
                Ok(Some(s)) => format!(
                    "{}: the status of {}, not {}",
                    status.display(),
                    s.model_id,
                    job.model_id
                ),
                Err(e) => e,
                Ok(None) => unreachable!(),
            };
            let aside = move_aside(&status)?;
            // The rows and the final checkpoint are still there (they are
            // checked below): the job resumes from its last checkpoint and
            // writes its status again.
            notes.push(report(
                run_dir,
                &status,
                &reason,
                &aside,
                "the job resumes from its last checkpoint",
            ));
            false
        }
    };
    let expected = finished || models::Trainer::checkpoint_exists(&dir.join(CHECKPOINT_DIR));
    let sums_path = dir.join(SUMS_FILE);
    let mut damaged: Vec<(PathBuf, String)> = Vec::new();
    let sums = match fs::read(&sums_path) {
        Ok(b) => match serde_json::from_slice::<Sums>(&b) {
            Ok(s) => Some(s),
            Err(e) => {
                damaged.push((
                    sums_path.clone(),
                    format!("{}: not a sums file: {e}", sums_path.display()),
                ));
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", sums_path.display())),
    };
    let s = sums.as_ref();
    for (name, problem) in [
        (
            TrainLogRow::FILE,
            csv_problem::<TrainLogRow>(dir, s, expected),
        ),
        (SampleRow::FILE, csv_problem::<SampleRow>(dir, s, expected)),
        (ScoreRow::FILE, csv_problem::<ScoreRow>(dir, s, expected)),
        (ModelRow::FILE, csv_problem::<ModelRow>(dir, s, expected)),
    ] {
        if let Some(p) = problem {
            damaged.push((dir.join(name), p));
        }
    }
    if damaged.is_empty() {
        return Ok(notes);
    }
    const THEN: &str = "the job restarts from step 0";
    for (path, reason) in &damaged {
        if path.exists() {
            let aside = move_aside(path)?;
            notes.push(report(run_dir, path, reason, &aside, THEN));
        } else {
            let rel = path.strip_prefix(run_dir).unwrap_or(path);
            crate::output::esay(&format!("emerge: warning: {reason}; {THEN}\n"));
            notes.push(format!("{} ({THEN})", rel.display()));
        }
    }
    // Order matters for a kill in between: without the status the job is
    // unfinished, and a checkpoint whose rows are missing is caught again on
    // the next resume, so every stop point converges to a restart.
    let rm = |p: &Path| -> Result<(), String> {
        let r = if p.is_dir() {
            fs::remove_dir_all(p)
        } else {
            fs::remove_file(p)
        };
        match r {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("{}: {e}", p.display()))
            }
            _ => Ok(()),
        }
    };
    rm(&status)?;
    rm(&dir.join(CHECKPOINT_DIR))?;
    rm(&dir.join(OLD_CHECKPOINT_DIR))?;
    rm(&sums_path)?;
    Ok(notes)
}
