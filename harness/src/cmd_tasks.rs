//! `emerge tasks`: list the task suite or print generated items.

use clap::Args;

/// Arguments of `emerge tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Task to show items of; omit to list all tasks.
    pub task: Option<String>,
}

pub fn run(args: &TasksArgs) -> Result<(), String> {
    match &args.task {
        None => println!("add mul sort word word_ood modp icl hop"),
        Some(t) => return Err(format!("task suite not built yet (asked for `{t}`)")),
    }
    Ok(())
}
