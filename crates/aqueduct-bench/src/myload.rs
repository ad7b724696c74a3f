//! `my-load`: the rows of `pg-load` as JSONL → `mysql.insert` and
//! `mysql.upsert` through `aqueduct run` (a batch flow: one transaction per
//! chunk, by `LOAD DATA LOCAL INFILE` from memory), side by side with the
//! `mariadb` client's `LOAD DATA LOCAL INFILE` of the same rows as CSV, in
//! one run; then the upsert once more over the table it just filled
//! (every key exists: every row is an update, through the staging table).
//! The ratio is the client's time over aqueduct's (1.0 = as fast as
//! `LOAD DATA`; the goal is ≥ 0.6). Every load must leave the same table
//! (count and sums of every column), so no load is faster by loading less.
//! The insert and the upsert run once more with `chunk 10000` (see
//! [`crate::contender`]), the transaction size a bulk load would choose.

use crate::child;
use crate::pgload::{fields, json_line};
use crate::{machine, min_median, secs};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How to reach the server with the command-line client.
struct Client {
    host: String,
    port: String,
    user: String,
    password: String,
    database: String,
}

impl Client {
    /// From `mysql://user[:password]@host[:port]/database`.
    fn parse(url: &str) -> Result<Client, String> {
        let rest = url
            .strip_prefix("mysql://")
            .ok_or("the URL must start with mysql://")?;
        let rest = rest.split('?').next().unwrap_or(rest);
        let (auth, rest) = rest.rsplit_once('@').unwrap_or(("root", rest));
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let (hostport, database) = rest
            .split_once('/')
            .ok_or("the URL must name a database (mysql://…/test)")?;
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
        Ok(Client {
            host: host.to_string(),
            port: port.to_string(),
            user: user.to_string(),
            password: password.to_string(),
            database: database.to_string(),
        })
    }

    /// Runs `sql` with `mariadb --local-infile=1`; the output, tab-separated.
    fn run(&self, sql: &str) -> Result<String, String> {
        let mut cmd = Command::new("mariadb");
        cmd.args(["--local-infile=1", "-N", "-B", "-h", &self.host, "-P"])
            .args([&self.port, "-u", &self.user, &self.database, "-e", sql]);
        if !self.password.is_empty() {
            cmd.env("MYSQL_PWD", &self.password);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run the mariadb client: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "mariadb failed on `{sql}`: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

/// The same rows as JSONL (aqueduct's input) and CSV (`LOAD DATA`'s).
fn generate(dir: &Path, rows: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("in"))?;
    let mut jsonl = std::io::BufWriter::new(std::fs::File::create(dir.join("in/rows.jsonl"))?);
    let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.join("rows.csv"))?);
    for i in 0..rows {
        writeln!(jsonl, "{}", json_line(i))?;
        let (name, amount, at, active) = fields(i);
        writeln!(csv, "{i},{name},{amount},{at},{}", u8::from(active))?;
    }
    jsonl.flush()?;
    csv.flush()
}

const COLUMNS: &str = "id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, amount DECIMAL(12,2) NOT NULL, at DATETIME NOT NULL, active BOOLEAN NOT NULL";

fn project(dir: &Path, url: &str, what: &str, table: &str) -> std::io::Result<()> {
    let (op, chunk) = crate::contender::parse(what);
    let to = if op == "upsert" {
        format!("my.upsert(\"{table}\", key: [id])")
    } else {
        format!("my.insert(\"{table}\")")
    };
    std::fs::write(dir.join("aqueduct.yaml"), "name: myload\n")?;
    std::fs::write(
        dir.join("main.aq"),
        format!(
            "system my: mysql {{ url = \"{url}\" }}\n\n\
             type Row {{ id: int, name: string, amount: decimal, at: timestamp, active: bool }}\n\n\
             flow load {{\n  mode batch{chunk}\n  from file(\"in\").read(\"rows.jsonl\") as Row\n  to {to}\n}}\n"
        ),
    )
}

/// Runs the benchmark and prints a markdown table.
pub fn run(bin: &Path, url: &str, rows: u64, runs: usize) -> Result<(), String> {
    let client = Client::parse(url)?;
    // LOAD DATA LOCAL needs the server's consent as well as the client's
    if client.run("SELECT @@global.local_infile")? != "1" {
        client.run("SET GLOBAL local_infile = 1")?;
        eprintln!("local_infile was off on the server; set it with SET GLOBAL local_infile = 1");
    }
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let dir = tmp.path();
    generate(dir, rows).map_err(|e| e.to_string())?;
    let table = "aq_bench_myload";
    let csv = dir.join("rows.csv");
    let load = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE {table} FIELDS TERMINATED BY ',' (id, name, amount, at, active)",
        csv.display()
    );
    let reset = format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({COLUMNS})");
    let check = format!(
        "SELECT count(*), sum(id), sum(amount), sum(active), sum(length(name)), sum(unix_timestamp(at)) FROM {table}"
    );
    let mut times: Vec<(&str, Vec<Duration>)> = vec![
        ("LOAD DATA", vec![]),
        ("insert", vec![]),
        ("upsert", vec![]),
        // the same rows again into the table the upsert just filled:
        // every key exists, so every row is an update
        ("upsert again", vec![]),
        // the chunk a bulk load would take: fewer transactions and checkpoints
        ("insert, chunk 10000", vec![]),
        ("upsert, chunk 10000", vec![]),
    ];
    let mut expected: Option<String> = None;
    for run in 0..runs {
        for (what, t) in times.iter_mut() {
            if *what != "upsert again" {
                client.run(&reset)?;
            }
            let took = if *what == "LOAD DATA" {
                let started = Instant::now();
                client.run(&load)?;
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
            let got = client.run(&check)?;
            if !got.starts_with(&format!("{rows}\t")) {
                return Err(format!("{what} left `{got}`, not {rows} rows"));
            }
            match &expected {
                None => expected = Some(got),
                Some(e) if *e != got => {
                    return Err(format!("{what} left `{got}`, LOAD DATA left `{e}`"));
                }
                Some(_) => {}
            }
            eprintln!("run {}: {what} {}", run + 1, secs(took));
            t.push(took);
        }
    }
    client.run(&format!("DROP TABLE IF EXISTS {table}"))?;
    let (base_min, base_med) = min_median(times[0].1.clone());
    println!("{rows} rows, {runs} runs each, on {}\n", machine());
    println!("| load | wall, min | wall, median | rows/s (min) | LOAD DATA time ÷ this time |");
    println!("|---|---|---|---|---|");
    for (what, t) in &times {
        let (min, med) = min_median(t.clone());
        let label = match *what {
            "LOAD DATA" => "`mariadb` `LOAD DATA LOCAL INFILE` (CSV)".to_string(),
            what => crate::contender::label("mysql", what),
        };
        println!(
            "| {label} | {} | {} | {:.0} | {:.2}× (median {:.2}×) |",
            secs(min),
            secs(med),
            rows as f64 / min.as_secs_f64(),
            base_min.as_secs_f64() / min.as_secs_f64(),
            base_med.as_secs_f64() / med.as_secs_f64(),
        );
    }
    Ok(())
}
