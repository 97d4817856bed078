//! Everything computed from a run folder (whose files, rows, reads and
//! writes are the `runfolder` crate's).
//!
//! - [`load`]: a run folder loaded and aggregated over seeds (polars inside).
//! - [`fit`], [`threshold`], [`stats`], [`bootstrap`], [`analyze`], [`verdicts`],
//!   [`summary`]: curve fits, N* intervals and emergence statistics.
//! - [`forecast`]: N* forecast from the sizes below it, checked against
//!   the measured N* (`forecast.csv`).
//! - [`claims`]: the number behind each claim (cot gain, OOD gap, parrot
//!   rate, few-shot gain) per model size.
//! - [`human`]: sizes, durations and counts as people read them.
//! - [`synth`]: synthetic run folders with planted curves (tests, eyeballing).
//! - [`curve`]: one curve as the analysis holds it, and the bootstrap constants.
//! - [`compare`]: two runs joined, differences and paired tests.
//! - [`arms`]: the arms of an ablation run, each analyzed alone, then N*
//!   shifts and paired tests between them (`arms.csv`, `arms_paired.csv`).
//! - [`table`]: many runs in one tidy CSV (`emerge runs`).

pub mod analyze;
pub mod arms;
pub mod bootstrap;
pub mod claims;
pub mod compare;
pub mod curve;
pub mod error;
pub mod fit;
pub mod forecast;
pub mod human;
pub mod load;
pub mod stats;
pub mod summary;
pub mod synth;
pub mod table;
pub mod threshold;
pub mod verdicts;

pub use error::{Error, Result};
pub use load::{CurvePoint, Run};
