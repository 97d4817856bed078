//! `code`: tiny programs over the variables `a`, `b`, `c` and their
//! execution, the training source behind the code-data hypothesis (issue 18:
//! does code in the mixture move the reasoning threshold?).
//!
//! A program is one line of `;`-separated statements: two constant
//! assignments, then assignments `x=y op z` (`+ - *`, operands variables or
//! one-digit constants), at most one loop `repeat K{x=x op y}` (K is 2 or 3)
//! and at most one `if x>y{...}` (or `<`), and a final `print`. The trace is
//! the state change of every executed line in order, the loop unrolled, the
//! `if` as its test on the current values, and the answer is the printed
//! value:
//!
//! ```text
//! a=4;b=3;c=a*b;repeat 2{a=a+c};if a>c{b=b+9};print b T:a=4,b=3,c=12,a=16,a=28,28>12?yes,b=12 A:12
//! ```
//!
//! With `comments = true` every statement carries a phrase in words after
//! ` # ` (the "(code, description) pairs"), ending at the statement's `;`:
//! `a=4 # a is 4;...;repeat 2{a=a+c} # 2 times add c to a;...;print b # show b`.
//!
//! The content key is the bare program, so both variants share one item
//! space and one partition: a held-out program is never trained on, with
//! comments or without.

mod ast;
mod interpret;
mod parse;

use crate::format;
use crate::util::{normalize_uint, pick};
use crate::{CodeParams, Item, Split, Task};
use ast::*;
use interpret::{run, Machine};
use parse::{parse_step, parse_stmt};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const VARS: [char; 3] = ['a', 'b', 'c'];
/// Constants in statements are one digit: multiplying by 1 would be a
/// no-op, so `*` takes 2..=9.
const MAX_CONST: u64 = 9;
const REPEATS: [u64; 2] = [2, 3];
const COMMENT: &str = " # ";

/// Which kinds of statement may follow the two constant assignments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Assign,
    Repeat,
    If,
}

pub struct Code {
    p: CodeParams,
    max_len: usize,
}

impl Code {
    pub fn new(p: CodeParams) -> Code {
        let max_len = worst_len(&p);
        Code { p, max_len }
    }

    fn max_value(&self) -> u64 {
        u64::from(self.p.max_value)
    }

    fn operand(rng: &mut ChaCha8Rng, op: Op, set: &[usize]) -> Operand {
        // A constant as often as any one variable.
        let k = rng.gen_range(0..=set.len());
        match set.get(k) {
            Some(&v) => Operand::Var(v),
            None => Operand::Const(rng.gen_range(op.min_const()..=MAX_CONST)),
        }
    }

    /// A well-formed assignment to `target` from the variables in `set`;
    /// `in_place` makes it `target = target op ...` (a loop body).
    fn assign(rng: &mut ChaCha8Rng, target: usize, set: &[usize], in_place: bool) -> Assign {
        loop {
            let op = *pick(rng, &OPS);
            let a = Assign {
                target,
                lhs: if in_place {
                    Operand::Var(target)
                } else {
                    Code::operand(rng, op, set)
                },
                op,
                rhs: Code::operand(rng, op, set),
            };
            if a.well_formed() {
                return a;
            }
        }
    }

    fn statement(rng: &mut ChaCha8Rng, kind: Kind, m: &Machine) -> Stmt {
        let set: Vec<usize> = (0..3).filter(|&v| m.vals[v].is_some()).collect();
        match kind {
            // Any variable may be assigned, which is how `c` gets its value.
            Kind::Assign => {
                let target = rng.gen_range(0..3);
                Stmt::Assign(Code::assign(rng, target, &set, false))
            }
            Kind::Repeat => {
                let times = *pick(rng, &REPEATS);
                let target = *pick(rng, &set);
                Stmt::Repeat {
                    times,
                    body: Code::assign(rng, target, &set, true),
                }
            }
            Kind::If => {
                let left = *pick(rng, &set);
                let others: Vec<usize> = set.iter().copied().filter(|&v| v != left).collect();
                let cmp = *pick(rng, &[Cmp::Gt, Cmp::Lt]);
                let right = *pick(rng, &others);
                let target = *pick(rng, &set);
                Stmt::If {
                    left,
                    cmp,
                    right,
                    body: Code::assign(rng, target, &set, false),
                }
            }
        }
    }

    /// A program of the parameters whose every value stays in range, or
    /// `None` when a line found no such statement (the caller starts over).
    fn try_program(&self, rng: &mut ChaCha8Rng) -> Option<Vec<Stmt>> {
        let lines = *pick(rng, &self.p.lines) as usize;
        let mut m = Machine::new(self.max_value());
        let mut prog = Vec::with_capacity(lines + 1);
        for target in 0..2 {
            let s = Stmt::Init {
                target,
                value: rng.gen_range(1..=MAX_CONST),
            };
            m.exec(&s, &mut Vec::new()).ok()?;
            prog.push(s);
        }
        let mut kinds = vec![Kind::Assign, Kind::Repeat, Kind::If];
        let mut computed = Vec::new();
        for _ in 2..lines {
            let kind = *pick(rng, &kinds);
            if kind != Kind::Assign {
                kinds.retain(|&k| k != kind);
            }
            let (s, after) = (0..50).find_map(|_| {
                let s = Code::statement(rng, kind, &m);
                let mut trial = m;
                trial.exec(&s, &mut Vec::new()).ok().map(|_| (s, trial))
            })?;
            m = after;
            let target = match s {
                Stmt::Assign(a) | Stmt::Repeat { body: a, .. } | Stmt::If { body: a, .. } => {
                    a.target
                }
                Stmt::Init { .. } | Stmt::Print(_) => unreachable!("not a middle statement"),
            };
            if !computed.contains(&target) {
                computed.push(target);
            }
            prog.push(s);
        }
        // The printed variable is one a computed line writes, so the answer
        // never merely repeats a constant of the first two lines.
        prog.push(Stmt::Print(*pick(rng, &computed)));
        Some(prog)
    }

    /// The rules the generator follows (line count, two constant lines
    /// first, at most one loop and one `if`, well-formed assignments, a
    /// computed variable printed), so that `check` refuses a program these
    /// parameters could not have produced.
    fn shape(&self, prog: &[Stmt]) -> Result<(), String> {
        let n = prog.len();
        if n < 2 || !self.p.lines.contains(&(n as u32 - 1)) {
            return Err(format!(
                "{} lines before the print, not one of {:?}",
                n.saturating_sub(1),
                self.p.lines
            ));
        }
        for (target, s) in prog[..2].iter().enumerate() {
            match *s {
                Stmt::Init { target: t, value }
                    if t == target && (1..=MAX_CONST).contains(&value) => {}
                _ => {
                    return Err(format!(
                        "line {} is not `{}=1..9`",
                        target + 1,
                        VARS[target]
                    ))
                }
            }
        }
        let (mut loops, mut ifs, mut computed) = (0, 0, Vec::new());
        for s in &prog[2..n - 1] {
            let body = match *s {
                Stmt::Assign(a) => a,
                Stmt::Repeat { times, body } => {
                    loops += 1;
                    if !REPEATS.contains(&times) || body.lhs != Operand::Var(body.target) {
                        return Err(format!("`{}` is not a loop of 2 or 3 updates", s.code()));
                    }
                    body
                }
                Stmt::If {
                    left, right, body, ..
                } => {
                    ifs += 1;
                    if left == right {
                        return Err(format!("`{}` compares a variable with itself", s.code()));
                    }
                    body
                }
                _ => return Err(format!("`{}` cannot stand in the middle", s.code())),
            };
            if !body.well_formed() {
                return Err(format!("`{}` is not a well-formed assignment", body.code()));
            }
            computed.push(body.target);
        }
        if loops > 1 || ifs > 1 {
            return Err("more than one loop or one `if`".into());
        }
        match prog[n - 1] {
            Stmt::Print(v) if computed.contains(&v) => Ok(()),
            _ => Err("the last line must print a computed variable".into()),
        }
    }
}

impl Code {
    /// The program of a key, if it is one these parameters could produce.
    fn program(&self, key: &str) -> Result<Vec<Stmt>, String> {
        let prog: Vec<Stmt> = key.split(';').map(parse_stmt).collect::<Result<_, _>>()?;
        if program_text(&prog, false) != key {
            return Err(format!("key `{key}` is not a program in canonical form"));
        }
        self.shape(&prog)?;
        Ok(prog)
    }

    /// The item of a key as this task writes it.
    pub fn rebuild(&self, key: &str) -> Result<Item, String> {
        self.item(&self.program(key)?)
    }

    fn item(&self, prog: &[Stmt]) -> Result<Item, String> {
        let (steps, printed) = run(prog, self.max_value())?;
        Ok(Item::new(
            "code",
            program_text(prog, false),
            program_text(prog, self.p.comments),
            trace_text(&steps),
            printed.to_string(),
        ))
    }
}

/// Longest chain-of-thought example: for each line count, the longest
/// rendering of each kind of statement (over every operator, operand form
/// and phrase) with every computed value at the width of `max_value`,
/// combined in the mix of kinds that is longest.
fn worst_len(p: &CodeParams) -> usize {
    let digits = p.max_value.to_string().len();
    let len = |s: &Stmt| s.text(p.comments).len() + 1 + s.worst_trace_len(digits) + 1;
    let operands: Vec<Operand> = (0..3)
        .map(Operand::Var)
        .chain([Operand::Const(MAX_CONST)])
        .collect();
    let assigns: Vec<Assign> = (0..3)
        .flat_map(|target| {
            let operands = &operands;
            OPS.into_iter().flat_map(move |op| {
                operands.iter().flat_map(move |&lhs| {
                    operands.iter().map(move |&rhs| Assign {
                        target,
                        lhs,
                        op,
                        rhs,
                    })
                })
            })
        })
        .collect();
    let longest = |stmts: Vec<Stmt>| stmts.iter().map(len).max().unwrap_or(0);
    let assign = longest(assigns.iter().map(|&a| Stmt::Assign(a)).collect());
    let repeat = longest(
        assigns
            .iter()
            .map(|&body| Stmt::Repeat {
                times: REPEATS[REPEATS.len() - 1],
                body,
            })
            .collect(),
    );
    let branch = longest(
        assigns
            .iter()
            .flat_map(|&body| {
                [Cmp::Gt, Cmp::Lt].map(|cmp| Stmt::If {
                    left: 0,
                    cmp,
                    right: 1,
                    body,
                })
            })
            .collect(),
    );
    let init = longest(
        (0..3)
            .map(|target| Stmt::Init {
                target,
                value: MAX_CONST,
            })
            .collect(),
    );
    let print = longest((0..3).map(Stmt::Print).collect());
    p.lines
        .iter()
        .map(|&lines| {
            let middle = lines as usize - 2;
            let mut best = 0;
            for loops in 0..=middle.min(1) {
                for ifs in 0..=(middle - loops).min(1) {
                    let rest = middle - loops - ifs;
                    best = best.max(loops * repeat + ifs * branch + rest * assign);
                }
            }
            // `len` counts a `;` after every statement and a `,` after every
            // trace piece, the print's empty one included: one `;` and two
            // `,` more than the example has.
            let body = 2 * init + best + print - 3;
            body + format::THINK_CUE.len() + format::ANSWER_CUE.len() + digits + 1
        })
        .max()
        .expect("validated: lines is not empty")
}

impl Task for Code {
    fn name(&self) -> &'static str {
        "code"
    }

    fn params(&self) -> String {
        format!(
            "lines={:?} max_value={} comments={}",
            self.p.lines, self.p.max_value, self.p.comments
        )
    }

    fn candidate(&self, rng: &mut ChaCha8Rng, _: Split, _: Option<&Item>) -> Item {
        let prog = loop {
            if let Some(p) = self.try_program(rng) {
                break p;
            }
        };
        self.item(&prog).expect("generated programs run")
    }

    /// Parse the program from the key, run it, and compare the query with
    /// its rendering and each trace entry with the state change of the line
    /// that writes it.
    fn check(&self, item: &Item) -> Result<(), String> {
        let prog = self.program(&item.key)?;
        if program_text(&prog, self.p.comments) != item.query {
            return Err("the query is not the key's program".into());
        }
        let (want, printed) = run(&prog, self.max_value())?;
        let got: Vec<&str> = item.trace.split(',').collect();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            if parse_step(g)? != *w {
                return Err(format!(
                    "trace entry {} `{g}`: the program gives `{}`",
                    i + 1,
                    w.text()
                ));
            }
        }
        if got.len() != want.len() {
            return Err(format!(
                "the trace has {} entries, the program executes {}",
                got.len(),
                want.len()
            ));
        }
        if item.answer != printed.to_string() {
            return Err(format!("the program prints {printed}, not {}", item.answer));
        }
        Ok(())
    }

    fn normalize(&self, raw: &str) -> Option<String> {
        normalize_uint(raw)
    }

    fn max_len(&self) -> usize {
        self.max_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(comments: bool) -> Code {
        Code::new(CodeParams {
            comments,
            ..Default::default()
        })
    }

    #[test]
    fn the_doc_example_renders_runs_and_parses_back() {
        let key = "a=4;b=3;c=a*b;repeat 2{a=a+c};if a>c{b=b+9};print b";
        let prog: Vec<Stmt> = key.split(';').map(|s| parse_stmt(s).unwrap()).collect();
        assert_eq!(program_text(&prog, false), key);
        let (steps, printed) = run(&prog, 99).unwrap();
        assert_eq!(trace_text(&steps), "a=4,b=3,c=12,a=16,a=28,28>12?yes,b=12");
        assert_eq!(printed, 12);
        assert_eq!(
            program_text(&prog, true),
            "a=4 # a is 4;b=3 # b is 3;c=a*b # c is a times b;repeat 2{a=a+c} # 2 times add c to a;\
             if a>c{b=b+9} # if a is over c, add 9 to b;print b # show b"
        );
        for t in [code(false), code(true)] {
            let item = Item::new(
                "code",
                key.into(),
                program_text(&prog, t.p.comments),
                trace_text(&steps),
                "12".into(),
            );
            t.check(&item).unwrap();
        }
    }

    #[test]
    fn check_refuses_a_changed_query_or_missing_extra_and_swapped_entries() {
        let t = code(true);
        let item = super::super::item_at(&t, 3, Split::Train, 0).unwrap();
        t.check(&item).unwrap();
        let bare = Item {
            query: item.key.clone(),
            ..item.clone()
        };
        assert!(t.check(&bare).unwrap_err().contains("query"));
        let steps: Vec<&str> = item.trace.split(',').collect();
        let mut swapped = steps.clone();
        swapped.swap(0, 1);
        let variants = [
            steps[..steps.len() - 1].join(","),
            format!("{},a=1", item.trace),
            swapped.join(","),
        ];
        for trace in variants {
            let bad = Item {
                trace,
                ..item.clone()
            };
            assert!(t.check(&bad).is_err(), "{}", bad.trace);
        }
    }

    #[test]
    fn running_refuses_what_the_generator_never_writes() {
        let prog =
            |s: &str| -> Vec<Stmt> { s.split(';').map(|s| parse_stmt(s).unwrap()).collect() };
        let err = |s: &str| run(&prog(s), 99).unwrap_err();
        assert!(err("a=2;b=3;c=a-b;print c").contains("leaves 0..=99"));
        assert!(err("a=9;b=9;repeat 3{a=a*b};print a").contains("leaves 0..=99"));
        assert!(err("a=2;b=3;a=c+1;print a").contains("`c` is read before"));
        // A skipped body still may not name an unset variable or leave the range.
        assert!(err("a=2;b=3;if a>b{c=c+1};print a").contains("`c` is read before"));
        assert!(err("a=2;b=3;if a>b{b=a-b};print b").contains("leaves 0..=99"));
        assert_eq!(
            run(&prog("a=2;b=3;if a>b{b=b-a};print b"), 99).unwrap().1,
            3
        );
        let t = code(false);
        assert!(
            t.shape(&prog("a=2;b=3;c=4+5;print c")).is_err(),
            "two constants"
        );
        assert!(
            t.shape(&prog("a=2;b=3;c=a*1;print c")).is_err(),
            "times one"
        );
        assert!(
            t.shape(&prog("a=2;b=3;c=a+b;print a")).is_err(),
            "prints a constant line"
        );
        assert!(t.shape(&prog("a=2;b=3;repeat 4{a=a+b};print a")).is_err());
        assert!(
            t.shape(&prog("a=2;b=3;repeat 2{a=b+1};print a")).is_err(),
            "loop not in place"
        );
        assert!(
            t.shape(&prog("a=2;b=3;c=a+b;c=c+1;c=c+2;c=c+3;print c"))
                .is_err(),
            "6 lines"
        );
        t.shape(&prog("a=2;b=3;c=a+b;c=c+1;print c")).unwrap();
    }
}
