//! The hand-written baselines: the flow of [`crate::project::FLOW`] written
//! directly in Rust with serde_json, the way a careful engineer would write
//! a one-off converter (buffered reader, one line at a time, one buffered
//! writer, one fsync at the end):
//! - [`run`]: typed `#[derive(Deserialize)]` structs (the reference);
//! - [`run_dynamic`]: `serde_json::Value` documents, for programs that do
//!   not declare their records (what a generic tool does);
//! - [`run_committed`]: the typed program with `aqueduct run`'s crash
//!   safety written by hand: every [`COMMIT_EVERY`] input records the output
//!   is flushed and synced (`fdatasync`), then the input offset and output
//!   length are written to a checkpoint file (not synced, as aqueduct's
//!   SQLite state store in WAL mode does not sync each commit). It is the
//!   baseline that pays what aqueduct's default `chunk` pays, so the cost of
//!   the guarantee and the cost of the rest can be told apart.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Input records per commit of [`run_committed`]: aqueduct's default `chunk`.
pub const COMMIT_EVERY: u64 = 1000;

/// Where [`lines`] commits: every `every` input records, to `checkpoint`.
struct Commits {
    every: u64,
    checkpoint: File,
}

impl Commits {
    /// Makes the output written so far durable, then records how far the
    /// input was read and how long the output is.
    fn commit(&self, writer: &mut BufWriter<File>, read: u64) -> std::io::Result<()> {
        writer.flush()?;
        let file = writer.get_ref();
        file.sync_data()?;
        let written = file.metadata()?.len();
        let mut position = [0u8; 16];
        position[..8].copy_from_slice(&read.to_le_bytes());
        position[8..].copy_from_slice(&written.to_le_bytes());
        self.checkpoint.write_all_at(&position, 0)
    }
}

#[derive(Deserialize)]
struct Event {
    id: i64,
    user: String,
    email: String,
    country: String,
    price: f64,
    quantity: i64,
    status: String,
    #[allow(dead_code)]
    note: String,
}

#[derive(Serialize)]
struct Out<'a> {
    id: i64,
    user: &'a str,
    email: String,
    country: String,
    total: f64,
    tier: &'static str,
    eu: bool,
}

const EU: [&str; 5] = ["de", "fr", "it", "es", "nl"];

/// Reads `input` line by line into `each` (which writes to the writer),
/// committing as `commits` says; returns (records in, records out).
fn lines(
    input: &Path,
    output: &Path,
    commits: Option<Commits>,
    mut each: impl FnMut(&str, &mut BufWriter<File>) -> std::io::Result<bool>,
) -> std::io::Result<(u64, u64)> {
    let mut reader = BufReader::with_capacity(1 << 16, File::open(input)?);
    let mut writer = BufWriter::with_capacity(1 << 16, File::create(output)?);
    let (mut n_in, mut n_out, mut read) = (0u64, 0u64, 0u64);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        let text = line.trim_end();
        if text.is_empty() {
            continue;
        }
        n_in += 1;
        if each(text, &mut writer)? {
            n_out += 1;
        }
        if let Some(c) = &commits
            && n_in.is_multiple_of(c.every)
        {
            c.commit(&mut writer, read)?;
        }
    }
    match &commits {
        // the records since the last commit; none when the input ended
        // right at a commit, which then already made everything durable
        Some(c) if !n_in.is_multiple_of(c.every) => c.commit(&mut writer, read)?,
        Some(_) => {}
        None => {
            writer.flush()?;
            writer.get_ref().sync_all()?;
        }
    }
    Ok((n_in, n_out))
}

/// The typed baseline from `input` to `output`; returns (records in, records out).
pub fn run(input: &Path, output: &Path) -> std::io::Result<(u64, u64)> {
    lines(input, output, None, typed)
}

/// The typed baseline committing every [`COMMIT_EVERY`] records to a
/// checkpoint file beside `output`.
pub fn run_committed(input: &Path, output: &Path) -> std::io::Result<(u64, u64)> {
    let checkpoint = File::create(output.with_extension("checkpoint"))?;
    let commits = Commits {
        every: COMMIT_EVERY,
        checkpoint,
    };
    lines(input, output, Some(commits), typed)
}

/// One record of the typed baseline.
fn typed(text: &str, writer: &mut BufWriter<File>) -> std::io::Result<bool> {
    let e: Event = serde_json::from_str(text).map_err(std::io::Error::other)?;
    if !(e.status == "active" && e.quantity > 0) {
        return Ok(false);
    }
    let total = e.price * e.quantity as f64;
    let out = Out {
        id: e.id,
        user: &e.user,
        email: e.email.to_lowercase(),
        country: e.country.to_uppercase(),
        total,
        tier: if total >= 100.0 { "big" } else { "small" },
        eu: EU.contains(&e.country.as_str()),
    };
    serde_json::to_writer(&mut *writer, &out).map_err(std::io::Error::other)?;
    writer.write_all(b"\n")?;
    Ok(true)
}

/// The dynamic baseline: each line a `serde_json::Value`, fields looked up
/// by name, the output written field by field (a `serde_json::Map` would
/// sort the keys).
pub fn run_dynamic(input: &Path, output: &Path) -> std::io::Result<(u64, u64)> {
    use serde_json::Value;
    let bad = || std::io::Error::other("a field is missing or of the wrong type");
    lines(input, output, None, |text, w| {
        let e: Value = serde_json::from_str(text).map_err(std::io::Error::other)?;
        let status = e["status"].as_str().ok_or_else(bad)?;
        let quantity = e["quantity"].as_i64().ok_or_else(bad)?;
        if !(status == "active" && quantity > 0) {
            return Ok(false);
        }
        let price = e["price"].as_f64().ok_or_else(bad)?;
        let country = e["country"].as_str().ok_or_else(bad)?;
        let email = e["email"].as_str().ok_or_else(bad)?;
        let total = price * quantity as f64;
        let json = |w: &mut BufWriter<File>, v: &Value| {
            serde_json::to_writer(&mut *w, v).map_err(std::io::Error::other)
        };
        w.write_all(b"{\"id\":")?;
        json(w, &e["id"])?;
        w.write_all(b",\"user\":")?;
        json(w, &e["user"])?;
        w.write_all(b",\"email\":")?;
        json(w, &Value::String(email.to_lowercase()))?;
        w.write_all(b",\"country\":")?;
        json(w, &Value::String(country.to_uppercase()))?;
        w.write_all(b",\"total\":")?;
        json(w, &Value::from(total))?;
        w.write_all(b",\"tier\":")?;
        w.write_all(if total >= 100.0 {
            b"\"big\""
        } else {
            b"\"small\""
        })?;
        w.write_all(b",\"eu\":")?;
        w.write_all(if EU.contains(&country) {
            b"true"
        } else {
            b"false"
        })?;
        w.write_all(b"}\n")?;
        Ok(true)
    })
}

/// The `jq` program doing the same (for context: jq writes numbers its own way).
pub const JQ: &str = r#"select(.status == "active" and .quantity > 0) | (.price * .quantity) as $t | {id, user, email: (.email | ascii_downcase), country: (.country | ascii_upcase), total: $t, tier: (if $t >= 100 then "big" else "small" end), eu: (.country | IN("de", "fr", "it", "es", "nl"))}"#;
