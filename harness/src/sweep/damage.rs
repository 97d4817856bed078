//! Damaged job state: a truncated, corrupt or foreign checkpoint, or a torn
//! or edited per-job CSV or `status.json`, costs that job's progress at
//! most, never the night. Each damaged file gets one warning naming it, is
//! moved aside (`<name>.damaged`, kept for inspection) and the job falls
//! back to `checkpoint.old` if that loads, otherwise restarts from step 0.
//! A file that cannot be read at all (a permission, say) is not damage: the
//! sweep stops with its message and moves nothing.
//!
//! A torn CSV can still parse (cut at a line end), so [`Rows`](super::job)
//! writes `sums.json` before its CSVs: the length and CRC-32 of every file
//! it is about to write ("current") and of the file each one replaces
//! ("previous"). A kill between those writes leaves every CSV equal to one
//! of the two, so a file matching neither was damaged after it was written,
//! and a CSV that `sums.json` does not cover (deleted, or a folder from
//! before checksums) is not trusted either: its rows cannot be re-derived
//! without the checkpoints of their steps, so the job is redone.
//!
//! A finished job records the length and CRC-32 of its checkpoint's files in
//! `status.json`; every sweep checks them (reading each file once, parsing
//! no tensor) and retrains a job whose checkpoint no longer matches.

use super::jobs::Job;
use super::layout::{
    self, read_file, unreadable, JobStatus, CHECKPOINT_DIR, OLD_CHECKPOINT_DIR, STATUS_FILE,
    SUMS_FILE,
};
use models::checkpoint::{FileSum as Sum, OPTIMIZER_FILE, STATE_FILE, WEIGHTS_FILE};
use runfolder::read::read_csv;
use runfolder::{CsvRow, ModelRow, SampleRow, ScoreRow, TrainLogRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const ASIDE: &str = ".damaged";

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

    fn covers(&self, name: &str) -> bool {
        self.current.contains_key(name) || self.previous.contains_key(name)
    }
}

/// The files of a checkpoint folder whose sums a finished job records.
pub const CHECKPOINT_FILES: [&str; 3] = [WEIGHTS_FILE, OPTIMIZER_FILE, STATE_FILE];

/// The error line when a checkpoint failed to load because a file could not
/// be read (rather than because it is missing or damaged).
pub fn read_error(e: &models::Error) -> Option<String> {
    match e {
        models::Error::Io { path, source } if source.kind() != std::io::ErrorKind::NotFound => {
            Some(unreadable(path, source))
        }
        _ => None,
    }
}

/// Length and CRC-32 of each file of the checkpoint folder `ckpt` (none
/// when there is no checkpoint), as a finished job records them.
pub fn checkpoint_sums(ckpt: &Path) -> Result<BTreeMap<String, Sum>, String> {
    let mut out = BTreeMap::new();
    for name in CHECKPOINT_FILES {
        if let Some(bytes) = read_file(&ckpt.join(name))? {
            out.insert(name.to_string(), Sum::of(&bytes));
        }
    }
    Ok(out)
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
    runfolder::write_bytes_atomic(&dir.join(SUMS_FILE), &json).map_err(|e| e.to_string())?;
    for (name, bytes) in files {
        runfolder::write_bytes_atomic(&dir.join(name), bytes).map_err(|e| e.to_string())?;
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

/// What `sums.json` says about a job's CSVs.
enum Checksums {
    Read(Sums),
    /// Missing or unreadable as a sums file: why, for the CSVs' warnings.
    None(&'static str),
}

/// Why `dir/T::FILE`, whose contents are `bytes` (`None`: missing), cannot
/// be kept, if it cannot.
fn csv_problem<T: CsvRow>(
    dir: &Path,
    bytes: Option<&[u8]>,
    sums: &Checksums,
    expected: bool,
) -> Option<String> {
    let path = dir.join(T::FILE);
    let Some(bytes) = bytes else {
        // Rows are written before the checkpoint and the status: with
        // either present, a missing file lost the rows up to it.
        return expected.then(|| {
            format!(
                "{}: missing, but the job has a checkpoint or a status",
                path.display()
            )
        });
    };
    let sum = Sum::of(bytes);
    match sums {
        Checksums::Read(s) if !s.covers(T::FILE) => {
            return Some(format!(
                "{}: sums.json has no checksum for it, so it is not trusted",
                path.display()
            ))
        }
        Checksums::Read(s) if !s.accepts(T::FILE, sum) => {
            return Some(format!(
                "{}: {} bytes with CRC-32 {:08x}, which the job never wrote (torn or edited)",
                path.display(),
                sum.bytes,
                sum.crc32
            ))
        }
        Checksums::Read(_) => {}
        Checksums::None(why) => {
            return Some(format!(
                "{}: no checksum ({why}), so it is not trusted",
                path.display()
            ))
        }
    }
    read_csv::<T>(&path).err().map(|e| e.to_string())
}

/// Why a finished job's status cannot stand: it disagrees with the last row
/// of its `models.csv` (an edited status, say). The rows were checked first.
fn status_problem(dir: &Path, status: &JobStatus) -> Result<Option<String>, String> {
    let rows: Vec<ModelRow> = read_csv(&dir.join(ModelRow::FILE)).map_err(|e| e.to_string())?;
    let last = rows.iter().max_by_key(|r| r.step);
    Ok(match last {
        Some(r) if r.step == status.step && r.status == status.status => None,
        Some(r) => Some(format!(
            "{}: says {} at step {}, but the job's {} ends {} at step {}",
            dir.join(STATUS_FILE).display(),
            status.status.as_str(),
            status.step,
            ModelRow::FILE,
            r.status.as_str(),
            r.step
        )),
        None => Some(format!(
            "{}: the job is over, but its {} has no row",
            dir.join(STATUS_FILE).display(),
            ModelRow::FILE
        )),
    })
}

/// The first file of a finished job's checkpoint that is not what the job
/// recorded when it finished, and why. A status from before checkpoint
/// sums were recorded is checked against the sums in `trainer.json`.
fn checkpoint_problem(dir: &Path, status: &JobStatus) -> Result<Option<(PathBuf, String)>, String> {
    let ckpt = dir.join(CHECKPOINT_DIR);
    let Some(recorded) = &status.checkpoint else {
        if !models::Trainer::checkpoint_exists(&ckpt) {
            return Ok(None);
        }
        return match models::checkpoint::verify(&ckpt) {
            Ok(_) => Ok(None),
            Err(e) => {
                if let Some(stop) = read_error(&e) {
                    return Err(stop);
                }
                let file = match &e {
                    models::Error::Checkpoint { path, .. } | models::Error::Io { path, .. } => {
                        path.clone()
                    }
                    _ => ckpt.join(STATE_FILE),
                };
                Ok(Some((file, e.to_string())))
            }
        };
    };
    for (name, want) in recorded {
        let path = ckpt.join(name);
        let why = match read_file(&path)? {
            None => "missing".to_string(),
            Some(bytes) => {
                let got = Sum::of(&bytes);
                if got == *want {
                    continue;
                }
                let how = if got.bytes < want.bytes {
                    "truncated?"
                } else {
                    "corrupted?"
                };
                format!(
                    "{} bytes with CRC-32 {:08x}, but the job finished with {} bytes, CRC-32 {:08x} ({how})",
                    got.bytes, got.crc32, want.bytes, want.crc32
                )
            }
        };
        return Ok(Some((path.clone(), format!("{}: {why}", path.display()))));
    }
    Ok(None)
}

/// Remove a file or folder; a missing one is fine.
fn remove(p: &Path) -> Result<(), String> {
    let r = if p.is_dir() {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    };
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("{}: {e}", p.display())),
        _ => Ok(()),
    }
}

/// Check a job's files before the sweep decides what to run: its status,
/// its row files against `sums.json`, and, for a finished job, its status
/// against its rows and its checkpoint against the sums it recorded.
/// Damaged files are moved aside with a warning; if rows were lost the job
/// restarts from step 0 (its status and checkpoints go, since they stand
/// for rows that no longer exist); a finished job whose checkpoint is
/// damaged trains again from `checkpoint.old` or step 0. A file that cannot
/// be read is an error, with nothing moved. Returns the summary's lines.
pub fn recover_rows(run_dir: &Path, job: &Job, dir: &Path) -> Result<Vec<String>, String> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut notes = Vec::new();
    let status_path = dir.join(STATUS_FILE);
    let status_aside = |reason: &str, notes: &mut Vec<String>| -> Result<(), String> {
        let aside = move_aside(&status_path)?;
        // The rows and the final checkpoint are still there (the rows are
        // checked below): the job resumes from its last checkpoint and
        // writes its status again.
        notes.push(report(
            run_dir,
            &status_path,
            reason,
            &aside,
            "the job resumes from its last checkpoint",
        ));
        Ok(())
    };
    // Everything is read before anything moves: a file that cannot be read
    // stops the sweep with the folder as it was.
    let status_bytes = read_file(&status_path)?;
    let sums_path = dir.join(SUMS_FILE);
    let sums_bytes = read_file(&sums_path)?;
    let csv = |name: &str| read_file(&dir.join(name));
    let (log, samples, scores, rows) = (
        csv(TrainLogRow::FILE)?,
        csv(SampleRow::FILE)?,
        csv(ScoreRow::FILE)?,
        csv(ModelRow::FILE)?,
    );
    let mut finished = match status_bytes {
        None => None,
        Some(bytes) => match layout::parse_status(&status_path, &bytes) {
            Ok(s) if s.model_id == job.model_id => Some(s),
            Ok(s) => {
                let reason = format!(
                    "{}: the status of {}, not {}",
                    status_path.display(),
                    s.model_id,
                    job.model_id
                );
                status_aside(&reason, &mut notes)?;
                None
            }
            Err(reason) => {
                status_aside(&reason, &mut notes)?;
                None
            }
        },
    };
    let expected =
        finished.is_some() || models::Trainer::checkpoint_exists(&dir.join(CHECKPOINT_DIR));
    let mut damaged: Vec<(PathBuf, String)> = Vec::new();
    let sums = match sums_bytes {
        Some(b) => match serde_json::from_slice::<Sums>(&b) {
            Ok(s) => Checksums::Read(s),
            Err(e) => {
                damaged.push((
                    sums_path.clone(),
                    format!("{}: not a sums file: {e}", sums_path.display()),
                ));
                Checksums::None("sums.json is damaged")
            }
        },
        None => Checksums::None("sums.json is missing"),
    };
    for (name, problem) in [
        (
            TrainLogRow::FILE,
            csv_problem::<TrainLogRow>(dir, log.as_deref(), &sums, expected),
        ),
        (
            SampleRow::FILE,
            csv_problem::<SampleRow>(dir, samples.as_deref(), &sums, expected),
        ),
        (
            ScoreRow::FILE,
            csv_problem::<ScoreRow>(dir, scores.as_deref(), &sums, expected),
        ),
        (
            ModelRow::FILE,
            csv_problem::<ModelRow>(dir, rows.as_deref(), &sums, expected),
        ),
    ] {
        if let Some(p) = problem {
            damaged.push((dir.join(name), p));
        }
    }
    if !damaged.is_empty() {
        restart(run_dir, dir, &damaged, &mut notes)?;
        return Ok(notes);
    }
    if let Some(s) = &finished {
        if let Some(reason) = status_problem(dir, s)? {
            status_aside(&reason, &mut notes)?;
            finished = None;
        }
    }
    if let Some(s) = &finished {
        if let Some((file, reason)) = checkpoint_problem(dir, s)? {
            let ckpt = dir.join(CHECKPOINT_DIR);
            let then = if dir.join(OLD_CHECKPOINT_DIR).exists() {
                "the job trains again from checkpoint.old"
            } else {
                "the job trains again from step 0"
            };
            if ckpt.exists() {
                let aside = move_aside(&ckpt)?;
                notes.push(report(run_dir, &file, &reason, &aside, then));
            } else {
                notes.push(warn(run_dir, &file, &reason, then));
            }
            // Without its status the job is unfinished: `job::run` resumes
            // it from what is left.
            remove(&status_path)?;
        }
    }
    Ok(notes)
}

/// Print the warning for a damaged file that is not there to move aside,
/// and return the summary's line.
fn warn(run_dir: &Path, damaged: &Path, reason: &str, then: &str) -> String {
    crate::output::esay(&format!("emerge: warning: {reason}; {then}\n"));
    let rel = damaged.strip_prefix(run_dir).unwrap_or(damaged);
    format!("{} ({then})", rel.display())
}

/// Rows were lost: move the damaged files aside and send the job back to
/// step 0 (its status and checkpoints stand for rows that are gone).
fn restart(
    run_dir: &Path,
    dir: &Path,
    damaged: &[(PathBuf, String)],
    notes: &mut Vec<String>,
) -> Result<(), String> {
    const THEN: &str = "the job restarts from step 0";
    for (path, reason) in damaged {
        if path.exists() {
            let aside = move_aside(path)?;
            notes.push(report(run_dir, path, reason, &aside, THEN));
        } else {
            notes.push(warn(run_dir, path, reason, THEN));
        }
    }
    // Order matters for a kill in between: without the status the job is
    // unfinished, and a checkpoint whose rows are missing is caught again on
    // the next resume, so every stop point converges to a restart. An intact
    // `sums.json` stays: it still covers the CSVs that were not moved.
    remove(&dir.join(STATUS_FILE))?;
    remove(&dir.join(CHECKPOINT_DIR))?;
    remove(&dir.join(OLD_CHECKPOINT_DIR))?;
    Ok(())
}
