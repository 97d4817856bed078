//! One error type whose `Display` is a single line naming the file (and line)
//! at fault, so the CLI can print it as is.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: not a run folder (no config.toml, manifest.json or models.csv)")]
    NotARunFolder(PathBuf),
    #[error("{0}: missing (every run folder needs it)")]
    MissingFile(PathBuf),
    #[error("{path}:{line}: {msg}")]
    Malformed {
        path: PathBuf,
        line: u64,
        msg: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Polars(String),
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<polars::error::PolarsError> for Error {
    fn from(e: polars::error::PolarsError) -> Self {
        // Polars errors can span lines; keep the CLI's one-line promise.
        Error::Polars(format!("polars: {}", e.to_string().replace('\n', " ")))
    }
}

pub type Result<T> = std::result::Result<T, Error>;
