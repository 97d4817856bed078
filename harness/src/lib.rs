//! The emerge harness: the sweep runner (plan, jobs, training, scoring,
//! resume and damage), and each `emerge` command. The task suite is the
//! `tasks` crate; the run folder's files are the `runfolder` crate's.

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
pub mod output;
pub mod pipeline;
pub mod report;
pub mod sweep;
