//! A generated service of a flow on a connector outside the embedded set
//! (`postgres`, from `aqueduct-db`) links that crate with only the feature
//! it needs, builds from the self-contained output, and runs against the
//! real server with the same result as `aqueduct run`: the same JSON lines
//! in its file target and the same rows in its `upsert` target.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` and `psql`; without the URL the test
//! prints `SKIP: …` and passes, unless `AQUEDUCT_REQUIRE_SERVICES=1`. Slow
//! the first time (it compiles the service's dependencies); the target
//! directory is the one `build_anywhere` uses, kept under cargo's test tmp
//! dir, so later runs reuse it.

mod support;

use aqueduct_test_support::{service_url, unique_name};
use std::path::Path;
use std::process::Command;
use support::Project;
use support::postgres::psql;

#[test]
fn a_generated_postgres_service_gives_what_aqueduct_run_gives() {
    let test = "a_generated_postgres_service_gives_what_aqueduct_run_gives";
    let Some(url) = service_url("AQUEDUCT_TEST_POSTGRES_URL", test) else {
        return;
    };
    let src = unique_name("gen_src");
    let dst = unique_name("gen_dst");
    psql(
        &url,
        &format!(
            "CREATE TABLE {src} (id integer PRIMARY KEY, name text NOT NULL, amount numeric(20,6),
               seen timestamptz, doc jsonb);
             CREATE TABLE {dst} (id integer PRIMARY KEY, label text NOT NULL, amount numeric(20,6),
               seen timestamptz, doc jsonb);
             INSERT INTO {src} VALUES
               (1, 'héllo', 12345678901234.123456, '2024-05-01 12:34:56.789+02', '{{\"a\": [1, 2.5]}}'),
               (2, 'plain', NULL, NULL, NULL),
               (3, 'skipped', 1, NULL, NULL),
               (4, 'four', -0.5, '1999-12-31 23:59:59Z', '\"text\"');"
        ),
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system pg: postgres {{ url = secret("PG_URL") }}

type Row {{ id: int, name: string, amount: decimal?, seen: timestamp?, doc: json? }}
type Copy {{ id: int, label: string, amount: decimal?, seen: timestamp?, doc: json? }}

flow copy {{
  mode batch
  from pg.query("select * from {src} order by id") as Row
  where .id != 3
  map Copy {{
    id = .id
    label = upper(.name)
    amount = .amount
    seen = .seen
    doc = .doc
  }}
  to pg.upsert("{dst}", key: [id])
  to file("out").append("rows.jsonl")
}}
"#
        ),
    );
    let dump = || {
        psql(
            &url,
            &format!("SELECT id, label, amount, seen, doc FROM {dst} ORDER BY id"),
        )
    };

    // the interpreter
    let r = p.run_with_env(&[], &[("PG_URL", &url)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let interpreted_rows = dump();
    let interpreted_file = p.read("out/rows.jsonl");
    assert_eq!(interpreted_file.lines().count(), 3, "{interpreted_file}");
    psql(&url, &format!("TRUNCATE {dst}"));

    // the generated service: postgres comes from aqueduct-db, and only its
    // `postgres` feature (no MySQL client in the service)
    let out = p.path("service");
    let status = Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .arg("build")
        .arg(p.root().join("main.aq"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("aqueduct build runs");
    assert!(status.success());
    let manifest = std::fs::read_to_string(out.join("copy/Cargo.toml")).expect("manifest");
    assert!(
        manifest.contains(r#"aqueduct-db = { workspace = true, features = ["postgres"] }"#),
        "{manifest}"
    );
    assert!(out.join("aqueduct/crates/aqueduct-db/src/lib.rs").is_file());
    for absent in ["aqueduct-brokers", "aqueduct-salesforce"] {
        assert!(
            !out.join("aqueduct/crates").join(absent).exists(),
            "{absent} is not used, so not written"
        );
    }
    let krate = manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the package name");
    let binary = build(&out, krate);
    let run_dir = p.path("service-run");
    std::fs::create_dir_all(&run_dir).expect("mkdir");
    let served = Command::new(&binary)
        .current_dir(&run_dir)
        .env("PG_URL", &url)
        .env("AQUEDUCT_ADMIN", "127.0.0.1:0")
        .env("NO_COLOR", "1")
        .output()
        .expect("the service runs");
    assert!(
        served.status.success(),
        "the service failed:\n{}",
        String::from_utf8_lossy(&served.stderr)
    );
    let native_file = std::fs::read_to_string(run_dir.join("out/rows.jsonl")).unwrap_or_default();
    assert_eq!(native_file, interpreted_file);
    assert_eq!(dump(), interpreted_rows);
    psql(&url, &format!("DROP TABLE {src}; DROP TABLE {dst}"));
}

/// `cargo build --offline` of the generated workspace at `out`; the path of
/// binary `krate`.
fn build(out: &Path, krate: &str) -> std::path::PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("generated-build");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--offline", "--quiet", "--bin", krate])
        .current_dir(out)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo build of the generated service failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target.join("debug").join(krate)
}
