//! Whole-file writes: every output is written to a temporary name in the same
//! folder, synced, then renamed over the final name. A crash or a full disk
//! therefore leaves either the old file or the new one, never a torn file
//! under a final name (rename within one folder is atomic on POSIX).

use crate::schema::CsvRow;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The temporary name used while `path` is being written: hidden, in the same
/// folder (rename must not cross filesystems), and unique per process so two
/// writers never share one temporary file.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

/// An I/O error with the path it happened at: what every writer here
/// returns, so that a caller printing it names the file. [`crate::Error::io`]
/// unwraps it rather than naming the path twice.
#[derive(Debug)]
pub struct AtPath {
    pub path: PathBuf,
    pub source: io::Error,
}

impl std::fmt::Display for AtPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for AtPath {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        AtPath {
            path: path.to_path_buf(),
            source: e,
        },
    )
}

/// Write a file whole: `fill` writes the contents to a buffered temporary file,
/// which is flushed, synced and renamed to `path`. On any error the temporary
/// file is removed and `path` is untouched. Errors name the path.
pub fn write_atomic<F>(path: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let tmp = temp_path(path);
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| annotate(path, e))
}

/// Write `bytes` whole to `path` (see [`write_atomic`]).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// Serialize `rows` as a CSV file with a header row, written whole (see
/// [`write_atomic`]). An empty slice still writes the header, so readers can
/// tell "no rows yet" from "missing file".
pub fn write_csv<T: CsvRow>(path: &Path, rows: &[T]) -> io::Result<()> {
    let bytes = csv_bytes(rows)?;
    write_bytes_atomic(path, &bytes)
}

/// Serialize `rows` to CSV bytes, header row first.
pub fn csv_bytes<T: CsvRow>(rows: &[T]) -> io::Result<Vec<u8>> {
    // The csv crate only emits a header when it sees a first row; write the
    // declared one ourselves so empty files still carry their columns.
    let mut wtr = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    wtr.write_record(T::HEADER).map_err(io::Error::other)?;
    for row in rows {
        wtr.serialize(row).map_err(io::Error::other)?;
    }
    wtr.into_inner()
        .map_err(|e| io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    /// A failed write names its path, once, however it is passed on.
    #[test]
    fn a_write_error_names_its_path_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-folder/scores.csv");
        let e = super::write_bytes_atomic(&path, b"x\n").unwrap_err();
        let shown = path.display().to_string();
        assert_eq!(e.to_string().matches(&shown).count(), 1, "{e}");
        let wrapped = crate::Error::io(&path, e).to_string();
        assert_eq!(wrapped.matches(&shown).count(), 1, "{wrapped}");
        assert!(wrapped.contains("No such file"), "{wrapped}");
    }
}
