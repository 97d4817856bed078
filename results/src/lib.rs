//! The emerge run-folder format and everything computed from it.
//!
//! - [`schema`]: the CSV row structs the sweep writes (no polars).
//! - [`write`]: whole-file writes via a temporary name and rename (no polars).
//! - [`read`]: reading CSV rows with file-and-line errors.
//! - [`load`]: a run folder loaded and aggregated over seeds (polars inside).
//! - [`fit`], [`threshold`], [`stats`], [`bootstrap`], [`analyze`], [`verdicts`],
//!   [`summary`]: curve fits, N* intervals and emergence statistics.
//! - [`forecast`]: N* forecast from the sizes below it, checked against
//!   the measured N* (`forecast.csv`).
//! - [`claims`]: the number behind each claim (cot gain, OOD gap, parrot
//!   rate, few-shot gain) per model size.
//! - [`synth`]: synthetic run folders with planted curves (tests, eyeballing).
//! - [`compare`]: two runs joined, differences and paired tests.
//! - [`arms`]: the arms of an ablation run, each analyzed alone, then N*
//!   shifts and paired tests between them (`arms.csv`, `arms_paired.csv`).
//! - [`table`]: many runs in one tidy CSV (`emerge runs`).

pub mod analyze;
pub mod arms;
pub mod bootstrap;
pub mod claims;
pub mod compare;
pub mod error;
pub mod fit;
pub mod forecast;
pub mod load;
pub mod read;
pub mod schema;
pub mod stats;
pub mod summary;
pub mod synth;
pub mod table;
pub mod threshold;
pub mod verdicts;
pub mod write;

pub use error::{Error, Result};
pub use load::{CurveKey, CurvePoint, Run};
pub use schema::{
    ClaimRow, CsvRow, FitRow, ForecastRow, Mode, ModelRow, ModelStatus, SampleRow, ScoreRow,
    TrainLogRow,
};
pub use write::{write_atomic, write_bytes_atomic, write_csv};
