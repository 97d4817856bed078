//! The run-folder lock: a file created exclusively, holding the pid and host
//! of the `emerge sweep` that owns the folder. An unsharded sweep takes
//! `.lock`; shard I of N takes `.lock-shard-I-of-N`, so the shards of one
//! Slurm array run side by side while a second copy of any of them (or an
//! unsharded sweep next to a live shard) is refused.
//!
//! A lock whose process is gone (same host, no such pid) is taken over with
//! a warning; a lock from another host cannot be checked and is refused,
//! naming the file to delete if that process is known to be dead.

use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
}

pub struct Lock {
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// A pid that names one process: kill(0, _) would signal the caller's own
/// process group and a negative pid (a u32 past i32::MAX) another group,
/// so neither can be a lock holder.
fn single_process(pid: u32) -> Option<libc::pid_t> {
    libc::pid_t::try_from(pid).ok().filter(|&p| p > 0)
}

fn alive(pid: u32) -> bool {
    let Some(pid) = single_process(pid) else {
        return false;
    };
    // Signal 0 checks existence without sending anything. EPERM means the
    // process exists but belongs to someone else.
    // SAFETY: kill with signal 0 takes plain integers and touches no memory;
    // `pid` is positive, so it names one process, never a group.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn read_holder(path: &Path) -> Option<Holder> {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Whether the lock at `path` belongs to a live process: `Ok(None)` when
/// free or stale (a stale file is removed, with a warning on stderr).
fn check(path: &Path, run: &Path) -> Result<Option<Holder>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let me = hostname();
    match read_holder(path) {
        Some(h) if h.host == me && h.pid == std::process::id() => Ok(None),
        Some(h) if h.host == me && !alive(h.pid) => {
            let why = if single_process(h.pid).is_some() {
                "no longer running"
            } else {
                "not a process id"
            };
            eprintln!(
                "emerge: warning: {}: taking over the lock of pid {} ({why})",
                run.display(),
                h.pid
            );
            let _ = fs::remove_file(path);
            Ok(None)
        }
        Some(h) => Ok(Some(h)),
        // Unreadable: a holder killed between create and write. Nothing can
        // be running with it; treat it as stale.
        None => {
            eprintln!(
                "emerge: warning: {}: removing an unreadable lock file",
                path.display()
            );
            let _ = fs::remove_file(path);
            Ok(None)
        }
    }
}

/// Whether a lock's holder still runs, as far as this host can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// Same host, no such process: the sweep was killed or crashed.
    Gone,
    /// Another host's process, which this one cannot check.
    Unknown,
}

/// Every lock file of `run` with its holder and whether it runs, read
/// without taking, removing or otherwise touching any of them (for
/// `emerge status`, which must not disturb the sweep it looks at). An
/// unreadable lock file is left out: its holder died before writing it.
pub fn holders(run: &Path) -> Vec<(String, Holder, Liveness)> {
    let me = hostname();
    let mut out: Vec<(String, Holder, Liveness)> = fs::read_dir(run)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name == ".lock" || name.starts_with(".lock-shard-")) {
                return None;
            }
            let h = read_holder(&e.path())?;
            let live = match (h.host == me, alive(h.pid)) {
                (false, _) => Liveness::Unknown,
                (true, true) => Liveness::Alive,
                (true, false) => Liveness::Gone,
            };
            Some((name, h, live))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn refuse(run: &Path, path: &Path, h: &Holder) -> String {
    format!(
        "run folder {} is in use by emerge sweep pid {} on host {} (lock {}; delete it if that process is dead)",
        run.display(),
        h.pid,
        h.host,
        path.display()
    )
}

pub fn lock_name(shard: Option<(usize, usize)>) -> String {
    match shard {
        None => ".lock".into(),
        Some((i, n)) => format!(".lock-shard-{i}-of-{n}"),
    }
}

/// Take the lock of `run` for this process.
pub fn acquire(run: &Path, shard: Option<(usize, usize)>) -> Result<Lock, String> {
    let path = run.join(lock_name(shard));
    // Locks this one must not run next to.
    let mut others: Vec<PathBuf> = vec![run.join(lock_name(None))];
    if shard.is_none() {
        let entries = fs::read_dir(run).map_err(|e| format!("{}: {e}", run.display()))?;
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".lock-shard-") {
                others.push(e.path());
            }
        }
    }
    for other in others.iter().filter(|p| **p != path) {
        if let Some(h) = check(other, run)? {
            return Err(refuse(run, other, &h));
        }
    }
    let holder = Holder {
        pid: std::process::id(),
        host: hostname(),
    };
    for _ in 0..3 {
        if let Some(h) = check(&path, run)? {
            return Err(refuse(run, &path, &h));
        }
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let json = serde_json::to_vec(&holder).expect("holder serializes");
                f.write_all(&json)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                return Ok(Lock { path });
            }
            // Someone created it between the check and now: check again.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Err(format!(
        "{}: could not take the lock (another sweep keeps creating it)",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_stale_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        // A live foreign holder: pid 1 always exists.
        let path = run.join(".lock");
        let live = Holder {
            pid: 1,
            host: hostname(),
        };
        fs::write(&path, serde_json::to_vec(&live).unwrap()).unwrap();
        let err = acquire(run, None).err().expect("refused");
        assert!(err.contains("pid 1"), "{err}");
        // A shard is refused too while the whole-run lock is live.
        assert!(acquire(run, Some((0, 2))).is_err());
        // A dead holder: a pid far above any pid_max in use.
        let dead = Holder {
            pid: 999_999_999,
            host: hostname(),
        };
        fs::write(&path, serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = acquire(run, None).expect("stale lock taken over");
        let h = read_holder(&path).unwrap();
        assert_eq!(h.pid, std::process::id());
        drop(lock);
        // Pid 0 (kill(0, 0) signals our own group and succeeds) and a pid
        // that is negative as a pid_t name no holder: taken over.
        for pid in [0, u32::MAX] {
            let bogus = Holder {
                pid,
                host: hostname(),
            };
            fs::write(&path, serde_json::to_vec(&bogus).unwrap()).unwrap();
            assert!(!alive(pid));
            drop(acquire(run, None).expect("a lock of pid 0 or -1 is taken over"));
        }
        assert!(!path.exists(), "released on drop");
        // Two shards coexist; the whole run is refused next to a live one.
        let a = acquire(run, Some((0, 2))).unwrap();
        let b = acquire(run, Some((1, 2))).unwrap();
        drop((a, b));
        let shard = run.join(lock_name(Some((1, 2))));
        fs::write(&shard, serde_json::to_vec(&live).unwrap()).unwrap();
        let err = acquire(run, None)
            .err()
            .expect("refused next to a live shard");
        assert!(err.contains("shard-1-of-2"), "{err}");
    }
}
