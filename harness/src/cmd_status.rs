//! `emerge status --run DIR`: look in on a run folder while a sweep (or a
//! Slurm array of shards) writes it, or after it ended. It reads only: no
//! lock is taken, no damaged file is moved aside, nothing is written.
//!
//! A job is *done* once its `status.json` is readable, *running* when a live
//! sweep process holds the lock its shard uses and it is that shard's most
//! recently active unfinished job, *interrupted* when it has files but no
//! live process to finish it, and *pending* otherwise.

use crate::output::say;
use crate::sweep::jobs::Job;
use crate::sweep::lock::{self, Liveness};
use crate::sweep::progress::{self, JobEstimate, Progress};
use crate::sweep::{folder, jobs, layout};
use clap::Args;
use results::human::{plural, secs};
use runfolder::ModelStatus;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run folder (as written by `emerge sweep`).
    #[arg(long)]
    pub run: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Done(layout::JobStatus),
    Running,
    Interrupted,
    Pending,
}

/// One job as the folder shows it.
#[derive(Debug, Clone)]
pub struct JobView {
    pub job: Job,
    pub state: State,
    pub estimate: Option<JobEstimate>,
    pub progress: Option<Progress>,
    /// Files of this job that a sweep moved aside as damaged.
    pub damaged: Vec<String>,
    /// The newest modification time among the job's files.
    pub touched: Option<SystemTime>,
}

impl JobView {
    /// Seconds of work this job has had: its final timing when done, else
    /// what its progress or its last checkpoint's timing recorded.
    pub fn seconds(&self) -> f64 {
        match &self.state {
            State::Done(s) => s.train_seconds + s.eval_seconds,
            _ => self.progress.as_ref().map_or(0.0, |p| p.seconds),
        }
    }

    /// The share of its steps still to train (1 for a pending job).
    fn left(&self) -> f64 {
        match (&self.state, &self.progress) {
            (State::Done(_), _) => 0.0,
            (_, Some(p)) if p.total_steps > 0 => {
                1.0 - (p.step as f64 / p.total_steps as f64).min(1.0)
            }
            _ => 1.0,
        }
    }
}

/// Everything `emerge status` prints, read from the folder.
pub struct RunView {
    pub name: String,
    pub jobs: Vec<JobView>,
    pub locks: Vec<(String, lock::Holder, Liveness)>,
    pub manifest: Option<serde_json::Value>,
}

/// The shard a lock file name belongs to (`None`: the unsharded lock).
fn lock_shard(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix(".lock-shard-")?;
    let (i, n) = rest.split_once("-of-")?;
    Some((i.parse().ok()?, n.parse().ok()?))
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
}

/// Read `run` without touching it.
pub fn view(run: &Path) -> Result<RunView, String> {
    let cfg = folder::read_config(run)?;
    let all = jobs::jobs(&cfg);
    let locks = lock::holders(run);
    let manifest = std::fs::read(run.join(runfolder::schema::files::MANIFEST))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let mut views: Vec<JobView> = all
        .into_iter()
        .map(|j| {
            let dir = layout::job_dir(run, &j);
            let done = layout::read_status(&dir)
                .ok()
                .flatten()
                .filter(|s| s.model_id == j.model_id);
            let started = dir.is_dir()
                && std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|e| e.file_name() != progress::ESTIMATE_FILE);
            let damaged = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".damaged"))
                .collect();
            JobView {
                estimate: progress::read(&dir, progress::ESTIMATE_FILE),
                progress: progress::read(&dir, progress::PROGRESS_FILE),
                damaged,
                touched: newest_mtime(&dir),
                state: match done {
                    Some(s) => State::Done(s),
                    None if started => State::Interrupted,
                    None => State::Pending,
                },
                job: j,
            }
        })
        .collect();
    // Each live lock runs one job at a time: its shard's unfinished job
    // written to last.
    for (name, _, live) in &locks {
        if *live == Liveness::Gone {
            continue;
        }
        let shard = lock_shard(name);
        let current = views
            .iter_mut()
            .filter(|v| v.state == State::Interrupted)
            .filter(|v| shard.is_none_or(|(i, n)| v.job.index % n == i))
            .max_by_key(|v| v.touched);
        if let Some(v) = current {
            v.state = State::Running;
        }
    }
    Ok(RunView {
        name: cfg.run.name.clone(),
        jobs: views,
        locks,
        manifest,
    })
}

fn ago(t: SystemTime) -> String {
    SystemTime::now()
        .duration_since(t)
        .map_or("just now".into(), |d| {
            format!("{} ago", secs(d.as_secs_f64()))
        })
}

/// The finished jobs' time against the plan's estimate for them: (actual,
/// estimated) seconds over the done jobs that have an estimate.
fn against_plan(jobs: &[JobView]) -> Option<(f64, f64)> {
    let pairs: Vec<(f64, f64)> = jobs
        .iter()
        .filter_map(|v| match (&v.state, &v.estimate) {
            (State::Done(_), Some(e)) => Some((v.seconds(), e.total())),
            _ => None,
        })
        .collect();
    (!pairs.is_empty()).then(|| {
        pairs
            .iter()
            .fold((0.0, 0.0), |(a, e), (x, y)| (a + x, e + y))
    })
}

/// The text `emerge status` prints.
pub fn render(run: &Path, v: &RunView) -> String {
    let count = |f: fn(&State) -> bool| v.jobs.iter().filter(|j| f(&j.state)).count();
    let done = count(|s| matches!(s, State::Done(_)));
    let running = count(|s| *s == State::Running);
    let interrupted = count(|s| *s == State::Interrupted);
    let pending = count(|s| *s == State::Pending);
    let diverged: Vec<&JobView> = v
        .jobs
        .iter()
        .filter(|j| matches!(&j.state, State::Done(s) if s.status == ModelStatus::Diverged))
        .collect();
    let mut s = format!(
        "emerge status: run `{}` in {} ({})\n",
        v.name,
        run.display(),
        plural(v.jobs.len(), "job", "jobs")
    );
    let live: Vec<_> = v
        .locks
        .iter()
        .filter(|(_, _, l)| *l != Liveness::Gone)
        .collect();
    let finished_at = v
        .manifest
        .as_ref()
        .and_then(|m| m["finished"].as_str().map(str::to_string));
    s += &if !live.is_empty() {
        let who: Vec<String> = live
            .iter()
            .map(|(name, h, l)| {
                let check = if *l == Liveness::Unknown {
                    ", another host: not checked from here"
                } else {
                    ""
                };
                format!("pid {} on {}{check} ({name})", h.pid, h.host)
            })
            .collect();
        let since = v
            .manifest
            .as_ref()
            .and_then(|m| m["started"].as_str().map(str::to_string))
            .map_or(String::new(), |t| format!(", this invocation since {t}"));
        format!("sweep: running: {}{since}\n", who.join("; "))
    } else if done == v.jobs.len() {
        format!(
            "sweep: finished{}\n",
            finished_at.map_or(String::new(), |t| format!(" at {t}"))
        )
    } else {
        let stale = v
            .locks
            .iter()
            .map(|(name, h, _)| format!(" (its lock {name} names pid {}, gone)", h.pid))
            .collect::<String>();
        let last = v.jobs.iter().filter_map(|j| j.touched).max();
        format!(
            "sweep: not running{stale}; last written {}; `emerge sweep` with the same config and --runs-dir resumes it\n",
            last.map_or("never".into(), ago)
        )
    };
    s += &format!(
        "jobs: {done} done, {running} running, {interrupted} interrupted, {pending} pending ({} diverged)\n",
        diverged.len()
    );
    for j in v.jobs.iter().filter(|j| j.state == State::Running) {
        s += &match &j.progress {
            Some(p) => format!(
                "  running {}: step {}/{} ({:.0}%), loss {:.3}, {:.0} tok/s, updated {}\n",
                j.job.model_id,
                p.step,
                p.total_steps,
                100.0 * p.step as f64 / p.total_steps.max(1) as f64,
                p.loss,
                p.tokens_per_sec,
                j.touched.map_or("?".into(), ago)
            ),
            None => format!(
                "  running {}: no step logged yet (started {})\n",
                j.job.model_id,
                j.touched.map_or("?".into(), ago)
            ),
        };
    }
    for j in v.jobs.iter().filter(|j| j.state == State::Interrupted) {
        let at = j.progress.as_ref().map_or(String::new(), |p| {
            format!(" at step {}/{}", p.step, p.total_steps)
        });
        s += &format!(
            "  interrupted {}{at}: resumes from its last checkpoint\n",
            j.job.model_id
        );
    }
    for j in &diverged {
        if let State::Done(st) = &j.state {
            s += &format!("  diverged {} at step {}\n", j.job.model_id, st.step);
        }
    }
    for j in v.jobs.iter().filter(|j| !j.damaged.is_empty()) {
        s += &format!(
            "  recovered {}: damaged files moved aside ({})\n",
            j.job.model_id,
            j.damaged.join(", ")
        );
    }
    let worked: f64 = v.jobs.iter().map(JobView::seconds).sum();
    s += &format!(
        "elapsed: {} of training and scoring over the jobs so far\n",
        secs(worked)
    );
    // The pace: finished jobs' time over their estimate, applied to the
    // estimate of what is left.
    let pace = against_plan(&v.jobs);
    let planned: f64 = v
        .jobs
        .iter()
        .filter_map(|j| j.estimate.as_ref().map(JobEstimate::total))
        .sum();
    let unplanned = v
        .jobs
        .iter()
        .filter(|j| j.estimate.is_none() && !matches!(j.state, State::Done(_)))
        .count();
    let left: f64 = v
        .jobs
        .iter()
        .filter_map(|j| j.estimate.as_ref().map(|e| e.total() * j.left()))
        .sum();
    let ratio = pace.map_or(1.0, |(a, e)| if e > 0.0 { a / e } else { 1.0 });
    if let Some((a, e)) = pace {
        s += &format!(
            "plan: the {} finished with an estimate took {} against {} planned ({ratio:.2}x); the whole plan was {}\n",
            plural(
                v.jobs
                    .iter()
                    .filter(|j| matches!(j.state, State::Done(_)) && j.estimate.is_some())
                    .count(),
                "job",
                "jobs"
            ),
            secs(a),
            secs(e),
            secs(planned)
        );
    } else if planned > 0.0 {
        s += &format!(
            "plan: {} planned; no job with an estimate has finished yet\n",
            secs(planned)
        );
    }
    if done < v.jobs.len() {
        let workers = live.len().max(1) as f64;
        let eta = left * ratio / workers;
        let when = humantime::format_rfc3339_seconds(
            SystemTime::now() + std::time::Duration::from_secs_f64(eta.max(0.0)),
        );
        let missing = if unplanned > 0 {
            format!(
                " ({} without an estimate left out)",
                plural(unplanned, "job", "jobs")
            )
        } else {
            String::new()
        };
        let pace_note = if pace.is_some() {
            "at the finished jobs' pace"
        } else {
            "as planned"
        };
        s += &if live.is_empty() {
            format!(
                "left: {} of work {pace_note}{missing}, once resumed\n",
                secs(left * ratio)
            )
        } else {
            format!("ETA: {} (about {when}) {pace_note}{missing}\n", secs(eta))
        };
    }
    s
}

pub fn run(args: &StatusArgs) -> Result<(), String> {
    if !args.run.join(runfolder::schema::files::CONFIG).is_file() {
        return Err(format!(
            "{}: not a run folder (no {})",
            args.run.display(),
            runfolder::schema::files::CONFIG
        ));
    }
    let v = view(&args.run)?;
    say(&render(&args.run, &v));
    Ok(())
}
