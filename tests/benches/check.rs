//! Benchmark of `aqueduct check` on generated projects of about 25k, 50k and
//! 100k lines, side by side with two baselines measured in the same run:
//! a newline count over the same text (the floor any checker pays to read its
//! input) and parsing alone. Prints lines per second, the ratios, time per
//! line at each size (checking must stay linear) and peak memory.
//!
//! Run with `cargo bench -p aqueduct-tests --bench check`.

use aqueduct_diagnostics::SourceMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// One generated file: types, systems, a channel pair of flows and a test.
fn module(i: usize) -> String {
    format!(
        r#"/// Orders of region {i}.
type Order{i} {{
  id: string
  customer: string
  amount: decimal
  currency: string
  note: string?
  created: timestamp
}}

type Invoice{i} {{
  order_id: string
  total: decimal
  tier: string
  label: string
}}

system inbox{i}: file {{ root = "in/{i}" }}
system out{i}: file {{ root = "out/{i}" }}
system db{i}: sqlite {{ path = "db{i}.sqlite" }}

channel invoices{i}: Invoice{i}

flow bill{i} {{
  mode batch schedule "0 2 * * *" chunk 500
  from inbox{i}.read("orders.csv", format: csv) as Order{i}
  where .amount > 0 and .currency in ["EUR", "USD"]
  let doubled = .amount * 2
  map Invoice{i} {{
    order_id = .id
    total = round(.amount * 1.2, 2)
    tier = if .amount > 1_000 {{ "gold" }} else {{ "standard" }}
    label = "order {{.id}} for {{upper(trim(.customer))}}"
  }}
  to invoices{i}
  retry 3 backoff exponential(1s, 1m)
  dead_letter out{i}.append("dead.jsonl")
}}

flow store{i} {{
  mode async
  from invoices{i}
  route {{
    when .total > 500 => to db{i}.upsert("big_invoices", key: [order_id])
    else => to out{i}.append("invoices.jsonl")
  }}
  dead_letter out{i}.append("dead_store.jsonl")
}}

test bill_gold_{i} for bill{i} {{
  given Order{i} {{ id = "1", customer = " acme ", amount = 2000, currency = "EUR", created = "2026-01-01T00:00:00Z" }}
  expect Invoice{i} {{ order_id = "1", total = 2400.00, tier = "gold", label = "order 1 for ACME" }}
}}
"#
    )
}

fn project(target_lines: usize) -> (SourceMap, usize, usize) {
    let mut sources = SourceMap::default();
    let (mut lines, mut bytes, mut i) = (0, 0, 0);
    while lines < target_lines {
        let text = module(i);
        lines += text.lines().count();
        bytes += text.len();
        sources.add(format!("m{i}.aq"), text);
        i += 1;
    }
    (sources, lines, bytes)
}

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    println!("| lines | bytes | newline scan (baseline) | parse only | full check | check / parse | ns per line |");
    println!("|---|---|---|---|---|---|---|");
    for target in [25_000, 50_000, 100_000] {
        let (sources, lines, bytes) = project(target);
        let scan = best_of(5, || {
            let n: usize = sources.iter().map(|(_, f)| f.text.bytes().filter(|b| *b == b'\n').count()).sum();
            black_box(n);
        });
        let parse = best_of(3, || {
            for (id, f) in sources.iter() {
                black_box(aqueduct_syntax::parse(id, &f.text));
            }
        });
        let check = best_of(3, || {
            let result = aqueduct_check::check(&sources, None);
            assert!(!result.has_errors(), "generated project checks clean");
            black_box(result);
        });
        let per_s = |d: Duration| lines as f64 / d.as_secs_f64();
        println!(
            "| {lines} | {bytes} | {:.0} lines/s | {:.0} lines/s | {:.0} lines/s | {:.2}× | {:.0} |",
            per_s(scan),
            per_s(parse),
            per_s(check),
            check.as_secs_f64() / parse.as_secs_f64(),
            check.as_nanos() as f64 / lines as f64,
        );
    }
    if let Some(peak) = peak_rss_mib() {
        println!("\npeak RSS of the whole benchmark process: {peak:.1} MiB");
    }
}
