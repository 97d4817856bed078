//! The emerge GPT family: the one description of its parameters (`block`),
//! model shapes and exact counts ([`config`]), the model and its forward
//! pass ([`model`]), training ([`train`], [`optim`]),
//! checkpoints ([`checkpoint`]) and inference ([`generate`]).
//!
//! This crate knows nothing about tasks, text or CSV files.

mod batch;
mod block;
pub mod checkpoint;
pub mod config;
mod cpu_train;
pub mod device;
pub mod fused;
pub mod generate;
mod kernels;
mod kv_cache;
pub mod model;
pub mod ops;
pub mod optim;
pub mod train;

use std::path::PathBuf;

pub use batch::Batch;
pub use candle_core::{DType, Device};
pub use checkpoint::CheckpointInfo;
pub use config::{ConfigError, ModelConfig, TrainConfig};
pub use device::{device_name, parse_device, resolve_device, set_cpu_threads, tune_allocator};
pub use generate::{GenerateOptions, Inference, TokenScore};
pub use model::Gpt;
pub use ops::Kernels;
pub use train::{StepStats, Trainer};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The loss or the gradient went non-finite at this (1-based) step.
    #[error("training diverged at step {step}: non-finite loss or gradient")]
    Diverged { step: u64 },
    #[error("bad batch: {0}")]
    Batch(String),
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Device(String),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Says that test `test` could not check something on this CPU, and why, as
/// one line `SKIPPED-ON-THIS-CPU: <test>: <why>` on the process's stderr.
/// The line is written to the stderr handle, not with `eprintln!`, which the
/// test harness captures and shows only for failing tests: this way every
/// run shows it, passing or not, and `.ci/run` counts these lines.
#[cfg(test)]
pub(crate) fn skipped_on_this_cpu(test: &str, why: &str) {
    use std::io::Write;
    let line = format!("SKIPPED-ON-THIS-CPU: {test}: {why}\n");
    // One write per line, so lines of tests running in parallel do not mix.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
