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
    Invalid(String),
}

impl Error {
    /// An I/O error at `path`; one that already names its path (from
    /// [`crate::write`]) keeps that path, so the message names it once.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let at_path = source
            .get_ref()
            .is_some_and(|e| e.is::<crate::write::AtPath>());
        if at_path {
            if let Some(Ok(at)) = source
                .into_inner()
                .map(|e| e.downcast::<crate::write::AtPath>())
            {
                return Error::Io {
                    path: at.path,
                    source: at.source,
                };
            }
            unreachable!("checked to hold an AtPath just above");
        }
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
