//! The emerge harness: task suite, training stream, evaluation and CLI glue.

pub mod answer;
pub mod cmd_bench;
pub mod cmd_tasks;
pub mod fewshot;
pub mod format;
pub mod stream;
pub mod tasks;
pub mod vocab;
