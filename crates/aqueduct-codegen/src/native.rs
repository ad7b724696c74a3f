//! The native batch path: which flows a generated service runs typed from
//! end to end, and the per-record function it runs them with.
//!
//! A batch flow reading `file.read` into a flat record type, through
//! `where` and `map` steps only, into `file.append` targets (and a
//! `file.append` dead letter, if any) gets `native_record` (the steps as
//! plain calls, each result written straight into its target's buffer) and
//! `native_flow`, which `main.rs` hands to
//! `aqueduct_connectors::native_batch`. The connector side checks at start-up
//! what only configuration says (JSONL formats, fixed paths, no schedule, a
//! state store of one process) and otherwise the flow runs on the executor
//! with the same native step functions, as every other flow does.

use crate::model::{Model, norm};
use crate::names::str_lit;
use aqueduct_graph::{Endpoint, Flow, ModeKind, StepKind, Type};
use serde::Serialize;

/// The native function of one flow, ready for `flow.rs.hbs`.
#[derive(Debug, Clone, Serialize)]
pub struct NativeGen {
    /// The source's struct.
    pub input: String,
    /// Body lines of `native_record`.
    pub lines: Vec<String>,
    /// The flow's name as a Rust literal.
    pub flow_lit: String,
    /// `b`, or `_b` when no step reads the bindings.
    pub b: String,
}

/// The native function of `flow`, when it has the shape the native path runs.
pub fn of(model: &Model, flow: &Flow) -> Option<NativeGen> {
    if flow.mode.kind != ModeKind::Batch
        || flow.policies.rate_limit.is_some()
        || flow.policies.concurrency.is_some_and(|c| c > 1)
    {
        return None;
    }
    let Endpoint::Op(source) = &flow.source.endpoint else {
        return None;
    };
    if (source.connector.as_str(), source.operation.as_str()) != ("file", "read") {
        return None;
    }
    let Type::Record(input) = &flow.source.record_type else {
        return None;
    };
    let input = model.get(input)?;
    if !model.serde_ok(&flow.source.record_type, &mut Vec::new())
        || !input.fields.iter().all(|f| flat(&f.ty))
    {
        return None;
    }
    if let Some(dl) = &flow.policies.dead_letter
        && !is_append(dl)
    {
        return None;
    }
    let mut lines = Vec::new();
    let mut targets = 0usize;
    for step in &flow.steps {
        let id = str_lit(&step.id);
        let f = step.id.replace('.', "_");
        match &step.kind {
            StepKind::Where(_) if targets == 0 => {
                lines.push(format!("match {f}_where(&rec, b) {{"));
                lines.push("    Ok(true) => {}".into());
                lines.push("    Ok(false) => {".into());
                lines.push("        out.filtered();".into());
                lines.push("        return Ok(());".into());
                lines.push("    }".into());
                lines.push(format!(
                    "    Err(e) => return Err(native_batch::Failed::at({id}, e, rec.into_value())),"
                ));
                lines.push("}".into());
            }
            StepKind::Map { .. } if targets == 0 => {
                lines.push(format!("let rec = match {f}_map(&rec, b) {{"));
                lines.push("    Ok(next) => next,".into());
                lines.push(format!(
                    "    Err(e) => return Err(native_batch::Failed::at({id}, e, rec.into_value())),"
                ));
                lines.push("};".into());
            }
            StepKind::To(ep) if is_append(ep) && json_out(model, &step.input) => {
                lines.push(format!("out.deliver({targets}, &rec);"));
                targets += 1;
            }
            _ => return None,
        }
    }
    if targets == 0 {
        return None;
    }
    lines.push("Ok(())".into());
    let b = if lines.iter().any(|l| l.contains("(&rec, b)")) {
        "b"
    } else {
        "_b"
    };
    Some(NativeGen {
        input: input.rust.clone(),
        lines,
        flow_lit: str_lit(&flow.name),
        b: b.into(),
    })
}

fn is_append(ep: &Endpoint) -> bool {
    matches!(ep, Endpoint::Op(op) if op.connector == "file" && op.operation == "append")
}

/// A field the typed decoder reads exactly as the runtime's decoder does:
/// scalars (decimals, timestamps and dates through the runtime's parsers),
/// optional scalars, lists of plain scalars. Nested records are left to the
/// executor (serde would also read a struct from a JSON array).
fn flat(ty: &Type) -> bool {
    let plain = |t: &Type| matches!(t, Type::String | Type::Int | Type::Float | Type::Bool);
    let parsed = |t: &Type| matches!(t, Type::Decimal | Type::Timestamp | Type::Date);
    match norm(ty) {
        Type::Optional(t) => plain(&t) || parsed(&t),
        Type::List(t) => plain(&t),
        t => plain(&t) || parsed(&t),
    }
}

/// True when `ty` is a record whose struct implements `JsonOut` (no bytes inside).
pub fn json_out(model: &Model, ty: &Type) -> bool {
    matches!(norm(ty), Type::Record(_)) && writable(model, ty, &mut Vec::new())
}

/// True when values of `ty` can be written by `JsonOut`.
pub fn writable(model: &Model, ty: &Type, seen: &mut Vec<String>) -> bool {
    match norm(ty) {
        Type::Bytes => false,
        Type::List(t) | Type::Optional(t) => writable(model, &t, seen),
        Type::Record(name) => {
            if seen.contains(&name) {
                return true;
            }
            seen.push(name.clone());
            model
                .get(&name)
                .is_some_and(|s| s.fields.iter().all(|f| writable(model, &f.ty, seen)))
        }
        _ => true,
    }
}

/// The `deserialize_with` helper (and whether it needs `default`) for a field of `ty`.
pub fn deserialize_with(ty: &Type) -> Option<&'static str> {
    match norm(ty) {
        Type::Decimal => Some("aqueduct_runtime::native::fast::de::decimal"),
        Type::Timestamp => Some("aqueduct_runtime::native::fast::de::timestamp"),
        Type::Date => Some("aqueduct_runtime::native::fast::de::date"),
        Type::Optional(t) => match *t {
            Type::Decimal => Some("aqueduct_runtime::native::fast::de::opt_decimal"),
            Type::Timestamp => Some("aqueduct_runtime::native::fast::de::opt_timestamp"),
            Type::Date => Some("aqueduct_runtime::native::fast::de::opt_date"),
            _ => None,
        },
        _ => None,
    }
}
