//! The fused path: a flow whose steps are only `where` and `map` over
//! scalar fields, read from JSON lines (a batch flow's line-based file, or
//! an async flow's broker messages, one JSON object each) and written as
//! JSON lines, runs its records in the source, from the input line
//! straight to the output bytes.
//!
//! Each line is decoded into borrowed scalar slots ([`decode`]), the
//! `where`/`map` expressions run on them ([`expr`]), and the output record
//! is encoded into the group's buffer ([`encode`]). The source hands the
//! flow one envelope per group of lines (a *sealed group*: the encoded
//! bytes, how many records it read, wrote, and how far each got), with one
//! ack for the group; the executor writes the bytes to the target with
//! [`Target::write_encoded`](crate::connector::Target::write_encoded) and
//! holds the ack until the chunk's commit, as it holds every ack of a
//! batch flow. Groups never cross a chunk boundary, so checkpoints land
//! where they land on the general path. In an async flow
//! ([`FusedPlan::streaming`]) each group is committed on its own, as the
//! general path commits each group of records it takes at once, and its
//! ack is released then; only a flow without a dead letter is fused there,
//! because a group's records are no longer at hand to dead-letter one by
//! one when the target fails.
//!
//! Byte-equal output is the rule: every form handled here gives exactly
//! what the general path gives (the differential tests in `tests.rs` hold
//! the two together). A line the fused path cannot take whole (a value of
//! an unusual shape, a run-time error such as an integer overflow, a line
//! that does not decode) is handed to the general path in its place in
//! the order: the group so far is sealed first, then the line goes as an
//! ordinary envelope, so dead letters, errors and order are the general
//! path's. `AQUEDUCT_FUSED=off` turns the fused path off (for comparisons).

mod decode;
mod encode;
mod expr;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
#[cfg(any(test, feature = "fuzzing"))]
mod sample;
mod scan;
#[cfg(test)]
mod tests;

pub use decode::CsvColumns;
use decode::InField;
use encode::Keys;
use expr::{FExpr, FVal, Kind};

use crate::value::{Layout, Record, Schemas, Value};
use aqueduct_graph::{Endpoint, Flow, ModeKind, StepKind, Type};
use std::sync::Arc;

/// One step of the fused path.
#[derive(Debug)]
enum Stage {
    Where(FExpr),
    Map(Vec<FExpr>),
}

/// What became of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Encoded into the group.
    Written,
    /// Dropped by a `where` (counted in the group).
    Filtered,
    /// A blank line: no record at all (as on the general path).
    Blank,
    /// Not taken: hand the line to the general path (after sealing the group).
    General,
}

/// A compiled fused flow (see the module doc).
#[derive(Debug)]
pub struct FusedPlan {
    input: Vec<InField>,
    stages: Vec<Stage>,
    keys: Keys,
    /// The layout of sealed groups: only this plan makes records of it.
    marker: Arc<Layout>,
    /// An async flow's plan: groups come from a stream of messages and are
    /// committed one by one (see the module doc).
    streaming: bool,
}

/// Lines taken by the fused path since the last seal.
#[derive(Debug, Default)]
pub struct FusedGroup {
    bytes: Vec<u8>,
    /// Records that reached each stage, and (last) the target.
    reached: Vec<u64>,
    /// Two slot vectors kept empty between lines, so that decoding a line
    /// and running a `map` allocate nothing ([`recycle`]).
    spare: [Vec<FVal<'static>>; 2],
}

/// An empty vector with `v`'s allocation, for values borrowing another
/// line: the standard library collects a mapped `vec::IntoIter` into the
/// same allocation when the element layout is the same (it is the same
/// type here), and the closure never runs on an empty vector.
fn recycle<'b>(mut v: Vec<FVal<'_>>) -> Vec<FVal<'b>> {
    v.clear();
    v.into_iter().map(|_| FVal::Null).collect()
}

impl FusedGroup {
    /// Records taken so far (written or filtered).
    pub fn records(&self) -> u64 {
        self.reached.first().copied().unwrap_or(0)
    }

    /// Bytes encoded so far.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// A sealed group, opened by the executor.
pub(crate) struct Sealed<'a> {
    /// The encoded output records.
    pub(crate) bytes: &'a [u8],
    /// Records that reached each stage, then the target (`reached[0]`: read).
    pub(crate) reached: Vec<u64>,
}

/// Whether the fused path is allowed (`AQUEDUCT_FUSED=off` turns it off).
pub fn enabled() -> bool {
    !matches!(
        std::env::var("AQUEDUCT_FUSED").as_deref(),
        Ok("off" | "0" | "false" | "no")
    )
}

fn scalar_fields(layout: &Layout) -> Option<Vec<InField>> {
    if layout.fields.len() > 64 {
        return None;
    }
    layout
        .fields
        .iter()
        .map(|f| {
            let (kind, optional) = Kind::of(&f.ty)?;
            Some(InField {
                name: f.name.clone(),
                kind,
                optional,
            })
        })
        .collect()
}

impl FusedPlan {
    /// The plan of `flow` when the fused path can run it: a batch flow, or
    /// an async flow without a dead letter, from an operation, with
    /// `where`/`map` steps over records of scalar fields (string, int,
    /// float, bool, optional or not), ending in one `to` an operation; no
    /// rate limit, one record at a time.
    pub fn for_flow(flow: &Flow, schemas: &Schemas) -> Option<FusedPlan> {
        let streaming = match flow.mode.kind {
            ModeKind::Batch => false,
            ModeKind::Async if flow.policies.dead_letter.is_none() => true,
            _ => return None,
        };
        if !matches!(flow.source.endpoint, Endpoint::Op(_))
            || flow.policies.rate_limit.is_some()
            || flow.policies.concurrency.is_some_and(|c| c > 1)
        {
            return None;
        }
        let Type::Record(name) = &flow.source.record_type else {
            return None;
        };
        let input = scalar_fields(schemas.layout(name)?)?;
        let (last, steps) = flow.steps.split_last()?;
        if !matches!(last.kind, StepKind::To(Endpoint::Op(_))) {
            return None;
        }
        let mut names: Vec<String> = input.iter().map(|f| f.name.clone()).collect();
        let mut stages = Vec::with_capacity(steps.len());
        for step in steps {
            match &step.kind {
                StepKind::Where(e) => {
                    stages.push(Stage::Where(expr::compile(e, names.len(), schemas)?))
                }
                StepKind::Map { ty, fields } => {
                    let layout = schemas.layout(ty)?;
                    scalar_fields(layout)?;
                    if fields.len() != layout.fields.len() {
                        return None;
                    }
                    let compiled = fields
                        .iter()
                        .map(|f| expr::compile(f, names.len(), schemas))
                        .collect::<Option<Vec<_>>>()?;
                    stages.push(Stage::Map(compiled));
                    names = layout.fields.iter().map(|f| f.name.clone()).collect();
                }
                _ => return None,
            }
        }
        Some(FusedPlan {
            input,
            stages,
            keys: Keys::new(names.iter().map(String::as_str)),
            marker: Arc::new(Layout {
                name: "fused group".to_string(),
                fields: Vec::new(),
            }),
            streaming,
        })
    }

    /// True for an async flow's plan: its groups come from a stream of
    /// messages (each payload one JSON object, taken with
    /// [`FusedPlan::jsonl`]) and each is committed on its own. Sources of
    /// a batch flow's chunks refuse such a plan.
    pub fn streaming(&self) -> bool {
        self.streaming
    }

    /// A new, empty group.
    pub fn group(&self) -> FusedGroup {
        FusedGroup {
            bytes: Vec::with_capacity(64 * 1024),
            reached: vec![0; self.stages.len() + 2],
            spare: Default::default(),
        }
    }

    /// Takes one JSON line (without its line end).
    pub fn jsonl(&self, line: &str, group: &mut FusedGroup) -> Outcome {
        if line.trim().is_empty() {
            return Outcome::Blank;
        }
        let buf = recycle(std::mem::take(&mut group.spare[0]));
        match decode::json_line(line, &self.input, buf) {
            Some(slots) => self.run(slots, group),
            None => Outcome::General,
        }
    }

    /// Takes one CSV row (a logical line that is not the header row).
    pub fn csv(&self, line: &str, columns: &CsvColumns, group: &mut FusedGroup) -> Outcome {
        if line.trim().is_empty() {
            return Outcome::Blank;
        }
        let buf = recycle(std::mem::take(&mut group.spare[0]));
        match decode::csv_row(line, &self.input, columns, buf) {
            Some(slots) => self.run(slots, group),
            None => Outcome::General,
        }
    }

    /// The cell of each input field in a CSV row: by the header row's
    /// names (`headers`), or by field order without one.
    pub fn csv_columns(&self, headers: Option<&[String]>, delimiter: u8) -> CsvColumns {
        let cells = self
            .input
            .iter()
            .enumerate()
            .map(|(i, f)| match headers {
                Some(h) => h.iter().position(|name| name.trim() == f.name),
                None => Some(i),
            })
            .collect();
        CsvColumns {
            cells,
            width: headers.map(<[String]>::len),
            delimiter,
        }
    }

    /// Runs the stages over decoded slots; encodes the result into `group`.
    fn run<'a>(&'a self, slots: Vec<FVal<'a>>, group: &mut FusedGroup) -> Outcome {
        let mut current = slots;
        let mut next = recycle(std::mem::take(&mut group.spare[1]));
        let outcome = self.stages(&mut current, &mut next, group);
        group.spare = [recycle(current), recycle(next)];
        outcome
    }

    /// [`Self::run`] with its two slot vectors (`next`: empty, for a `map`).
    fn stages<'a>(
        &'a self,
        current: &mut Vec<FVal<'a>>,
        next: &mut Vec<FVal<'a>>,
        group: &mut FusedGroup,
    ) -> Outcome {
        // every stage is evaluated before anything is counted: a record
        // handed to the general path must not be counted twice
        let mut passed = 0;
        for stage in &self.stages {
            match stage {
                Stage::Where(cond) => match cond.eval(current) {
                    Some(FVal::Bool(true)) => {}
                    Some(_) => break,
                    None => return Outcome::General,
                },
                Stage::Map(fields) => {
                    next.clear();
                    for f in fields {
                        match f.eval(current) {
                            Some(v) => next.push(v),
                            None => return Outcome::General,
                        }
                    }
                    std::mem::swap(current, next);
                }
            }
            passed += 1;
        }
        for r in &mut group.reached[..=passed] {
            *r += 1;
        }
        if passed < self.stages.len() {
            return Outcome::Filtered;
        }
        group.reached[passed + 1] += 1;
        encode::record(&self.keys, current, &mut group.bytes);
        Outcome::Written
    }

    /// Seals `group` into the value its envelope carries, leaving it empty.
    pub fn seal(&self, group: &mut FusedGroup) -> Value {
        let bytes = std::mem::take(&mut group.bytes);
        let reached = std::mem::replace(&mut group.reached, vec![0; self.stages.len() + 2]);
        group.bytes = Vec::with_capacity(bytes.len().max(1024));
        let mut slots = Vec::with_capacity(reached.len() + 1);
        slots.push(Value::Bytes(bytes.into()));
        slots.extend(reached.into_iter().map(|n| Value::Int(n as i64)));
        Value::Record(Arc::new(Record {
            layout: self.marker.clone(),
            slots,
        }))
    }

    /// The group `value` carries, when it is a group this plan sealed.
    pub(crate) fn open<'v>(&self, value: &'v Value) -> Option<Sealed<'v>> {
        let Value::Record(r) = value else {
            return None;
        };
        if !Arc::ptr_eq(&r.layout, &self.marker) {
            return None;
        }
        let (first, rest) = r.slots.split_first()?;
        let Value::Bytes(bytes) = first else {
            return None;
        };
        let reached = rest
            .iter()
            .map(|v| match v {
                Value::Int(n) => *n as u64,
                _ => 0,
            })
            .collect();
        Some(Sealed { bytes, reached })
    }

    /// Fields written per output record (for messages and tests).
    pub fn output_fields(&self) -> usize {
        self.keys.len()
    }
}
