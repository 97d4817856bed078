//! The emerge run folder, as files: what each file is called and holds
//! ([`schema`], one serde row struct per CSV, in column order), how a file
//! is written so it is never torn ([`write`]), how it is read back with
//! errors that name file and line ([`read`]), and the model-id grammar that
//! carries an ablation arm ([`ids`]). Everything that computes from a run
//! folder (fits, N*, claims, plots) lives in `results` and `plots`; this
//! crate needs only serde and csv, so the sweep, the task suite and the
//! readers agree on one format without pulling in polars.

pub mod error;
pub mod ids;
pub mod read;
pub mod schema;
pub mod write;

pub use error::{Error, Result};
pub use schema::{
    ArmPairRow, ArmRow, ClaimRow, CompareRow, CsvRow, FitRow, ForecastRow, Mode, ModelRow,
    ModelStatus, SampleRow, ScoreRow, TimeRow, TrainLogRow,
};
pub use write::{write_atomic, write_bytes_atomic, write_csv};
