//! Reading run-folder CSV files into schema rows. Every problem is reported as
//! `file:line: what`, with line numbers as an editor shows them (header = 1).

use crate::error::{Error, Result};
use crate::schema::CsvRow;
use std::fs::File;
use std::path::Path;

/// Read every row of `path`, checking the header against `T::HEADER` first so
/// that a file from another schema is rejected at line 1, not misread.
pub fn read_csv<T: CsvRow>(path: &Path) -> Result<Vec<T>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MissingFile(path.to_path_buf()))
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(file);
    let header = rdr
        .headers()
        .map_err(|e| csv_error(path, T::HEADER, e))?
        .clone();
    let got: Vec<&str> = header.iter().collect();
    if got.as_slice() != T::HEADER {
        return Err(Error::Malformed {
            path: path.to_path_buf(),
            line: 1,
            msg: format!(
                "header is `{}`, expected `{}`",
                got.join(","),
                T::HEADER.join(",")
            ),
        });
    }
    let mut rows = Vec::new();
    for rec in rdr.deserialize::<T>() {
        rows.push(rec.map_err(|e| csv_error(path, T::HEADER, e))?);
    }
    Ok(rows)
}

/// Like [`read_csv`] but a missing file is `Ok(None)`.
pub fn read_csv_optional<T: CsvRow>(path: &Path) -> Result<Option<Vec<T>>> {
    match read_csv(path) {
        Err(Error::MissingFile(_)) => Ok(None),
        other => other.map(Some),
    }
}

fn csv_error(path: &Path, header: &[&str], e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    let msg = match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(i) => match header.get(i as usize) {
                Some(name) => format!("column `{name}`: {}", err.kind()),
                None => format!("column {}: {}", i + 1, err.kind()),
            },
            None => err.kind().to_string(),
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields, expected {expected_len}")
        }
        csv::ErrorKind::Io(io) => io.to_string(),
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8: {err}"),
        _ => e.to_string(),
    };
    Error::Malformed {
        path: path.to_path_buf(),
        line,
        msg: msg.replace('\n', " "),
    }
}

/// Concatenate the rows of several files of one kind (e.g. every
/// `jobs/<model_id>/scores.csv`) into `out`, written whole. Inputs are taken
/// in sorted path order so the merged file does not depend on directory
/// listing order; missing inputs are skipped. Returns the number of rows.
pub fn merge_csv<T: CsvRow>(inputs: &[std::path::PathBuf], out: &Path) -> Result<usize> {
    let mut paths: Vec<&std::path::PathBuf> = inputs.iter().collect();
    paths.sort();
    let mut rows: Vec<T> = Vec::new();
    for p in paths {
        if let Some(mut r) = read_csv_optional::<T>(p)? {
            rows.append(&mut r);
        }
    }
    crate::write::write_csv(out, &rows).map_err(|e| Error::io(out, e))?;
    Ok(rows.len())
}
