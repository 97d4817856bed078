//! `modp`: (a op b) mod p, the grokking task. The trace computes the raw
//! result, then reduces it with an explicit quotient:
//! `(37*85)%97 T:37*85=3145,3145-32*97=41 A:41`; a negative raw result is
//! reduced by adding p once: `(5-9)%97 T:5-9=-4,-4+97=93 A:93`.

use super::util::{equation, normalize_uint, num, pick};
use super::{Item, ModpParams, Split, Task};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub struct Modp {
    p: ModpParams,
}

impl Modp {
    pub fn new(p: ModpParams) -> Modp {
        Modp { p }
    }
}

fn apply(a: i64, op: &str, b: i64) -> i64 {
    match op {
        "+" => a + b,
        "-" => a - b,
        _ => a * b,
    }
}

pub fn render(a: u64, op: &str, b: u64, p: u64) -> Item {
    let r = apply(a as i64, op, b as i64);
    let ans = r.rem_euclid(p as i64);
    let reduce = if r < 0 {
        format!("{r}+{p}={ans}")
    } else {
        format!("{r}-{}*{p}={ans}", r / p as i64)
    };
    Item::new(
        "modp",
        format!("{a}{op}{b}%{p}"),
        format!("({a}{op}{b})%{p}"),
        format!("{a}{op}{b}={r},{reduce}"),
        ans.to_string(),
    )
}

fn int(s: &str) -> Result<i64, String> {
    match s.strip_prefix('-') {
        Some(m) => Ok(-(num(m)? as i64)),
        None => Ok(num(s)? as i64),
    }
}

fn digits(x: u64) -> usize {
    x.to_string().len()
}

impl Task for Modp {
    fn name(&self) -> &'static str {
        "modp"
    }

    fn params(&self) -> String {
        format!("ops={:?} modulus={}", self.p.ops, self.p.modulus)
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, _: Split, _: Option<&Item>) -> Item {
        let p = u64::from(self.p.modulus);
        let op = pick(rng, &self.p.ops).clone();
        render(rng.gen_range(0..p), &op, rng.gen_range(0..p), p)
    }

    fn check(&self, item: &Item) -> Result<(), String> {
        let body = item.query.strip_prefix('(').ok_or("query lacks `(`")?;
        let (expr, p) = body.split_once(")%").ok_or("query lacks `)%`")?;
        let p = num(p)? as i64;
        let op = ["+", "-", "*"]
            .into_iter()
            .find(|o| expr.contains(o))
            .ok_or("no operator")?;
        let (a, b) = expr.split_once(op).ok_or("no operands")?;
        let (a, b) = (num(a)? as i64, num(b)? as i64);
        let (raw, reduce) = item.trace.split_once(',').ok_or("trace needs two steps")?;
        let (lhs, r) = equation(raw)?;
        let r = int(r)?;
        if lhs != expr || r != apply(a, op, b) {
            return Err(format!("raw step `{raw}` is wrong"));
        }
        let (lhs, ans) = equation(reduce)?;
        let ans = int(ans)?;
        let ok = if let Some(x) = lhs.strip_suffix(&format!("+{p}")) {
            r < 0 && int(x)? == r && ans == r + p
        } else {
            let (x, qp) = lhs.split_once("-").ok_or("reduction lacks `-`")?;
            let (q, pp) = qp.split_once('*').ok_or("reduction lacks `*`")?;
            r >= 0 && int(x)? == r && int(pp)? == p && ans == r - int(q)? * p
        };
        if !ok || !(0..p).contains(&ans) {
            return Err(format!("reduction `{reduce}` is wrong"));
        }
        if ans.to_string() != item.answer {
            return Err(format!("trace reaches {ans}, answer is {}", item.answer));
        }
        Ok(())
    }

    fn normalize(&self, raw: &str) -> Option<String> {
        normalize_uint(raw)
    }

    /// An upper bound from the widest number each slot can hold.
    fn max_len(&self) -> usize {
        let p = u64::from(self.p.modulus);
        let (lp, la) = (digits(p), digits(p - 1));
        let query = 1 + la + 1 + la + 2 + lp;
        let answer = la;
        self.p
            .ops
            .iter()
            .map(|op| {
                let (lr, lq) = match op.as_str() {
                    "+" => (digits(2 * p - 2), 1),
                    "-" => (1 + la, 1),
                    _ => (digits((p - 1) * (p - 1)), digits((p - 1) * (p - 1) / p)),
                };
                let raw = la + 1 + la + 1 + lr;
                let reduce = (lr + 1 + lq + 1 + lp + 1 + answer).max(lr + 1 + lp + 1 + answer);
                query + 3 + raw + 1 + reduce + 3 + answer + 1
            })
            .max()
            .expect("validated non-empty")
    }
}
