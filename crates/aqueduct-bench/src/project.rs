//! The benchmark inputs: a deterministic JSONL file of ~200-byte events,
//! and the aqueduct projects that process them or answer a sync endpoint.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The flow of the throughput and memory benchmarks (issue 10's shape):
/// JSONL → `where` + `map` (spread, string functions, arithmetic, a
/// conditional, `in` a list) → JSONL. The roots come from `BENCH_IN` and
/// `BENCH_OUT` when set, so a generated service can be pointed at the files.
pub const FLOW: &str = r#"/// One input event (~200 bytes of JSON).
type Event {
  id: int
  user: string
  email: string
  country: string
  price: float
  quantity: int
  status: string
  note: string
}

/// What is written out.
type Out {
  id: int
  user: string
  email: string
  country: string
  total: float
  tier: string
  eu: bool
}

system input: file { root = env("BENCH_IN", "input") }
system out: file { root = env("BENCH_OUT", "out") }

flow transform {
  mode batch
  from input.read("events.jsonl", format: jsonl) as Event
  where .status == "active" and .quantity > 0
  map Out {
    ...
    email   = lower(.email)
    country = upper(.country)
    total   = .price * .quantity
    tier    = if .price * .quantity >= 100.0 { "big" } else { "small" }
    eu      = .country in ["de", "fr", "it", "es", "nl"]
  }
  to out.append("events.jsonl", format: jsonl)
}
"#;

/// [`FLOW`] reading `events.csv` (a header row, the same columns) instead.
pub fn csv_flow() -> String {
    FLOW.replace(
        r#"read("events.jsonl", format: jsonl)"#,
        r#"read("events.csv", format: csv)"#,
    )
}

/// [`FLOW`] with another file operation as its target (`append` or `write`).
pub fn flow_with_target(op: &str) -> String {
    FLOW.replace("out.append(", &format!("out.{op}("))
}

/// The sync endpoint of the endpoint benchmark (the quickstart's quote flow).
pub fn endpoint_flow(listen: &str) -> String {
    format!(
        r#"type QuoteRequest {{
  sku: string
  quantity: int
  country: string
}}

type Quote {{
  sku: string
  quantity: int
  unit_price: decimal
  shipping: decimal
  total: decimal
}}

system api: endpoint {{ listen = "{listen}" }}

flow quote {{
  mode sync
  from api.post("/quote") as QuoteRequest
  where .quantity > 0
  let unit_price = if .quantity >= 100 {{ 8.50 }} else {{ 10.00 }}
  let shipping = if upper(.country) == "DE" {{ 0.00 }} else {{ 4.90 }}
  reply Quote {{
    sku        = .sku
    quantity   = .quantity
    unit_price = $unit_price
    shipping   = $shipping
    total      = $unit_price * .quantity + $shipping
  }}
  timeout 2s
}}
"#
    )
}

/// The body every load-generator request posts.
pub const QUOTE_BODY: &str = r#"{"sku":"MUG-1","quantity":3,"country":"de"}"#;

/// Writes a project (`aqueduct.yaml` with a SQLite state store, `flow.aq`).
pub fn write_project(dir: &Path, flow: &str) -> std::io::Result<()> {
    fs::create_dir_all(dir.join("input"))?;
    fs::write(
        dir.join("aqueduct.yaml"),
        "name: bench\nstate: sqlite://.aqueduct/state.db\n",
    )?;
    fs::write(dir.join("flow.aq"), flow)
}

/// Removes the output and the state of an earlier run, so the next run
/// reads the whole input again.
pub fn reset(dir: &Path) -> std::io::Result<()> {
    for sub in [".aqueduct", "out"] {
        let p = dir.join(sub);
        if p.exists() {
            fs::remove_dir_all(&p)?;
        }
    }
    Ok(())
}

const COUNTRIES: [&str; 8] = ["de", "fr", "us", "gb", "it", "es", "nl", "se"];
const WORDS: [&str; 8] = [
    "express",
    "gift wrap",
    "fragile",
    "weekend",
    "pickup",
    "repeat",
    "priority",
    "standard",
];

/// A small deterministic generator (SplitMix64), so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Writes `n` events to `path`; returns the file size in bytes.
pub fn generate(path: &Path, n: u64) -> std::io::Result<u64> {
    generate_as(path, n, false)
}

/// The same `n` events as CSV with a header row. The free-text note has
/// `;` where the JSON has `,`, so no cell needs quoting (the note is not
/// in the output, which stays byte-equal to the JSONL runs').
pub fn generate_csv(path: &Path, n: u64) -> std::io::Result<u64> {
    generate_as(path, n, true)
}

fn generate_as(path: &Path, n: u64, csv: bool) -> std::io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let mut rng = Rng(42);
    let mut bytes = 0u64;
    let mut line = String::with_capacity(256);
    for id in 0..n {
        let r = rng.next();
        let country = COUNTRIES[(r % 8) as usize];
        let cents = 100 + (r >> 8) % 9_900;
        let quantity = (r >> 24) % 12; // 0 is filtered
        let status = if (r >> 32).is_multiple_of(10) {
            "inactive"
        } else {
            "active"
        };
        let word = WORDS[((r >> 40) % 8) as usize];
        line.clear();
        use std::fmt::Write as _;
        if csv {
            if id == 0 {
                line.push_str("id,user,email,country,price,quantity,status,note\n");
            }
            let _ = writeln!(
                line,
                "{id},user_{id:07},User.{id:07}@Example.COM,{country},{}.{:02},{quantity},{status},{word} delivery; leave the parcel at the door; ref {r:016x}",
                cents / 100,
                cents % 100,
            );
            bytes += line.len() as u64;
            w.write_all(line.as_bytes())?;
            continue;
        }
        let _ = write!(
            line,
            r#"{{"id":{id},"user":"user_{id:07}","email":"User.{id:07}@Example.COM","country":"{country}","price":{}.{:02},"quantity":{quantity},"status":"{status}","note":"{word} delivery, leave the parcel at the door, ref {r:016x}"}}"#,
            cents / 100,
            cents % 100,
        );
        line.push('\n');
        bytes += line.len() as u64;
        w.write_all(line.as_bytes())?;
    }
    w.flush()?;
    Ok(bytes)
}
