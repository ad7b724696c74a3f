//! The fused path's decoder and encoder against the general ones, value
//! by value (the whole flow is compared through `aqueduct run` in
//! crates/aqueduct-cli/tests/run_fused.rs).

use super::decode;
use super::encode::{self, Keys};
use super::expr::FVal;
use super::fuzzing::bits;
use super::sample::{fields, layout, schemas, to_value};
use crate::value::{Record, Value};
use aqueduct_graph::Type;
use aqueduct_test_support::Rng;
use std::borrow::Cow;
use std::sync::Arc;

#[test]
fn json_lines_decode_as_the_general_decoder_decodes_them() {
    let lines = [
        r#"{"s":"a","i":1,"f":2.5,"b":true}"#,
        r#"{"s":"\u00e9\n\"x\"","i":-9223372036854775808,"f":1,"b":false,"os":null,"oi":null}"#,
        r#"{"b":true,"f":1e300,"i":3.0,"s":"","os":"ü","oi":42,"zzz":[{"a":1}]}"#,
        r#"{"s":"a","i":1,"f":2.5,"b":true,"s":"last"}"#,
        r#"{"\u0073":"escaped key","i":1,"f":-0.0,"b":true}"#,
        r#" { "s" : "spaced" , "i" : 1 , "f" : 0.1 , "b" : false } "#,
        // refused by both
        r#"{"s":"a","i":1.5,"f":2.5,"b":true}"#,
        r#"{"s":"a","f":2.5,"b":true}"#,
        r#"{"s":1,"i":1,"f":2.5,"b":true}"#,
        r#"{"s":"a","i":1,"f":2.5,"b":true} tail"#,
        r#"{"s":"a","i":18446744073709551615,"f":2.5,"b":true}"#,
        r#"{"s":null,"i":1,"f":2.5,"b":true}"#,
        r#"[]"#,
        r#"{"s":"a","i":1,"f":"2.5","b":true}"#,
    ];
    let schemas = schemas();
    let fields = fields();
    for line in lines {
        let general = crate::value::json::from_json_str(line, &Type::Record("R".into()), &schemas);
        let fused = decode::json_line(line, &fields, Vec::new());
        match (general, fused) {
            (Some(Value::Record(r)), Some(slots)) => {
                let ours: Vec<Value> = slots.iter().map(to_value).collect();
                assert_eq!(r.slots, ours, "{line}");
            }
            (None, None) => {}
            (g, f) => panic!("{line}: general {g:?}, fused {f:?}"),
        }
    }
}

#[test]
fn records_encode_byte_for_byte_as_the_general_encoder_writes_them() {
    let layout = layout();
    let keys = Keys::new(layout.fields.iter().map(|f| f.name.as_str()));
    let rows: Vec<Vec<FVal<'static>>> = vec![
        vec![
            FVal::Str(Cow::Borrowed("plain")),
            FVal::Int(i64::MIN),
            FVal::Float(0.1 + 0.2),
            FVal::Bool(true),
            FVal::Null,
            FVal::Int(i64::MAX),
        ],
        vec![
            FVal::Str(Cow::Borrowed("\"q\" \\ \n\r\t \u{1} \u{7f} é 😀")),
            FVal::Int(0),
            FVal::Float(-0.0),
            FVal::Bool(false),
            FVal::Str(Cow::Owned("owned".into())),
            FVal::Int(-1),
        ],
        vec![
            FVal::Str(Cow::Borrowed("")),
            FVal::Int(7),
            FVal::Float(f64::NAN),
            FVal::Bool(false),
            FVal::Null,
            FVal::Null,
        ],
        vec![
            FVal::Str(Cow::Borrowed("x")),
            FVal::Int(7),
            FVal::Float(1e300 * 10.0),
            FVal::Bool(false),
            FVal::Null,
            FVal::Null,
        ],
        vec![
            FVal::Str(Cow::Borrowed("x")),
            FVal::Int(7),
            FVal::Float(3.0),
            FVal::Bool(false),
            FVal::Null,
            FVal::Null,
        ],
        vec![
            FVal::Str(Cow::Borrowed("x")),
            FVal::Int(7),
            FVal::Float(1.7976931348623157e308),
            FVal::Bool(false),
            FVal::Null,
            FVal::Null,
        ],
    ];
    for row in rows {
        let mut ours = Vec::new();
        encode::record(&keys, &row, &mut ours);
        let record = Value::Record(Arc::new(Record {
            layout: layout.clone(),
            slots: row.iter().map(to_value).collect(),
        }));
        let mut general = Vec::new();
        crate::value::json::write_json_bytes(&record, &mut general);
        general.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&general)
        );
    }
}

#[test]
fn a_record_without_fields_is_an_empty_object() {
    let keys = Keys::new(std::iter::empty());
    let mut out = Vec::new();
    encode::record(&keys, &[], &mut out);
    assert_eq!(out, b"{}\n");
}

#[test]
fn recycled_slot_vectors_keep_their_allocation() {
    // the fused path decodes every line into the same two vectors: no
    // allocation per record
    let mut v: Vec<FVal<'_>> = Vec::with_capacity(16);
    v.push(FVal::Str(Cow::Owned("x".into())));
    let at = v.as_ptr() as usize;
    let r: Vec<FVal<'static>> = super::recycle(v);
    assert!(r.is_empty());
    assert_eq!(r.capacity(), 16);
    assert_eq!(r.as_ptr() as usize, at);
}

/// JSON values of many shapes, the usual ones and the corner cases of
/// numbers, strings and literals.
const VALUES: &[&str] = &[
    r#""a""#,
    r#""""#,
    r#""ü €""#,
    r#""tab\there""#,
    r#""q\"q""#,
    "\"ctl\u{1}\"",
    r#""\u00e9""#,
    "0",
    "-0",
    "1",
    "-1",
    "42",
    "007",
    "1.5",
    "-2.25",
    "0.1",
    "-0.0",
    "3.0",
    "1e3",
    "1E-3",
    "2.5e+10",
    "1e22",
    "1e23",
    "4.35",
    "123456789012345",
    "1234567890123456",
    "12345678901234567",
    "123456789012345678",
    "1234567890123456789",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "9007199254740993.0",
    "0.30000000000000004",
    "1.",
    ".5",
    "1e",
    "1e99999",
    "-",
    "true",
    "false",
    "null",
    "tru",
    "nul",
    "[]",
    "{}",
    r#"{"a":1}"#,
    "[1,2]",
];

const KEYS: &[&str] = &[
    r#""s""#,
    r#""i""#,
    r#""f""#,
    r#""b""#,
    r#""os""#,
    r#""oi""#,
    r#""zz""#,
    r#""\u0073""#,
];

const SPACE: &[&str] = &["", "", "", " ", "\t", "\r", "  \n "];

#[test]
fn the_flat_scanner_takes_lines_only_as_serde_reads_them() {
    let fields = fields();
    let mut g = Rng::new(0x9e37_79b9_7f4a_7c15);
    let (mut taken, mut total) = (0, 0);
    for _ in 0..200_000 {
        let mut line = String::from(g.pick(SPACE));
        line.push('{');
        let pairs = 3 + g.next_u64() % 5;
        for p in 0..pairs {
            if p > 0 {
                line.push_str(g.pick(SPACE));
                line.push(',');
            }
            line.push_str(g.pick(SPACE));
            // mostly the declared keys in order, with their usual kinds
            let usual = !g.next_u64().is_multiple_of(3);
            let key = if usual {
                KEYS[(p % 6) as usize]
            } else {
                g.pick(KEYS)
            };
            line.push_str(key);
            line.push_str(g.pick(SPACE));
            line.push(':');
            line.push_str(g.pick(SPACE));
            let typical: &[&str] = match p % 6 {
                0 | 4 => &[r#""a""#, r#""b c""#, r#""ü €""#, "null"],
                1 | 5 => &["0", "-1", "42", "123456789012345678", "null"],
                2 => &["1.5", "-2.25", "0.1", "1e3", "3", "-4", "4.35", "0.0001"],
                _ => &["true", "false"],
            };
            line.push_str(if usual && !g.next_u64().is_multiple_of(8) {
                g.pick(typical)
            } else {
                g.pick(VALUES)
            });
        }
        line.push_str(g.pick(SPACE));
        line.push('}');
        if g.next_u64().is_multiple_of(50) {
            line.push_str(g.pick(&["x", ",", "}", " "]));
        }
        // scanner against seed, seed against the general decoder, and the
        // two encoders (the fuzz target `json_line` runs the same check)
        super::fuzzing::json_line_agrees(&line);
        total += 1;
        if super::scan::flat_object(&line, &fields, &mut Vec::new()) {
            taken += 1;
        }
    }
    eprintln!("the scanner took {taken} of {total} lines");
    // the generator makes plenty of lines of the usual shape
    assert!(taken > total / 50, "{taken} of {total}");
}

#[test]
fn the_flat_scanner_takes_the_usual_lines() {
    let fields = fields();
    for line in [
        r#"{"s":"a","i":1,"f":2.5,"b":true}"#,
        r#"{"s":"a","i":-7,"f":-0.125,"b":false,"os":null,"oi":12,"other":"x"}"#,
        r#" { "b" : true , "f" : 1e3 , "i" : 0 , "s" : "ü" } "#,
    ] {
        let mut slots = Vec::new();
        assert!(
            super::scan::flat_object(line, &fields, &mut slots),
            "{line}"
        );
        assert_eq!(
            Some(slots),
            decode::serde_line(line, &fields, Vec::new()),
            "{line}"
        );
    }
}

/// Random numbers of every length and exponent in a float and an int
/// field: where the scanner takes them, serde reads the same bits.
#[test]
fn the_flat_scanner_reads_numbers_as_serde_does() {
    let fields = fields();
    let mut g = Rng::new(0x2545_f491_4f6c_dd1d);
    let number = |g: &mut Rng| {
        let mut n = String::new();
        if g.next_u64().is_multiple_of(3) {
            n.push('-');
        }
        let digits = 1 + g.next_u64() % 20;
        for d in 0..digits {
            let digit = g.next_u64() % 10;
            // a leading zero only alone (JSON has no others)
            let digit = if d == 0 && digits > 1 && digit == 0 {
                7
            } else {
                digit
            };
            n.push(char::from(b'0' + digit as u8));
        }
        if g.next_u64().is_multiple_of(2) {
            n.push('.');
            for _ in 0..1 + g.next_u64() % 12 {
                n.push(char::from(b'0' + (g.next_u64() % 10) as u8));
            }
        }
        if g.next_u64().is_multiple_of(3) {
            n.push(if g.next_u64().is_multiple_of(2) {
                'e'
            } else {
                'E'
            });
            n.push_str(g.pick(&["", "+", "-"]));
            n.push_str(&(g.next_u64() % 40).to_string());
        }
        n
    };
    let mut taken = 0;
    for _ in 0..200_000 {
        let (f, i) = (number(&mut g), number(&mut g));
        let line = format!(r#"{{"s":"x","i":{i},"f":{f},"b":true}}"#);
        let mut slots = Vec::new();
        if !super::scan::flat_object(&line, &fields, &mut slots) {
            continue;
        }
        taken += 1;
        let serde = decode::serde_line(&line, &fields, Vec::new());
        assert_eq!(Some(bits(&slots)), serde.as_deref().map(bits), "{line}");
    }
    assert!(taken > 10_000, "{taken}");
}
