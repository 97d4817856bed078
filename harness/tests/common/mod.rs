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
pub fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_emerge"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start emerge")
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

/// Wait until `ready` holds (or the process ends), then SIGKILL it. Returns
/// whether the kill landed, and everything the process printed.
pub fn kill_when(mut child: Child, ready: impl Fn() -> bool) -> (bool, String) {
    let t0 = Instant::now();
    let killed = loop {
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        if ready() || t0.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            break true;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let out = child.wait_with_output().unwrap();
    (killed, text(&out))
}
