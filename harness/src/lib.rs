//! The emerge harness: task suite, training stream, evaluation and CLI glue.

pub mod cmd_tasks;
