//! `emerge status` on a finished, a running and a killed run: what it
//! prints, and that looking in disturbs nothing.

mod common;
use common::{
    assert_report_shows, emerge, kill_when, read, s, scratch, smoke_args, spawn, text, walk,
};
use std::path::Path;

fn status(run: &Path) -> String {
    let out = emerge(&["status", "--run", s(run)]);
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

#[test]
fn status_of_a_finished_run() {
    let runs = scratch("status", "finished");
    let out = emerge(&smoke_args(&runs, "done", &[]));
    assert!(out.status.success(), "{}", text(&out));
    let run = runs.join("done");
    let said = status(&run);
    assert!(said.contains("sweep: finished at "), "{said}");
    assert!(
        said.contains("jobs: 4 done, 0 running, 0 interrupted, 0 pending (0 diverged)"),
        "{said}"
    );
    // Every job was planned, so the plan's estimate is set against the time
    // the jobs took, and nothing is left to estimate.
    assert!(
        said.contains("plan: the 4 jobs finished with an estimate took"),
        "{said}"
    );
    assert!(!said.contains("ETA") && !said.contains("left:"), "{said}");
    // Each job kept its estimate and its last progress.
    for id in ["L1-D16-H2-s0", "L2-D48-H4-s0"] {
        let dir = run.join("jobs").join(id);
        assert!(dir.join("estimate.json").is_file(), "{id}");
        let p = read(&dir.join("progress.json"));
        assert!(p.contains("\"total_steps\": 16"), "{id}: {p}");
    }

    // The sweep's report shows the verdicts, the claims, the plan against
    // the run, every chart, the config and the provenance.
    assert_report_shows(
        &run,
        &[
            "# emerge run `done`",
            "## Verdicts (exact match)",
            "| add | direct | 0 |",
            "| add | cot | 0 |",
            "## Claims",
            "## Time: the plan against the run",
            "4 jobs took ",
            "| L2-D48-H4-s0 | ",
            "## Config",
            "- ladder (layers, width, heads; non-embedding parameters): (1, 16, 2) ",
            "## Provenance",
            "byte-identical scores",
        ],
    );
    // times.csv keeps each job's estimate against its time for copies
    // without jobs/.
    let times: Vec<runfolder::schema::TimeRow> =
        runfolder::read::read_csv(&run.join("times.csv")).unwrap();
    assert_eq!(times.len(), 4);
    assert!(times
        .iter()
        .all(|t| t.estimated_seconds.is_some_and(|e| e > 0.0) && t.train_seconds > 0.0));
    // A gallery copy puts the charts beside the CSVs: `emerge report` there
    // links them where they are.
    let flat = runs.join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    for f in walk(&run) {
        let name = f.file_name().unwrap();
        let top = f.parent() == Some(run.as_ref());
        let chart = f.extension().is_some_and(|x| x == "png");
        if (top && name != "report.md") || chart {
            std::fs::copy(&f, flat.join(name)).unwrap();
        }
    }
    let out = emerge(&["report", "--run", s(&flat)]);
    assert!(out.status.success(), "{}", text(&out));
    assert_report_shows(
        &flat,
        &[
            "](overview.png)",
            "## Verdicts (exact match)",
            "## Time: the plan against the run",
            "| L1-D32-H2-s0 | ",
        ],
    );
}

#[test]
fn status_of_a_running_then_killed_run() {
    let runs = scratch("status", "running");
    // The smoke ladder with a budget long enough to look in while it trains.
    let cfg = runs.join("long.toml");
    let smoke = include_str!("../presets/smoke.toml")
        .replace("tokens = 12_288", "tokens = 30_000_000")
        .replace("checkpoint_every = 4", "checkpoint_every = 200")
        .replace("log_every = 2", "log_every = 10");
    assert!(smoke.contains("tokens = 30_000_000"));
    std::fs::write(&cfg, smoke).unwrap();
    let args = [
        "sweep",
        "--config",
        s(&cfg),
        "--runs-dir",
        s(&runs),
        "--name",
        "long",
    ];
    let run = runs.join("long");
    let first = run.join("jobs/L1-D16-H2-s0/progress.json");
    let child = spawn(&args);
    let pid = child.id();
    // Killed as soon as the first job logged a step: a killed run.
    let killed = kill_when(child, || first.exists());
    let said_killed = status(&run);
    assert!(killed.is_ok(), "{killed:?}");
    assert!(said_killed.contains("sweep: not running"), "{said_killed}");
    assert!(
        said_killed.contains(&format!("names pid {pid}, gone")),
        "{said_killed}"
    );
    assert!(
        said_killed.contains("interrupted L1-D16-H2-s0 at step "),
        "{said_killed}"
    );
    assert!(
        said_killed.contains("0 running, 1 interrupted, 3 pending"),
        "{said_killed}"
    );
    assert!(said_killed.contains("once resumed"), "{said_killed}");
    // Reading left the dead sweep's lock where it was.
    assert!(run.join(".lock").is_file());

    // Resumed, and looked in on while it trains: a running run.
    let resumed = spawn(&args);
    let rpid = resumed.id();
    // Wait until the resumed sweep writes progress past the kill.
    let t0 = std::time::Instant::now();
    let before = read(&first);
    while read(&first) == before {
        assert!(t0.elapsed().as_secs() < 120, "no progress after resuming");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let looked = status(&run);
    assert!(
        looked.contains(&format!("sweep: running: pid {rpid} on ")),
        "{looked}"
    );
    assert!(looked.contains("1 running, 0 interrupted"), "{looked}");
    assert!(looked.contains("  running L1-D16-H2-s0: step "), "{looked}");
    assert!(looked.contains(" tok/s, updated "), "{looked}");
    assert!(looked.contains("ETA: "), "{looked}");
    // Looking in took nothing from the sweep: its lock is its own and it
    // still trains.
    assert!(read(&run.join(".lock")).contains(&format!("\"pid\":{rpid}")));
    let mut resumed = resumed;
    assert!(
        resumed.still_running(),
        "the sweep stopped after being looked at"
    );
}

#[test]
fn status_of_a_folder_that_is_not_a_run() {
    let dir = scratch("status", "none");
    let out = emerge(&["status", "--run", s(&dir)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a run folder (no config.toml)"), "{err}");
}
