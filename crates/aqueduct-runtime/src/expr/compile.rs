//! The compiler: one closure per expression node, children compiled first.

use super::{Clock, EvalCx, EvalError, Fun, funcs, ops};
use crate::value::json::json_value;
use crate::value::{Record, Schemas, Value};
use aqueduct_graph::{BinaryOp, Expr, ExprKind, Type};
use std::sync::Arc;

/// What compilation needs besides the expression.
pub(super) struct Cx {
    pub schemas: Arc<Schemas>,
    pub clock: Clock,
}

impl Cx {
    pub fn compile(&self, expr: &Expr) -> Fun {
        match &expr.kind {
            ExprKind::Lit(lit) => {
                let value = Value::from_constant(lit, &expr.ty, &self.schemas);
                Box::new(move |_| value.clone().map_err(EvalError::new))
            }
            ExprKind::Current => Box::new(|cx: &EvalCx<'_>| Ok(cx.record.clone())),
            ExprKind::Binding(name) => {
                let name = name.clone();
                Box::new(move |cx| Ok(cx.bindings.get(&name).cloned().unwrap_or(Value::Null)))
            }
            ExprKind::Field { base, name, slot } => self.field(base, name.clone(), *slot),
            ExprKind::Index { base, index } => {
                let base = self.compile(base);
                let index = self.compile(index);
                Box::new(move |cx| Ok(ops::index(&base(cx)?, &index(cx)?)))
            }
            ExprKind::Unary { op, expr } => {
                let op = *op;
                let inner = self.compile(expr);
                Box::new(move |cx| ops::unary(op, inner(cx)?))
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                let cond = self.compile(cond);
                let then = self.compile(then);
                let otherwise = otherwise.as_ref().map(|e| self.compile(e));
                Box::new(move |cx| {
                    if matches!(cond(cx)?, Value::Bool(true)) {
                        then(cx)
                    } else {
                        otherwise.as_ref().map(|o| o(cx)).unwrap_or(Ok(Value::Null))
                    }
                })
            }
            ExprKind::Call { func, args } => {
                let args: Vec<Fun> = args.iter().map(|a| self.compile(a)).collect();
                let types: Vec<Type> = expr_types(expr);
                funcs::compile(*func, args, types, expr.ty.clone(), self.clock.clone())
            }
            ExprKind::List(items) => {
                let items: Vec<Fun> = items.iter().map(|a| self.compile(a)).collect();
                Box::new(move |cx| {
                    Ok(Value::List(Arc::new(
                        items.iter().map(|f| f(cx)).collect::<Result<_, _>>()?,
                    )))
                })
            }
            ExprKind::Record { ty, fields } => {
                let layout = self.schemas.layout(ty).cloned();
                let name = ty.clone();
                let fields: Vec<Fun> = fields.iter().map(|a| self.compile(a)).collect();
                Box::new(move |cx| {
                    let layout = layout
                        .clone()
                        .ok_or_else(|| EvalError::new(format!("unknown record type `{name}`")))?;
                    let slots = fields
                        .iter()
                        .map(|f| f(cx))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Value::Record(Arc::new(Record { layout, slots })))
                })
            }
            ExprKind::Object(fields) => {
                let fields: Vec<(String, Fun)> = fields
                    .iter()
                    .map(|(n, e)| (n.clone(), self.compile(e)))
                    .collect();
                Box::new(move |cx| {
                    let mut map = serde_json::Map::new();
                    for (name, f) in &fields {
                        map.insert(name.clone(), f(cx)?.to_json());
                    }
                    Ok(Value::Json(Arc::new(serde_json::Value::Object(map))))
                })
            }
            ExprKind::Interpolate(parts) => {
                let parts: Vec<Fun> = parts.iter().map(|a| self.compile(a)).collect();
                Box::new(move |cx| {
                    let mut out = String::new();
                    for p in &parts {
                        out.push_str(&p(cx)?.to_text());
                    }
                    Ok(Value::String(out.into()))
                })
            }
            ExprKind::Convert { to, expr } => {
                let inner = self.compile(expr);
                let to = to.clone();
                let schemas = self.schemas.clone();
                Box::new(move |cx| ops::convert(inner(cx)?, &to, &schemas))
            }
        }
    }

    fn field(&self, base: &Expr, name: String, slot: Option<u32>) -> Fun {
        if let (ExprKind::Current, Some(slot)) = (&base.kind, slot) {
            // `.name` of the current record: read the slot in place (no clone of the record)
            let slot = slot as usize;
            return Box::new(move |cx| match cx.record {
                Value::Record(r) => match r.slots.get(slot) {
                    Some(v) => Ok(v.clone()),
                    None => Err(EvalError::new(format!(
                        "record `{}` has no slot {slot} (`{name}`)",
                        r.layout.name
                    ))),
                },
                Value::Json(j) => Ok(j.get(&name).map(json_value).unwrap_or(Value::Null)),
                _ => Ok(Value::Null),
            });
        }
        let base = self.compile(base);
        match slot {
            Some(slot) => {
                let slot = slot as usize;
                Box::new(move |cx| match base(cx)? {
                    Value::Record(r) => match r.slots.get(slot) {
                        Some(v) => Ok(v.clone()),
                        None => Err(EvalError::new(format!(
                            "record `{}` has no slot {slot} (`{name}`)",
                            r.layout.name
                        ))),
                    },
                    Value::Json(j) => Ok(j.get(&name).map(json_value).unwrap_or(Value::Null)),
                    _ => Ok(Value::Null),
                })
            }
            None => Box::new(move |cx| Ok(base(cx)?.field(&name))),
        }
    }

    fn binary(&self, op: BinaryOp, lhs: &Expr, rhs: &Expr) -> Fun {
        if !matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Coalesce) {
            // strict operators read fields and literals in place (no clones)
            let (a, b) = (self.operand(lhs), self.operand(rhs));
            return Box::new(move |cx| {
                let x = a.get(cx.record, cx)?;
                let y = b.get(cx.record, cx)?;
                ops::binary_ref(op, &x, &y)
            });
        }
        let l = self.compile(lhs);
        let r = self.compile(rhs);
        match op {
            BinaryOp::And => Box::new(move |cx| {
                Ok(Value::Bool(
                    matches!(l(cx)?, Value::Bool(true)) && matches!(r(cx)?, Value::Bool(true)),
                ))
            }),
            BinaryOp::Or => Box::new(move |cx| {
                Ok(Value::Bool(
                    matches!(l(cx)?, Value::Bool(true)) || matches!(r(cx)?, Value::Bool(true)),
                ))
            }),
            BinaryOp::Coalesce => Box::new(move |cx| {
                let v = l(cx)?;
                if v.is_null() { r(cx) } else { Ok(v) }
            }),
            op => Box::new(move |cx| ops::binary(op, l(cx)?, r(cx)?)),
        }
    }
}

impl Cx {
    fn operand(&self, e: &Expr) -> Operand {
        match &e.kind {
            ExprKind::Field {
                base,
                name,
                slot: Some(slot),
            } if matches!(base.kind, ExprKind::Current) => {
                Operand::Slot(*slot as usize, name.clone())
            }
            ExprKind::Lit(lit) => match Value::from_constant(lit, &e.ty, &self.schemas) {
                Ok(v) => Operand::Lit(v),
                Err(_) => Operand::Dyn(self.compile(e)),
            },
            _ => Operand::Dyn(self.compile(e)),
        }
    }
}

/// An operand of a strict operator, read in place when it can be.
enum Operand {
    /// `.name` of the current record, by slot (same rules as [`Cx::field`]).
    Slot(usize, String),
    /// A literal.
    Lit(Value),
    /// Anything else, evaluated.
    Dyn(Fun),
}

impl Operand {
    fn get<'v>(
        &'v self,
        record: &'v Value,
        cx: &EvalCx<'_>,
    ) -> Result<std::borrow::Cow<'v, Value>, EvalError> {
        use std::borrow::Cow;
        match self {
            Operand::Slot(slot, name) => match record {
                Value::Record(r) => match r.slots.get(*slot) {
                    Some(v) => Ok(Cow::Borrowed(v)),
                    None => Err(EvalError::new(format!(
                        "record `{}` has no slot {slot} (`{name}`)",
                        r.layout.name
                    ))),
                },
                Value::Json(j) => Ok(Cow::Owned(
                    j.get(name.as_str()).map(json_value).unwrap_or(Value::Null),
                )),
                _ => Ok(Cow::Owned(Value::Null)),
            },
            Operand::Lit(v) => Ok(Cow::Borrowed(v)),
            Operand::Dyn(f) => f(cx).map(Cow::Owned),
        }
    }
}

/// The argument types of a call (for functions whose result type follows an argument).
fn expr_types(expr: &Expr) -> Vec<Type> {
    match &expr.kind {
        ExprKind::Call { args, .. } => args.iter().map(|a| a.ty.clone()).collect(),
        _ => Vec::new(),
    }
}
