//! Expressions of the fused path: a small tree evaluated on borrowed
//! scalar values ([`FVal`]), for the forms a `where`/`map` usually holds.
//!
//! Every form here gives exactly what the general evaluator
//! (`expr::compile`) gives, or says "not me" (`None`): the record then goes
//! the general way, which has the full semantics and the error messages.
//! "Not me" is also the answer for every run-time error (integer overflow,
//! division by zero), so errors and dead letters stay the general path's.

use crate::value::{Schemas, Value};
use aqueduct_graph::{BinaryOp, Expr, ExprKind, Func, Type, UnaryOp};
use std::borrow::Cow;
use std::cmp::Ordering;

/// A scalar value borrowed from the input line (or computed).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FVal<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
}

/// The scalar kinds the fused path handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Int,
    Float,
    Bool,
}

impl Kind {
    /// The kind of `ty` and whether it is optional; `None` for any other type.
    pub(crate) fn of(ty: &Type) -> Option<(Kind, bool)> {
        let optional = matches!(ty, Type::Optional(_));
        let kind = match ty.required() {
            Type::String => Kind::Str,
            Type::Int => Kind::Int,
            Type::Float => Kind::Float,
            Type::Bool => Kind::Bool,
            _ => return None,
        };
        Some((kind, optional))
    }
}

/// A compiled expression.
#[derive(Debug)]
pub(crate) enum FExpr {
    Lit(FVal<'static>),
    Slot(usize),
    Not(Box<FExpr>),
    Neg(Box<FExpr>),
    And(Box<FExpr>, Box<FExpr>),
    Or(Box<FExpr>, Box<FExpr>),
    Coalesce(Box<FExpr>, Box<FExpr>),
    Cmp(BinaryOp, Box<FExpr>, Box<FExpr>),
    Arith(BinaryOp, Box<FExpr>, Box<FExpr>),
    InList(Box<FExpr>, Vec<FExpr>),
    /// `.field == "text"` (or `!=`, with `true`), the commonest `where`.
    StrEq(usize, Box<str>, bool),
    /// `.field in ["a", "b", …]`: a field against a non-empty list of texts.
    StrIn(usize, Vec<Box<str>>),
    InStr(Box<FExpr>, Box<FExpr>),
    If(Box<FExpr>, Box<FExpr>, Option<Box<FExpr>>),
    Upper(Box<FExpr>),
    Lower(Box<FExpr>),
    ToFloat(Box<FExpr>),
}

/// Compiles `e` (over a record of `slots` fields); `None` when a form is
/// not handled here (the whole flow then takes the general path).
pub(crate) fn compile(e: &Expr, slots: usize, schemas: &Schemas) -> Option<FExpr> {
    let c = |x: &Expr| compile(x, slots, schemas).map(Box::new);
    Some(match &e.kind {
        ExprKind::Lit(v) => FExpr::Lit(constant(Value::from_constant(v, &e.ty, schemas).ok()?)?),
        ExprKind::Field { base, slot, .. } => {
            if !matches!(base.kind, ExprKind::Current) {
                return None;
            }
            let slot = (*slot)? as usize;
            Kind::of(&e.ty)?;
            if slot >= slots {
                return None;
            }
            FExpr::Slot(slot)
        }
        ExprKind::Unary { op, expr } => match op {
            UnaryOp::Not => FExpr::Not(c(expr)?),
            UnaryOp::Neg => FExpr::Neg(c(expr)?),
        },
        ExprKind::Binary { op, lhs, rhs } => match op {
            BinaryOp::And => FExpr::And(c(lhs)?, c(rhs)?),
            BinaryOp::Or => FExpr::Or(c(lhs)?, c(rhs)?),
            BinaryOp::Coalesce => FExpr::Coalesce(c(lhs)?, c(rhs)?),
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => specialize(FExpr::Cmp(*op, c(lhs)?, c(rhs)?)),
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
                FExpr::Arith(*op, c(lhs)?, c(rhs)?)
            }
            BinaryOp::Rem => return None,
            BinaryOp::In => match &rhs.kind {
                ExprKind::List(items) => specialize(FExpr::InList(
                    c(lhs)?,
                    items
                        .iter()
                        .map(|i| compile(i, slots, schemas))
                        .collect::<Option<_>>()?,
                )),
                _ if matches!(rhs.ty.required(), Type::String) => FExpr::InStr(c(lhs)?, c(rhs)?),
                _ => return None,
            },
        },
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => FExpr::If(
            c(cond)?,
            c(then)?,
            match otherwise {
                Some(o) => Some(c(o)?),
                None => None,
            },
        ),
        ExprKind::Call { func, args } if args.len() == 1 => match func {
            Func::Upper => FExpr::Upper(c(&args[0])?),
            Func::Lower => FExpr::Lower(c(&args[0])?),
            _ => return None,
        },
        // a converted constant (`100.0`, a decimal, where a float is wanted)
        // is converted once, by the general path's own conversion
        ExprKind::Convert { to, expr } if matches!(expr.kind, ExprKind::Lit(_)) => {
            let ExprKind::Lit(v) = &expr.kind else {
                return None;
            };
            let value = Value::from_constant(v, &expr.ty, schemas).ok()?;
            FExpr::Lit(constant(
                crate::expr::ops::convert(value, to, schemas).ok()?,
            )?)
        }
        ExprKind::Convert { to, expr } => match (to.required(), expr.ty.required()) {
            (Type::Float, Type::Int | Type::Float) => FExpr::ToFloat(c(expr)?),
            (Type::String, Type::String) => return compile(expr, slots, schemas),
            _ => return None,
        },
        _ => return None,
    })
}

/// The text of a string constant.
fn text(e: &FExpr) -> Option<Box<str>> {
    match e {
        FExpr::Lit(FVal::Str(s)) => Some(s.as_ref().into()),
        _ => None,
    }
}

/// A shorter form of `e` for the shapes that hold most `where`s: a field
/// compared with a text, a field looked up in a list of texts.
fn specialize(e: FExpr) -> FExpr {
    match &e {
        FExpr::Cmp(op @ (BinaryOp::Eq | BinaryOp::Ne), l, r) => {
            let ne = *op == BinaryOp::Ne;
            match (&**l, &**r) {
                (FExpr::Slot(i), other) | (other, FExpr::Slot(i)) => match text(other) {
                    Some(t) => FExpr::StrEq(*i, t, ne),
                    None => e,
                },
                _ => e,
            }
        }
        FExpr::InList(needle, items) if !items.is_empty() => match &**needle {
            FExpr::Slot(i) => match items.iter().map(text).collect::<Option<Vec<_>>>() {
                Some(texts) => FExpr::StrIn(*i, texts),
                None => e,
            },
            _ => e,
        },
        _ => e,
    }
}

/// A constant as a fused value; `None` for kinds the fused path leaves alone.
pub(super) fn constant(value: Value) -> Option<FVal<'static>> {
    Some(match value {
        Value::Null => FVal::Null,
        Value::Bool(b) => FVal::Bool(b),
        Value::Int(i) => FVal::Int(i),
        Value::Float(f) => FVal::Float(f),
        Value::String(s) => FVal::Str(Cow::Owned(s.to_string())),
        _ => return None,
    })
}

/// `==` as the general path sees it (`value::compare::equals`) for the
/// kinds here; `None` for pairs left to it.
fn equals(a: &FVal<'_>, b: &FVal<'_>) -> Option<bool> {
    Some(match (a, b) {
        (FVal::Null, FVal::Null) => true,
        (FVal::Null, _) | (_, FVal::Null) => false,
        (FVal::Int(x), FVal::Int(y)) => x == y,
        (FVal::Float(_) | FVal::Int(_), FVal::Float(_) | FVal::Int(_)) => {
            num_cmp(a, b)? == Ordering::Equal
        }
        (FVal::Str(x), FVal::Str(y)) => x == y,
        (FVal::Bool(x), FVal::Bool(y)) => x == y,
        _ => return None,
    })
}

/// Numeric ordering as `value::compare::cmp_num` orders ints and floats.
fn num_cmp(a: &FVal<'_>, b: &FVal<'_>) -> Option<Ordering> {
    match (a, b) {
        (FVal::Int(x), FVal::Int(y)) => Some(x.cmp(y)),
        _ => f64_of(a)?.partial_cmp(&f64_of(b)?),
    }
}

fn f64_of(v: &FVal<'_>) -> Option<f64> {
    match v {
        FVal::Int(i) => Some(*i as f64),
        FVal::Float(f) => Some(*f),
        _ => None,
    }
}

impl FExpr {
    /// Evaluates over `slots`; `None`: leave the record to the general path.
    pub(crate) fn eval<'a>(&'a self, slots: &[FVal<'a>]) -> Option<FVal<'a>> {
        Some(match self {
            FExpr::Lit(v) => match v {
                FVal::Str(s) => FVal::Str(Cow::Borrowed(s.as_ref())),
                other => other.clone(),
            },
            // a borrowed string is copied as a pointer; an owned one (an
            // unescaped or computed string) is cloned
            FExpr::Slot(i) => slots.get(*i)?.clone(),
            FExpr::Not(x) => match x.eval(slots)? {
                FVal::Null => FVal::Null,
                FVal::Bool(b) => FVal::Bool(!b),
                _ => return None,
            },
            FExpr::Neg(x) => match x.eval(slots)? {
                FVal::Null => FVal::Null,
                FVal::Int(i) => FVal::Int(i.checked_neg()?),
                FVal::Float(f) => FVal::Float(-f),
                _ => return None,
            },
            // `and`/`or` short-circuit and give a bool, as the general path does
            FExpr::And(l, r) => FVal::Bool(
                matches!(l.eval(slots)?, FVal::Bool(true))
                    && matches!(r.eval(slots)?, FVal::Bool(true)),
            ),
            FExpr::Or(l, r) => FVal::Bool(
                matches!(l.eval(slots)?, FVal::Bool(true))
                    || matches!(r.eval(slots)?, FVal::Bool(true)),
            ),
            FExpr::Coalesce(l, r) => match l.eval(slots)? {
                FVal::Null => r.eval(slots)?,
                v => v,
            },
            FExpr::Cmp(op, l, r) => {
                let (a, b) = (l.eval(slots)?, r.eval(slots)?);
                FVal::Bool(match op {
                    BinaryOp::Eq => equals(&a, &b)?,
                    BinaryOp::Ne => !equals(&a, &b)?,
                    _ => {
                        if matches!(a, FVal::Null) || matches!(b, FVal::Null) {
                            false
                        } else {
                            let ord = num_cmp(&a, &b)?;
                            match op {
                                BinaryOp::Lt => ord == Ordering::Less,
                                BinaryOp::Le => ord != Ordering::Greater,
                                BinaryOp::Gt => ord == Ordering::Greater,
                                _ => ord != Ordering::Less,
                            }
                        }
                    }
                })
            }
            FExpr::Arith(op, l, r) => arith(*op, l.eval(slots)?, r.eval(slots)?)?,
            FExpr::InList(needle, items) => {
                let n = needle.eval(slots)?;
                let mut found = false;
                for item in items {
                    if equals(&item.eval(slots)?, &n)? {
                        found = true;
                        break;
                    }
                }
                FVal::Bool(found)
            }
            // what `Cmp` and `InList` give for these operands: a text
            // against null is unequal, against another kind the general
            // path's business
            FExpr::StrEq(i, t, ne) => match slots.get(*i)? {
                FVal::Str(s) => FVal::Bool((s.as_ref() == t.as_ref()) != *ne),
                FVal::Null => FVal::Bool(*ne),
                _ => return None,
            },
            FExpr::StrIn(i, texts) => match slots.get(*i)? {
                FVal::Str(s) => FVal::Bool(texts.iter().any(|t| t.as_ref() == s.as_ref())),
                FVal::Null => FVal::Bool(false),
                _ => return None,
            },
            FExpr::InStr(needle, hay) => match (needle.eval(slots)?, hay.eval(slots)?) {
                (FVal::Str(n), FVal::Str(h)) => FVal::Bool(h.contains(n.as_ref())),
                (_, FVal::Null) => FVal::Bool(false),
                _ => return None,
            },
            FExpr::If(cond, then, otherwise) => {
                if matches!(cond.eval(slots)?, FVal::Bool(true)) {
                    then.eval(slots)?
                } else {
                    match otherwise {
                        Some(o) => o.eval(slots)?,
                        None => FVal::Null,
                    }
                }
            }
            FExpr::Upper(x) => match x.eval(slots)? {
                FVal::Str(s) => FVal::Str(Cow::Owned(crate::native::funcs::upper(&s))),
                _ => return None,
            },
            FExpr::Lower(x) => match x.eval(slots)? {
                FVal::Str(s) => FVal::Str(Cow::Owned(crate::native::funcs::lower(&s))),
                _ => return None,
            },
            FExpr::ToFloat(x) => match x.eval(slots)? {
                FVal::Null => FVal::Null,
                FVal::Int(i) => FVal::Float(i as f64),
                FVal::Float(f) => FVal::Float(f),
                _ => return None,
            },
        })
    }
}

/// `+ - * /` as `expr::ops::arith` computes them for ints, floats and
/// strings; `None` for overflow, division by zero and anything else.
fn arith<'a>(op: BinaryOp, a: FVal<'a>, b: FVal<'a>) -> Option<FVal<'a>> {
    Some(match (a, b) {
        (FVal::Null, _) | (_, FVal::Null) => FVal::Null,
        (FVal::Str(x), FVal::Str(y)) if op == BinaryOp::Add => {
            let mut s = String::with_capacity(x.len() + y.len());
            s.push_str(&x);
            s.push_str(&y);
            FVal::Str(Cow::Owned(s))
        }
        (FVal::Int(x), FVal::Int(y)) => FVal::Int(match op {
            BinaryOp::Add => x.checked_add(y)?,
            BinaryOp::Sub => x.checked_sub(y)?,
            BinaryOp::Mul => x.checked_mul(y)?,
            _ => return None,
        }),
        (a, b) => {
            let (x, y) = (f64_of(&a)?, f64_of(&b)?);
            FVal::Float(match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                _ => return None,
            })
        }
    })
}
