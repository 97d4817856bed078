//! Answer extraction on junk, empty and multi-cue outputs; metrics; chance.

use tasks::answer::{edit_similarity, extract, score, token_accuracy, Failure};
use tasks::by_name;
use tasks::chance::chance;
use tasks::format::Mode::{Cot, Direct};

#[test]
fn extraction_takes_the_last_cue_of_the_first_example() {
    let add = by_name("add").unwrap();
    let e = extract(add.as_ref(), Cot, "3+6+0=9 A:12 A:579\n123+1 T:3+1=4 A:999");
    assert_eq!(e.answer.as_deref(), Some("579"));
    assert_eq!(e.failure, None);
    // Direct prompts end with the cue: the output itself is the answer.
    let e = extract(add.as_ref(), Direct, " 0579 \n12+3 A:15");
    assert_eq!(
        e.answer.as_deref(),
        Some("579"),
        "trimmed, leading zeros dropped"
    );
    let e = extract(add.as_ref(), Direct, "5 A:+7");
    assert_eq!(e.answer.as_deref(), Some("7"));
}

#[test]
fn failures_are_flagged_not_hidden() {
    let add = by_name("add").unwrap();
    let cases = [
        (Cot, "", Failure::NoCue),
        (Cot, "3+6+0=9,2+5+0=7", Failure::NoCue),
        (Cot, "junk\n A:5", Failure::NoCue),
        (Cot, "3+6 A:", Failure::Empty),
        (Cot, "3+6 A:   \n", Failure::Empty),
        (Direct, "", Failure::Empty),
        (Direct, "\n579", Failure::Empty),
        (Direct, "five hundred", Failure::Malformed),
        (Direct, "57-9", Failure::Malformed),
        (Cot, "x A:5 7", Failure::Malformed),
        (Direct, "\u{1F600}", Failure::Malformed),
    ];
    for (mode, output, failure) in cases {
        let e = extract(add.as_ref(), mode, output);
        assert_eq!(e.failure, Some(failure), "{mode} {output:?}");
        assert_eq!(e.answer, None);
        let s = score(&e, "579");
        assert_eq!(s.exact_match, 0.0, "a failure is wrong");
    }
}

#[test]
fn task_formats_normalize_their_answers() {
    let sort = by_name("sort").unwrap();
    let e = extract(sort.as_ref(), Direct, " 1,  02 3 ");
    assert_eq!(e.answer.as_deref(), Some("1 2 3"));
    assert_eq!(
        extract(sort.as_ref(), Direct, "1 two 3").failure,
        Some(Failure::Malformed)
    );
    let hop = by_name("hop").unwrap();
    assert_eq!(
        extract(hop.as_ref(), Cot, "x=Zev A: Zev").answer.as_deref(),
        Some("Zev")
    );
    assert_eq!(
        extract(hop.as_ref(), Cot, "A:Zev Niz").failure,
        Some(Failure::Malformed)
    );
    let icl = by_name("icl").unwrap();
    assert_eq!(
        extract(icl.as_ref(), Direct, "bbe").answer.as_deref(),
        Some("bbe")
    );
    assert_eq!(
        extract(icl.as_ref(), Direct, "bz!").failure,
        Some(Failure::Malformed)
    );
}

#[test]
fn metrics_behave_at_the_edges() {
    assert_eq!(edit_similarity("579", "579"), 1.0);
    assert_eq!(edit_similarity("", "579"), 0.0);
    assert_eq!(edit_similarity("", ""), 1.0);
    assert!((edit_similarity("578", "579") - 2.0 / 3.0).abs() < 1e-12);
    assert!((edit_similarity("5790", "579") - 0.75).abs() < 1e-12);
    assert_eq!(token_accuracy("509", "579"), 2.0 / 3.0);
    assert_eq!(token_accuracy("5", "579"), 1.0 / 3.0);
    assert_eq!(token_accuracy("57999", "579"), 1.0);
    let add = by_name("add").unwrap();
    let s = score(&extract(add.as_ref(), Direct, "578"), "579");
    assert_eq!(s.exact_match, 0.0);
    assert!(s.edit_similarity > 0.6 && s.token_accuracy > 0.6);
    let s = score(&extract(add.as_ref(), Direct, "0579"), "579");
    assert_eq!(
        (s.exact_match, s.edit_similarity, s.token_accuracy),
        (1.0, 1.0, 1.0)
    );
}

#[test]
fn chance_levels_match_the_answer_space() {
    // modp answers are spread over 97 residues, hop answers over 100 people.
    let c = chance(by_name("modp").unwrap().as_ref(), Direct, 0, 4000).unwrap();
    assert!((0.005..0.02).contains(&c.exact_match), "{c:?}");
    let c = chance(by_name("hop").unwrap().as_ref(), Direct, 0, 4000).unwrap();
    assert!((0.008..0.04).contains(&c.exact_match), "{c:?}");
    // Four-digit sums almost never coincide but share many characters.
    let c = chance(by_name("add").unwrap().as_ref(), Direct, 0, 2000).unwrap();
    assert!(c.exact_match < 0.005, "{c:?}");
    assert!(c.edit_similarity > 0.1 && c.edit_similarity < 0.5, "{c:?}");
    assert!((c.completion_logprob + (tasks::vocab::vocab_size() as f64).ln()).abs() < 1e-12);
    assert_eq!(c.get("exact_match"), Some(c.exact_match));
    assert_eq!(c.get("nope"), None);
    assert_eq!((c.parrot, c.get("parrot")), (None, None));
    // word_twin: a guessed answer equals the original's about as often as
    // it equals the twin's own, and only word_twin has the level.
    let t = chance(by_name("word_twin").unwrap().as_ref(), Direct, 0, 4000).unwrap();
    let parrot = t.parrot.unwrap();
    assert!((0.005..0.05).contains(&parrot), "{t:?}");
    assert!((parrot - t.exact_match).abs() < 0.02, "{t:?}");
    assert_eq!(t.get("parrot"), Some(parrot));
    let w = chance(by_name("word").unwrap().as_ref(), Direct, 0, 500).unwrap();
    assert_eq!(w.parrot, None);
    // icl: a guess is the query under a rule drawn from the family, right in
    // one case of ten for `shift` (the test items' own rules are never seen),
    // in either mode; a guess from the same rule would score 1.
    let shift = tasks::TaskConfig::Icl(tasks::IclParams {
        rules: vec!["shift".into()],
        len: 3,
        min_len: None,
    })
    .build()
    .unwrap();
    for mode in [Direct, tasks::format::Mode::Cot] {
        let i = chance(shift.as_ref(), mode, 0, 4000).unwrap();
        assert!((0.085..0.115).contains(&i.exact_match), "{i:?}");
    }
    let affine = chance(by_name("icl").unwrap().as_ref(), Direct, 0, 4000).unwrap();
    assert!((0.018..0.045).contains(&affine.exact_match), "{affine:?}");
    // Digit and letter rules together: each guess keeps its item's alphabet
    // (a permutation of 8 letters is right on a 3-letter query about once in
    // 300 guesses, an affine rule about once in 30).
    let both = tasks::TaskConfig::Icl(tasks::IclParams {
        rules: vec!["affine".into(), "subst".into()],
        len: 3,
        min_len: None,
    })
    .build()
    .unwrap();
    let b = chance(both.as_ref(), tasks::format::Mode::Cot, 0, 4000).unwrap();
    assert!((0.005..0.03).contains(&b.exact_match), "{b:?}");
    assert!(b.edit_similarity > 0.0 && b.token_accuracy > 0.0, "{b:?}");
    // Deterministic.
    assert_eq!(
        c,
        chance(by_name("add").unwrap().as_ref(), Direct, 0, 2000).unwrap()
    );
}
