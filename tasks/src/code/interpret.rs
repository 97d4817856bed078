//! Running a program: the state of `a`, `b`, `c` line by line, into the
//! trace and the printed value.

use super::ast::{Assign, Operand, Step, Stmt};
use super::VARS;
/// The variables and the bound on their values while a program runs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Machine {
    pub(super) vals: [Option<u64>; 3],
    pub(super) max_value: u64,
}

impl Machine {
    pub(super) fn new(max_value: u64) -> Machine {
        Machine {
            vals: [None; 3],
            max_value,
        }
    }

    pub(super) fn get(&self, v: usize) -> Result<u64, String> {
        self.vals[v].ok_or_else(|| format!("`{}` is read before it is set", VARS[v]))
    }

    pub(super) fn operand(&self, o: Operand) -> Result<u64, String> {
        match o {
            Operand::Var(v) => self.get(v),
            Operand::Const(k) => Ok(k),
        }
    }

    pub(super) fn set(
        &mut self,
        var: usize,
        value: Option<u64>,
        what: &str,
    ) -> Result<Step, String> {
        match value {
            Some(x) if x <= self.max_value => {
                self.vals[var] = Some(x);
                Ok(Step::Set { var, value: x })
            }
            _ => Err(format!("`{what}` leaves 0..={}", self.max_value)),
        }
    }

    pub(super) fn assign(&mut self, a: &Assign) -> Result<Step, String> {
        let x = self.operand(a.lhs)?;
        let y = self.operand(a.rhs)?;
        self.set(a.target, a.op.apply(x, y), &a.code())
    }

    /// Run one statement, appending its trace entries; returns the printed
    /// value of a `print`.
    pub(super) fn exec(&mut self, s: &Stmt, steps: &mut Vec<Step>) -> Result<Option<u64>, String> {
        match s {
            Stmt::Init { target, value } => {
                steps.push(self.set(*target, Some(*value), &s.code())?);
            }
            Stmt::Assign(a) => steps.push(self.assign(a)?),
            Stmt::Repeat { times, body } => {
                for _ in 0..*times {
                    steps.push(self.assign(body)?);
                }
            }
            Stmt::If {
                left,
                cmp,
                right,
                body,
            } => {
                let (x, y) = (self.get(*left)?, self.get(*right)?);
                // The body must make sense whichever way the test goes: its
                // variables are set and its value in range even when skipped.
                self.get(body.target)?;
                let mut trial = *self;
                trial.assign(body)?;
                let holds = cmp.holds(x, y);
                steps.push(Step::Test {
                    left: x,
                    cmp: *cmp,
                    right: y,
                    holds,
                });
                if holds {
                    steps.push(self.assign(body)?);
                }
            }
            Stmt::Print(v) => return self.get(*v).map(Some),
        }
        Ok(None)
    }
}

/// Execute a whole program: its trace and printed value.
pub(super) fn run(prog: &[Stmt], max_value: u64) -> Result<(Vec<Step>, u64), String> {
    let mut m = Machine::new(max_value);
    let mut steps = Vec::new();
    let mut printed = None;
    for s in prog {
        printed = m.exec(s, &mut steps)?.or(printed);
    }
    Ok((steps, printed.ok_or("the program prints nothing")?))
}
