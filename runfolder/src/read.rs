//! Reading run-folder CSV files into schema rows. Every problem is reported as
//! `file:line: what`, with line numbers as an editor shows them (header = 1).

use crate::error::{Error, Result};
use crate::schema::CsvRow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Whether `file` is non-empty and its last byte is not a line end: every
/// row emerge writes ends in one, so the last row of such a file was cut
/// short (a torn write or a truncation), even if what is left still parses.
fn cut_short(file: &mut File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(last[0] != b'\n')
}

/// Read every row of `path`, checking the header against `T::HEADER` first so
/// that a file from another schema is rejected at line 1, not misread, and
/// refusing a file whose last row has no line end (cut short).
pub fn read_csv<T: CsvRow>(path: &Path) -> Result<Vec<T>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MissingFile(path.to_path_buf()))
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let torn = cut_short(&mut file).map_err(|e| Error::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(file);
    let header = rdr
        .headers()
        .map_err(|e| csv_error(path, T::HEADER, e))?
        .clone();
    let got: Vec<&str> = header.iter().collect();
    let dropped = T::HEADER.len().saturating_sub(got.len());
    if dropped > T::OPTIONAL_TAIL || got.as_slice() != &T::HEADER[..T::HEADER.len() - dropped] {
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
    let mut last_line = 1;
    let mut records = rdr.deserialize::<T>();
    loop {
        // Where the next row starts: the last row's line, once it is read.
        let line = records.reader().position().line();
        let Some(rec) = records.next() else { break };
        rows.push(rec.map_err(|e| csv_error(path, T::HEADER, e))?);
        last_line = line;
    }
    if torn {
        return Err(Error::Malformed {
            path: path.to_path_buf(),
            line: last_line,
            msg: "the last row has no line end: the file was cut short (torn or truncated)".into(),
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{metric, Mode, ScoreRow};

    /// A row cut inside its last number still parses; the missing line end
    /// gives it away, at the line it is on.
    #[test]
    fn a_file_cut_inside_its_last_row_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        let row = |step| ScoreRow {
            model_id: "m".into(),
            step,
            task: "add".into(),
            mode: Mode::Direct,
            shots: 0,
            metric: metric::EXACT_MATCH.into(),
            value: 0.5,
            ci_lo: 0.25,
            ci_hi: 0.75,
            n: 100,
            chance: 0.125,
        };
        crate::write::write_csv(&path, &[row(1), row(2)]).unwrap();
        assert_eq!(read_csv::<ScoreRow>(&path).unwrap().len(), 2);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 2]).unwrap();
        let e = read_csv::<ScoreRow>(&path).unwrap_err().to_string();
        assert!(
            e.contains("scores.csv:3:") && e.contains("cut short"),
            "{e}"
        );
        // Cut at a line end, it is whole as far as parsing can tell.
        let cut = whole[..whole.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap();
        std::fs::write(&path, &whole[..=cut]).unwrap();
        assert_eq!(read_csv::<ScoreRow>(&path).unwrap().len(), 1);
    }

    /// `samples.csv` written before `completion_tokens` existed still reads
    /// (the cell empty); a header missing more than the optional tail, or
    /// any other column, is refused at line 1.
    #[test]
    fn an_older_samples_header_without_its_optional_tail_reads() {
        use crate::schema::{CsvRow, SampleRow};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        let old = &SampleRow::HEADER[..SampleRow::HEADER.len() - 1];
        let row = "m,1,add,direct,0,add-1,1+2=,3,3,3,true,1.0,1.0,-0.25,false,";
        std::fs::write(&path, format!("{}\n{row}\n", old.join(","))).unwrap();
        let rows = read_csv::<SampleRow>(&path).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].completion_tokens, rows[0].completion_logprob),
            (None, -0.25)
        );
        let older = &SampleRow::HEADER[..SampleRow::HEADER.len() - 2];
        let cut = row.rsplit_once(',').unwrap().0;
        std::fs::write(&path, format!("{}\n{cut}\n", older.join(","))).unwrap();
        let e = read_csv::<SampleRow>(&path).unwrap_err().to_string();
        assert!(e.contains("samples.csv:1:"), "{e}");
    }
}
