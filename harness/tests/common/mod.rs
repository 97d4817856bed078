//! What the `emerge` command-line tests share: running the binary, a fresh
//! scratch folder per test, and reading its output and files.
// Each test binary uses a subset of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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
pub fn scratch(suite: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("emerge-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
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
