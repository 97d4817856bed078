//! `emerge`: parse the command line and dispatch to the harness modules.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "emerge",
    version,
    about = "Train a ladder of small GPTs and chart emergence curves"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train the model ladder, score it with and without chain of thought, analyze and plot.
    Sweep(harness::sweep::SweepArgs),
    /// List the tasks, or print generated items of one task.
    Tasks(harness::cmd_tasks::TasksArgs),
    /// Measure training or generation throughput (same shapes as the PyTorch peer).
    Bench(harness::cmd_bench::BenchArgs),
    /// Score every finished model of a run again from its last checkpoint, then refit and replot.
    Eval(harness::cmd_eval::EvalArgs),
    /// Write a job's initial weights and first K batches (and, with --train, emerge's trace) for a replay in another framework.
    Export(harness::cmd_export::ExportArgs),
    /// Fit every curve of a run folder (log-linear vs sigmoid, N*, breakthroughness) into fits.csv.
    Analyze(harness::cmd_analyze::AnalyzeArgs),
    /// Forecast each located exact-match N* from the sizes below it, and check it against the measured N* (forecast.csv).
    Forecast(harness::cmd_forecast::ForecastArgs),
    /// Draw a run folder's curves as PNGs into its plots/ folder.
    Plot(harness::cmd_plot::PlotArgs),
    /// Compare two run folders: CSV of differences with paired tests, table, overlay PNGs.
    Compare(harness::cmd_compare::CompareArgs),
    /// One tidy CSV over many run folders: every score and every fit, with the run and its config hash.
    Runs(harness::cmd_runs::RunsArgs),
    /// Look in on a run folder (running, finished or killed) without taking its lock: jobs done, running and pending, each running job's step, the ETA.
    Status(harness::cmd_status::StatusArgs),
    /// Write a run folder's report.md (verdicts, claims, forecast, time, figures, provenance) from its files.
    Report(harness::report::ReportArgs),
}

fn main() -> ExitCode {
    // A process-wide choice, so the binary makes it: heap reuse instead of
    // mmap churn for the training step's temporaries (see the function).
    models::tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sweep(args) => {
            return match harness::sweep::run(&args) {
                Ok(code) => ExitCode::from(code),
                Err(f) => {
                    eprintln!("emerge: error: {}", f.message);
                    ExitCode::from(f.code)
                }
            }
        }
        Command::Tasks(args) => harness::cmd_tasks::run(&args),
        Command::Bench(args) => harness::cmd_bench::run(&args),
        Command::Eval(args) => harness::cmd_eval::run(&args),
        Command::Export(args) => harness::cmd_export::run(&args),
        Command::Analyze(args) => harness::cmd_analyze::run(&args),
        Command::Forecast(args) => harness::cmd_forecast::run(&args),
        Command::Plot(args) => harness::cmd_plot::run(&args),
        Command::Compare(args) => harness::cmd_compare::run(&args),
        Command::Runs(args) => harness::cmd_runs::run(&args),
        Command::Status(args) => harness::cmd_status::run(&args),
        Command::Report(args) => harness::report::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emerge: error: {e}");
            ExitCode::FAILURE
        }
    }
}
