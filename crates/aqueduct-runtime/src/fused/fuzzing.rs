//! The fuzz target `json_line`'s hook (fuzz/fuzz_targets/json_line.rs),
//! compiled only with the feature `fuzzing`: one input line through the
//! fused path's three decoders and the general one, which must agree.
//!
//! - the hand-written scanner takes a line only when serde's seed reads
//!   it too, into the same slots (floats compared by their bits);
//! - the seed (what the fused path falls back to) takes a line only when
//!   the general decoder reads it too, into the same values;
//! - a record the general decoder reads encodes byte for byte the same
//!   through the fused encoder and the general one.
//!
//! A disagreement panics with the line, which libFuzzer reports and keeps.

use super::sample::{fields, layout, schemas, to_value};
use super::{decode, encode, scan};
use crate::value::{Record, Value};
use aqueduct_graph::Type;
use std::sync::Arc;

/// Checks that the fused decoders and the general one agree on `line`;
/// panics when they do not.
pub fn json_line_agrees(line: &str) {
    let fields = fields();
    let mut scanned = Vec::new();
    let took = scan::flat_object(line, &fields, &mut scanned);
    let seed = decode::serde_line(line, &fields, Vec::new());
    if took {
        match &seed {
            Some(seed) => assert_eq!(bits(&scanned), bits(seed), "scanner and seed: {line:?}"),
            None => panic!("the scanner took a line the seed refuses: {line:?}"),
        }
    }
    let general = crate::value::json::from_json_str(line, &Type::Record("R".into()), &schemas());
    let record = match (&general, &seed) {
        (Some(Value::Record(r)), Some(seed)) => {
            let ours: Vec<Value> = seed.iter().map(to_value).collect();
            assert_eq!(
                bits_of(&r.slots),
                bits_of(&ours),
                "seed and general: {line:?}"
            );
            r.clone()
        }
        (Some(Value::Record(r)), None) => r.clone(),
        (None, None) => return,
        (g, s) => panic!("general {g:?}, seed {s:?}: {line:?}"),
    };
    encodes_alike(&record, line);
}

/// The fused encoder writes the record as the general encoder does.
fn encodes_alike(record: &Arc<Record>, line: &str) {
    let layout = layout();
    let keys = encode::Keys::new(layout.fields.iter().map(|f| f.name.as_str()));
    let slots: Vec<super::expr::FVal<'_>> = record
        .slots
        .iter()
        .map(|v| {
            super::expr::constant(v.clone())
                .unwrap_or_else(|| panic!("a slot the fused path does not hold: {v:?}"))
        })
        .collect();
    let mut ours = Vec::new();
    encode::record(&keys, &slots, &mut ours);
    let mut general = Vec::new();
    crate::value::json::write_json_bytes(&Value::Record(record.clone()), &mut general);
    general.push(b'\n');
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&general),
        "encoders: {line:?}"
    );
}

/// Slots as comparable text, floats by their bits (-0.0 and 0.0 differ
/// in the output).
pub(crate) fn bits(v: &[super::expr::FVal<'_>]) -> Vec<String> {
    bits_of(&v.iter().map(to_value).collect::<Vec<_>>())
}

fn bits_of(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|x| match x {
            Value::Float(f) => format!("f{:x}", f.to_bits()),
            other => format!("{other:?}"),
        })
        .collect()
}
