//! Property tests over thousands of items per task and several difficulty
//! settings: every trace checks out step by step and ends at the answer,
//! texts stay inside the vocabulary and the announced maximum length, and
//! the cues appear only where the format puts them.

use std::collections::BTreeMap;
use tasks::answer::extract;
use tasks::format::{Mode, ANSWER_CUE, THINK_CUE};
use tasks::vocab;
use tasks::{distinct_items, item_at, Item, Split, Task, TaskConfig};

fn cfg(task: &str, toml_table: &str) -> Box<dyn Task> {
    let mut v: toml::Table = toml::from_str(&format!("t = {{ {toml_table} }}")).unwrap();
    TaskConfig::from_named(task, v.remove("t").unwrap())
        .unwrap()
        .build()
        .unwrap()
}

/// Settings that cover each task's difficulty knobs.
fn settings() -> Vec<Box<dyn Task>> {
    vec![
        cfg("add", ""),
        cfg("add", "digits = [1, 2, 5]"),
        cfg("add", "digits = [12]"),
        cfg("mul", ""),
        cfg("mul", "a_digits = [1, 3], b_digits = [1, 3]"),
        cfg("mul", "a_digits = [6], b_digits = [5]"),
        cfg("sort", ""),
        cfg("sort", "k = [2, 10]"),
        cfg("sort", "k = [5], max = 99"),
        cfg("word", ""),
        cfg("word", "steps = [4]"),
        cfg("word", "max_result = 1000000"),
        cfg("word_ood", ""),
        cfg("word_ood", "surface = \"unseen_chars\", steps = [2]"),
        cfg("word_twin", ""),
        cfg("word_twin", "steps = [2]"),
        cfg("modp", ""),
        cfg("modp", "ops = [\"-\"], modulus = 13"),
        cfg("modp", "modulus = 997"),
        cfg("icl", ""),
        cfg("icl", "rules = [\"affine\"], len = 8"),
        cfg("icl", "rules = [\"subst\"], len = 1"),
        cfg("icl", "rules = [\"shift\"], len = 3"),
        cfg("icl", "rules = [\"shift\"], len = 4, min_len = 2"),
        cfg("hop", ""),
        cfg(
            "hop",
            "people = 200, relations = 4, two_hop_fraction = 0.0, world_seed = 3",
        ),
        cfg("code", ""),
        cfg("code", "comments = true"),
        cfg("code", "lines = [8], max_value = 9"),
        cfg("code", "lines = [3, 6], max_value = 999, comments = true"),
        cfg("code_shuffled", ""),
        cfg("code_shuffled", "comments = true"),
    ]
}

fn check_item(t: &dyn Task, item: &Item) {
    let ctx = format!("{} [{}] {}", t.name(), t.params(), item.id);
    t.check(item).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    for mode in Mode::ALL {
        let text = item.text(mode);
        vocab::encode(&text, &item.id).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert!(
            item.len(mode) <= t.max_len(),
            "{ctx}: {mode} longer than max_len"
        );
        assert_eq!(text.len(), item.len(mode));
        assert_eq!(
            text.matches('\n').count(),
            1,
            "{ctx}: one newline, at the end"
        );
        // A perfect model's output extracts to the answer in both modes.
        let got = extract(t, mode, &item.completion(mode));
        assert_eq!(
            got.answer.as_deref(),
            Some(item.answer.as_str()),
            "{ctx} {mode}"
        );
    }
    for part in [&item.query, &item.trace, &item.answer] {
        assert!(
            !part.contains(ANSWER_CUE.trim()),
            "{ctx}: answer cue inside `{part}`"
        );
        assert!(
            !part.contains(THINK_CUE.trim()),
            "{ctx}: think cue inside `{part}`"
        );
    }
    assert_eq!(
        t.normalize(&item.answer).as_deref(),
        Some(item.answer.as_str()),
        "{ctx}"
    );
}

#[test]
fn traces_are_right_and_reach_the_answer() {
    for t in settings() {
        let splits: &[Split] = if t.eval_only() {
            &[Split::Test]
        } else {
            &[Split::Train, Split::Test]
        };
        for &split in splits {
            for i in 0..2000 {
                let item = item_at(t.as_ref(), 11, split, i).unwrap();
                check_item(t.as_ref(), &item);
            }
        }
    }
}

/// The checker is not vacuous: changing any one digit or letter of a trace,
/// or the answer, makes it fail.
#[test]
fn corrupted_traces_are_rejected() {
    for t in settings() {
        for i in 0..40 {
            let item = item_at(t.as_ref(), 5, Split::Test, i).unwrap();
            for (at, c) in item.trace.char_indices() {
                let swapped = match c {
                    '0'..='8' | 'a'..='y' | 'A'..='Y' => (c as u8 + 1) as char,
                    '9' => '0',
                    'z' => 'a',
                    'Z' => 'A',
                    _ => continue,
                };
                let mut bad = item.clone();
                bad.trace.replace_range(at..at + 1, &swapped.to_string());
                assert!(
                    t.check(&bad).is_err(),
                    "{}: accepted corrupted trace `{}`",
                    t.name(),
                    bad.trace
                );
            }
            let mut bad = item.clone();
            bad.answer.push('1');
            assert!(
                t.check(&bad).is_err(),
                "{}: accepted a wrong answer",
                t.name()
            );
        }
    }
}

/// `max_len` is an upper bound (above) and, where it is exact, reached.
#[test]
fn max_len_is_tight_where_computable() {
    let add = cfg("add", "digits = [2, 3]");
    assert_eq!(
        add.max_len(),
        "999+999 T:9+9+0=18,9+9+1=19,9+9+1=19 A:1998\n".len()
    );
    let sort = cfg("sort", "k = [3], max = 99");
    assert_eq!(
        sort.max_len(),
        "sort 99 99 99 T:99|99 99,99|99 A:99 99 99\n".len()
    );
    let sort = cfg("sort", "k = [3]");
    assert_eq!(sort.max_len(), "sort 9 9 9 T:9|9 9,9|9 A:9 9 9\n".len());
    let mul = cfg("mul", "a_digits = [2], b_digits = [2]");
    assert_eq!(
        mul.max_len(),
        "99*99 T:99*9=891,99*90=8910,891+8910=9801 A:9801\n".len()
    );
    // modp: enumerate the whole space for p = 97 and compare with the bound.
    let modp = cfg("modp", "ops = [\"+\", \"-\", \"*\"]");
    let longest = (0..97u64)
        .flat_map(|a| (0..97u64).flat_map(move |b| ["+", "-", "*"].map(|op| (a, op, b))))
        .map(|(a, op, b)| {
            let item = tasks::modp::render(a, op, b, 97);
            modp.check(&item).unwrap();
            item.len(Mode::Cot)
        })
        .max()
        .unwrap();
    assert!(longest <= modp.max_len());
    assert!(
        modp.max_len() <= longest + 2,
        "bound {} vs {longest}",
        modp.max_len()
    );
    // code: the bound assumes every line at its longest at once; seeded
    // draws come within a few characters of it.
    for (table, bound) in [("", 102), ("comments = true", 208)] {
        let code = cfg("code", table);
        assert_eq!(code.max_len(), bound, "{table}");
        let longest = (0..20_000)
            .map(|i| {
                item_at(code.as_ref(), 1, Split::Train, i)
                    .unwrap()
                    .len(Mode::Cot)
            })
            .max()
            .unwrap();
        assert!(
            longest <= bound && bound <= longest + 6,
            "{table}: {longest}"
        );
    }
}

#[test]
fn quick_preset_add_fits_context_96() {
    assert!(cfg("add", "digits = [3]").max_len() <= 96);
    assert!(cfg("add", "digits = [1, 2, 3, 4, 5]").max_len() <= 96);
}

/// The words of a text that are names or nouns of `word`'s training lists.
fn training_words(text: &str) -> Vec<&str> {
    use tasks::word::{TRAIN_NAMES, TRAIN_NOUNS};
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| TRAIN_NAMES.contains(w) || TRAIN_NOUNS.contains(w))
        .collect()
}

#[test]
fn word_ood_uses_only_held_out_names() {
    use tasks::word::{OOD_NAMES, OOD_NOUNS, TRAIN_NAMES, TRAIN_NOUNS, UNSEEN_CHAR_NAMES};
    for n in OOD_NAMES.iter().chain(&UNSEEN_CHAR_NAMES) {
        assert!(!TRAIN_NAMES.contains(n));
    }
    for n in OOD_NOUNS {
        assert!(!TRAIN_NOUNS.contains(&n));
    }
    let word = cfg("word", "");
    for surface in ["seen_chars", "unseen_chars"] {
        let ood = cfg("word_ood", &format!("surface = \"{surface}\""));
        for i in 0..2000 {
            let item = item_at(ood.as_ref(), 3, Split::Test, i).unwrap();
            assert!(training_words(&item.query).is_empty(), "{}", item.query);
            let w = item_at(word.as_ref(), 3, Split::Train, i).unwrap();
            assert!(!training_words(&w.query).is_empty(), "{}", w.query);
        }
    }
}

/// `word_ood` tests a new surface, not untrained tokens: every character of
/// every prompt and completion is one `word`'s training text holds with the
/// same parameters (for every choice of step counts), and that character set,
/// derived from `word`'s lists, is exactly what 10^4 training items show.
#[test]
fn word_ood_text_uses_only_characters_word_trains_on() {
    use std::collections::BTreeSet;
    use tasks::word::training_chars;
    use tasks::WordParams;
    const ITEMS: u64 = 10_000;
    let text_chars = |t: &dyn Task, split: Split, n: u64| -> BTreeSet<char> {
        let mut seen = BTreeSet::new();
        for i in 0..n {
            let item = item_at(t, 2, split, i).unwrap();
            for mode in Mode::ALL {
                seen.extend(item.text(mode).chars());
            }
        }
        seen
    };
    for steps in [&[2, 3, 4][..], &[2], &[3], &[4], &[2, 3], &[2, 4], &[3, 4]] {
        let table = format!("steps = {steps:?}");
        let allowed = training_chars(&WordParams {
            steps: steps.to_vec(),
            ..WordParams::default()
        });
        let n = if steps.len() == 3 { ITEMS } else { ITEMS / 5 };
        let trained = text_chars(cfg("word", &table).as_ref(), Split::Train, n);
        assert_eq!(trained, allowed, "{table}: derived set vs training text");
        let ood = text_chars(cfg("word_ood", &table).as_ref(), Split::Test, n);
        let unseen: Vec<&char> = ood.difference(&allowed).collect();
        assert!(unseen.is_empty(), "{table}: word_ood uses {unseen:?}");
        // The old list does not pass: its capitals never occur in training.
        let old = cfg("word_ood", &format!("{table}, surface = \"unseen_chars\""));
        let old = text_chars(old.as_ref(), Split::Test, n);
        assert!(
            ['Q', 'V', 'W', 'X', 'Y', 'Z']
                .iter()
                .all(|c| old.contains(c) && !allowed.contains(c)),
            "{table}"
        );
    }
}

#[test]
fn hop_test_items_are_two_hop_and_facts_are_train() {
    let hop = cfg("hop", "two_hop_fraction = 0.0");
    for i in 0..500 {
        let test = item_at(hop.as_ref(), 1, Split::Test, i).unwrap();
        assert!(test.key.starts_with("2:"), "{}", test.key);
        let train = item_at(hop.as_ref(), 1, Split::Train, i).unwrap();
        assert!(
            train.key.starts_with("1:"),
            "fraction 0 trains on facts only"
        );
    }
}

#[test]
fn word_steps_stay_within_max_result() {
    for (table, cap) in [("", 99u64), ("max_result = 150", 150)] {
        let word = cfg("word", table);
        let mut largest = 0;
        for i in 0..2000 {
            let item = item_at(word.as_ref(), 3, Split::Train, i).unwrap();
            for step in item.trace.split(',') {
                let r: u64 = step.rsplit_once('=').unwrap().1.parse().unwrap();
                assert!(r <= cap, "{}: step `{step}` over {cap}", item.id);
                largest = largest.max(r);
            }
        }
        assert!(
            largest > cap - 10,
            "the cap is reached, not undershot: {largest}"
        );
    }
    // The check refuses an item whose steps exceed the cap.
    let capped = cfg("word", "");
    let wide = cfg("word", "max_result = 1000000");
    let over = |it: &Item| {
        it.trace
            .split(',')
            .any(|s| s.rsplit_once('=').unwrap().1.parse::<u64>().unwrap() > 99)
    };
    let item = (0..)
        .map(|i| item_at(wide.as_ref(), 5, Split::Train, i).unwrap())
        .find(over)
        .unwrap();
    assert!(capped.check(&item).is_err(), "{}", item.id);
}

#[test]
fn icl_shift_rules_are_the_affine_rules_with_slope_one() {
    let t = cfg("icl", "rules = [\"shift\"]");
    let items = distinct_items(t.as_ref(), 0, Split::Test, 200).unwrap();
    let mut offsets = std::collections::BTreeSet::new();
    for it in &items {
        let (rule, _) = it.key.split_once('|').unwrap();
        let b = rule.strip_prefix("affine:1,").expect("slope 1");
        offsets.insert(b.parse::<u8>().unwrap());
        assert!(it.trace.starts_with(&format!("1x+{b}:")), "{}", it.trace);
    }
    assert_eq!(offsets.len(), 10, "{offsets:?}");
}

/// `code` programs, run by an interpreter written apart from `tasks/code.rs`
/// (string slicing over the query itself, signed values in a map): the
/// trace it writes, the printed value, and the smallest and largest value
/// any line produced.
struct Run {
    trace: Vec<String>,
    printed: Option<i64>,
    vars: BTreeMap<String, i64>,
    lo: i64,
    hi: i64,
}

impl Run {
    fn value(&self, tok: &str) -> i64 {
        tok.parse().unwrap_or_else(|_| {
            *self
                .vars
                .get(tok)
                .unwrap_or_else(|| panic!("unset `{tok}`"))
        })
    }

    /// `x=expr`, where expr is a number or `y op z`.
    fn assign(&mut self, line: &str) {
        let (x, expr) = line.split_once('=').unwrap();
        let v = match expr
            .char_indices()
            .skip(1)
            .find(|(_, c)| "+-*".contains(*c))
        {
            None => self.value(expr),
            Some((at, op)) => {
                let (y, z) = (self.value(&expr[..at]), self.value(&expr[at + 1..]));
                match op {
                    '+' => y + z,
                    '-' => y - z,
                    _ => y * z,
                }
            }
        };
        self.lo = self.lo.min(v);
        self.hi = self.hi.max(v);
        self.trace.push(format!("{x}={v}"));
        self.vars.insert(x.to_string(), v);
    }

    fn program(query: &str) -> Run {
        let mut run = Run {
            trace: Vec::new(),
            printed: None,
            vars: BTreeMap::new(),
            lo: i64::MAX,
            hi: i64::MIN,
        };
        for stmt in query.split(';') {
            // A comment runs from ` # ` to the end of its statement.
            let code = stmt.split(" # ").next().unwrap();
            if let Some(x) = code.strip_prefix("print ") {
                run.printed = Some(run.value(x));
            } else if let Some(rest) = code.strip_prefix("repeat ") {
                let (n, body) = rest.split_once('{').unwrap();
                for _ in 0..n.parse::<usize>().unwrap() {
                    run.assign(body.strip_suffix('}').unwrap());
                }
            } else if let Some(rest) = code.strip_prefix("if ") {
                let (test, body) = rest.split_once('{').unwrap();
                let cmp = if test.contains('>') { '>' } else { '<' };
                let (l, r) = test.split_once(cmp).unwrap();
                let (x, y) = (run.value(l), run.value(r));
                let holds = if cmp == '>' { x > y } else { x < y };
                let verdict = if holds { "yes" } else { "no" };
                run.trace.push(format!("{x}{cmp}{y}?{verdict}"));
                if holds {
                    run.assign(body.strip_suffix('}').unwrap());
                }
            } else {
                run.assign(code);
            }
        }
        run
    }
}

/// Every `code` item's trace and answer are what running its program gives,
/// its values stay in 0..=max_value, and the comment variant is the same
/// program with a phrase after each statement.
#[test]
fn code_programs_run_independently_to_their_traces() {
    for (table, max) in [
        ("", 99),
        ("comments = true", 99),
        ("lines = [8], max_value = 9", 9),
        ("lines = [3, 6], max_value = 999, comments = true", 999),
    ] {
        let t = cfg("code", table);
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for split in [Split::Train, Split::Test] {
            for i in 0..2000 {
                let item = item_at(t.as_ref(), 13, split, i).unwrap();
                let run = Run::program(&item.query);
                assert_eq!(run.trace.join(","), item.trace, "{table}: {}", item.query);
                assert_eq!(
                    run.printed.unwrap().to_string(),
                    item.answer,
                    "{}",
                    item.query
                );
                lo = lo.min(run.lo);
                hi = hi.max(run.hi);
                let statements: Vec<&str> = item.query.split(';').collect();
                let bare: Vec<&str> = statements
                    .iter()
                    .map(|s| s.split(" # ").next().unwrap())
                    .collect();
                assert_eq!(bare.join(";"), item.key, "the key is the bare program");
                let commented = statements.iter().filter(|s| s.contains(" # ")).count();
                let want = if table.contains("comments") {
                    statements.len()
                } else {
                    0
                };
                assert_eq!(commented, want, "{}", item.query);
            }
        }
        assert!(lo >= 0 && hi <= max, "{table}: values in {lo}..={hi}");
        assert!(hi > max / 2, "{table}: the range is used, up to {hi}");
    }
    // Comments change the rendering only: the same draws give the same programs.
    let (bare, commented) = (cfg("code", ""), cfg("code", "comments = true"));
    for i in 0..200 {
        let b = item_at(bare.as_ref(), 2, Split::Train, i).unwrap();
        let c = item_at(commented.as_ref(), 2, Split::Train, i).unwrap();
        assert_eq!((&b.key, &b.trace, &b.answer), (&c.key, &c.trace, &c.answer));
        assert_ne!(b.query, c.query);
    }
}

/// The default programs use every kind of line: both branches of an `if`,
/// loops of 2 and 3 rounds, each line count, and each variable printed.
#[test]
fn code_items_cover_every_kind_of_line() {
    let t = cfg("code", "");
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..2000 {
        let item = item_at(t.as_ref(), 17, Split::Train, i).unwrap();
        let lines = item.key.split(';').count() - 1;
        seen.insert(format!("lines {lines}"));
        for stmt in item.key.split(';') {
            for kind in [
                "repeat 2", "repeat 3", "if ", "print a", "print b", "print c",
            ] {
                if stmt.starts_with(kind) {
                    seen.insert(kind.to_string());
                }
            }
            for op in ['+', '-', '*'] {
                if !stmt.starts_with("if") && stmt.contains(op) {
                    seen.insert(op.to_string());
                }
            }
        }
        for verdict in ["?yes", "?no"] {
            if item.trace.contains(verdict) {
                seen.insert(verdict.to_string());
            }
        }
    }
    let want = [
        "lines 3", "lines 4", "lines 5", "repeat 2", "repeat 3", "if ", "?yes", "?no", "print a",
        "print b", "print c", "+", "-", "*",
    ];
    for w in want {
        assert!(seen.contains(w), "never saw `{w}`: {seen:?}");
    }
}

#[test]
fn icl_min_len_draws_every_query_length_in_its_range() {
    let t = cfg("icl", "rules = [\"shift\"], len = 4, min_len = 2");
    let items = distinct_items(t.as_ref(), 0, Split::Train, 300).unwrap();
    let lens: std::collections::BTreeSet<usize> = items
        .iter()
        .map(|it| it.query.strip_prefix("map ").unwrap().len())
        .collect();
    assert_eq!(lens.into_iter().collect::<Vec<_>>(), vec![2, 3, 4]);
    // Without min_len every query has length len.
    let fixed = cfg("icl", "rules = [\"shift\"], len = 4");
    let items = distinct_items(fixed.as_ref(), 0, Split::Train, 100).unwrap();
    assert!(items.iter().all(|it| it.query.len() == "map ".len() + 4));
}
