//! The damage matrix: a finished `smoke` run folder damaged every way we
//! know of (truncation, garbage, deletion and edits of each job file and
//! each merged file; foreign files, torn rows, unreadable files, a full
//! disk, stale locks, a copy under a new name), then the same `emerge sweep`
//! again (or `eval`, `runs`, `compare`). Every probe must end one of two
//! ways: a clean one-line error that changes nothing it should not, or a run
//! folder equal to an uninterrupted run's (`scores.csv`, `models.csv`,
//! `samples.csv`, `fits.csv`, `claims.csv` byte for byte, `train_log.csv`
//! but for its timing column). One clean reference run serves every probe:
//! each copies it under its own name, damages the copy and runs on it.

mod common;

use common::{
    copy_tree, emerge, emerge_with_file_cap, read, s, smoke_args, text, train_log_untimed, walk,
    Scratch, EXACT,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The job the probes damage, and another one to take foreign files from.
const JOB: &str = "L2-D32-H4-s0";
const OTHER: &str = "L1-D32-H2-s0";

/// One step of a probe: a command on the damaged copy, and what must follow.
struct Step {
    run: Box<dyn Fn(&Ctx) -> Output + Send + Sync>,
    expect: Expect,
}

enum Expect {
    /// Exit 0 and results equal to the reference run's; each needle in
    /// some `emerge: warning:` line.
    Recovered(Vec<String>),
    /// A one-line error containing the needle; no file of the folder
    /// changed, moved or appeared.
    Refused(String),
    /// A failure whose last line is the error (after the warnings of what
    /// was recovered on the way) containing the needle, with no torn file
    /// under a final name; `equal`: the results still equal the reference.
    Failed { says: String, equal: bool },
}

struct Probe {
    name: String,
    damage: Box<dyn Fn(&Path) + Send + Sync>,
    steps: Vec<Step>,
}

/// Where a probe runs: the runs folder, its copy's name and the reference.
struct Ctx {
    runs: PathBuf,
    name: String,
    reference: PathBuf,
}

impl Ctx {
    fn run(&self) -> PathBuf {
        self.runs.join(&self.name)
    }
}

fn sweep_args(c: &Ctx) -> Vec<&str> {
    smoke_args(&c.runs, &c.name, &["--threads", "1"])
}

fn sweep() -> Box<dyn Fn(&Ctx) -> Output + Send + Sync> {
    Box::new(|c: &Ctx| emerge(&sweep_args(c)))
}

fn recovered(warns: &[&str]) -> Step {
    Step {
        run: sweep(),
        expect: Expect::Recovered(warns.iter().map(|w| w.to_string()).collect()),
    }
}

fn refused(says: &str) -> Step {
    Step {
        run: sweep(),
        expect: Expect::Refused(says.to_string()),
    }
}

fn probe(name: &str, damage: impl Fn(&Path) + Send + Sync + 'static, steps: Vec<Step>) -> Probe {
    Probe {
        name: name.to_string(),
        damage: Box::new(damage),
        steps,
    }
}

fn job(run: &Path, file: &str) -> PathBuf {
    run.join("jobs").join(JOB).join(file)
}

/// Keep the first 1000 bytes (half of a smaller file).
fn cut(path: &Path) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let keep = if b.len() > 2000 { 1000 } else { b.len() / 2 };
    std::fs::write(path, &b[..keep]).unwrap();
}

/// The same length of pseudo-random bytes.
fn garbage(path: &Path) {
    let n = std::fs::metadata(path).unwrap().len() as usize;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}

fn delete(path: &Path) {
    if path.is_dir() {
        std::fs::remove_dir_all(path).unwrap();
    } else {
        std::fs::remove_file(path).unwrap();
    }
}

/// A plausible hand edit that keeps the file well formed: a number in the
/// last CSV row, a step in JSON, a byte in a tensor file.
fn edit(path: &Path) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut b = std::fs::read(path).unwrap();
    if name.ends_with(".csv") {
        let text = String::from_utf8(b).unwrap();
        let body = text.trim_end_matches('\n');
        let start = body.rfind('\n').map_or(0, |i| i + 1);
        let at = match body[start..].rfind(|c: char| c.is_ascii_digit()) {
            Some(i) => start + i,
            // A header alone: a letter of it.
            None => 0,
        };
        let d = body.as_bytes()[at];
        let mut out = text.into_bytes();
        out[at] = match d {
            b'9' => b'8',
            b'0'..=b'8' => d + 1,
            _ => b'X',
        };
        std::fs::write(path, out).unwrap();
    } else if name.ends_with(".json") {
        let text = String::from_utf8(b).unwrap();
        let edited = if text.contains("\"step\": 16") {
            text.replacen("\"step\": 16", "\"step\": 12", 1)
        } else {
            let at = text.find(|c: char| c.is_ascii_digit()).unwrap();
            let mut t = text.into_bytes();
            t[at] = if t[at] == b'9' { b'8' } else { t[at] + 1 };
            String::from_utf8(t).unwrap()
        };
        std::fs::write(path, edited).unwrap();
    } else {
        let mid = b.len() / 2;
        b[mid] ^= 0x5a;
        std::fs::write(path, b).unwrap();
    }
}

/// Every file and folder under `dir` with its bytes (`None` for a folder
/// or a file this process cannot read).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.insert(p.clone(), None);
            out.extend(snapshot(&p));
        } else {
            out.insert(p.clone(), std::fs::read(&p).ok());
        }
    }
    out
}

fn same_as_reference(c: &Ctx) -> Result<(), String> {
    let run = c.run();
    for f in EXACT.iter().chain(&["fits.csv", "claims.csv"]) {
        let (a, b) = (
            std::fs::read(c.reference.join(f)),
            std::fs::read(run.join(f)),
        );
        if a.ok() != b.ok() {
            return Err(format!("{f} differs from the reference run's"));
        }
    }
    if train_log_untimed(&c.reference) != train_log_untimed(&run) {
        return Err("train_log.csv differs from the reference run's".into());
    }
    Ok(())
}

/// Every line on stderr is emerge's, with its prefix.
fn prefixed(err: &str) -> Result<(), String> {
    match err.lines().find(|l| !l.starts_with("emerge: ")) {
        Some(l) => Err(format!("a line without the `emerge: ` prefix: {l:?}")),
        None => Ok(()),
    }
}

/// Check one step's outcome; `Ok(true)` for a clean error.
fn check(
    c: &Ctx,
    out: &Output,
    expect: &Expect,
    before: &BTreeMap<PathBuf, Option<Vec<u8>>>,
) -> Result<bool, String> {
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    prefixed(&err)?;
    match expect {
        Expect::Recovered(warns) => {
            if !out.status.success() {
                return Err(format!("failed: {}", text(out)));
            }
            for w in warns {
                if !err
                    .lines()
                    .any(|l| l.starts_with("emerge: warning:") && l.contains(w.as_str()))
                {
                    return Err(format!("no warning naming {w:?}: {err}"));
                }
            }
            same_as_reference(c)?;
            Ok(false)
        }
        Expect::Refused(says) => {
            if out.status.success() {
                return Err(format!("not refused: {}", text(out)));
            }
            if err.lines().count() != 1
                || !err.starts_with("emerge: error: ")
                || !err.contains(says.as_str())
            {
                return Err(format!("not one error line with {says:?}: {err}"));
            }
            let after = snapshot(&c.run());
            if &after != before {
                let changed: Vec<String> = before
                    .keys()
                    .chain(after.keys())
                    .filter(|k| before.get(*k) != after.get(*k))
                    .map(|k| k.display().to_string())
                    .collect();
                return Err(format!("the refusal changed {changed:?}"));
            }
            Ok(true)
        }
        Expect::Failed { says, equal } => {
            if out.status.success() {
                return Err(format!("did not fail: {}", text(out)));
            }
            let last = err.lines().last().unwrap_or("");
            if !last.starts_with("emerge: error: ") || !last.contains(says.as_str()) {
                return Err(format!("last line is not the error with {says:?}: {err}"));
            }
            if err
                .lines()
                .filter(|l| l.starts_with("emerge: error:"))
                .count()
                != 1
            {
                return Err(format!("more than one error line: {err}"));
            }
            common::csvs_whole(&c.run())?;
            if *equal {
                same_as_reference(c)?;
            }
            Ok(true)
        }
    }
}

/// Whether this process can be denied a read by a file's mode (root cannot).
fn permissions_bite(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let f = dir.join("mode-probe");
    std::fs::write(&f, "x").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
    let denied = std::fs::read(&f).is_err();
    std::fs::remove_file(&f).unwrap();
    denied
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A small tmpfs at `at`, if this process may mount one.
fn mount_tmpfs(at: &Path, bytes: u64) -> Result<(), String> {
    std::fs::create_dir_all(at).unwrap();
    let out = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={bytes}"),
            "tmpfs",
            s(at),
        ])
        .output()
        .map_err(|e| format!("mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn umount(at: &Path) {
    let _ = std::process::Command::new("umount").arg(s(at)).output();
}

fn probes(skipped: &mut Vec<String>, tmp: &Path) -> Vec<Probe> {
    let mut v = Vec::new();
    // Each job file, four ways.
    for file in [
        "status.json",
        "sums.json",
        "timing.json",
        "train_log.csv",
        "samples.csv",
        "scores.csv",
        "models.csv",
        "checkpoint/model.safetensors",
        "checkpoint/optimizer.safetensors",
        "checkpoint/trainer.json",
    ] {
        let f = file.to_string();
        // What the warning names; nothing where the damage cannot matter
        // (timing only, or the job's state without it is simply unfinished).
        let named = |how: &str| -> Vec<&str> {
            match (file, how) {
                ("timing.json", _) | ("status.json", "delete") | ("sums.json", "edit") => vec![],
                ("sums.json", _) => vec!["sums.json"],
                _ => vec![file],
            }
        };
        let g = f.clone();
        v.push(probe(
            &format!("job {file}: truncated"),
            move |r| cut(&job(r, &g)),
            vec![recovered(&named("cut"))],
        ));
        let g = f.clone();
        v.push(probe(
            &format!("job {file}: garbage"),
            move |r| garbage(&job(r, &g)),
            vec![recovered(&named("garbage"))],
        ));
        let g = f.clone();
        v.push(probe(
            &format!("job {file}: deleted"),
            move |r| delete(&job(r, &g)),
            vec![recovered(&named("delete"))],
        ));
        let g = f.clone();
        v.push(probe(
            &format!("job {file}: edited"),
            move |r| edit(&job(r, &g)),
            vec![recovered(&named("edit"))],
        ));
    }
    // Each merged file and the analysis, four ways: the sweep writes them again.
    for file in [
        "scores.csv",
        "samples.csv",
        "models.csv",
        "train_log.csv",
        "fits.csv",
        "claims.csv",
    ] {
        let f = file.to_string();
        let g = f.clone();
        v.push(probe(
            &format!("merged {file}: truncated"),
            move |r| cut(&r.join(&g)),
            vec![recovered(&[])],
        ));
        let g = f.clone();
        v.push(probe(
            &format!("merged {file}: garbage"),
            move |r| garbage(&r.join(&g)),
            vec![recovered(&[])],
        ));
        let g = f.clone();
        v.push(probe(
            &format!("merged {file}: deleted"),
            move |r| delete(&r.join(&g)),
            vec![recovered(&[])],
        ));
        let g = f.clone();
        v.push(probe(
            &format!("merged {file}: edited"),
            move |r| edit(&r.join(&g)),
            vec![recovered(&[])],
        ));
    }
    // The run's own files.
    v.push(probe(
        "config.toml: truncated",
        |r| cut(&r.join("config.toml")),
        vec![refused("config.toml")],
    ));
    v.push(probe(
        "config.toml: garbage",
        |r| garbage(&r.join("config.toml")),
        vec![refused("config.toml")],
    ));
    v.push(probe(
        "config.toml: deleted",
        |r| delete(&r.join("config.toml")),
        vec![recovered(&[])],
    ));
    v.push(probe(
        "config.toml: edited",
        |r| {
            let p = r.join("config.toml");
            std::fs::write(&p, read(&p).replace("items = 12", "items = 13")).unwrap();
        },
        vec![refused("eval.items: 13 -> 12")],
    ));
    for how in ["truncated", "garbage", "deleted"] {
        v.push(probe(
            &format!("manifest.json: {how}"),
            move |r| {
                let p = r.join("manifest.json");
                match how {
                    "truncated" => cut(&p),
                    "garbage" => garbage(&p),
                    _ => delete(&p),
                }
            },
            vec![recovered(&[])],
        ));
    }
    // The reproductions and the cases around them.
    v.push(probe(
        "a copy under a new name, untouched",
        |_| {},
        vec![recovered(&[])],
    ));
    v.push(probe(
        "finished job: optimizer cut to 1000 bytes, then eval",
        |r| cut(&job(r, "checkpoint/optimizer.safetensors")),
        vec![
            Step {
                run: Box::new(|c: &Ctx| emerge(&["eval", "--run", s(&c.run())])),
                expect: Expect::Recovered(vec![]),
            },
            recovered(&["optimizer.safetensors", "trains again from step 0"]),
        ],
    ));
    v.push(probe(
        "finished job: weights cut to 1000 bytes, then eval",
        |r| cut(&job(r, "checkpoint/model.safetensors")),
        vec![
            Step {
                run: Box::new(|c: &Ctx| emerge(&["eval", "--run", s(&c.run())])),
                expect: Expect::Failed {
                    says: format!("could not score 1 of 4 finished jobs, whose rows are as the sweep wrote them (`emerge sweep` on this run retrains a job whose checkpoint is damaged): {JOB}"),
                    equal: true,
                },
            },
            recovered(&["model.safetensors", "trains again from step 0"]),
        ],
    ));
    v.push(probe(
        "sums.json deleted, a score edited",
        |r| {
            delete(&job(r, "sums.json"));
            let p = job(r, "scores.csv");
            let t = read(&p);
            let line = t
                .lines()
                .find(|l| l.contains(",0.0,"))
                .expect("a zero score")
                .to_string();
            std::fs::write(
                &p,
                t.replacen(&line, &line.replacen(",0.0,", ",0.75,", 1), 1),
            )
            .unwrap();
        },
        vec![recovered(&[
            "scores.csv: no checksum (sums.json is missing)",
        ])],
    ));
    v.push(probe(
        "sums.json deleted, train_log.csv cut mid-line",
        |r| {
            delete(&job(r, "sums.json"));
            let p = job(r, "train_log.csv");
            let n = std::fs::metadata(&p).unwrap().len();
            common::truncate(&p, (n * 6 / 10) as usize);
        },
        vec![recovered(&["train_log.csv"])],
    ));
    v.push(probe(
        "train_log.csv cut at a line end",
        |r| {
            let p = job(r, "train_log.csv");
            let t = read(&p);
            let at = t.trim_end().rfind('\n').unwrap() + 1;
            common::truncate(&p, at);
        },
        vec![recovered(&["train_log.csv"])],
    ));
    v.push(probe(
        "scores.csv cut inside its last number",
        |r| {
            let p = job(r, "scores.csv");
            let n = read(&p).len();
            common::truncate(&p, n - 2);
        },
        vec![recovered(&["scores.csv"])],
    ));
    v.push(probe(
        "another job's status.json",
        |r| {
            std::fs::copy(
                r.join("jobs").join(OTHER).join("status.json"),
                job(r, "status.json"),
            )
            .unwrap();
        },
        vec![recovered(&["status.json: the status of L1-D32-H2-s0"])],
    ));
    v.push(probe(
        "another job's checkpoint",
        |r| {
            delete(&job(r, "checkpoint"));
            copy_tree(
                &r.join("jobs").join(OTHER).join("checkpoint"),
                &job(r, "checkpoint"),
            );
        },
        vec![recovered(&["checkpoint/"])],
    ));
    v.push(probe(
        "checkpoint left as checkpoint.old",
        |r| std::fs::rename(job(r, "checkpoint"), job(r, "checkpoint.old")).unwrap(),
        vec![recovered(&["trains again from checkpoint.old"])],
    ));
    v.push(probe(
        "checkpoint folder deleted",
        |r| delete(&job(r, "checkpoint")),
        vec![recovered(&["missing"])],
    ));
    v.push(probe(
        "job folder deleted",
        |r| delete(&r.join("jobs").join(JOB)),
        vec![recovered(&[])],
    ));
    v.push(probe(
        "status.json says diverged",
        |r| {
            let p = job(r, "status.json");
            std::fs::write(&p, read(&p).replace("\"ok\"", "\"diverged\"")).unwrap();
        },
        vec![recovered(&["status.json: says diverged at step 16"])],
    ));
    v.push(probe(
        "scores.csv replaced by a folder",
        |r| {
            delete(&job(r, "scores.csv"));
            std::fs::create_dir(job(r, "scores.csv")).unwrap();
        },
        vec![refused("scores.csv: cannot be read")],
    ));
    // Locks.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let h = host.clone();
    v.push(probe(
        "a lock holding pid 0",
        move |r| {
            std::fs::write(r.join(".lock"), format!("{{\"pid\":0,\"host\":\"{h}\"}}")).unwrap()
        },
        vec![Step {
            run: sweep(),
            expect: Expect::Recovered(vec!["taking over the lock of pid 0".into()]),
        }],
    ));
    v.push(probe(
        "a lock held by a live process",
        move |r| {
            std::fs::write(
                r.join(".lock"),
                format!("{{\"pid\":1,\"host\":\"{host}\"}}"),
            )
            .unwrap()
        },
        vec![refused("in use by emerge sweep pid 1")],
    ));
    // Outputs of other commands never replace the run's files.
    v.push(probe(
        "runs --out a run's scores.csv",
        |_| {},
        vec![Step {
            run: Box::new(|c: &Ctx| {
                emerge(&[
                    "runs",
                    s(&c.reference),
                    "--out",
                    s(&c.run().join("scores.csv")),
                ])
            }),
            expect: Expect::Refused("inside run folder".into()),
        }],
    ));
    v.push(probe(
        "compare --out a run's plots folder",
        |_| {},
        vec![Step {
            run: Box::new(|c: &Ctx| {
                emerge(&[
                    "compare",
                    s(&c.reference),
                    s(&c.reference),
                    "--out",
                    s(&c.run().join("plots")),
                ])
            }),
            expect: Expect::Refused("inside run folder".into()),
        }],
    ));
    // A full disk, as a cap on file size: a recovering sweep fails at a
    // write naming it, leaves no torn file, and finishes once there is room.
    v.push(probe(
        "a full disk (RLIMIT_FSIZE) while a damaged job retrains",
        |r| cut(&job(r, "checkpoint/model.safetensors")),
        vec![
            Step {
                run: Box::new(|c: &Ctx| emerge_with_file_cap(&sweep_args(c), 24 * 1024)),
                expect: Expect::Failed {
                    says: "jobs/".into(),
                    equal: false,
                },
            },
            recovered(&[]),
        ],
    ));
    v.push(probe(
        "a full disk (RLIMIT_FSIZE) at the merge of a finished run",
        |_| {},
        vec![
            Step {
                run: Box::new(|c: &Ctx| emerge_with_file_cap(&sweep_args(c), 24 * 1024)),
                expect: Expect::Failed {
                    says: "samples.csv: File too large".into(),
                    equal: false,
                },
            },
            recovered(&[]),
        ],
    ));
    // Unreadable files are not damage: the sweep stops, moving nothing.
    if permissions_bite(tmp) {
        for file in ["status.json", "scores.csv", "checkpoint/model.safetensors"] {
            let f = file.to_string();
            v.push(probe(
                &format!("job {file}: unreadable (mode 000)"),
                move |r| chmod(&job(r, &f), 0o000),
                vec![refused(&format!("{file}: cannot be read"))],
            ));
        }
    } else {
        skipped.push(
            "unreadable files (mode 000): skipped, this process reads them anyway (it runs as root); `scores.csv replaced by a folder` takes the same path".into(),
        );
    }
    v
}

/// A small tmpfs filling up while a damaged job retrains: the write that
/// does not fit names its path, no file is torn, and with room again the
/// same sweep finishes equal to the reference. `Err` says why it could not run.
fn full_tmpfs(runs: &Path, reference: &Path) -> Result<(), String> {
    let size: u64 = walk(reference)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let at = runs.join("tmpfs");
    // The copy, its files rounded to pages, and little more.
    let pages = walk(reference).len() as u64 * 4096;
    mount_tmpfs(&at, size + pages + 64 * 1024)?;
    let c = Ctx {
        runs: at.clone(),
        name: "full".into(),
        reference: reference.to_path_buf(),
    };
    copy_tree(reference, &c.run());
    cut(&job(&c.run(), "checkpoint/model.safetensors"));
    // Something to fill the rest of the disk with.
    let _ = std::fs::write(at.join("ballast"), vec![0u8; 48 * 1024]);
    let out = emerge(&sweep_args(&c));
    let result = (|| {
        let outcome = check(
            &c,
            &out,
            &Expect::Failed {
                says: "No space left on device".into(),
                equal: false,
            },
            &BTreeMap::new(),
        );
        // Room again: the same folder, moved off the full disk.
        let again = Ctx {
            runs: runs.to_path_buf(),
            name: "full-again".into(),
            reference: reference.to_path_buf(),
        };
        copy_tree(&c.run(), &again.run());
        outcome?;
        let out = emerge(&sweep_args(&again));
        check(&again, &out, &Expect::Recovered(vec![]), &BTreeMap::new())
    })();
    umount(&at);
    result.map(|_| ()).map_err(|e| format!("FAILED: {e}"))
}

#[test]
fn every_probe_ends_in_a_clean_error_or_a_run_equal_to_a_clean_one() {
    let runs: Scratch = common::scratch("damage", "matrix");
    let reference = runs.join("reference");
    let out = emerge(&smoke_args(&runs, "reference", &["--threads", "1"]));
    assert!(out.status.success(), "{}", text(&out));
    let mut skipped = Vec::new();
    let all = probes(&mut skipped, &runs);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<bool, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(p) = all.get(i) else { break };
                let c = Ctx {
                    runs: runs.to_path_buf(),
                    name: format!("p{i:02}"),
                    reference: reference.clone(),
                };
                copy_tree(&reference, &c.run());
                (p.damage)(&c.run());
                let mut outcome = Ok(false);
                for (k, step) in p.steps.iter().enumerate() {
                    let before = snapshot(&c.run());
                    let out = (step.run)(&c);
                    match check(&c, &out, &step.expect, &before) {
                        Ok(clean_error) if k == 0 => outcome = Ok(clean_error),
                        Ok(_) => {}
                        Err(e) => {
                            outcome = Err(format!("step {}: {e}", k + 1));
                            break;
                        }
                    }
                }
                results.lock().unwrap().push((i, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let mut report = String::new();
    let (mut errors, mut recovered, mut failed) = (0, 0, 0);
    for (i, r) in &results {
        let what = match r {
            Ok(true) => {
                errors += 1;
                "clean error".to_string()
            }
            Ok(false) => {
                recovered += 1;
                "recovered".to_string()
            }
            Err(e) => {
                failed += 1;
                format!("FAILED: {e}")
            }
        };
        report += &format!("p{i:02} {:<58} {what}\n", all[*i].name);
    }
    let mut probes_run = all.len();
    match full_tmpfs(&runs, &reference) {
        Ok(()) => {
            probes_run += 1;
            errors += 1;
            report += "tmpfs a full disk (a small tmpfs) while a damaged job retrains  clean error\n";
        }
        Err(e) if e.starts_with("FAILED") => {
            probes_run += 1;
            failed += 1;
            report += &format!("tmpfs a full disk (a small tmpfs)  {e}\n");
        }
        Err(e) => skipped.push(format!(
            "a full tmpfs: skipped, no tmpfs can be mounted here ({e}); the RLIMIT_FSIZE probe stands in"
        )),
    }
    for s in &skipped {
        report += &format!("skipped: {s}\n");
    }
    report += &format!(
        "damage matrix: {probes_run} probes, {errors} clean errors, {recovered} recovered, {failed} failed, {} skipped\n",
        skipped.len()
    );
    println!("{report}");
    assert_eq!(failed, 0, "{report}");
    assert_eq!(errors + recovered, probes_run, "{report}");
}
