//! The loop over this invocation's jobs, and what it reports at the end.

use super::config::SweepConfig;
use super::eval::Suite;
use super::job;
use super::jobs::Job;
use super::layout::{self, JobStatus};

use crate::backend::Backend;
use crate::output::say;
use runfolder::ModelStatus;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;
use tasks::stream::Stream;

/// Everything the jobs of one sweep share.
pub struct Setup<'a> {
    pub cfg: &'a SweepConfig,
    /// One training stream per (arm, seed); the arm is `None` without arms.
    pub streams: &'a [((Option<usize>, u64), Stream)],
    pub suite: &'a Suite,
    pub backend: &'a Backend,
    pub threads: usize,
    pub run_dir: &'a Path,
}

/// What this invocation did.
#[derive(Default)]
pub struct Tally {
    pub ran: usize,
    pub resumed: usize,
    pub train: Duration,
    pub eval: Duration,
    /// Damaged files moved aside, and what their jobs did instead.
    pub recovered: Vec<String>,
}

pub fn run_jobs(s: &Setup, todo: &[&Job]) -> Result<Tally, String> {
    let bars = std::io::stderr().is_terminal();
    let mut tally = Tally::default();
    for j in todo {
        let stream = &s
            .streams
            .iter()
            .find(|(key, _)| *key == (j.arm, j.seed))
            .expect("a stream per arm and seed")
            .1;
        let shared = job::Shared {
            cfg: s.cfg,
            stream,
            suite: s.suite,
            backend: s.backend,
            threads: s.threads,
            bars,
        };
        let out = job::run(j, &layout::job_dir(s.run_dir, j), &shared)?;
        tally.ran += 1;
        tally.resumed += usize::from(out.resumed_from > 0);
        tally.train += out.train;
        tally.eval += out.eval;
        tally.recovered.extend(out.recovered);
        let how = match out.status.status {
            ModelStatus::Ok => "done".to_string(),
            ModelStatus::Diverged => format!("DIVERGED at step {}", out.status.step),
        };
        let resumed = if out.resumed_from > 0 {
            format!(" (resumed at step {})", out.resumed_from)
        } else {
            String::new()
        };
        say(&format!(
            "[{}/{}] {} {how}{resumed}: train {}, eval {}\n",
            tally.ran,
            todo.len(),
            j.model_id,
            results::human::secs(out.train.as_secs_f64()),
            results::human::secs(out.eval.as_secs_f64()),
        ));
    }
    Ok(tally)
}

/// The closing lines: jobs done, diverged and pending, and the wall time
/// split into training and evaluation.
pub fn summary(
    t: &Tally,
    finished: &[(usize, JobStatus)],
    total: usize,
    already: usize,
    merged: usize,
    wall: Duration,
    run_dir: &Path,
) -> String {
    let diverged: Vec<String> = finished
        .iter()
        .filter(|(_, s)| s.status == ModelStatus::Diverged)
        .map(|(_, s)| format!("{} at step {}", s.model_id, s.step))
        .collect();
    let pending = total - finished.len();
    let (tt, te) = (t.train.as_secs_f64(), t.eval.as_secs_f64());
    format!(
        "\nsummary: {} of {total} jobs finished ({} ran now, {} of them resumed; {already} already done), {} diverged{}, {pending} pending{}\n\
         wall time this run: {} (training {}, evaluation {} = {:.0}% of train+eval); merged {merged} job{} into {}\n{}",
        finished.len(),
        t.ran,
        t.resumed,
        diverged.len(),
        if diverged.is_empty() {
            String::new()
        } else {
            format!(" ({})", diverged.join(", "))
        },
        if pending > 0 {
            " (other shards: rerun without --shard to finish and merge)"
        } else {
            ""
        },
        results::human::secs(wall.as_secs_f64()),
        results::human::secs(tt),
        results::human::secs(te),
        if tt + te > 0.0 { 100.0 * te / (tt + te) } else { 0.0 },
        if merged == 1 { "" } else { "s" },
        run_dir.display(),
        if t.recovered.is_empty() {
            String::new()
        } else {
            format!(
                "recovered {} damaged file{} (moved aside as *.damaged): {}\n",
                t.recovered.len(),
                if t.recovered.len() == 1 { "" } else { "s" },
                t.recovered.join("; ")
            )
        }
    )
}
