//! `pg-load`: 1M rows JSONL → `postgres.insert` and `postgres.upsert`
//! through `aqueduct run` (a batch flow: COPY per chunk), side by side with
//! `psql \copy` of the same rows as CSV, in one run; then the upsert once
//! more over the table it just filled (every key exists: every row is an
//! update, through the staging table). The ratio is psql's time over
//! aqueduct's (1.0 = as fast as `psql \copy`; the goal is ≥ 0.6).
//! The insert and the upsert run once more with `chunk 10000` (see
//! [`crate::contender`]), the transaction size a bulk load would choose.

use crate::child;
use crate::{machine, min_median, secs};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn psql(url: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-qAtX", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Row `i` of the loads: (name, amount, date and time, active).
pub(crate) fn fields(i: u64) -> (String, String, String, bool) {
    let name = format!("customer {i}");
    let amount = format!("{}.{:02}", i % 100_000, i % 100);
    let at = format!(
        "2024-{:02}-{:02} {:02}:{:02}:{:02}",
        i % 12 + 1,
        i % 28 + 1,
        i % 24,
        i % 60,
        (i / 60) % 60
    );
    (name, amount, at, i.is_multiple_of(3))
}

/// Row `i` as aqueduct's JSONL input reads it.
pub(crate) fn json_line(i: u64) -> String {
    let (name, amount, at, active) = fields(i);
    let at = at.replace(' ', "T");
    format!(
        "{{\"id\":{i},\"name\":\"{name}\",\"amount\":{amount},\"at\":\"{at}Z\",\"active\":{active}}}"
    )
}

/// The same rows as JSONL (aqueduct's input) and CSV (psql's).
fn generate(dir: &Path, rows: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("in"))?;
    let mut jsonl = std::io::BufWriter::new(std::fs::File::create(dir.join("in/rows.jsonl"))?);
    let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.join("rows.csv"))?);
    for i in 0..rows {
        writeln!(jsonl, "{}", json_line(i))?;
        let (name, amount, at, active) = fields(i);
        let at = at.replace(' ', "T");
        writeln!(csv, "{i},{name},{amount},{at}Z,{active}")?;
    }
    jsonl.flush()?;
    csv.flush()
}

const COLUMNS: &str = "id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2) NOT NULL, at timestamptz NOT NULL, active boolean NOT NULL";

fn project(dir: &Path, url: &str, what: &str, table: &str) -> std::io::Result<()> {
    let (op, chunk) = crate::contender::parse(what);
    let to = if op == "upsert" {
        format!("pg.upsert(\"{table}\", key: [id])")
    } else {
        format!("pg.insert(\"{table}\")")
    };
    std::fs::write(dir.join("aqueduct.yaml"), "name: pgload\n")?;
    std::fs::write(
        dir.join("main.aq"),
        format!(
            "system pg: postgres {{ url = \"{url}\" }}\n\n\
             type Row {{ id: int, name: string, amount: decimal, at: timestamp, active: bool }}\n\n\
             flow load {{\n  mode batch{chunk}\n  from file(\"in\").read(\"rows.jsonl\") as Row\n  to {to}\n}}\n"
        ),
    )
}

/// Runs the benchmark and prints a markdown table.
pub fn run(bin: &Path, url: &str, rows: u64, runs: usize) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let dir = tmp.path();
    generate(dir, rows).map_err(|e| e.to_string())?;
    let table = "aq_bench_load";
    let csv = dir.join("rows.csv");
    let copy = format!("\\copy {table} FROM '{}' CSV", csv.display());
    let reset = format!("DROP TABLE IF EXISTS {table}; CREATE UNLOGGED TABLE {table} ({COLUMNS})");
    let mut times: Vec<(&str, Vec<Duration>)> = vec![
        ("psql \\copy", vec![]),
        ("insert", vec![]),
        ("upsert", vec![]),
        // the same rows again into the table the upsert just filled:
        // every key exists, so every row is an update
        ("upsert again", vec![]),
        // the chunk a bulk load would take: fewer transactions and checkpoints
        ("insert, chunk 10000", vec![]),
        ("upsert, chunk 10000", vec![]),
    ];
    for run in 0..runs {
        for (what, t) in times.iter_mut() {
            if *what != "upsert again" {
                psql(url, &["-c", &reset])?;
            }
            let took = if *what == "psql \\copy" {
                let started = Instant::now();
                psql(url, &["-c", &copy])?;
                started.elapsed()
            } else {
                project(dir, url, what, table).map_err(|e| e.to_string())?;
                let _ = std::fs::remove_dir_all(dir.join(".aqueduct"));
                let o = child::run_to_end(bin, dir).map_err(|e| e.to_string())?;
                if !o.ok {
                    return Err(format!("aqueduct run failed:\n{}", o.stderr));
                }
                o.wall
            };
            let out = Command::new("psql")
                .arg(url)
                .args(["-qAtX", "-c", &format!("SELECT count(*) FROM {table}")])
                .output()
                .map_err(|e| e.to_string())?;
            let count = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if count != rows.to_string() {
                return Err(format!("{what} left {count} rows, not {rows}"));
            }
            eprintln!("run {}: {what} {}", run + 1, secs(took));
            t.push(took);
        }
    }
    psql(url, &["-c", &format!("DROP TABLE IF EXISTS {table}")])?;
    let (psql_min, psql_med) = min_median(times[0].1.clone());
    println!("{rows} rows, {runs} runs each, on {}\n", machine());
    println!("| load | wall, min | wall, median | rows/s (min) | psql time ÷ this time |");
    println!("|---|---|---|---|---|");
    for (what, t) in &times {
        let (min, med) = min_median(t.clone());
        let label = match *what {
            "psql \\copy" => "`psql \\copy` (CSV)".to_string(),
            what => crate::contender::label("postgres", what),
        };
        println!(
            "| {label} | {} | {} | {:.0} | {:.2}× (median {:.2}×) |",
            secs(min),
            secs(med),
            rows as f64 / min.as_secs_f64(),
            psql_min.as_secs_f64() / min.as_secs_f64(),
            psql_med.as_secs_f64() / med.as_secs_f64(),
        );
    }
    Ok(())
}
