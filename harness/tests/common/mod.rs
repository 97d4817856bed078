//! What the `emerge` command-line tests share: running the binary, a fresh
//! scratch folder per test, and reading its output and files.
// Each test binary uses a subset of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run `emerge ARGS` to the end.
pub fn emerge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emerge"))
        .args(args)
        .output()
        .expect("run emerge")
}

/// Start `emerge ARGS` with its output piped (to kill it mid-run).
pub fn spawn(args: &[&str]) -> Running {
    Running::new(
        Command::new(env!("CARGO_BIN_EXE_emerge"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start emerge"),
    )
}

/// A child process that is killed and reaped when dropped, so a test that
/// fails (panics) while it runs leaves no process behind training into, or
/// holding the lock of, a scratch folder.
pub struct Running(Option<Child>);

impl Running {
    pub fn new(child: Child) -> Self {
        Running(Some(child))
    }

    pub fn id(&self) -> u32 {
        self.child().id()
    }

    /// Whether the process has not exited yet.
    pub fn still_running(&mut self) -> bool {
        let c = self.0.as_mut().expect("a running child");
        c.try_wait().expect("poll the child").is_none()
    }

    fn child(&self) -> &Child {
        self.0.as_ref().expect("a running child")
    }

    /// Wait for the end and collect what it printed.
    pub fn wait_with_output(mut self) -> Output {
        let child = self.0.take().expect("a running child");
        child.wait_with_output().expect("wait for the child")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An empty `emerge-<suite>-<name>-<pid>` folder in the temp dir; `suite`
/// keeps test binaries that run at once from sharing a folder.
pub fn scratch(suite: &str, name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("emerge-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

/// A scratch folder that is removed when the test passes and kept when it
/// fails, so the run folders of a failing test can be read afterwards.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for inspection: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// How long [`kill_when`] waits for its moment.
const KILL_DEADLINE: Duration = Duration::from_secs(120);

/// Wait until `ready` holds, then SIGKILL the process. `Ok` with everything
/// it printed when the kill landed (the process died of the SIGKILL); `Err`
/// with the reason and its output when it did not: the process ended first,
/// or the moment had not come within [`KILL_DEADLINE`] (it is killed then
/// too, but that kill interrupted nothing the test chose).
pub fn kill_when(mut child: Running, ready: impl Fn() -> bool) -> Result<String, String> {
    use std::os::unix::process::ExitStatusExt;
    let t0 = Instant::now();
    let mut timed_out = false;
    loop {
        // `ready` first: a moment that came just before the process ended
        // still gets its kill (which then fails to land, and says so).
        if ready() {
            break;
        }
        if child.0.as_mut().unwrap().try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > KILL_DEADLINE {
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // Killing a process that has exited but is not yet reaped does nothing.
    let _ = child.0.as_mut().unwrap().kill();
    let out = child.wait_with_output();
    let said = text(&out);
    if timed_out {
        Err(format!(
            "the moment did not come within {} s (pid killed then)\n{said}",
            KILL_DEADLINE.as_secs()
        ))
    } else if out.status.signal() != Some(libc::SIGKILL) {
        Err(format!(
            "the process ended ({}) before the moment came\n{said}",
            out.status
        ))
    } else {
        Ok(said)
    }
}

/// `emerge sweep --preset smoke` into `runs/name`, plus `extra` flags.
pub fn smoke_args<'a>(runs: &'a Path, name: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "sweep",
        "--preset",
        "smoke",
        "--runs-dir",
        s(runs),
        "--name",
        name,
    ];
    args.extend_from_slice(extra);
    args
}

/// Files that must not differ between a recovered or interrupted run and a
/// clean one.
pub const EXACT: [&str; 3] = ["scores.csv", "models.csv", "samples.csv"];

/// `train_log.csv` without its timing column.
pub fn train_log_untimed(run: &Path) -> String {
    read(&run.join("train_log.csv"))
        .lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(a, _)| a).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `EXACT` byte for byte, and the training log but for its timing column.
pub fn assert_same_results(a: &Path, b: &Path) {
    for f in EXACT {
        let (x, y) = (read(&a.join(f)), read(&b.join(f)));
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
    assert_eq!(train_log_untimed(a), train_log_untimed(b));
}

/// Copy the folder `from` (and everything under it) to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Keep the first `keep` bytes of `path`.
pub fn truncate(path: &Path, keep: usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > keep, "{}", path.display());
    std::fs::write(path, &bytes[..keep]).unwrap();
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Run emerge with writes capped at `bytes` per file (RLIMIT_FSIZE, with
/// SIGXFSZ ignored so that a write past it fails like a full disk).
pub fn emerge_with_file_cap(args: &[&str], bytes: u64) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_emerge"));
    cmd.args(args);
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (signal, setrlimit) on stack values.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run emerge")
}

/// Every row CSV under `run` parses whole (nothing was left torn under its
/// final name): the number of them, or the first that does not.
pub fn csvs_whole(run: &Path) -> Result<usize, String> {
    let mut n = 0;
    for f in walk(run) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let ok = match name.as_str() {
            "scores.csv" => runfolder::read::read_csv::<runfolder::ScoreRow>(&f).is_ok(),
            "samples.csv" => runfolder::read::read_csv::<runfolder::SampleRow>(&f).is_ok(),
            "models.csv" => runfolder::read::read_csv::<runfolder::ModelRow>(&f).is_ok(),
            "train_log.csv" => runfolder::read::read_csv::<runfolder::TrainLogRow>(&f).is_ok(),
            _ => continue,
        };
        if !ok {
            return Err(format!("torn file {}", f.display()));
        }
        n += 1;
    }
    Ok(n)
}

/// `run/report.md` exists, every image it links exists (relative to the
/// run), every PNG of the run is linked, and it has the sections `needles`.
pub fn assert_report_shows(run: &Path, needles: &[&str]) {
    let report = read(&run.join("report.md"));
    let links: Vec<&str> = report
        .match_indices("](")
        .filter_map(|(i, _)| {
            let rest = &report[i + 2..];
            rest.find(')').map(|j| &rest[..j])
        })
        .collect();
    for l in &links {
        assert!(
            run.join(l).is_file(),
            "report.md links {l}, which is missing"
        );
    }
    let pngs: Vec<PathBuf> = walk(run)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    assert!(!pngs.is_empty(), "no PNG in {}", run.display());
    for p in pngs {
        let rel = p.strip_prefix(run).unwrap().to_string_lossy().into_owned();
        assert!(
            links.contains(&rel.as_str()),
            "report.md does not show {rel}"
        );
    }
    // Each chart comes after a sentence saying what it shows.
    let lines: Vec<&str> = report.lines().filter(|l| !l.trim().is_empty()).collect();
    for (i, l) in lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("!["))
    {
        let before = if i > 0 { lines[i - 1] } else { "" };
        assert!(
            !before.is_empty() && !before.starts_with("![") && !before.starts_with('#'),
            "report.md shows {l} without a caption before it"
        );
    }
    for n in needles {
        assert!(report.contains(n), "report.md lacks {n:?}:\n{report}");
    }
}
