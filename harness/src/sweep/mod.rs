//! `emerge sweep`: train the ladder, score every model with and without
//! chain of thought, write the run folder, then analyze and plot.
//!
//! - [`config`]: the TOML config, its presets and whole-file validation;
//! - [`jobs`]: ladder × seeds → jobs with their step budgets;
//! - [`plan`]: calibration and the plan table;
//! - [`progress`]: each job's planned time and latest step, for `emerge status`;
//! - [`job`]: training one job with checkpoints, resume and scoring;
//! - [`eval`]: the evaluation suite and per-checkpoint scoring;
//! - [`damage`]: damaged job files moved aside, the job falling back;
//! - [`folder`]: `config.toml`, `manifest.json`, merging the jobs' CSVs;
//! - [`lock`]: one live sweep (or shard) per run folder;
//! - [`runner`]: the loop over this invocation's jobs, and the summary.

pub mod config;
pub mod damage;
pub mod eval;
pub mod folder;
pub mod job;
pub mod jobs;
pub mod layout;
pub mod lock;
pub mod plan;
pub mod progress;
pub mod refine;
pub mod runner;

use crate::backend::Backend;
use crate::output::say;
use clap::{Args, ValueEnum};
use config::SweepConfig;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tasks::stream::{MixtureEntry, Stream, StreamConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Seconds; exercises the machinery (used by the tests).
    Smoke,
    /// The default: 2-digit addition, a transition inside the ladder in under two minutes on 2 cores.
    Quick,
    /// The whole suite, three seeds: a night on 2 cores (size it with --hours).
    Overnight,
    /// For the CUDA build: sizes up to ~100M parameters.
    Gpu,
    /// One task each, calibrated to bracket its transition in under 20 minutes on 2 cores.
    Add,
    Mul,
    Sort,
    Word,
    Modp,
    Icl,
    Hop,
    /// Issue 18's ablation: `word` alone vs `word` + code vs `word` + commented
    /// code, with a displacement control (`word` + shuffled code).
    CodeAblation,
    /// The `add` ladder at lr/2, lr and 2·lr: does each threshold survive?
    LrRobust,
}

impl Preset {
    /// Every preset, in the order `--help` lists them.
    pub const ALL: [Preset; 13] = [
        Preset::Smoke,
        Preset::Quick,
        Preset::Overnight,
        Preset::Gpu,
        Preset::Add,
        Preset::Mul,
        Preset::Sort,
        Preset::Word,
        Preset::Modp,
        Preset::Icl,
        Preset::Hop,
        Preset::CodeAblation,
        Preset::LrRobust,
    ];

    pub fn text(self) -> &'static str {
        match self {
            Preset::Smoke => include_str!("../../presets/smoke.toml"),
            Preset::Quick => include_str!("../../presets/quick.toml"),
            Preset::Overnight => include_str!("../../presets/overnight.toml"),
            Preset::Gpu => include_str!("../../presets/gpu.toml"),
            Preset::Add => include_str!("../../presets/add.toml"),
            Preset::Mul => include_str!("../../presets/mul.toml"),
            Preset::Sort => include_str!("../../presets/sort.toml"),
            Preset::Word => include_str!("../../presets/word.toml"),
            Preset::Modp => include_str!("../../presets/modp.toml"),
            Preset::Icl => include_str!("../../presets/icl.toml"),
            Preset::Hop => include_str!("../../presets/hop.toml"),
            Preset::CodeAblation => include_str!("../../presets/code-ablation.toml"),
            Preset::LrRobust => include_str!("../../presets/lr-robust.toml"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Smoke => "smoke",
            Preset::Quick => "quick",
            Preset::Overnight => "overnight",
            Preset::Gpu => "gpu",
            Preset::Add => "add",
            Preset::Mul => "mul",
            Preset::Sort => "sort",
            Preset::Word => "word",
            Preset::Modp => "modp",
            Preset::Icl => "icl",
            Preset::Hop => "hop",
            Preset::CodeAblation => "code-ablation",
            Preset::LrRobust => "lr-robust",
        }
    }
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// A built-in config (harness/presets/*.toml); `quick` when no --config.
    #[arg(long, value_enum, conflicts_with = "config")]
    pub preset: Option<Preset>,
    /// A TOML config file (copy a preset to start one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run name: the folder under --runs-dir (overrides run.name).
    #[arg(long)]
    pub name: Option<String>,
    /// auto, cpu or cuda:N (overrides device.device).
    #[arg(long)]
    pub device: Option<String>,
    /// CPU threads (overrides device.threads; 0 = all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Backend: `fast` (the CPU kernels and hand-written backward) or
    /// `candle` (candle's ops and autograd, any device). Default: fast on
    /// the CPU, candle elsewhere.
    #[arg(long, value_name = "fast|candle")]
    pub kernels: Option<models::Kernels>,
    /// Run only jobs whose index ≡ I (mod N), e.g. `--shard 0/4`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Folder that holds run folders.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Print the plan (with timing estimates) and stop.
    #[arg(long)]
    pub plan_only: bool,
    /// Scale the training budget so the whole sweep takes about H hours on
    /// this machine (overrides run.hours).
    #[arg(long, value_name = "H")]
    pub hours: Option<f64>,
    /// After the sweep, add up to K sizes between the two sizes that straddle
    /// each transition (bisecting in log size), training and scoring them in
    /// the same run, until each is bracketed within 0.2 decade.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub refine: usize,
}

/// A failure with the exit status it maps to (2 for a bad config or
/// command line, 1 otherwise).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

fn fail(message: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        message: message.into(),
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

/// Exit status of a sweep whose jobs all ran but some diverged.
pub const EXIT_DIVERGED: u8 = 3;

pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard {s:?}: expected I/N with 0 <= I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The config a command line asks for, with its overrides, checked whole.
pub fn resolve(args: &SweepArgs) -> Result<SweepConfig, Failure> {
    let (text, origin) = match &args.config {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| usage(format!("config file {}: {e}", path.display())))?,
            path.display().to_string(),
        ),
        None => {
            let p = args.preset.unwrap_or(Preset::Quick);
            (p.text().to_string(), format!("preset {}", p.name()))
        }
    };
    let mut cfg = config::parse(&text, &origin).map_err(|e| usage(e.to_string()))?;
    if let Some(n) = &args.name {
        cfg.run.name = n.clone();
    }
    if let Some(d) = &args.device {
        cfg.device.device = d.clone();
    }
    if let Some(t) = args.threads {
        cfg.device.threads = t;
    }
    if let Some(h) = args.hours {
        cfg.run.hours = Some(h);
    }
    let problems = config::check(&cfg);
    if !problems.is_empty() {
        let e = config::ConfigErrors {
            origin: format!("{origin} with command-line overrides"),
            problems,
        };
        return Err(usage(e.to_string()));
    }
    Ok(cfg)
}

/// The training stream of arm `arm` (`None`: `train.mixture`) and `seed`.
pub fn stream_for(cfg: &SweepConfig, arm: Option<usize>, seed: u64) -> Result<Stream, String> {
    let mixture = cfg
        .mixture(arm)
        .iter()
        .map(|e| {
            Ok(MixtureEntry {
                task: e.task_config().map_err(|err| err.to_string())?,
                weight: e.weight,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Stream::new(StreamConfig {
        seed,
        context: cfg.model.context,
        mixture,
        cot_fraction: cfg.train.cot_fraction,
        loss_mask: cfg.train.loss_mask,
    })
    .map_err(|e| e.to_string())
}

/// A thread setting as a count: 0 means every core.
pub fn thread_count(setting: usize) -> usize {
    match setting {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

type Timings = std::collections::BTreeMap<String, plan::Estimate>;

/// What fixing the training budget of a sweep with `run.hours` needs.
struct HoursFit<'a> {
    hours: f64,
    run_dir: &'a std::path::Path,
    shard: Option<(usize, usize)>,
    suite: &'a eval::Suite,
    stream: &'a Stream,
    backend: &'a Backend,
    threads: usize,
    plan_only: bool,
}

/// The timings `--plan-only` took for `--hours`, kept next to the run folder
/// (which a plan does not create) so that the sweep started after it picks
/// the budget the plan showed rather than timing the machine again: timings
/// vary by several percent from one minute to the next, and so would the
/// budget. Valid for one config (but its hours) on one machine and setup.
#[derive(serde::Serialize, serde::Deserialize)]
struct PlannedTimings {
    key: String,
    taken: String,
    timings: Timings,
}

impl HoursFit<'_> {
    /// `.<name>.plan-timings.json` beside the run folder.
    fn plan_file(&self) -> std::path::PathBuf {
        let name = self
            .run_dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        self.run_dir
            .with_file_name(format!(".{name}.plan-timings.json"))
    }

    /// What the timings depend on: the config without its hours, the host,
    /// the device, the backend and the thread count.
    fn plan_key(&self, cfg: &SweepConfig) -> String {
        let mut c = cfg.clone();
        c.run.hours = None;
        format!(
            "{}\nhost = {}; device = {}; kernels = {}; threads = {}",
            c.to_toml(),
            lock::hostname(),
            models::device_name(&self.backend.device),
            self.backend.kernels.name(),
            self.threads
        )
    }

    /// The plan's timings, if a plan of this very sweep left them.
    fn planned(&self, cfg: &SweepConfig, all: &[jobs::Job]) -> Option<PlannedTimings> {
        let bytes = std::fs::read(self.plan_file()).ok()?;
        let p: PlannedTimings = serde_json::from_slice(&bytes).ok()?;
        let covered = all
            .iter()
            .all(|j| p.timings.contains_key(&plan::shape_key(j)));
        (p.key == self.plan_key(cfg) && covered).then_some(p)
    }

    /// A run folder that already holds this sweep keeps the budget it
    /// stored; otherwise the budget is scaled to fit (see
    /// [`plan::fit_budget`]) from the timings a `--plan-only` of this sweep
    /// left, or from timing every shape now (which a `--plan-only` leaves
    /// for the sweep after it). Returns a line for the user and the
    /// timings, when it has them, for the plan to reuse.
    fn apply(&self, cfg: &mut SweepConfig) -> Result<(String, Option<Timings>), Failure> {
        let hours = self.hours;
        let stored_at = self.run_dir.join(runfolder::schema::files::CONFIG);
        if stored_at.is_file() {
            let stored = folder::read_config(self.run_dir).map_err(fail)?;
            if stored.run.hours == Some(hours) {
                cfg.train.tokens = stored.train.tokens;
                cfg.train.tokens_per_param = stored.train.tokens_per_param;
                let note = format!("budget for {hours} h: kept from {}\n", stored_at.display());
                return Ok((note, None));
            }
        }
        if self.shard.is_some() {
            return Err(usage(format!(
                "run.hours = {hours} with --shard: each shard would size its own budget; start the sweep once without --shard (it stores the budget in {}), or set train.tokens instead",
                self.run_dir.display()
            )));
        }
        let all = jobs::jobs(cfg);
        let key = self.plan_key(cfg);
        let (est, from) = match self.planned(cfg, &all) {
            Some(p) => (p.timings, Some(p.taken)),
            None => {
                let refs: Vec<&jobs::Job> = all.iter().collect();
                let est = plan::calibrate(cfg, &refs, self.stream, self.suite, self.backend)
                    .map_err(fail)?;
                (est, None)
            }
        };
        let mut note = plan::fit_budget(cfg, &all, &est, hours).map_err(usage)?;
        match from {
            Some(taken) => {
                note += &format!(
                    "  (from the timings `--plan-only` took at {taken}, kept in {}; delete it to time again)\n",
                    self.plan_file().display()
                );
            }
            None if self.plan_only => {
                let kept = PlannedTimings {
                    key,
                    taken: layout::now(),
                    timings: est.clone(),
                };
                let json = serde_json::to_vec_pretty(&kept).expect("timings serialize");
                let path = self.plan_file();
                if std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))
                    .is_ok()
                    && runfolder::write_bytes_atomic(&path, &json).is_ok()
                {
                    note += &format!(
                        "  (timings kept in {}: the sweep started next uses them, so it picks this budget)\n",
                        path.display()
                    );
                }
            }
            None => {}
        }
        Ok((note, Some(est)))
    }

    /// Once the run folder stores the budget, the plan's timings are spent.
    fn forget_plan(&self) {
        let _ = std::fs::remove_file(self.plan_file());
    }
}

pub fn run(args: &SweepArgs) -> Result<u8, Failure> {
    let started = Instant::now();
    let shard = args
        .shard
        .as_deref()
        .map(parse_shard)
        .transpose()
        .map_err(usage)?;
    if args.refine > 0 && (shard.is_some() || args.plan_only) {
        return Err(usage(
            "--refine needs the whole sweep: it cannot run with --shard or --plan-only (finish the shards, then run `emerge sweep --refine K` once)",
        ));
    }
    let mut cfg = resolve(args)?;
    let backend = Backend::new(&cfg.device.device, args.kernels).map_err(usage)?;
    let device = &backend.device;
    let threads = thread_count(cfg.device.threads);
    models::set_cpu_threads(threads).map_err(|e| usage(e.to_string()))?;
    let run_dir = args.runs_dir.join(&cfg.run.name);
    // Sizes an earlier `--refine` added belong to the run: a resume, a shard
    // or a merge with the original config includes them.
    if cfg.model.refined.is_empty() && run_dir.join(runfolder::schema::files::CONFIG).is_file() {
        if let Ok(stored) = folder::read_config(&run_dir) {
            cfg.model.refined = stored.model.refined;
        }
    }
    // Built before anything is written: a task that cannot produce its
    // items fails here, with nothing on disk. Neither depends on the
    // training budget, which `run.hours` may still change.
    let suite = eval::Suite::build(&cfg).map_err(usage)?;
    if args.refine > 0 && !cfg.arms.is_empty() {
        return Err(usage(
            "--refine with [[arms]]: refinement picks sizes from one curve per task and mode, and arms have several; add sizes to model.ladder instead",
        ));
    }
    let arms: Vec<Option<usize>> = if cfg.arms.is_empty() {
        vec![None]
    } else {
        (0..cfg.arms.len()).map(Some).collect()
    };
    let streams = arms
        .iter()
        .flat_map(|&a| cfg.run.seeds.iter().map(move |&s| (a, s)))
        .map(|(a, s)| stream_for(&cfg, a, s).map(|st| ((a, s), st)))
        .collect::<Result<Vec<_>, String>>()
        .map_err(usage)?;
    let fit = cfg.run.hours.map(|hours| HoursFit {
        hours,
        run_dir: &run_dir,
        shard,
        suite: &suite,
        stream: &streams[0].1,
        backend: &backend,
        threads,
        plan_only: args.plan_only,
    });
    let (budget_note, timed) = match &fit {
        Some(fit) => fit.apply(&mut cfg)?,
        None => (String::new(), None),
    };
    let all = jobs::jobs(&cfg);
    let mine: Vec<&jobs::Job> = all
        .iter()
        .filter(|j| shard.is_none_or(|(i, n)| j.index % n == i))
        .collect();
    // A folder in use or holding another config is refused before the
    // plan's calibration spends any time (with `run.hours` the budget must be
    // timed first, since the stored config holds it).
    let lock = if args.plan_only {
        None
    } else {
        folder::prepare(&run_dir, &cfg).map_err(fail)?;
        if let Some(fit) = &fit {
            fit.forget_plan();
        }
        Some(lock::acquire(&run_dir, shard).map_err(fail)?)
    };
    let mut recovered = Vec::new();
    if lock.is_some() {
        recovered = recover(&run_dir, &mine)?;
    }
    let done_before = finished_before(&run_dir, &all)?;
    let todo: Vec<&jobs::Job> = mine
        .iter()
        .copied()
        .filter(|j| !done_before.contains(&j.index))
        .collect();
    say(&header(
        &cfg,
        &run_dir,
        all.len(),
        shard.map(|s| (s, mine.len())),
        device,
        threads,
    ));
    // Step times do not depend on the budget: the hours' timings serve.
    let est = match timed {
        Some(est) => est,
        None => plan::calibrate(&cfg, &todo, &streams[0].1, &suite, &backend).map_err(fail)?,
    };
    let (table, total) = plan::table(&cfg, &mine, &done_before, &est);
    say(&budget_note);
    say(&table);
    say(&format!(
        "estimated: {} for {} to run\n",
        results::human::secs(total),
        results::human::plural(todo.len(), "job", "jobs")
    ));
    if !todo.is_empty() {
        say(&plan::basis(&est, &backend, threads, &cfg.device.device));
    }
    if args.plan_only {
        return Ok(0);
    }
    plan::record_estimates(&run_dir, &todo, &est).map_err(fail)?;

    let manifest = start_manifest(&cfg, &backend, threads, shard, all.len(), done_before.len());
    folder::write_manifest(&run_dir, &manifest).map_err(fail)?;
    let setup = runner::Setup {
        cfg: &cfg,
        streams: &streams,
        suite: &suite,
        backend: &backend,
        threads,
        run_dir: &run_dir,
    };
    let mut tally = runner::run_jobs(&setup, &todo).map_err(fail)?;
    recovered.append(&mut tally.recovered);
    tally.recovered = recovered;
    let ran = Ran {
        tally,
        all: &all,
        mine: mine.len(),
        todo: todo.len(),
        started,
    };
    finish(setup, manifest, ran, args.refine, lock)
}

/// The first line of a sweep: its name, folder, jobs (and this shard's, as
/// `((i, n), jobs)`), device and threads.
fn header(
    cfg: &SweepConfig,
    run_dir: &Path,
    jobs: usize,
    shard: Option<((usize, usize), usize)>,
    device: &models::Device,
    threads: usize,
) -> String {
    format!(
        "emerge sweep `{}` -> {}  ({} jobs{}; device {}, {})\n",
        cfg.run.name,
        run_dir.display(),
        jobs,
        shard.map_or(String::new(), |((i, n), mine)| format!(
            ", shard {i}/{n}: {mine}"
        )),
        models::device_name(device),
        results::human::plural(threads, "thread", "threads")
    )
}

/// Under the lock, before anything reads the jobs' files: damage in this
/// invocation's own jobs is moved aside (another shard's jobs are its own to
/// repair, and may be being written right now). One warning per file.
fn recover(run_dir: &Path, mine: &[&jobs::Job]) -> Result<Vec<String>, Failure> {
    let mut recovered = Vec::new();
    for j in mine {
        recovered
            .extend(damage::recover_rows(run_dir, j, &layout::job_dir(run_dir, j)).map_err(fail)?);
    }
    Ok(recovered)
}

/// The jobs of the run that had finished before this invocation (none in a
/// new folder).
fn finished_before(run_dir: &Path, all: &[jobs::Job]) -> Result<Vec<usize>, Failure> {
    if !run_dir.join(runfolder::schema::files::CONFIG).is_file() {
        return Ok(Vec::new());
    }
    Ok(folder::finished_readable(run_dir, all)
        .map_err(fail)?
        .into_iter()
        .map(|(i, _)| i)
        .collect())
}

/// What this invocation ran, for its summary.
struct Ran<'a> {
    tally: runner::Tally,
    all: &'a [jobs::Job],
    /// This shard's jobs, and those of them that were still to run.
    mine: usize,
    todo: usize,
    started: Instant,
}

/// The manifest of an invocation that is about to run its jobs.
fn start_manifest(
    cfg: &SweepConfig,
    backend: &Backend,
    threads: usize,
    shard: Option<(usize, usize)>,
    jobs_total: usize,
    jobs_done: usize,
) -> folder::Manifest {
    folder::Manifest {
        emerge_version: env!("CARGO_PKG_VERSION"),
        git_revision: option_env!("EMERGE_GIT_REVISION").unwrap_or("unknown"),
        candle_version: folder::CANDLE_VERSION,
        device: models::device_name(&backend.device),
        kernels: backend.kernels.name(),
        threads,
        seeds: cfg.run.seeds.clone(),
        host: lock::hostname(),
        shard: shard.map(|(i, n)| format!("{i}/{n}")),
        started: layout::now(),
        finished: None,
        train_seconds: 0.0,
        eval_seconds: 0.0,
        jobs_total,
        jobs_done,
        jobs_diverged: 0,
        arms: (0..cfg.arms.len())
            .map(|i| folder::ArmRecord {
                name: cfg.arms[i].name.clone(),
                lr: cfg.lr(Some(i)),
                control: config::control_arm(cfg, i),
            })
            .collect(),
    }
}

/// After the jobs: merge the finished ones, close the manifest, analyze and
/// plot once every job is over (then `--refine`), print the summary, and
/// give the exit status.
fn finish(
    setup: runner::Setup,
    mut manifest: folder::Manifest,
    ran: Ran,
    refine: usize,
    lock: Option<lock::Lock>,
) -> Result<u8, Failure> {
    let run_dir = setup.run_dir;
    let all = ran.all;
    let finished = folder::finished_readable(run_dir, all).map_err(fail)?;
    let merged = folder::merge(run_dir, all, &finished).map_err(fail)?;
    let diverged = finished
        .iter()
        .filter(|(_, s)| s.status == runfolder::ModelStatus::Diverged)
        .count();
    manifest.finished = Some(layout::now());
    manifest.train_seconds = ran.tally.train.as_secs_f64();
    manifest.eval_seconds = ran.tally.eval.as_secs_f64();
    manifest.jobs_done = finished.len();
    manifest.jobs_diverged = diverged;
    folder::write_manifest(run_dir, &manifest).map_err(fail)?;

    let pending = all.len() - finished.len();
    let mut analysis = Ok(());
    if pending == 0 && diverged == finished.len() {
        say("no job finished without diverging: nothing to fit or plot\n");
    } else if pending == 0 {
        analysis = crate::pipeline::analyze_and_plot(run_dir);
    }
    say(&runner::summary(
        &ran.tally,
        &finished,
        all.len(),
        ran.mine - ran.todo,
        merged,
        ran.started.elapsed(),
        run_dir,
    ));
    if refine > 0 && analysis.is_ok() && pending == 0 {
        analysis = refine_rounds(setup, refine)?;
    }
    drop(lock);
    if let Err(e) = analysis {
        return Err(fail(format!(
            "the sweep finished but its analysis failed: {e}; rerun `emerge analyze --run {0}` and `emerge plot --run {0}`",
            run_dir.display()
        )));
    }
    if diverged > 0 {
        say(&format!(
            "exit status {EXIT_DIVERGED}: {diverged} job{} diverged\n",
            if diverged == 1 { "" } else { "s" }
        ));
        return Ok(EXIT_DIVERGED);
    }
    Ok(0)
}

/// `--refine K`: rounds of bisection around every transition not yet
/// located, each an ordinary extension of the run. Returns how the last
/// analysis went.
fn refine_rounds(base: runner::Setup, budget: usize) -> Result<Result<(), String>, Failure> {
    let started = Instant::now();
    let run_dir = base.run_dir;
    let before = refine::straddles_of(run_dir).map_err(fail)?;
    let mut cfg = base.cfg.clone();
    // The sizes an interrupted `--refine` of the same budget added (the
    // sweep above has just finished training them) count against it.
    let stored = cfg.model.refined.len();
    let start = match refine::in_progress(run_dir) {
        Some(p) if p.budget == budget && p.start <= stored => p.start,
        _ => stored,
    };
    refine::mark_in_progress(run_dir, refine::InProgress { budget, start }).map_err(fail)?;
    let mut added = stored - start;
    let mut analysis = Ok(());
    let mut now = before.clone();
    say(&format!(
        "refine: up to {budget} size{} until each transition is bracketed within {} decade{}\n",
        if budget == 1 { "" } else { "s" },
        refine::LOCATED_DECADES,
        if added > 0 {
            format!(" ({added} added before an interruption)")
        } else {
            String::new()
        }
    ));
    if before.is_empty() {
        say("refine: no exact-match curve crosses its level: nothing to locate\n");
    }
    let mut stuck;
    let mut unfinished = false;
    loop {
        let (shapes, why) = refine::next_round(&cfg, &now, budget.saturating_sub(added));
        stuck = why;
        if shapes.is_empty() {
            break;
        }
        let known = jobs::jobs(&cfg).len();
        cfg.model.refined.extend(shapes.iter().copied());
        added += shapes.len();
        folder::store_refined(run_dir, &cfg).map_err(fail)?;
        let all = jobs::jobs(&cfg);
        let todo: Vec<&jobs::Job> = all[known..].iter().collect();
        say(&format!(
            "refine round: {}\n",
            todo.iter()
                .map(|j| format!(
                    "{} ({:.3e})",
                    j.model_id,
                    j.model.params_non_embedding() as f64
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let setup = runner::Setup { cfg: &cfg, ..base };
        runner::run_jobs(&setup, &todo).map_err(fail)?;
        let finished = folder::finished_readable(run_dir, &all).map_err(fail)?;
        folder::merge(run_dir, &all, &finished).map_err(fail)?;
        analysis = crate::pipeline::analyze_and_plot(run_dir);
        unfinished = finished.len() < all.len();
        if analysis.is_err() || unfinished {
            break;
        }
        now = refine::straddles_of(run_dir).map_err(fail)?;
    }
    // Ended by itself (budget spent, or nothing left to split) with every
    // job finished and analysed; otherwise the record stays, for a rerun.
    if analysis.is_ok() && !unfinished {
        refine::mark_done(run_dir).map_err(fail)?;
    }
    let mut report = format!(
        "refine: added {added} size{} in {}\n",
        if added == 1 { "" } else { "s" },
        results::human::secs(started.elapsed().as_secs_f64())
    );
    for b in &before {
        let a = now.iter().find(|a| a.curve == b.curve);
        report += &format!(
            "  before: {}\n  after:  {}\n",
            b.describe(),
            a.map_or(
                "(no longer located)".to_string(),
                refine::Straddle::describe
            )
        );
    }
    for why in &stuck {
        report += &format!("  {why}\n");
    }
    let open = now.iter().filter(|s| !s.located()).count();
    if open > 0 && stuck.is_empty() && added >= budget {
        report += &format!(
            "  {open} transition{} still wider than {} decade: the budget of {budget} size{} is spent\n",
            if open == 1 { "" } else { "s" },
            refine::LOCATED_DECADES,
            if budget == 1 { "" } else { "s" }
        );
    }
    say(&report);
    Ok(analysis)
}
