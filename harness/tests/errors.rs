//! Unknown names and bad difficulty values give clear errors: from the
//! library, from config text, and from the `emerge tasks` command line.

use std::process::Command;
use tasks::vocab;
use tasks::{by_name, TaskConfig, TaskError};

fn from_toml(task: &str, table: &str) -> Result<TaskConfig, TaskError> {
    let mut v: toml::Table = toml::from_str(&format!("t = {{ {table} }}")).unwrap();
    let cfg = TaskConfig::from_named(task, v.remove("t").unwrap())?;
    cfg.validate()?;
    Ok(cfg)
}

#[test]
fn unknown_task_names_list_the_known_ones() {
    let e = by_name("addition").err().unwrap().to_string();
    assert_eq!(
        e,
        "unknown task `addition` (known tasks: add, mul, sort, word, word_ood, word_twin, modp, icl, hop, code, code_shuffled)"
    );
    assert!(from_toml("Add", "").is_err());
}

#[test]
fn bad_difficulty_values_name_task_key_and_value() {
    let cases = [
        (
            "add",
            "digits = [0]",
            "task `add`: key `digits` = 0: must be in 1..=15",
        ),
        (
            "add",
            "digits = []",
            "task `add`: key `digits` = []: must list at least one value",
        ),
        (
            "add",
            "digits = [3, 3]",
            "task `add`: key `digits` = 3: is listed twice",
        ),
        (
            "mul",
            "b_digits = [10]",
            "task `mul`: key `b_digits` = 10: must be in 1..=9",
        ),
        (
            "sort",
            "k = [1]",
            "task `sort`: key `k` = 1: must be in 2..=20",
        ),
        (
            "sort",
            "max = 0",
            "task `sort`: key `max` = 0: must be in 1..=999",
        ),
        (
            "word",
            "steps = [5]",
            "task `word`: key `steps` = 5: must be in 2..=4",
        ),
        (
            "word_ood",
            "max_result = 50",
            "task `word_ood`: key `max_result` = 50: must be in 99..=1000000",
        ),
        (
            "modp",
            "ops = [\"/\"]",
            "task `modp`: key `ops` = \"/\": must be one of +, -, *",
        ),
        (
            "modp",
            "modulus = 1",
            "task `modp`: key `modulus` = 1: must be in 2..=1000",
        ),
        (
            "icl",
            "rules = [\"caesar\"]",
            "task `icl`: key `rules` = \"caesar\": must be one of affine, shift, subst",
        ),
        (
            "icl",
            "len = 0",
            "task `icl`: key `len` = 0: must be in 1..=8",
        ),
        (
            "icl",
            "len = 3, min_len = 4",
            "task `icl`: key `min_len` = 4: must be in 1..=3",
        ),
        (
            "hop",
            "people = 2",
            "task `hop`: key `people` = 2: must be in 4..=500",
        ),
        (
            "hop",
            "two_hop_fraction = 1.5",
            "task `hop`: key `two_hop_fraction` = 1.5: must be in 0..=1",
        ),
        (
            "code",
            "lines = [2]",
            "task `code`: key `lines` = 2: must be in 3..=8",
        ),
        (
            "code",
            "lines = [4, 4]",
            "task `code`: key `lines` = 4: is listed twice",
        ),
        (
            "code",
            "max_value = 8",
            "task `code`: key `max_value` = 8: must be in 9..=9999",
        ),
    ];
    for (task, table, want) in cases {
        let e = from_toml(task, table).expect_err(table).to_string();
        assert_eq!(e, want);
    }
}

#[test]
fn unknown_keys_and_wrong_types_are_refused() {
    let e = from_toml("add", "digit = [3]").err().unwrap().to_string();
    assert!(
        e.starts_with("task `add`: bad parameters:") && e.contains("unknown field `digit`"),
        "{e}"
    );
    let e = from_toml("add", "digits = 3").err().unwrap().to_string();
    assert!(e.starts_with("task `add`"), "{e}");
    let e = from_toml("code", "comments = \"yes\"")
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("task `code`: bad parameters:"), "{e}");
    // Missing keys take the defaults.
    assert_eq!(
        from_toml("hop", "people = 50").unwrap(),
        TaskConfig::Hop(tasks::HopParams {
            people: 50,
            ..Default::default()
        })
    );
}

#[test]
fn configs_round_trip_through_toml() {
    for name in tasks::TASK_NAMES {
        let cfg = TaskConfig::default_for(name).unwrap();
        let text = toml::to_string(&cfg).unwrap();
        let back =
            TaskConfig::from_named(name, toml::from_str::<toml::Value>(&text).unwrap()).unwrap();
        assert_eq!(back, cfg, "{name}: {text}");
    }
}

#[test]
fn characters_outside_the_vocabulary_are_named() {
    let e = vocab::encode("12+é", "config prompt")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "character 'é' (U+00E9) at byte 3 of config prompt is outside the vocabulary (printable ASCII and newline)"
    );
    assert!(vocab::encode("a\tb", "x").is_err());
    let ids = vocab::encode("A:1 ~\n", "x").unwrap();
    assert_eq!(vocab::decode(&ids), "A:1 ~\n");
    assert_eq!(vocab::vocab_size(), 98);
    assert_eq!((vocab::PAD, vocab::EOS, vocab::NEWLINE), (0, 1, 2));
    assert_eq!(vocab::char_id(' '), Some(3));
    assert_eq!(vocab::char_id('~'), Some(97));
    assert_eq!(vocab::token_str(1), "<eos>");
    assert_eq!(vocab::encode_prompt("1", "x").unwrap(), vec![1, 20]);
    assert!(vocab::is_stop(vocab::NEWLINE) && vocab::is_stop(vocab::EOS) && !vocab::is_stop(20));
}

fn emerge(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_emerge"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn cli_errors_are_one_line_and_exit_non_zero() {
    for (args, want) in [
        (vec!["tasks", "nope"], "unknown task `nope`"),
        (
            vec!["tasks", "add", "--set", "digits=[0]"],
            "key `digits` = 0",
        ),
        (
            vec!["tasks", "add", "--set", "digitz=[2]"],
            "unknown field `digitz`",
        ),
        (
            vec!["tasks", "word_ood", "--split", "train"],
            "evaluation-only",
        ),
        (
            vec!["tasks", "add", "--set", "digits=[1]", "--n", "500"],
            "distinct test items",
        ),
    ] {
        let (ok, _, err) = emerge(&args);
        assert!(!ok, "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let (ok, _, err) = emerge(&["tasks", "add", "--mode", "sideways"]);
    assert!(!ok && err.contains("sideways"));
}

#[test]
fn cli_lists_tasks_and_prints_items() {
    let (ok, out, _) = emerge(&["tasks"]);
    assert!(ok);
    for name in tasks::TASK_NAMES {
        assert!(
            out.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{out}"
        );
    }
    let (ok, out, _) = emerge(&["tasks", "add", "--mode", "cot", "--n", "3", "--seed", "7"]);
    assert!(ok);
    assert!(out.contains("== add:988+693 (test, cot, 0 shots)"), "{out}");
    assert!(out.contains("prompt | 988+693 T:"));
    assert!(out.contains("answer | 1681"));
}

#[test]
fn cli_csv_is_parseable_with_the_promised_columns() {
    let (ok, out, err) = emerge(&[
        "tasks", "word", "--mode", "cot", "--n", "4", "--shots", "2", "--split", "train",
        "--format", "csv",
    ]);
    assert!(ok, "{err}");
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        ["task", "mode", "split", "item_id", "prompt", "trace", "answer"]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    let word = by_name("word").unwrap();
    for row in &rows {
        assert_eq!((&row[0], &row[1], &row[2]), ("word", "cot", "train"));
        assert!(row[3].starts_with("word:"));
        // Two solved exemplars, each on its own line, then the query's prompt.
        let lines: Vec<&str> = row[4].split('\n').collect();
        assert_eq!(lines.len(), 3, "{}", &row[4]);
        assert!(lines[2].ends_with(" T:"));
        let item = tasks::Item::new(
            "word",
            row[3].trim_start_matches("word:").into(),
            lines[2].trim_end_matches(" T:").into(),
            row[5].into(),
            row[6].into(),
        );
        word.check(&item).unwrap();
    }
}
