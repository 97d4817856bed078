//! Printing for the commands that a user may pipe into `head`: a closed pipe
//! must end the output quietly, not panic; and the guard that keeps an
//! output path off a run folder's own files.

use runfolder::schema::files;
use runfolder::CsvRow;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Print to stdout, ignoring a closed pipe.
pub fn say(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Print to stderr, ignoring a closed pipe.
pub fn esay(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// What a run folder holds at its top level (`.lock*` files aside): a path
/// under any of these belongs to the run.
const RUN_ENTRIES: [&str; 14] = [
    files::CONFIG,
    files::MANIFEST,
    files::MODELS,
    files::TRAIN_LOG,
    files::SCORES,
    files::SAMPLES,
    files::FITS,
    files::CLAIMS,
    files::FORECAST,
    files::PLOTS_DIR,
    files::JOBS_DIR,
    runfolder::schema::files::ARMS_DIR,
    <runfolder::ArmRow as CsvRow>::FILE,
    runfolder::schema::files::ARMS_PAIRED,
];

/// `path` made absolute, `.` and `..` resolved, and the part that exists
/// resolved through symbolic links, so two spellings of one file compare equal.
fn resolved(path: &Path) -> PathBuf {
    let abs = std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let mut lexical = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                lexical.pop();
            }
            other => lexical.push(other),
        }
    }
    let mut tail = Vec::new();
    let mut head = lexical.as_path();
    loop {
        if let Ok(real) = head.canonicalize() {
            return tail.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (head.file_name(), head.parent()) {
            (Some(name), Some(parent)) => {
                tail.push(name.to_os_string());
                head = parent;
            }
            _ => return lexical,
        }
    }
}

/// Refuse to write the file `writes` (what `flag` = `given` asks for) when
/// it is one of a run folder's own files or lies in one of its folders
/// (`jobs/`, `plots/`, `arms/`): an output there would replace what the run
/// wrote.
pub fn refuse_run_file(flag: &str, given: &Path, writes: &Path) -> Result<(), String> {
    let full = resolved(writes);
    for run in full.ancestors().skip(1) {
        if !results::load::is_run_folder(run) {
            continue;
        }
        let Ok(rel) = full.strip_prefix(run) else {
            continue;
        };
        let Some(first) = rel.components().next() else {
            continue;
        };
        let first = first.as_os_str().to_string_lossy();
        if RUN_ENTRIES.contains(&first.as_ref()) || first.starts_with(".lock") {
            return Err(format!(
                "{flag} {}: inside run folder {} (its own `{first}`); outputs never replace a run's files: choose a path outside it",
                given.display(),
                run.display()
            ));
        }
    }
    Ok(())
}
