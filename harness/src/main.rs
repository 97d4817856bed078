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
    /// List the tasks, or print generated items of one task.
    Tasks(harness::cmd_tasks::TasksArgs),
    /// Measure training or generation throughput (same shapes as the PyTorch peer).
    Bench(harness::cmd_bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tasks(args) => harness::cmd_tasks::run(&args),
        Command::Bench(args) => harness::cmd_bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emerge: error: {e}");
            ExitCode::FAILURE
        }
    }
}
