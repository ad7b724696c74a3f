//! The fused batch path (runtime `fused`, docs/performance.md) against the
//! general path, through `aqueduct run`: the same project run with
//! `AQUEDUCT_FUSED=off` and without it writes byte-identical output, the
//! same dead letters and the same run summary, over inputs full of edge
//! cases (unicode, escapes, nulls, missing optional fields, number forms,
//! lines that do not decode, values of the wrong type, integer overflow,
//! blank lines, csv quoting) with `append`, `write` and csv input.

mod support;

use support::{Outcome, Project};

/// JSON lines that exercise the decoder, the expressions and the encoder.
fn edge_lines() -> Vec<String> {
    let mut lines: Vec<String> = [
        r#"{"id":1,"customer":"ada","email":"Ada@Example.COM","country":"de","price":12.5,"quantity":3,"vip":true,"note":"first"}"#,
        // unicode, escapes, control characters, a surrogate pair
        r#"{"id":2,"customer":"Zoë \"Z\" Ünal","email":null,"country":"fr","price":0.1,"quantity":7,"vip":false,"note":"tab\there\nnew \u0001 \ud83d\ude00 é"}"#,
        // missing optional fields, fields in another order, an unknown field
        r#"{"quantity":2,"price":99.99,"country":"us","customer":"bob","id":3,"extra":{"deep":[1,2]}}"#,
        // numbers: ints as floats, exponents, negative zero, big values
        r#"{"id":4,"customer":"c","country":"it","price":1e2,"quantity":1,"vip":null}"#,
        r#"{"id":5,"customer":"d","country":"es","price":-0.0,"quantity":0}"#,
        r#"{"id":6,"customer":"e","country":"nl","price":3,"quantity":4.0}"#,
        r#"{"id":7,"customer":"f","country":"se","price":1.7976931348623157e308,"quantity":2}"#,
        r#"{"id":8,"customer":"g","country":"de","price":0.30000000000000004,"quantity":9223372036854775807}"#,
        // integer overflow in `.quantity * 2`: a run-time error, dead-lettered
        r#"{"id":9,"customer":"h","country":"de","price":1.5,"quantity":4611686018427387904}"#,
        // filtered by `where`
        r#"{"id":10,"customer":"i","country":"xx","price":5,"quantity":1}"#,
        r#"{"id":11,"customer":"j","country":"de","price":5,"quantity":-1}"#,
        r#"{"id":20,"customer":"zz","country":"de","price":5,"quantity":1}"#,
        // not JSON, the wrong type, a missing required field, trailing text
        r#"{"id":12,"customer":"k""#,
        r#"{"id":"13","customer":"l","country":"de","price":5,"quantity":1}"#,
        r#"{"id":14,"country":"de","price":5,"quantity":1}"#,
        r#"{"id":15,"customer":"m","country":"de","price":5,"quantity":1} x"#,
        r#"[1,2,3]"#,
        // blank lines and whitespace
        "",
        "   ",
        r#"  { "id" : 16 , "customer" : "n" , "country" : "DE" , "price" : 2.25 , "quantity" : 8 }  "#,
        // duplicate keys: the last one wins
        r#"{"id":17,"customer":"o","customer":"p","country":"fr","price":1,"quantity":1}"#,
        // escaped key, escaped string values that need unescaping
        r#"{"i\u0064":18,"customer":"q\/r","country":"\u0064e","price":1,"quantity":1}"#,
        // a float where an int is expected, with a fraction: the general path's error
        r#"{"id":19.5,"customer":"s","country":"de","price":1,"quantity":1}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // enough ordinary records to span several chunks and groups
    for i in 100..2_600 {
        let country = ["de", "fr", "us", "it", "xx"][i % 5];
        let note = if i % 3 == 0 {
            "null".to_string()
        } else {
            format!("\"n{i} ü\"")
        };
        lines.push(format!(
            r#"{{"id":{i},"customer":"user_{i}","email":"U{i}@Mail.ORG","country":"{country}","price":{}.{:02},"quantity":{},"note":{note}}}"#,
            i % 97,
            i % 100,
            i % 11
        ));
    }
    lines
}

const TYPES: &str = r#"
type Order {
  id: int
  customer: string
  email: string?
  country: string
  price: float
  quantity: int
  vip: bool?
  note: string?
}

type Out {
  id: int
  customer: string
  email: string?
  country: string
  price: float
  quantity: int
  vip: bool?
  note: string?
  region: string
  total: float
  double: int
  big: bool
  label: string
  french: bool
  noted: bool
  listed: bool
}
"#;

/// The flow: spread, `upper`/`lower`, arithmetic, `in` a list, `if`, `??`,
/// string concatenation, `not`, comparisons (of a field with a text, also
/// an optional one that is null, and a field in a list of texts: the
/// fused path's shorter forms).
fn flow(from: &str, to: &str) -> String {
    format!(
        r#"{TYPES}
flow orders {{
  mode batch chunk 7
  from {from} as Order
  where .quantity >= 0 and not (lower(.country) == "xx") and .customer != "zz"
  map Out {{
    ...
    customer = upper(.customer)
    email = lower(.email ?? "none")
    region = if lower(.country) in ["de", "fr", "it"] {{ "eu" }} else {{ "other" }}
    total = .price * .quantity
    double = .quantity * 2
    big = .price * .quantity >= 100.0 or .vip == true
    label = .customer + "/" + upper(.country)
    note = .note ?? "none"
    french = "fr" == .country
    noted = .note != "first"
    listed = .note in ["first", "n101 ü", "n200 ü"]
  }}
  to {to}
  dead_letter file("out").append("dead.jsonl")
}}
"#
    )
}

/// Dead-letter entries without their time (the runs differ in it).
fn dead_letters(p: &Project) -> Vec<serde_json::Value> {
    p.jsonl("out/dead.jsonl")
        .into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("at");
            }
            v
        })
        .collect()
}

/// Runs `project` with the fused path off, then on; both must agree.
fn same_both_ways(files: &[(&str, String)], aq: &str, output: &str) {
    let mut runs = Vec::new();
    for fused in ["off", "on"] {
        let p = Project::new();
        for (rel, text) in files {
            p.file(rel, text);
        }
        p.file("main.aq", aq);
        let r: Outcome = p.run_with_env(&[], &[("AQUEDUCT_FUSED", fused)]);
        assert_eq!(r.code, 0, "AQUEDUCT_FUSED={fused}: {}", r.stderr);
        assert_eq!(
            r.stderr.contains("fused batch path"),
            fused == "on",
            "AQUEDUCT_FUSED={fused}: whether the fused path ran:\n{}",
            r.stderr
        );
        if fused == "on" {
            // most lines went the fused way (the edge cases may not)
            let taken: u64 = r
                .stderr
                .lines()
                .filter(|l| l.contains("Read a file on the fused path"))
                .filter_map(|l| {
                    l.split("fused=")
                        .nth(1)?
                        .split(' ')
                        .next()?
                        .parse::<u64>()
                        .ok()
                })
                .sum();
            assert!(
                taken >= 1_000,
                "{taken} records on the fused path:\n{}",
                r.stderr
            );
        }
        let out = std::fs::read(p.path(output)).unwrap_or_default();
        runs.push((out, dead_letters(&p), r.summary("orders"), p));
    }
    let (general, fused) = (&runs[0], &runs[1]);
    assert!(!general.0.is_empty(), "the general path wrote something");
    if general.0 != fused.0 {
        let g = String::from_utf8_lossy(&general.0);
        let f = String::from_utf8_lossy(&fused.0);
        let at = g
            .lines()
            .zip(f.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "outputs differ at line {}:\ngeneral: {:?}\nfused:   {:?}\n({} and {} bytes)",
            at + 1,
            g.lines().nth(at),
            f.lines().nth(at),
            general.0.len(),
            fused.0.len()
        );
    }
    assert_eq!(general.1, fused.1, "the same dead letters");
    assert_eq!(general.2, fused.2, "the same run summary");
}

#[test]
fn fused_append_writes_what_the_general_path_writes() {
    let input = edge_lines().join("\n") + "\n";
    same_both_ways(
        &[("in/orders.jsonl", input)],
        &flow(
            r#"file("in").read("orders.jsonl", format: jsonl)"#,
            r#"file("out").append("orders.jsonl")"#,
        ),
        "out/orders.jsonl",
    );
}

#[test]
fn fused_write_writes_what_the_general_path_writes() {
    // no line end after the last line, and CRLF line ends
    let input = edge_lines().join("\r\n");
    same_both_ways(
        &[("in/orders.jsonl", input)],
        &flow(
            r#"file("in").read("orders.jsonl", format: jsonl)"#,
            r#"file("out").write("orders.jsonl")"#,
        ),
        "out/orders.jsonl",
    );
}

#[test]
fn fused_reads_several_files_as_the_general_path_does() {
    let lines = edge_lines();
    let (a, b) = lines.split_at(1_000);
    same_both_ways(
        &[
            ("in/a.jsonl", a.join("\n") + "\n"),
            ("in/b.jsonl", b.join("\n")),
        ],
        &flow(
            r#"file("in").read("*.jsonl", format: jsonl)"#,
            r#"file("out").append("orders.jsonl")"#,
        ),
        "out/orders.jsonl",
    );
}

#[test]
fn fused_csv_input_writes_what_the_general_path_writes() {
    // columns in another order than the fields, an extra column, quoting
    // (the general path's), empty cells, spaces around numbers, bools
    let mut csv = String::from("quantity,id,customer,email,country,price,vip,note,extra\n");
    csv.push_str("3,1,ada,Ada@Example.COM,de,12.5,true,first,x\n");
    csv.push_str("7,2,\"Zoë, \"\"Z\"\"\",,fr,0.1,no,,\n");
    csv.push_str(" 2 ,3,bob,,us, 99.99 ,Y,\"multi\nline\",\n");
    csv.push_str("1,4,c,,it,1e2,,,\n");
    csv.push_str("x,5,d,,es,1,,,\n"); // not an int: dead-lettered
    csv.push_str("1,6,,,es,1,,,\n"); // a required string empty: dead-lettered
    csv.push_str("1,7,e,,de,1,maybe,,\n"); // not a bool
    csv.push_str("1,8,f,,de,1,,,,,\n"); // more cells than the header names
    csv.push('\n');
    csv.push_str("4611686018427387904,9,g,,de,1,,,\n"); // overflow in `.quantity * 2`
    csv.push_str("1,10,h\n"); // missing columns
    for i in 100..1_500 {
        let country = ["de", "fr", "us", "it", "XX"][i % 5];
        csv.push_str(&format!(
            "{},{i},user_{i},U{i}@Mail.ORG,{country},{}.{:02},{},n{i} ü,\n",
            i % 11,
            i % 97,
            i % 100,
            ["true", "false", ""][i % 3]
        ));
    }
    same_both_ways(
        &[("in/orders.csv", csv)],
        &flow(
            r#"file("in").read("orders.csv", format: csv)"#,
            r#"file("out").append("orders.jsonl")"#,
        ),
        "out/orders.jsonl",
    );
}

#[test]
fn flows_the_fused_path_does_not_cover_run_the_general_way() {
    // a decimal field: not a scalar the fused path handles
    let p = Project::new();
    p.file("in/a.jsonl", "{\"id\":1,\"amount\":1.50}\n").file(
        "main.aq",
        r#"
type Row { id: int, amount: decimal }
flow orders {
  mode batch
  from file("in").read("a.jsonl", format: jsonl) as Row
  to file("out").append("rows.jsonl")
}
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("fused batch path"), "{}", r.stderr);
    assert_eq!(p.read("out/rows.jsonl"), "{\"id\":1,\"amount\":1.50}\n");
}
