//! The emerge harness: task suite, training stream, evaluation and CLI glue.
//!
//! The task suite: [`vocab`] (character tokens, ids fixed forever),
//! [`format`] (the one text format and its cues), [`tasks`] (eight seeded
//! generators, their parameters, the held-out partition, chance levels),
//! [`stream`] (training sequences by seed and position), [`fewshot`]
//! (k-shot prompts from training exemplars) and [`answer`] (extraction and
//! per-item string metrics).

pub mod answer;
pub mod backend;
pub mod cmd_analyze;
pub mod cmd_bench;
pub mod cmd_compare;
pub mod cmd_eval;
pub mod cmd_export;
pub mod cmd_forecast;
pub mod cmd_plot;
pub mod cmd_runs;
pub mod cmd_status;
pub mod cmd_tasks;
pub mod fewshot;
pub mod format;
pub mod output;
pub mod report;
pub mod stream;
pub mod sweep;
pub mod tasks;
pub mod vocab;
