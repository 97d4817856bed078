//! The program as data: operands, operators, statements and trace steps,
//! and how each is written (as code, as a phrase in words, in a trace).

use super::{COMMENT, MAX_CONST, VARS};
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operand {
    Var(usize),
    Const(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Add,
    Sub,
    Mul,
}

pub(super) const OPS: [Op; 3] = [Op::Add, Op::Sub, Op::Mul];

impl Op {
    pub(super) fn sym(self) -> char {
        match self {
            Op::Add => '+',
            Op::Sub => '-',
            Op::Mul => '*',
        }
    }

    pub(super) fn word(self) -> &'static str {
        match self {
            Op::Add => "plus",
            Op::Sub => "minus",
            Op::Mul => "times",
        }
    }

    pub(super) fn min_const(self) -> u64 {
        match self {
            Op::Mul => 2,
            _ => 1,
        }
    }

    /// `None` below zero (values are natural numbers).
    pub(super) fn apply(self, x: u64, y: u64) -> Option<u64> {
        match self {
            Op::Add => x.checked_add(y),
            Op::Sub => x.checked_sub(y),
            Op::Mul => x.checked_mul(y),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Gt,
    Lt,
}

impl Cmp {
    pub(super) fn sym(self) -> char {
        match self {
            Cmp::Gt => '>',
            Cmp::Lt => '<',
        }
    }

    pub(super) fn word(self) -> &'static str {
        match self {
            Cmp::Gt => "over",
            Cmp::Lt => "under",
        }
    }

    pub(super) fn holds(self, x: u64, y: u64) -> bool {
        match self {
            Cmp::Gt => x > y,
            Cmp::Lt => x < y,
        }
    }
}

/// `target = lhs op rhs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Assign {
    pub(super) target: usize,
    pub(super) lhs: Operand,
    pub(super) op: Op,
    pub(super) rhs: Operand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stmt {
    Init {
        target: usize,
        value: u64,
    },
    Assign(Assign),
    Repeat {
        times: u64,
        body: Assign,
    },
    If {
        left: usize,
        cmp: Cmp,
        right: usize,
        body: Assign,
    },
    Print(usize),
}

/// One entry of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// A variable took a value: `c=12`.
    Set { var: usize, value: u64 },
    /// An `if` compared the current values: `28>12?yes`.
    Test {
        left: u64,
        cmp: Cmp,
        right: u64,
        holds: bool,
    },
}

pub(super) fn operand_text(o: Operand) -> String {
    match o {
        Operand::Var(v) => VARS[v].to_string(),
        Operand::Const(k) => k.to_string(),
    }
}

impl Assign {
    pub(super) fn code(&self) -> String {
        format!(
            "{}={}{}{}",
            VARS[self.target],
            operand_text(self.lhs),
            self.op.sym(),
            operand_text(self.rhs)
        )
    }

    /// Updates in place read as verbs (`add c to a`), others as an
    /// equation in words (`c is a times b`).
    pub(super) fn phrase(&self) -> String {
        let t = VARS[self.target];
        let r = operand_text(self.rhs);
        if self.lhs == Operand::Var(self.target) {
            match self.op {
                Op::Add => format!("add {r} to {t}"),
                Op::Sub => format!("take {r} from {t}"),
                Op::Mul => format!("multiply {t} by {r}"),
            }
        } else {
            format!("{t} is {} {} {r}", operand_text(self.lhs), self.op.word())
        }
    }

    /// The operand rules every generated assignment follows: not two
    /// constants (that is a constant), not one variable twice, constants of
    /// one digit (at least 2 for `*`).
    pub(super) fn well_formed(&self) -> bool {
        let konst = |o: Operand| match o {
            Operand::Const(k) => Some(k),
            Operand::Var(_) => None,
        };
        let const_ok = [self.lhs, self.rhs]
            .into_iter()
            .filter_map(konst)
            .all(|k| (self.op.min_const()..=MAX_CONST).contains(&k));
        let two_consts = konst(self.lhs).is_some() && konst(self.rhs).is_some();
        const_ok && !two_consts && self.lhs != self.rhs
    }
}

impl Stmt {
    pub(super) fn code(&self) -> String {
        match self {
            Stmt::Init { target, value } => format!("{}={value}", VARS[*target]),
            Stmt::Assign(a) => a.code(),
            Stmt::Repeat { times, body } => format!("repeat {times}{{{}}}", body.code()),
            Stmt::If {
                left,
                cmp,
                right,
                body,
            } => format!(
                "if {}{}{}{{{}}}",
                VARS[*left],
                cmp.sym(),
                VARS[*right],
                body.code()
            ),
            Stmt::Print(v) => format!("print {}", VARS[*v]),
        }
    }

    pub(super) fn phrase(&self) -> String {
        match self {
            Stmt::Init { target, value } => format!("{} is {value}", VARS[*target]),
            Stmt::Assign(a) => a.phrase(),
            Stmt::Repeat { times, body } => format!("{times} times {}", body.phrase()),
            Stmt::If {
                left,
                cmp,
                right,
                body,
            } => format!(
                "if {} is {} {}, {}",
                VARS[*left],
                cmp.word(),
                VARS[*right],
                body.phrase()
            ),
            Stmt::Print(v) => format!("show {}", VARS[*v]),
        }
    }

    pub(super) fn text(&self, comments: bool) -> String {
        if comments {
            format!("{}{COMMENT}{}", self.code(), self.phrase())
        } else {
            self.code()
        }
    }

    /// Longest trace this statement can write when every computed value has
    /// `digits` digits, with its separating commas.
    pub(super) fn worst_trace_len(&self, digits: usize) -> usize {
        let set = 2 + digits;
        match self {
            Stmt::Init { value, .. } => 2 + value.to_string().len(),
            Stmt::Assign(_) => set,
            Stmt::Repeat { times, .. } => *times as usize * (set + 1) - 1,
            // `left>right?yes`, then the body.
            Stmt::If { .. } => (2 * digits + 5) + 1 + set,
            Stmt::Print(_) => 0,
        }
    }
}

impl Step {
    pub(super) fn text(&self) -> String {
        match self {
            Step::Set { var, value } => format!("{}={value}", VARS[*var]),
            Step::Test {
                left,
                cmp,
                right,
                holds,
            } => format!(
                "{left}{}{right}?{}",
                cmp.sym(),
                if *holds { "yes" } else { "no" }
            ),
        }
    }
}

pub(super) fn program_text(prog: &[Stmt], comments: bool) -> String {
    prog.iter()
        .map(|s| s.text(comments))
        .collect::<Vec<_>>()
        .join(";")
}

pub(super) fn trace_text(steps: &[Step]) -> String {
    steps.iter().map(Step::text).collect::<Vec<_>>().join(",")
}
