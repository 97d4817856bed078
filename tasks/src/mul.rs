//! `mul`: multi-digit multiplication, one partial product per digit of the
//! second operand, then their sum: `123*45 T:123*5=615,123*40=4920,615+4920=5535 A:5535`.

use super::util::{equation, num, number_with_digits, pick};
use super::{Item, MulParams, Split, Task};
use rand_chacha::ChaCha8Rng;

pub struct Mul {
    p: MulParams,
}

impl Mul {
    pub fn new(p: MulParams) -> Mul {
        Mul { p }
    }
}

pub fn render(a: u64, b: u64, b_digits: u32) -> Item {
    let mut steps = Vec::new();
    let mut partials = Vec::new();
    let (mut rest, mut place) = (b, 1u64);
    for _ in 0..b_digits {
        let d = (rest % 10) * place;
        steps.push(format!("{a}*{d}={}", a * d));
        partials.push((a * d).to_string());
        rest /= 10;
        place *= 10;
    }
    if partials.len() > 1 {
        steps.push(format!("{}={}", partials.join("+"), a * b));
    }
    let q = format!("{a}*{b}");
    Item::new("mul", q.clone(), q, steps.join(","), (a * b).to_string())
}

impl Task for Mul {
    fn name(&self) -> &'static str {
        "mul"
    }

    fn params(&self) -> String {
        format!(
            "a_digits={:?} b_digits={:?}",
            self.p.a_digits, self.p.b_digits
        )
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, _: Split, _: Option<&Item>) -> Item {
        let (da, db) = (*pick(rng, &self.p.a_digits), *pick(rng, &self.p.b_digits));
        render(number_with_digits(rng, da), number_with_digits(rng, db), db)
    }

    fn check(&self, item: &Item) -> Result<(), String> {
        let (a, b) = item.query.split_once('*').ok_or("query is not a*b")?;
        let (a, b_digits, b) = (num(a)?, b.len(), num(b)?);
        let steps: Vec<&str> = item.trace.split(',').collect();
        let mut partials = Vec::new();
        let (mut rest, mut place) = (b, 1u64);
        for step in steps.iter().take(b_digits) {
            let (lhs, rhs) = equation(step)?;
            let (x, d) = lhs.split_once('*').ok_or("partial is not a product")?;
            if num(x)? != a || num(d)? != (rest % 10) * place {
                return Err(format!("partial `{step}` uses the wrong digit"));
            }
            if num(rhs)? != a * num(d)? {
                return Err(format!("partial `{step}` is wrong"));
            }
            partials.push(num(rhs)?);
            rest /= 10;
            place *= 10;
        }
        let reached = if b_digits > 1 {
            if steps.len() != b_digits + 1 {
                return Err("expected one sum step after the partials".into());
            }
            let (lhs, rhs) = equation(steps[b_digits])?;
            let terms: Vec<u64> = lhs.split('+').map(num).collect::<Result<_, _>>()?;
            if terms != partials || terms.iter().sum::<u64>() != num(rhs)? {
                return Err(format!("sum `{}` is wrong", steps[b_digits]));
            }
            num(rhs)?
        } else {
            if steps.len() != 1 {
                return Err("one-digit multiplier needs exactly one step".into());
            }
            partials[0]
        };
        if reached != num(&item.answer)? || reached != a * b {
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
        let na = *self.p.a_digits.iter().max().expect("validated");
        let nb = *self.p.b_digits.iter().max().expect("validated");
        // All nines maximize every partial, the sum and the product.
        render(10u64.pow(na) - 1, 10u64.pow(nb) - 1, nb).len(crate::format::Mode::Cot)
    }
}
