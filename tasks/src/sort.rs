//! `sort`: sort k numbers from 0 to `max` by selection passes. Each pass names the
//! minimum and the list left after removing it:
//! `sort 5 3 9 T:3|5 9,5|9 A:3 5 9`. The content key is the sorted multiset,
//! so no permutation of a test list is ever trained on.

use super::util::{canonical_uint, pick};
use super::{Item, SortParams, Split, Task};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub struct Sort {
    p: SortParams,
}

impl Sort {
    pub fn new(p: SortParams) -> Sort {
        Sort { p }
    }
}

fn join(xs: &[u64]) -> String {
    xs.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
}

pub fn render(list: &[u64]) -> Item {
    let mut rest = list.to_vec();
    let mut passes = Vec::new();
    while rest.len() > 1 {
        let (i, m) = argmin(&rest);
        rest.remove(i);
        passes.push(format!("{m}|{}", join(&rest)));
    }
    let mut sorted = list.to_vec();
    sorted.sort_unstable();
    let key = sorted
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    Item::new(
        "sort",
        key,
        format!("sort {}", join(list)),
        passes.join(","),
        join(&sorted),
    )
}

/// First position of the minimum (the pass removes that occurrence).
fn argmin(xs: &[u64]) -> (usize, u64) {
    let mut best = (0, xs[0]);
    for (i, &x) in xs.iter().enumerate() {
        if x < best.1 {
            best = (i, x);
        }
    }
    best
}

fn parse_list(s: &str) -> Result<Vec<u64>, String> {
    s.split(' ')
        .map(|t| canonical_uint(t).ok_or_else(|| format!("`{t}` is not a number")))
        .collect()
}

impl Task for Sort {
    fn name(&self) -> &'static str {
        "sort"
    }

    fn params(&self) -> String {
        format!("k={:?} max={}", self.p.k, self.p.max)
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, _: Split, _: Option<&Item>) -> Item {
        let k = *pick(rng, &self.p.k);
        let list: Vec<u64> = (0..k)
            .map(|_| rng.gen_range(0..=u64::from(self.p.max)))
            .collect();
        render(&list)
    }

    fn check(&self, item: &Item) -> Result<(), String> {
        let mut rest = parse_list(
            item.query
                .strip_prefix("sort ")
                .ok_or("no `sort ` prefix")?,
        )?;
        let mut reached = Vec::new();
        for pass in item.trace.split(',') {
            let (m, after) = pass.split_once('|').ok_or("pass without `|`")?;
            let m = canonical_uint(m).ok_or("bad minimum")?;
            let (i, min) = argmin(&rest);
            if m != min {
                return Err(format!("pass `{pass}` names {m}, the minimum is {min}"));
            }
            rest.remove(i);
            if parse_list(after)? != rest {
                return Err(format!("pass `{pass}` leaves the wrong list"));
            }
            reached.push(m);
        }
        if rest.len() != 1 {
            return Err("passes stop before one number is left".into());
        }
        reached.push(rest[0]);
        let answer = parse_list(&item.answer)?;
        let mut sorted = answer.clone();
        sorted.sort_unstable();
        if reached != answer || sorted != answer {
            return Err(format!(
                "trace reaches {reached:?}, answer is {}",
                item.answer
            ));
        }
        Ok(())
    }

    fn normalize(&self, raw: &str) -> Option<String> {
        let parts: Vec<String> = raw
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .map(super::util::normalize_uint)
            .collect::<Option<_>>()?;
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    fn max_len(&self) -> usize {
        let k = *self.p.k.iter().max().expect("validated");
        render(&vec![u64::from(self.p.max); k as usize]).len(crate::format::Mode::Cot)
    }
}
