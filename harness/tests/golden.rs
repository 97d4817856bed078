//! Golden items: for a fixed seed, generated text equals fixed strings.
//! A failure here means items, the partition or the stream changed, which
//! silently changes every run: update these only on purpose.

use harness::format::Mode;
use harness::stream::{LossMask, MixtureEntry, Stream, StreamConfig};
use harness::tasks::hash::{is_test_key, stable_hash, Part};
use harness::tasks::{by_name, item_at, Split, TaskConfig};
use harness::vocab;

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
    ("sort", Train, 0, Mode::Direct, "sort 82 51 55 19 51 A:19 51 51 55 82\n"),
    ("sort", Train, 0, Mode::Cot, "sort 82 51 55 19 51 T:19|82 51 55 51,51|82 55 51,51|82 55,55|82 A:19 51 51 55 82\n"),
    ("sort", Train, 1, Mode::Direct, "sort 46 88 51 44 4 A:4 44 46 51 88\n"),
    ("sort", Train, 1, Mode::Cot, "sort 46 88 51 44 4 T:4|46 88 51 44,44|46 88 51,46|88 51,51|88 A:4 44 46 51 88\n"),
    ("sort", Test, 0, Mode::Direct, "sort 96 25 29 62 81 A:25 29 62 81 96\n"),
    ("sort", Test, 0, Mode::Cot, "sort 96 25 29 62 81 T:25|96 29 62 81,29|96 62 81,62|96 81,81|96 A:25 29 62 81 96\n"),
    ("sort", Test, 1, Mode::Direct, "sort 50 95 65 97 66 A:50 65 66 95 97\n"),
    ("sort", Test, 1, Mode::Cot, "sort 50 95 65 97 66 T:50|95 65 97 66,65|95 97 66,66|95 97,95|97 A:50 65 66 95 97\n"),
    ("word", Train, 0, Mode::Direct, "Omar buys 4 eggs at 5 dollars each and pays with 60 dollars. How much change? A:40\n"),
    ("word", Train, 0, Mode::Cot, "Omar buys 4 eggs at 5 dollars each and pays with 60 dollars. How much change? T:4*5=20,60-20=40 A:40\n"),
    ("word", Train, 1, Mode::Direct, "Ava uses 12 apples a day. How many dozen apples in 8 weeks? A:56\n"),
    ("word", Train, 1, Mode::Cot, "Ava uses 12 apples a day. How many dozen apples in 8 weeks? T:12*7=84,84*8=672,672/12=56 A:56\n"),
    ("word", Test, 0, Mode::Direct, "Sam has 2 boxes of 7 books and gives away 1. How many books are left? A:13\n"),
    ("word", Test, 0, Mode::Cot, "Sam has 2 boxes of 7 books and gives away 1. How many books are left? T:2*7=14,14-1=13 A:13\n"),
    ("word", Test, 1, Mode::Direct, "Mia uses 4 marbles a day. How many dozen marbles in 9 weeks? A:21\n"),
    ("word", Test, 1, Mode::Cot, "Mia uses 4 marbles a day. How many dozen marbles in 9 weeks? T:4*7=28,28*9=252,252/12=21 A:21\n"),
    ("word_ood", Test, 0, Mode::Direct, "Zane has 12 gems. Yuri has 8 more than Zane. Vlad has twice as many as Yuri. How many gems in all? A:72\n"),
    ("word_ood", Test, 0, Mode::Cot, "Zane has 12 gems. Yuri has 8 more than Zane. Vlad has twice as many as Yuri. How many gems in all? T:12+8=20,20*2=40,12+20+40=72 A:72\n"),
    ("word_ood", Test, 1, Mode::Direct, "Kofi picks 4 gems a day for 2 days and 6 a day for 6 days, then splits them evenly with Odette. How many does each get? A:22\n"),
    ("word_ood", Test, 1, Mode::Cot, "Kofi picks 4 gems a day for 2 days and 6 a day for 6 days, then splits them evenly with Odette. How many does each get? T:4*2=8,6*6=36,8+36=44,44/2=22 A:22\n"),
    ("modp", Train, 0, Mode::Direct, "(94*15)%97 A:52\n"),
    ("modp", Train, 0, Mode::Cot, "(94*15)%97 T:94*15=1410,1410-14*97=52 A:52\n"),
    ("modp", Train, 1, Mode::Direct, "(4*84)%97 A:45\n"),
    ("modp", Train, 1, Mode::Cot, "(4*84)%97 T:4*84=336,336-3*97=45 A:45\n"),
    ("modp", Test, 0, Mode::Direct, "(43*61)%97 A:4\n"),
    ("modp", Test, 0, Mode::Cot, "(43*61)%97 T:43*61=2623,2623-27*97=4 A:4\n"),
    ("modp", Test, 1, Mode::Direct, "(17+2)%97 A:19\n"),
    ("modp", Test, 1, Mode::Cot, "(17+2)%97 T:17+2=19,19-0*97=19 A:19\n"),
    ("icl", Train, 0, Mode::Direct, "map 628 A:680\n"),
    ("icl", Train, 0, Mode::Cot, "map 628 T:7x+4:6>6,2>8,8>0 A:680\n"),
    ("icl", Train, 1, Mode::Direct, "map dda A:bbd\n"),
    ("icl", Train, 1, Mode::Cot, "map dda T:d>b,d>b,a>d A:bbd\n"),
    ("icl", Test, 0, Mode::Direct, "map ahd A:fbe\n"),
    ("icl", Test, 0, Mode::Cot, "map ahd T:a>f,h>b,d>e A:fbe\n"),
    ("icl", Test, 1, Mode::Direct, "map 341 A:701\n"),
    ("icl", Test, 1, Mode::Cot, "map 341 T:3x+8:3>7,4>0,1>1 A:701\n"),
    ("hop", Train, 0, Mode::Direct, "boss of boss of Niz A:Niz\n"),
    ("hop", Train, 0, Mode::Cot, "boss of boss of Niz T:boss of Niz=Zoz,boss of Zoz=Niz A:Niz\n"),
    ("hop", Train, 1, Mode::Direct, "friend of Niz A:Kin\n"),
    ("hop", Train, 1, Mode::Cot, "friend of Niz T:friend of Niz=Kin A:Kin\n"),
    ("hop", Test, 0, Mode::Direct, "boss of mentor of Liv A:Zix\n"),
    ("hop", Test, 0, Mode::Cot, "boss of mentor of Liv T:mentor of Liv=Sup,boss of Sup=Zix A:Zix\n"),
    ("hop", Test, 1, Mode::Direct, "friend of boss of Dob A:Zev\n"),
    ("hop", Test, 1, Mode::Cot, "friend of boss of Dob T:boss of Dob=Fom,friend of Fom=Zev A:Zev\n"),
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

#[test]
fn item_ids_are_task_and_content_key() {
    let t = by_name("add").unwrap();
    let item = item_at(t.as_ref(), 7, Test, 0).unwrap();
    assert_eq!(item.id, "add:988+693");
    assert_eq!(item.key, "988+693");
    let t = by_name("sort").unwrap();
    let item = item_at(t.as_ref(), 7, Train, 0).unwrap();
    assert_eq!(
        item.key, "19,51,51,55,82",
        "sort keys are the sorted multiset"
    );
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
                task: TaskConfig::default_for("icl").unwrap(),
                weight: 1.0,
            },
        ],
        cot_fraction: 0.5,
        loss_mask: LossMask::Completion,
    })
    .unwrap();
    let want = [
        "593+140 A:733\n583+836 T:3+6+0=9,8+3+0=11,5+8+1=14 A:1419\n862+355 A:1217\n811+957 T:1+7+0=8,1+5+0=",
        "map gff A:fbb\nmap bfc T:b>h,f>b,c>c A:hbc\nmap efc A:gbc\nmap hcf T:h>e,c>c,f>b A:ecb\nmap hbe T:h>",
    ];
    for (p, text) in want.iter().enumerate() {
        let seq = s.sequence(p as u64).unwrap();
        assert_eq!(seq.tokens[0], vocab::EOS);
        assert_eq!(vocab::decode(&seq.tokens), *text, "position {p}");
    }
    let seq = s.sequence(0).unwrap();
    assert_eq!(&seq.tokens[..8], &[1, 24, 28, 22, 14, 20, 23, 19]);
}
