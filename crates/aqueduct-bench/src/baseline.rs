//! The hand-written baseline: the flow of [`crate::project::FLOW`] written
//! directly in Rust with serde_json and typed structs, the way a careful
//! engineer would write a one-off converter (buffered reader, one typed
//! struct per line, one buffered writer).

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

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
    user_name: &'a str,
    email: String,
    country: String,
    total: f64,
    tier: &'static str,
}

/// Runs the baseline from `input` to `output`; returns (records in, records out).
pub fn run(input: &Path, output: &Path) -> std::io::Result<(u64, u64)> {
    let mut reader = BufReader::with_capacity(1 << 16, File::open(input)?);
    let mut writer = BufWriter::with_capacity(1 << 16, File::create(output)?);
    let (mut n_in, mut n_out) = (0u64, 0u64);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let text = line.trim_end();
        if text.is_empty() {
            continue;
        }
        n_in += 1;
        let e: Event = serde_json::from_str(text).map_err(std::io::Error::other)?;
        if !(e.status == "active" && e.quantity > 0) {
            continue;
        }
        let total = e.price * e.quantity as f64;
        let out = Out {
            id: e.id,
            user_name: &e.user,
            email: e.email.to_lowercase(),
            country: e.country.to_uppercase(),
            total,
            tier: if total >= 100.0 { "big" } else { "small" },
        };
        serde_json::to_writer(&mut writer, &out).map_err(std::io::Error::other)?;
        writer.write_all(b"\n")?;
        n_out += 1;
    }
    writer.flush()?;
    writer.get_ref().sync_all()?;
    Ok((n_in, n_out))
}
