//! The record type the fused path's tests and its fuzz hook decode into:
//! one field of each scalar kind, two of them optional, so every branch of
//! the decoders (kinds, nulls, missing fields) is reached.

use super::decode::InField;
use super::expr::FVal;
use crate::value::{Layout, Schemas, Value};
use aqueduct_graph::{FieldType, Type};
use std::sync::Arc;

/// `R { s: string, i: int, f: float, b: bool, os: string?, oi: int? }`.
pub(crate) fn layout() -> Arc<Layout> {
    let f = |name: &str, ty: Type| FieldType {
        name: name.into(),
        ty,
        doc: vec![],
    };
    Arc::new(Layout {
        name: "R".into(),
        fields: vec![
            f("s", Type::String),
            f("i", Type::Int),
            f("f", Type::Float),
            f("b", Type::Bool),
            f("os", Type::String.optional()),
            f("oi", Type::Int.optional()),
        ],
    })
}

/// The schemas holding [`layout`].
pub(crate) fn schemas() -> Schemas {
    let mut s = Schemas::default();
    s.layouts.insert("R".into(), layout());
    s
}

/// [`layout`]'s fields as the fused decoder sees them (as the plan makes them).
pub(crate) fn fields() -> Vec<InField> {
    super::scalar_fields(&layout()).unwrap_or_default()
}

/// A slot as the general path's value.
pub(crate) fn to_value(v: &FVal<'_>) -> Value {
    match v {
        FVal::Null => Value::Null,
        FVal::Bool(b) => Value::Bool(*b),
        FVal::Int(i) => Value::Int(*i),
        FVal::Float(f) => Value::Float(*f),
        FVal::Str(s) => Value::string(s.as_ref()),
    }
}
