//! Benchmark of `aqueduct check` on generated projects of about 25k, 50k and
//! 100k lines, side by side with two baselines measured in the same run:
//! a newline count over the same text (the floor any checker pays to read its
//! input) and parsing alone. Prints lines per second, the ratios, time per
//! line at each size (checking must stay linear) and peak memory.
//!
//! Each size runs in a child process (this binary re-executed with
//! `--size N`), so the peak resident memory reported for a size is that
//! size's own, not the largest seen so far.
//!
//! Two layouts are measured: `files` (one ~67-line file per module, like a
//! real project) and `single` (the whole project in one file, which catches
//! anything quadratic in the size of one file).
//!
//! Run with `cargo bench -p aqueduct-tests --bench check`.
//! One size: `cargo bench -p aqueduct-tests --bench check -- --size 100000 [--single]`.
//! Profiling loop: `… -- --profile parse|check --size 25000 [--iters 20] [--single]`.

use aqueduct_diagnostics::SourceMap;
use std::hint::black_box;
use std::process::Command;
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

/// A project of at least `target_lines` lines: one file per module, or all
/// modules in one file. Returns the sources, lines and bytes.
fn project(target_lines: usize, single: bool) -> (SourceMap, usize, usize) {
    let mut sources = SourceMap::default();
    let (mut lines, mut bytes, mut i) = (0, 0, 0);
    let mut all = String::new();
    while lines < target_lines {
        let text = module(i);
        lines += text.lines().count();
        bytes += text.len();
        if single {
            all.push_str(&text);
        } else {
            sources.add(format!("m{i}.aq"), text);
        }
        i += 1;
    }
    if single {
        sources.add("all.aq".to_string(), all);
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

/// A `Vm…:` line of `/proc/self/status`, in MiB.
fn status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak resident size (`VmHWM`) to the current one (Linux ≥ 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn check_clean(sources: &SourceMap) {
    let result = aqueduct_check::check(sources, None);
    assert!(!result.has_errors(), "generated project checks clean");
    black_box(result);
}

/// Child mode: measures one size and prints one tab-separated line.
fn measure(target: usize, single: bool) {
    let (sources, lines, bytes) = project(target, single);
    let rss_sources = status_mib("VmRSS:").unwrap_or(f64::NAN);
    // Peak of one check on top of the sources already in memory.
    let peak_check = if reset_peak() {
        check_clean(&sources);
        status_mib("VmHWM:").unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    let scan = best_of(5, || {
        let n: usize = sources
            .iter()
            .map(|(_, f)| f.text.bytes().filter(|b| *b == b'\n').count())
            .sum();
        black_box(n);
    });
    let parse = best_of(3, || {
        for (id, f) in sources.iter() {
            black_box(aqueduct_syntax::parse(id, &f.text));
        }
    });
    let check = best_of(3, || check_clean(&sources));
    let peak_all = status_mib("VmHWM:").unwrap_or(f64::NAN);
    println!(
        "{lines}\t{bytes}\t{}\t{}\t{}\t{rss_sources}\t{peak_check}\t{peak_all}",
        scan.as_nanos(),
        parse.as_nanos(),
        check.as_nanos()
    );
}

/// Profiling mode: runs parse or check `iters` times on one size.
fn profile(what: &str, target: usize, single: bool, iters: usize) {
    let (sources, lines, _) = project(target, single);
    let start = Instant::now();
    for _ in 0..iters {
        match what {
            "parse" => {
                for (id, f) in sources.iter() {
                    black_box(aqueduct_syntax::parse(id, &f.text));
                }
            }
            _ => check_clean(&sources),
        }
    }
    let each = start.elapsed() / u32::try_from(iters.max(1)).unwrap_or(1);
    println!(
        "{what} of {lines} lines: {:?} each, {:.0} lines/s",
        each,
        lines as f64 / each.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let single = args.iter().any(|a| a == "--single");
    let size = arg_value(&args, "--size").and_then(|s| s.parse().ok());
    if let Some(what) = arg_value(&args, "--profile") {
        let iters = arg_value(&args, "--iters")
            .and_then(|s| s.parse().ok())
            .unwrap_or(10);
        profile(&what, size.unwrap_or(25_000), single, iters);
        return;
    }
    if let Some(size) = size {
        measure(size, single);
        return;
    }
    let exe = std::env::current_exe().expect("path of the benchmark binary");
    for single in [false, true] {
        println!(
            "\nlayout: {}\n",
            if single {
                "the whole project in one file"
            } else {
                "one file per module (~67 lines each)"
            }
        );
        println!(
            "| lines | bytes | newline scan (baseline) | parse only | full check | check / parse | parse ns/line | check ns/line | RSS of sources | peak RSS (check) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for target in [25_000usize, 50_000, 100_000] {
            let mut cmd = Command::new(&exe);
            cmd.args(["--size", &target.to_string()]);
            if single {
                cmd.arg("--single");
            }
            let out = cmd.output().expect("run the benchmark child");
            assert!(
                out.status.success(),
                "child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let f: Vec<f64> = text
                .trim()
                .split('\t')
                .map(|x| x.parse().unwrap_or(f64::NAN))
                .collect();
            let &[
                lines,
                bytes,
                scan,
                parse,
                check,
                rss_sources,
                peak_check,
                _peak_all,
            ] = f.as_slice()
            else {
                panic!("unexpected child output: {text}");
            };
            let per_s = |ns: f64| lines / (ns / 1e9);
            println!(
                "| {lines:.0} | {bytes:.0} | {:.0} lines/s | {:.0} lines/s | {:.0} lines/s | {:.2}× | {:.0} | {:.0} | {rss_sources:.1} MiB | {peak_check:.1} MiB |",
                per_s(scan),
                per_s(parse),
                per_s(check),
                check / parse,
                parse / lines,
                check / lines,
            );
        }
    }
}
