//! `emerge eval --run DIR`: score every finished model of a run again from
//! its last checkpoint's weights (with the run's own config), replace those
//! rows, merge and refit. For a change in extraction or scoring code; the
//! run's config (items, modes, shots) is what is scored. A job that cannot
//! be scored (a damaged checkpoint, say) keeps its rows; the others are
//! scored and refitted, then the command fails naming it and why.

use crate::output::{esay, say};
use crate::sweep::{eval, folder, job, jobs, layout, lock};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
    /// CPU threads (default: the run's `[device]` setting).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Backend: `fast` or `candle` (default: fast on the CPU, candle
    /// elsewhere; see `emerge sweep --help`).
    #[arg(long, value_name = "fast|candle")]
    pub kernels: Option<models::Kernels>,
}

pub fn run(args: &EvalArgs) -> Result<(), String> {
    let cfg = folder::read_config(&args.run)?;
    let threads = crate::sweep::thread_count(args.threads.unwrap_or(cfg.device.threads));
    models::set_cpu_threads(threads).map_err(|e| e.to_string())?;
    let backend = crate::backend::Backend::new(&cfg.device.device, args.kernels)?;
    let _lock = lock::acquire(&args.run, None)?;
    let all = jobs::jobs(&cfg);
    let finished = folder::finished(&args.run, &all)?;
    let suite = eval::Suite::build(&cfg)?;
    let mut n = 0;
    let mut failed = Vec::new();
    for (i, st) in &finished {
        if st.status != runfolder::ModelStatus::Ok {
            continue;
        }
        let j = &all[*i];
        match job::rescore(j, &layout::job_dir(&args.run, j), &cfg, &suite, &backend) {
            Ok(step) => {
                say(&format!("rescored {} at step {step}\n", j.model_id));
                n += 1;
            }
            Err(e) => {
                esay(&format!(
                    "emerge: warning: cannot score {}: {e}\n",
                    j.model_id
                ));
                failed.push(format!("{} ({e})", j.model_id));
            }
        }
    }
    folder::merge(&args.run, &all, &finished)?;
    say(&format!(
        "rescored {n} model{}; {} of {} jobs finished\n",
        if n == 1 { "" } else { "s" },
        finished.len(),
        all.len()
    ));
    let mut problems = Vec::new();
    if finished.len() == all.len() && n > 0 {
        if let Err(e) = crate::pipeline::analyze_and_plot(&args.run) {
            problems.push(format!("{}: analysis failed: {e}", args.run.display()));
        }
    }
    if !failed.is_empty() {
        problems.push(format!(
            "could not score {} of {} finished job{}, whose rows are as the sweep wrote them (`emerge sweep` on this run retrains a job whose checkpoint is damaged): {}",
            failed.len(),
            finished.len(),
            if finished.len() == 1 { "" } else { "s" },
            failed.join("; ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; and "))
    }
}
