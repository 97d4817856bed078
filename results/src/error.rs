//! The analysis's error: a run folder's own ([`runfolder::Error`], whose
//! message names the file and line at fault) or the data engine's, each one
//! line so the CLI can print it as is.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Folder(#[from] runfolder::Error),
    #[error("{0}")]
    Polars(String),
}

impl Error {
    /// An I/O error at `path` (see [`runfolder::Error::io`]).
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        runfolder::Error::io(path, source).into()
    }

    /// Something in a run folder that the analysis cannot use, in words.
    pub fn invalid(msg: impl Into<String>) -> Self {
        runfolder::Error::Invalid(msg.into()).into()
    }

    pub fn not_a_run_folder(dir: impl Into<PathBuf>) -> Self {
        runfolder::Error::NotARunFolder(dir.into()).into()
    }
}

impl From<polars::error::PolarsError> for Error {
    fn from(e: polars::error::PolarsError) -> Self {
        // Polars errors can span lines; keep the CLI's one-line promise.
        Error::Polars(format!("polars: {}", e.to_string().replace('\n', " ")))
    }
}

pub type Result<T> = std::result::Result<T, Error>;
