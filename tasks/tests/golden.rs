//! Golden items: for a fixed seed, generated text equals fixed strings.
//! A failure here means items, the partition or the stream changed, which
//! silently changes every run: update these only on purpose.

use tasks::format::Mode;
use tasks::hash::{is_test_key, stable_hash, Part};
use tasks::stream::{LossMask, MixtureEntry, Stream, StreamConfig};
use tasks::vocab;
use tasks::{by_name, item_at, CodeParams, IclParams, Split, TaskConfig};

use Split::{Test, Train};

const GOLDEN: &[(&str, Split, u64, Mode, &str)] = &[
    ("add", Train, 0, Mode::Direct, "220+437 A:657\n"),
    ("add", Train, 0, Mode::Cot, "220+437 T:0+7+0=7,2+3+0=5,2+4+0=6 A:657\n"),
    ("add", Train, 1, Mode::Direct, "460+370 A:830\n"),
    ("add", Train, 1, Mode::Cot, "460+370 T:0+0+0=0,6+7+0=13,4+3+1=8 A:830\n"),
    ("add", Test, 0, Mode::Direct, "988+693 A:1681\n"),
    ("add", Test, 0, Mode::Cot, "988+693 T:8+3+0=11,8+9+1=18,9+6+1=16 A:1681\n"),
    ("add", Test, 1, Mode::Direct, "848+371 A:1219\n"),
    ("add", Test, 1, Mode::Cot, "848+371 T:8+1+0=9,4+7+0=11,8+3+1=12 A:1219\n"),
    ("mul", Train, 0, Mode::Direct, "85*18 A:1530\n"),
    ("mul", Train, 0, Mode::Cot, "85*18 T:85*8=680,85*10=850,680+850=1530 A:1530\n"),
    ("mul", Train, 1, Mode::Direct, "29*21 A:609\n"),
    ("mul", Train, 1, Mode::Cot, "29*21 T:29*1=29,29*20=580,29+580=609 A:609\n"),
    ("mul", Test, 0, Mode::Direct, "34*10 A:340\n"),
    ("mul", Test, 0, Mode::Cot, "34*10 T:34*0=0,34*10=340,0+340=340 A:340\n"),
    ("mul", Test, 1, Mode::Direct, "12*58 A:696\n"),
    ("mul", Test, 1, Mode::Cot, "12*58 T:12*8=96,12*50=600,96+600=696 A:696\n"),
    ("sort", Train, 0, Mode::Direct, "sort 5 3 2 7 7 0 A:0 2 3 5 7 7\n"),
    ("sort", Train, 0, Mode::Cot, "sort 5 3 2 7 7 0 T:0|5 3 2 7 7,2|5 3 7 7,3|5 7 7,5|7 7,7|7 A:0 2 3 5 7 7\n"),
    ("sort", Train, 1, Mode::Direct, "sort 5 4 2 0 7 6 A:0 2 4 5 6 7\n"),
    ("sort", Train, 1, Mode::Cot, "sort 5 4 2 0 7 6 T:0|5 4 2 7 6,2|5 4 7 6,4|5 7 6,5|7 6,6|7 A:0 2 4 5 6 7\n"),
    ("sort", Test, 0, Mode::Direct, "sort 3 0 8 5 6 6 A:0 3 5 6 6 8\n"),
    ("sort", Test, 0, Mode::Cot, "sort 3 0 8 5 6 6 T:0|3 8 5 6 6,3|8 5 6 6,5|8 6 6,6|8 6,6|8 A:0 3 5 6 6 8\n"),
    ("sort", Test, 1, Mode::Direct, "sort 2 0 3 7 8 0 A:0 0 2 3 7 8\n"),
    ("sort", Test, 1, Mode::Cot, "sort 2 0 3 7 8 0 T:0|2 3 7 8 0,0|2 3 7 8,2|3 7 8,3|7 8,7|8 A:0 0 2 3 7 8\n"),
    ("word", Train, 0, Mode::Direct, "Omar buys 4 eggs at 5 dollars each and pays with 60 dollars. How much change? A:40\n"),
    ("word", Train, 0, Mode::Cot, "Omar buys 4 eggs at 5 dollars each and pays with 60 dollars. How much change? T:4*5=20,60-20=40 A:40\n"),
    ("word", Train, 1, Mode::Direct, "Leo uses 2 marbles a day. How many dozen marbles in 6 weeks? A:7\n"),
    ("word", Train, 1, Mode::Cot, "Leo uses 2 marbles a day. How many dozen marbles in 6 weeks? T:2*7=14,14*6=84,84/12=7 A:7\n"),
    ("word", Test, 0, Mode::Direct, "Finn has 15 marbles and buys 7 packs of 2, then gives 22 to Ivy. How many marbles are left? A:7\n"),
    ("word", Test, 0, Mode::Cot, "Finn has 15 marbles and buys 7 packs of 2, then gives 22 to Ivy. How many marbles are left? T:7*2=14,15+14=29,29-22=7 A:7\n"),
    ("word", Test, 1, Mode::Direct, "Jack sells 5 cookies on Monday and twice as many on Tuesday at 3 dollars each, then spends 30 dollars. How many dollars are left? A:15\n"),
    ("word", Test, 1, Mode::Cot, "Jack sells 5 cookies on Monday and twice as many on Tuesday at 3 dollars each, then spends 30 dollars. How many dollars are left? T:5*2=10,5+10=15,15*3=45,45-30=15 A:15\n"),
    ("word_ood", Test, 0, Mode::Direct, "Elsa has 12 gems. Dario has 8 more than Elsa. Olga has twice as many as Dario. How many gems in all? A:72\n"),
    ("word_ood", Test, 0, Mode::Cot, "Elsa has 12 gems. Dario has 8 more than Elsa. Olga has twice as many as Dario. How many gems in all? T:12+8=20,20*2=40,12+20+40=72 A:72\n"),
    ("word_ood", Test, 1, Mode::Direct, "Sven picks 4 gems a day for 2 days and 6 a day for 6 days, then splits them evenly with Ines. How many does each get? A:22\n"),
    ("word_ood", Test, 1, Mode::Cot, "Sven picks 4 gems a day for 2 days and 6 a day for 6 days, then splits them evenly with Ines. How many does each get? T:4*2=8,6*6=36,8+36=44,44/2=22 A:22\n"),
    ("word_twin", Test, 0, Mode::Direct, "Dan buys 6 eggs at 3 dollars each and pays with 50 dollars. How much change? A:32\n"),
    ("word_twin", Test, 0, Mode::Cot, "Dan buys 6 eggs at 3 dollars each and pays with 50 dollars. How much change? T:6*3=18,50-18=32 A:32\n"),
    ("word_twin", Test, 1, Mode::Direct, "Gus picks 7 marbles a day for 7 days and 7 a day for 3 days, then splits them evenly with Ava. How many does each get? A:35\n"),
    ("word_twin", Test, 1, Mode::Cot, "Gus picks 7 marbles a day for 7 days and 7 a day for 3 days, then splits them evenly with Ava. How many does each get? T:7*7=49,7*3=21,49+21=70,70/2=35 A:35\n"),
    ("modp", Train, 0, Mode::Direct, "(38+3)%97 A:41\n"),
    ("modp", Train, 0, Mode::Cot, "(38+3)%97 T:38+3=41,41-0*97=41 A:41\n"),
    ("modp", Train, 1, Mode::Direct, "(84+45)%97 A:32\n"),
    ("modp", Train, 1, Mode::Cot, "(84+45)%97 T:84+45=129,129-1*97=32 A:32\n"),
    ("modp", Test, 0, Mode::Direct, "(43+61)%97 A:7\n"),
    ("modp", Test, 0, Mode::Cot, "(43+61)%97 T:43+61=104,104-1*97=7 A:7\n"),
    ("modp", Test, 1, Mode::Direct, "(22-45)%97 A:74\n"),
    ("modp", Test, 1, Mode::Cot, "(22-45)%97 T:22-45=-23,-23+97=74 A:74\n"),
    ("icl", Train, 0, Mode::Direct, "map 628 A:680\n"),
    ("icl", Train, 0, Mode::Cot, "map 628 T:7x+4:6>6,2>8,8>0 A:680\n"),
    ("icl", Train, 1, Mode::Direct, "map 848 A:404\n"),
    ("icl", Train, 1, Mode::Cot, "map 848 T:1x+6:8>4,4>0,8>4 A:404\n"),
    ("icl", Test, 0, Mode::Direct, "map 447 A:003\n"),
    ("icl", Test, 0, Mode::Cot, "map 447 T:1x+6:4>0,4>0,7>3 A:003\n"),
    ("icl", Test, 1, Mode::Direct, "map 381 A:941\n"),
    ("icl", Test, 1, Mode::Cot, "map 381 T:9x+2:3>9,8>4,1>1 A:941\n"),
    ("hop", Train, 0, Mode::Direct, "boss of rival of Lum A:Fas\n"),
    ("hop", Train, 0, Mode::Cot, "boss of rival of Lum T:rival of Lum=Pes,boss of Pes=Fas A:Fas\n"),
    ("hop", Train, 1, Mode::Direct, "rival of Fox A:Zil\n"),
    ("hop", Train, 1, Mode::Cot, "rival of Fox T:rival of Fox=Zil A:Zil\n"),
    ("hop", Test, 0, Mode::Direct, "boss of friend of Dax A:Tig\n"),
    ("hop", Test, 0, Mode::Cot, "boss of friend of Dax T:friend of Dax=Nup,boss of Nup=Tig A:Tig\n"),
    ("hop", Test, 1, Mode::Direct, "boss of rival of Kav A:Ber\n"),
    ("hop", Test, 1, Mode::Cot, "boss of rival of Kav T:rival of Kav=Geb,boss of Geb=Ber A:Ber\n"),
    ("code", Train, 0, Mode::Direct, "a=7;b=2;c=a+2;print c A:9\n"),
    ("code", Train, 0, Mode::Cot, "a=7;b=2;c=a+2;print c T:a=7,b=2,c=9 A:9\n"),
    ("code", Train, 1, Mode::Direct, "a=3;b=6;repeat 2{b=b+a};if b>a{a=a-1};print a A:2\n"),
    ("code", Train, 1, Mode::Cot, "a=3;b=6;repeat 2{b=b+a};if b>a{a=a-1};print a T:a=3,b=6,b=9,b=12,12>3?yes,a=2 A:2\n"),
    ("code", Test, 0, Mode::Direct, "a=4;b=2;a=5-a;a=b+a;repeat 3{b=b*2};print a A:3\n"),
    ("code", Test, 0, Mode::Cot, "a=4;b=2;a=5-a;a=b+a;repeat 3{b=b*2};print a T:a=4,b=2,a=1,a=3,b=4,b=8,b=16 A:3\n"),
    ("code", Test, 1, Mode::Direct, "a=5;b=7;repeat 2{a=a+b};a=b+a;print a A:26\n"),
    ("code", Test, 1, Mode::Cot, "a=5;b=7;repeat 2{a=a+b};a=b+a;print a T:a=5,b=7,a=12,a=19,a=26 A:26\n"),
    ("code_shuffled", Train, 0, Mode::Direct, "}pc;cf;ania-t{ 25b aaira;3b==+==<8; A:3\n"),
    ("code_shuffled", Train, 0, Mode::Cot, "}pc;cf;ania-t{ 25b aaira;3b==+==<8; T:,<noc=,88ba,3==22? A:3\n"),
    ("code_shuffled", Train, 1, Mode::Direct, "btt= ai8r-;eb+anepab;{}{+ab=1;a9;f=8;2p = bb=<ra}ai A:34\n"),
    ("code_shuffled", Train, 1, Mode::Cot, "btt= ai8r-;eb+anepab;{}{+ab=1;a9;f=8;2p = bb=<ra}ai T:4=,1,aa08b1=7yb=,b=1e81<?s=3,7=,,b A:34\n"),
];

#[test]
fn items_match_golden_strings() {
    for &(task, split, index, mode, text) in GOLDEN {
        let t = by_name(task).unwrap();
        let item = item_at(t.as_ref(), 7, split, index).unwrap();
        assert_eq!(item.text(mode), text, "{task} {split} #{index} {mode}");
        assert_eq!(t.in_test(&item), split == Test, "{task} {}", item.id);
    }
}

/// `code` with comments: the same programs as the golden `code` items above,
/// each statement followed by its phrase in words.
#[test]
fn code_comments_match_golden_strings() {
    let t = TaskConfig::Code(CodeParams {
        comments: true,
        ..Default::default()
    })
    .build()
    .unwrap();
    let want = [
        (Train, 1, "a=3 # a is 3;b=6 # b is 6;repeat 2{b=b+a} # 2 times add a to b;if b>a{a=a-1} # if b is over a, take 1 from a;print a # show a T:a=3,b=6,b=9,b=12,12>3?yes,a=2 A:2\n"),
        (Test, 0, "a=4 # a is 4;b=2 # b is 2;a=5-a # a is 5 minus a;a=b+a # a is b plus a;repeat 3{b=b*2} # 3 times multiply b by 2;print a # show a T:a=4,b=2,a=1,a=3,b=4,b=8,b=16 A:3\n"),
    ];
    for (split, index, text) in want {
        let item = item_at(t.as_ref(), 7, split, index).unwrap();
        assert_eq!(item.text(Mode::Cot), text, "{split} #{index}");
        let bare = by_name("code").unwrap();
        let same = item_at(bare.as_ref(), 7, split, index).unwrap();
        assert_eq!(item.id, same.id, "the id is the bare program");
    }
}

/// `word_ood` with `surface = "unseen_chars"`: the items of the first name
/// list, unchanged (the default list asks the same problems).
#[test]
fn word_ood_unseen_chars_keeps_the_first_list() {
    use tasks::{Surface, WordOodParams};
    let old = TaskConfig::WordOod(WordOodParams {
        surface: Surface::UnseenChars,
        ..Default::default()
    })
    .build()
    .unwrap();
    let new = by_name("word_ood").unwrap();
    let want = [
        ("word_ood", Test, 0, Mode::Direct, "Zane has 12 gems. Yuri has 8 more than Zane. Vlad has twice as many as Yuri. How many gems in all? A:72\n"),
        ("word_ood", Test, 0, Mode::Cot, "Zane has 12 gems. Yuri has 8 more than Zane. Vlad has twice as many as Yuri. How many gems in all? T:12+8=20,20*2=40,12+20+40=72 A:72\n"),
        ("word_ood", Test, 1, Mode::Direct, "Kofi picks 4 gems a day for 2 days and 6 a day for 6 days, then splits them evenly with Odette. How many does each get? A:22\n"),
        ("word_ood", Test, 1, Mode::Cot, "Kofi picks 4 gems a day for 2 days and 6 a day for 6 days, then splits them evenly with Odette. How many does each get? T:4*2=8,6*6=36,8+36=44,44/2=22 A:22\n"),
    ];
    for (_, split, index, mode, text) in want {
        let item = item_at(old.as_ref(), 7, split, index).unwrap();
        assert_eq!(item.text(mode), text, "#{index} {mode}");
        assert_eq!(
            item_at(new.as_ref(), 7, split, index).unwrap().key,
            item.key
        );
    }
}

#[test]
fn item_ids_are_task_and_content_key() {
    let t = by_name("add").unwrap();
    let item = item_at(t.as_ref(), 7, Test, 0).unwrap();
    assert_eq!(item.id, "add:988+693");
    assert_eq!(item.key, "988+693");
    let t = by_name("sort").unwrap();
    let item = item_at(t.as_ref(), 7, Train, 0).unwrap();
    assert_eq!(item.key, "0,2,3,5,7,7", "sort keys are the sorted multiset");
}

#[test]
fn stable_hash_is_pinned() {
    assert_eq!(stable_hash(&[Part::Str("")]), 0xff5c7b1ac5b69d5a);
    assert_eq!(stable_hash(&[Part::Str("a")]), 0x9a0a0a87beb93904);
    assert_eq!(stable_hash(&[Part::Str("123+456")]), 0x0ca26c08d71f65bc);
    assert_eq!(
        stable_hash(&[Part::U64(42), Part::Str("x")]),
        0xbceeb2e3211b3de9
    );
    assert_ne!(
        stable_hash(&[Part::Str("ab"), Part::Str("c")]),
        stable_hash(&[Part::Str("a"), Part::Str("bc")])
    );
    assert!(is_test_key("add", "988+693"));
    assert!(is_test_key("add", "848+371"));
    assert!(!is_test_key("add", "220+437"));
    assert!(is_test_key("word", "t2:2,7,1"));
}

#[test]
fn stream_sequences_match_golden_text() {
    let s = Stream::new(StreamConfig {
        seed: 7,
        context: 96,
        mixture: vec![
            MixtureEntry {
                task: TaskConfig::default_for("add").unwrap(),
                weight: 1.0,
            },
            MixtureEntry {
                // Both rule families (no longer the default), so that the
                // stream's packing stays pinned to the same text.
                task: TaskConfig::Icl(IclParams {
                    rules: vec!["affine".into(), "subst".into()],
                    len: 3,
                    min_len: None,
                }),
                weight: 1.0,
            },
        ],
        cot_fraction: 0.5,
        loss_mask: LossMask::Completion,
    })
    .unwrap();
    let want = [
        "593+140 A:733\n583+836 T:3+6+0=9,8+3+0=11,5+8+1=14 A:1419\n862+355 A:1217\n811+957 T:1+7+0=8,1+5+0=",
        // One rule and one mode for the whole icl sequence.
        "map gff A:fbb\nmap bfc A:hbc\nmap hef A:egb\nmap cbh A:che\nmap cfd A:cbd\nmap hbe A:ehg\nmap hdf A:ed",
    ];
    for (p, text) in want.iter().enumerate() {
        let seq = s.sequence(p as u64).unwrap();
        assert_eq!(seq.tokens[0], vocab::EOS);
        assert_eq!(vocab::decode(&seq.tokens), *text, "position {p}");
    }
    let seq = s.sequence(0).unwrap();
    assert_eq!(&seq.tokens[..8], &[1, 24, 28, 22, 14, 20, 23, 19]);
}
