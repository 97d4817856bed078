//! `add`: n-digit addition with a Nye-style scratchpad.
//!
//! `47+85 T:7+5+0=12,4+8+1=13 A:132`: one step per digit from the right,
//! each adding the two digits and the carry in; the carry out is the tens
//! digit of the step's sum. Kept this terse so that 3-digit addition with its
//! trace fits the quick preset's 96-token context.

use super::util::{equation, num, number_with_digits, pick};
use super::{AddParams, Item, Split, Task};
use rand_chacha::ChaCha8Rng;

pub struct Add {
    p: AddParams,
}

impl Add {
    pub fn new(p: AddParams) -> Add {
        Add { p }
    }
}

/// The item for operands `a` and `b` printed with `digits` digits each.
pub fn render(a: u64, b: u64, digits: u32) -> Item {
    let (mut x, mut y, mut carry) = (a, b, 0);
    let mut steps = Vec::new();
    for _ in 0..digits {
        let s = x % 10 + y % 10 + carry;
        steps.push(format!("{}+{}+{}={}", x % 10, y % 10, carry, s));
        carry = s / 10;
        x /= 10;
        y /= 10;
    }
    let q = format!("{a}+{b}");
    Item::new("add", q.clone(), q, steps.join(","), (a + b).to_string())
}

impl Task for Add {
    fn name(&self) -> &'static str {
        "add"
    }

    fn params(&self) -> String {
        format!("digits={:?}", self.p.digits)
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, _: Split, _: Option<&Item>) -> Item {
        let d = *pick(rng, &self.p.digits);
        render(number_with_digits(rng, d), number_with_digits(rng, d), d)
    }

    fn check(&self, item: &Item) -> Result<(), String> {
        let (a, b) = item.query.split_once('+').ok_or("query is not a+b")?;
        if a.len() != b.len() {
            return Err("operands differ in length".into());
        }
        let digits: Vec<(u64, u64)> = a
            .bytes()
            .rev()
            .zip(b.bytes().rev())
            .map(|(x, y)| (u64::from(x - b'0'), u64::from(y - b'0')))
            .collect();
        let steps: Vec<&str> = item.trace.split(',').collect();
        if steps.len() != digits.len() {
            return Err(format!("{} steps for {} digits", steps.len(), digits.len()));
        }
        let (mut carry, mut out) = (0, String::new());
        for (step, (x, y)) in steps.iter().zip(digits) {
            let (lhs, rhs) = equation(step)?;
            let terms: Vec<u64> = lhs.split('+').map(num).collect::<Result<_, _>>()?;
            if terms != [x, y, carry] {
                return Err(format!(
                    "step `{step}` should add {x}, {y} and carry {carry}"
                ));
            }
            let s = num(rhs)?;
            if s != x + y + carry {
                return Err(format!("step `{step}` is wrong"));
            }
            out.insert(0, char::from(b'0' + (s % 10) as u8));
            carry = s / 10;
        }
        if carry > 0 {
            out.insert(0, '1');
        }
        let reached = out.trim_start_matches('0');
        let reached = if reached.is_empty() { "0" } else { reached };
        if reached != item.answer || num(a)? + num(b)? != num(&item.answer)? {
            return Err(format!(
                "trace reaches {reached}, answer is {}",
                item.answer
            ));
        }
        Ok(())
    }

    fn normalize(&self, raw: &str) -> Option<String> {
        super::util::normalize_uint(raw)
    }

    fn max_len(&self) -> usize {
        let n = *self.p.digits.iter().max().expect("validated non-empty");
        let nines = 10u64.pow(n) - 1;
        render(nines, nines, n).len(crate::format::Mode::Cot)
    }
}
