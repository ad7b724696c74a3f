//! Step functions: one Rust function per expression of a step (`where`,
//! `map`, `let`, `split`, `dedupe`, `reply`, route conditions), over the
//! generated structs, with the step's source quoted in its doc comment.

use crate::expr::Emitter;
use crate::model::{Model, norm};
use crate::names::{snake, str_lit};
use aqueduct_graph::{Expr, ExprKind, Flow, Origin, Step, StepKind, Type};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One generated step function, ready for `flow.rs.hbs`.
#[derive(Debug, Clone, Serialize)]
pub struct StepFn {
    /// `///` lines.
    pub doc: Vec<String>,
    /// Function name (`s1_where`).
    pub name: String,
    /// `rec` or `_rec`.
    pub rec: String,
    /// The Rust type of the record (`OrderRow`).
    pub input: String,
    /// `b` or `_b`.
    pub b: String,
    /// The Rust return type.
    pub ret: String,
    /// `let` lines reading bindings.
    pub prelude: Vec<String>,
    /// The function body (one expression).
    pub body: String,
    /// Registration: flow name literal.
    pub flow_lit: String,
    /// Registration: step id literal.
    pub step_lit: String,
    /// Registration: the slot (`Slot::Where`).
    pub slot: String,
}

/// The expressions a step evaluates (for type collection).
pub fn exprs_of(step: &Step) -> Vec<&Expr> {
    match &step.kind {
        StepKind::Where(e) | StepKind::Reply(e) => vec![e],
        StepKind::Map { fields, .. } => fields.iter().collect(),
        StepKind::Let { value, .. } => vec![value],
        StepKind::Split { list, .. } => vec![list],
        StepKind::Dedupe { key, .. } => vec![key],
        StepKind::Route(arms) => arms.iter().filter_map(|a| a.condition.as_ref()).collect(),
        StepKind::Enrich { .. } | StepKind::Batch { .. } | StepKind::Tap(_) | StepKind::To(_) => {
            Vec::new()
        }
    }
}

/// Generates the step functions of `flow` (route arms included).
pub struct FlowGen<'a> {
    model: &'a Model,
    flow: &'a Flow,
    sources: &'a BTreeMap<String, String>,
    /// The functions, in step order.
    pub fns: Vec<StepFn>,
    /// Structs the functions name.
    pub structs: BTreeSet<String>,
    /// True when a function needs the service's schemas.
    pub uses_schemas: bool,
}

impl<'a> FlowGen<'a> {
    /// Generates every step function of `flow`.
    pub fn new(
        model: &'a Model,
        flow: &'a Flow,
        sources: &'a BTreeMap<String, String>,
    ) -> FlowGen<'a> {
        let mut g = FlowGen {
            model,
            flow,
            sources,
            fns: Vec::new(),
            structs: BTreeSet::new(),
            uses_schemas: false,
        };
        g.steps(&flow.steps);
        g
    }

    fn steps(&mut self, steps: &[Step]) {
        for step in steps {
            self.step(step);
        }
    }

    fn step(&mut self, step: &Step) {
        let base = step.id.replace('.', "_");
        match &step.kind {
            StepKind::Where(e) => {
                self.function(
                    step,
                    &format!("{base}_where"),
                    "Slot::Where",
                    &[e],
                    &Type::Bool,
                    |em| em.condition(e),
                );
            }
            StepKind::Map { ty, fields } => {
                let record = Expr {
                    kind: ExprKind::Record {
                        ty: ty.clone(),
                        fields: fields.clone(),
                    },
                    ty: Type::Record(ty.clone()),
                };
                let refs: Vec<&Expr> = fields.iter().collect();
                let out = Type::Record(ty.clone());
                self.function(
                    step,
                    &format!("{base}_map"),
                    "Slot::Map",
                    &refs,
                    &out,
                    |em| em.expr_as(&record, &out),
                );
            }
            StepKind::Let { name, value } => {
                let ty = norm(&value.ty);
                self.function(
                    step,
                    &format!("{base}_let_{}", snake(name).trim_end_matches('_')),
                    "Slot::Let",
                    &[value],
                    &ty,
                    |em| em.expr_as(value, &ty),
                );
            }
            StepKind::Split { list, .. } => {
                let ty = norm(&list.ty);
                self.function(
                    step,
                    &format!("{base}_split"),
                    "Slot::Split",
                    &[list],
                    &ty,
                    |em| em.expr_as(list, &ty),
                );
            }
            StepKind::Dedupe { key, .. } => {
                let ty = norm(&key.ty);
                self.function(
                    step,
                    &format!("{base}_dedupe_key"),
                    "Slot::Dedupe",
                    &[key],
                    &ty,
                    |em| em.expr_as(key, &ty),
                );
            }
            StepKind::Reply(e) => {
                let ty = norm(&e.ty);
                self.function(
                    step,
                    &format!("{base}_reply"),
                    "Slot::Reply",
                    &[e],
                    &ty,
                    |em| em.expr_as(e, &ty),
                );
            }
            StepKind::Route(arms) => {
                for (n, arm) in arms.iter().enumerate() {
                    if let Some(c) = &arm.condition {
                        self.function(
                            step,
                            &format!("{base}_when_{n}"),
                            &format!("Slot::Route({n})"),
                            &[c],
                            &Type::Bool,
                            |em| em.condition(c),
                        );
                    }
                    self.steps(&arm.steps);
                }
            }
            StepKind::Enrich { .. }
            | StepKind::Batch { .. }
            | StepKind::Tap(_)
            | StepKind::To(_) => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn function(
        &mut self,
        step: &Step,
        name: &str,
        slot: &str,
        exprs: &[&Expr],
        ret: &Type,
        body: impl FnOnce(&mut Emitter<'_>) -> String,
    ) {
        let mut em = Emitter::new(self.model, &step.input, exprs);
        let value = body(&mut em);
        let ret_rust = em.rust_type(ret);
        let input = em.rust_type(&step.input);
        let prelude: Vec<String> = em
            .bindings
            .iter()
            .map(|(bname, (var, ty))| {
                let rust = self.model.rust_type(ty);
                format!("let {var}: {rust} = binding(b, {})?;", str_lit(bname))
            })
            .collect();
        for (_, (_, ty)) in em.bindings.clone() {
            em.note_type(&ty);
        }
        let body = match value.strip_suffix('?') {
            Some(inner) if is_call(inner) => inner.to_string(),
            _ => format!("Ok({value})"),
        };
        self.structs.extend(em.structs.iter().cloned());
        self.uses_schemas |= em.uses_schemas;
        let slot_name = slot
            .trim_start_matches("Slot::")
            .to_lowercase()
            .replace('(', " arm ")
            .replace(')', "");
        self.fns.push(StepFn {
            doc: self.doc(step, &slot_name),
            name: name.to_string(),
            rec: if em.uses_rec { "rec" } else { "_rec" }.into(),
            input,
            b: if prelude.is_empty() { "_b" } else { "b" }.into(),
            ret: ret_rust,
            prelude,
            body,
            flow_lit: str_lit(&self.flow.name),
            step_lit: str_lit(&step.id),
            slot: slot.to_string(),
        });
    }

    /// `///` lines: which step and slot, where, and the step's source text.
    fn doc(&self, step: &Step, slot: &str) -> Vec<String> {
        let mut lines = vec![format!(
            "/// Step `{}` ({slot}), {}.",
            step.id,
            location(&step.origin, self.sources)
        )];
        // a route is quoted once, by its steps; its arms say which arm they are
        let quoted = if matches!(step.kind, StepKind::Route(_)) {
            None
        } else {
            source_text(&step.origin, self.sources)
        };
        if let Some(text) = quoted {
            lines.push("///".into());
            lines.push("/// ```text".into());
            for l in text.lines() {
                let l = l.trim_end();
                if l.is_empty() {
                    lines.push("///".into());
                } else {
                    lines.push(format!("/// {l}"));
                }
            }
            lines.push("/// ```".into());
        }
        lines
    }
}

/// True when `text` is one call expression (`path(…)`), so `Ok(text?)` is just `text`.
fn is_call(text: &str) -> bool {
    let Some(open) = text.find('(') else {
        return false;
    };
    let head = &text[..open];
    if head.is_empty()
        || !head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '<' || c == '>')
    {
        return false;
    }
    let mut depth = 0;
    for (i, c) in text.char_indices().skip(open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i == text.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// `file:line` of an origin.
pub fn location(origin: &Origin, sources: &BTreeMap<String, String>) -> String {
    match sources.get(&origin.file) {
        Some(text) => {
            let end = (origin.start as usize).min(text.len());
            let line = text.as_bytes()[..end]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            format!("{}:{line}", origin.file)
        }
        None => origin.file.clone(),
    }
}

/// The source text of an origin, dedented.
fn source_text(origin: &Origin, sources: &BTreeMap<String, String>) -> Option<String> {
    let text = sources.get(&origin.file)?;
    let (start, end) = (origin.start as usize, origin.end as usize);
    let slice = text.get(start..end.min(text.len()))?;
    // indent of continuation lines relative to the first line's column
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = text[line_start..start].chars().count();
    let lines: Vec<String> = slice
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_string()
            } else {
                let strip = l.chars().take(column).take_while(|c| *c == ' ').count();
                l.chars().skip(strip).collect()
            }
        })
        .collect();
    Some(lines.join("\n"))
}
