//! The held-out test partition: training never yields a test item, in single
//! draws, in the packed stream or as a few-shot exemplar.

use std::collections::BTreeSet;
use tasks::fewshot::few_shot;
use tasks::format::Mode;
use tasks::hash::is_test_key;
use tasks::stream::{LossMask, MixtureEntry, Stream, StreamConfig};
use tasks::{distinct_items, item_at, Split, Task, TaskConfig, TASK_NAMES};

const DRAWS: u64 = 100_000;

fn wide(task: &str) -> Box<dyn Task> {
    // Small item spaces make collisions likely, so overlap would show.
    let table = match task {
        "add" => "digits = [1, 2, 3]",
        "mul" => "a_digits = [1, 2], b_digits = [1, 2]",
        "sort" => "k = [2, 3, 5]",
        "modp" => "modulus = 23",
        "icl" => "len = 2",
        "hop" => "people = 60",
        "code" => "lines = [3]",
        _ => "",
    };
    let mut v: toml::Table = toml::from_str(&format!("t = {{ {table} }}")).unwrap();
    TaskConfig::from_named(task, v.remove("t").unwrap())
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn no_training_draw_is_a_test_item() {
    for name in TASK_NAMES {
        let t = wide(name);
        let tests: BTreeSet<String> = distinct_items(t.as_ref(), 0, Split::Test, 50)
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect();
        if t.eval_only() {
            assert!(item_at(t.as_ref(), 0, Split::Train, 0).is_err());
            continue;
        }
        let mut train_keys = BTreeSet::new();
        for i in 0..DRAWS {
            let item = item_at(t.as_ref(), 0, Split::Train, i).unwrap();
            assert!(
                !t.in_test(&item),
                "{name}: training draw {} is a test item",
                item.id
            );
            assert!(
                !is_test_key(t.family(), &item.key) || item.key.starts_with("1:"),
                "{name}: {}",
                item.key
            );
            train_keys.insert(item.key);
        }
        let overlap: Vec<_> = tests.intersection(&train_keys).collect();
        assert!(overlap.is_empty(), "{name}: {overlap:?}");
        // The draws did cover the space densely enough for that to mean something.
        assert!(
            train_keys.len() > 300,
            "{name}: only {} keys",
            train_keys.len()
        );
    }
}

#[test]
fn word_ood_problems_are_never_trained_as_word_problems() {
    let word = wide("word");
    let ood = wide("word_ood");
    let ood_keys: BTreeSet<String> = distinct_items(ood.as_ref(), 0, Split::Test, 200)
        .unwrap()
        .into_iter()
        .map(|i| i.key)
        .collect();
    for i in 0..DRAWS {
        let item = item_at(word.as_ref(), 9, Split::Train, i).unwrap();
        assert!(!ood_keys.contains(&item.key), "{}", item.key);
    }
}

/// The leak check of `word_twin`: its changed problems are never trained as
/// `word` problems, while the problems they change are training problems.
#[test]
fn word_twin_problems_are_never_trained_and_their_originals_are() {
    use tasks::word_twin::WordTwin;
    use tasks::WordParams;
    // Two-step problems (the `word` preset's): a space small enough for
    // the draws below to cover.
    let params = WordParams {
        steps: vec![2],
        ..WordParams::default()
    };
    let word = TaskConfig::Word(params.clone()).build().unwrap();
    let twin = WordTwin::new(params);
    let twins = distinct_items(&twin, 0, Split::Test, 300).unwrap();
    let own: BTreeSet<&str> = twins
        .iter()
        .map(|i| i.key.split(" from ").next().unwrap())
        .collect();
    for t in &twins {
        let orig = twin.original(t).unwrap();
        assert!(!is_test_key("word", &orig.key), "{}", t.key);
        assert!(own.iter().all(|k| is_test_key("word", k)));
    }
    let mut originals_trained = 0;
    let origs: BTreeSet<String> = twins
        .iter()
        .map(|t| twin.original(t).unwrap().key)
        .collect();
    let mut trained = BTreeSet::new();
    for i in 0..DRAWS {
        let item = item_at(word.as_ref(), 9, Split::Train, i).unwrap();
        assert!(!own.contains(item.key.as_str()), "{}", item.key);
        trained.insert(item.key);
    }
    for o in &origs {
        originals_trained += usize::from(trained.contains(o));
    }
    // Training draws reach the originals (the same space, densely covered).
    assert!(
        originals_trained * 10 >= origs.len() * 9,
        "{originals_trained} of {}",
        origs.len()
    );
}

#[test]
fn the_partition_holds_about_a_tenth() {
    for family in TASK_NAMES {
        let n = 100_000;
        let test = (0..n)
            .filter(|i| is_test_key(family, &format!("{i}+{}", i * 7 % 1000)))
            .count();
        let share = test as f64 / n as f64;
        assert!((0.097..0.103).contains(&share), "{family}: {share}");
    }
}

#[test]
fn packed_stream_never_contains_test_items() {
    let mixture = TASK_NAMES
        .iter()
        .filter(|n| !matches!(**n, "word_ood" | "word_twin"))
        .map(|n| MixtureEntry {
            task: TaskConfig::default_for(n).unwrap(),
            weight: 1.0,
        })
        .collect();
    let stream = Stream::new(StreamConfig {
        seed: 3,
        context: 256,
        mixture,
        cot_fraction: 0.5,
        loss_mask: LossMask::All,
    })
    .unwrap();
    let tasks: Vec<Box<dyn Task>> = TASK_NAMES
        .iter()
        .map(|n| tasks::by_name(n).unwrap())
        .collect();
    let mut examples = 0;
    for p in 0..20_000 {
        let seq = stream.sequence(p).unwrap();
        let t = tasks.iter().find(|t| t.name() == seq.task).unwrap();
        for (item, _) in &seq.examples {
            assert!(!t.in_test(item), "position {p}: {}", item.id);
            examples += 1;
        }
    }
    assert!(examples > 40_000, "{examples}");
}

#[test]
fn few_shot_exemplars_are_training_items() {
    for name in TASK_NAMES {
        let t = wide(name);
        for query in distinct_items(t.as_ref(), 4, Split::Test, 40).unwrap() {
            let fs = few_shot(t.as_ref(), &query, Mode::Cot, 8, 4).unwrap();
            assert_eq!(fs.exemplars.len(), 8);
            let keys: BTreeSet<&str> = fs.exemplars.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys.len(), 8, "{name}: exemplars repeat");
            let len = fs.prompt.len() + fs.completion.len();
            assert!(
                len <= tasks::fewshot::max_len(t.as_ref(), 8),
                "{name}: {len}"
            );
            let direct = few_shot(t.as_ref(), &query, Mode::Direct, 8, 4).unwrap();
            assert_eq!(
                direct.exemplars, fs.exemplars,
                "{name}: modes share exemplars"
            );
            for e in &fs.exemplars {
                assert!(!t.in_test(e), "{name}: exemplar {} is a test item", e.id);
                assert_ne!(e.key, query.key);
                t.check(e).unwrap();
            }
        }
    }
}
