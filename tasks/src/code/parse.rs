//! Reading a program and a trace back from their text (a key, a model's
//! trace), the inverse of the writers in [`super::ast`].

use super::ast::{Assign, Cmp, Op, Operand, Step, Stmt};
use super::VARS;
use crate::util::canonical_uint;
pub(super) fn parse_var(s: &str) -> Result<usize, String> {
    let mut cs = s.chars();
    match (cs.next(), cs.next()) {
        (Some(c), None) => VARS
            .iter()
            .position(|&v| v == c)
            .ok_or_else(|| format!("`{s}` is not a variable")),
        _ => Err(format!("`{s}` is not a variable")),
    }
}

pub(super) fn parse_operand(s: &str) -> Result<Operand, String> {
    match canonical_uint(s) {
        Some(k) => Ok(Operand::Const(k)),
        None => parse_var(s).map(Operand::Var),
    }
}

pub(super) fn parse_assign(s: &str) -> Result<Assign, String> {
    let (t, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not an assignment"))?;
    let at = rest
        .find(['+', '-', '*'])
        .ok_or_else(|| format!("`{s}` has no operator"))?;
    let op = match &rest[at..at + 1] {
        "+" => Op::Add,
        "-" => Op::Sub,
        _ => Op::Mul,
    };
    Ok(Assign {
        target: parse_var(t)?,
        lhs: parse_operand(&rest[..at])?,
        op,
        rhs: parse_operand(&rest[at + 1..])?,
    })
}

/// `head{body}` → (head, body).
pub(super) fn braced(s: &str) -> Result<(&str, &str), String> {
    let (head, rest) = s
        .split_once('{')
        .ok_or_else(|| format!("`{s}` has no body"))?;
    let body = rest
        .strip_suffix('}')
        .ok_or_else(|| format!("`{s}` does not close its body"))?;
    Ok((head, body))
}

pub(super) fn parse_stmt(s: &str) -> Result<Stmt, String> {
    if let Some(v) = s.strip_prefix("print ") {
        return Ok(Stmt::Print(parse_var(v)?));
    }
    if let Some(rest) = s.strip_prefix("repeat ") {
        let (times, body) = braced(rest)?;
        return Ok(Stmt::Repeat {
            times: canonical_uint(times).ok_or_else(|| format!("`{s}`: bad count"))?,
            body: parse_assign(body)?,
        });
    }
    if let Some(rest) = s.strip_prefix("if ") {
        let (test, body) = braced(rest)?;
        let at = test
            .find(['>', '<'])
            .ok_or_else(|| format!("`{s}` has no comparison"))?;
        return Ok(Stmt::If {
            left: parse_var(&test[..at])?,
            cmp: if &test[at..at + 1] == ">" {
                Cmp::Gt
            } else {
                Cmp::Lt
            },
            right: parse_var(&test[at + 1..])?,
            body: parse_assign(body)?,
        });
    }
    match s.split_once('=') {
        Some((t, v)) if canonical_uint(v).is_some() => Ok(Stmt::Init {
            target: parse_var(t)?,
            value: canonical_uint(v).expect("checked"),
        }),
        _ => Ok(Stmt::Assign(parse_assign(s)?)),
    }
}

pub(super) fn parse_step(s: &str) -> Result<Step, String> {
    if let Some((var, value)) = s.split_once('=') {
        return Ok(Step::Set {
            var: parse_var(var)?,
            value: canonical_uint(value).ok_or_else(|| format!("`{s}`: bad value"))?,
        });
    }
    let (test, verdict) = s
        .split_once('?')
        .ok_or_else(|| format!("`{s}` is neither `x=value` nor a test"))?;
    let holds = match verdict {
        "yes" => true,
        "no" => false,
        _ => return Err(format!("`{s}`: the verdict is yes or no")),
    };
    let at = test
        .find(['>', '<'])
        .ok_or_else(|| format!("`{s}` has no comparison"))?;
    let num = |x: &str| canonical_uint(x).ok_or_else(|| format!("`{s}`: bad number"));
    Ok(Step::Test {
        left: num(&test[..at])?,
        cmp: if &test[at..at + 1] == ">" {
            Cmp::Gt
        } else {
            Cmp::Lt
        },
        right: num(&test[at + 1..])?,
        holds,
    })
}
