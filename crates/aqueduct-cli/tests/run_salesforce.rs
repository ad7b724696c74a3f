//! The `salesforce` connector through `aqueduct run`, against the local
//! emulator started in this process: a batch load through sObject
//! Collections with refused records dead-lettered by `statusCode`, a
//! query past 2,000 records with a token that expires mid-run, a lookup
//! with SOQL-literal escaping, credentials kept out of every output
//! (`/metrics` included), the start-up preflight (through `check
//! --connect` and `run`), and the bulk-export and document-upload examples
//! run as shipped against the emulator seeded from their own seed files.

mod support;

use aqueduct_emulator::{Config, Seed, serve};
use support::Project;
use support::salesforce::Org;

const SEED: &str = "
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
    records:
      - { Name: \"O'Brien & Sons\", Ext_Id__c: A-1 }
      - { Name: Plain, Ext_Id__c: A-2 }
    generate:
      - count: 2300
        fields: { Name: \"Generated {n}\", Ext_Id__c: \"G-{n}\" }
  - name: Contact
    fields:
      - { name: LastName, type: string, required: true }
      - { name: Company__c, type: string }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
";

const SECRET: &str = "emulator-secret";

/// An emulator (the seed plus `extra` YAML) on a runtime that lives as
/// long as the test; the test's own calls use the default app.
fn emulator(extra: &str) -> Org {
    let seed = Seed::parse(&format!("{SEED}{extra}"), "test seed").expect("seed");
    Org::start(seed, "aqueduct-emulator", SECRET)
}

const SYSTEM: &str = r#"
system crm: salesforce {
  instance_url = env("SF_INSTANCE_URL")
  api_version = "62.0"
  auth = oauth2_client_credentials {
    client_id = "aqueduct-emulator"
    client_secret = secret("SF_CLIENT_SECRET")
  }
}
"#;

/// No access token (`<org id>!…`), client secret or assertion in `text`.
fn assert_no_credentials(text: &str, what: &str) {
    assert!(
        !text.contains("00D000000000001!"),
        "a token in {what}:\n{text}"
    );
    assert!(
        !text.contains(SECRET),
        "the client secret in {what}:\n{text}"
    );
}

#[test]
fn a_batch_load_dead_letters_refused_records_with_their_status_code() {
    let org = emulator("");
    let p = Project::new();
    let mut rows = String::new();
    for i in 0..450 {
        // every 150th contact has no LastName: Salesforce refuses it
        let last = if i % 150 == 0 {
            "null".to_string()
        } else {
            format!("\"Last {i}\"")
        };
        rows.push_str(&format!(
            "{{\"LastName\":{last},\"Ext_Id__c\":\"C-{i}\"}}\n"
        ));
    }
    p.file("in/contacts.jsonl", rows).file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Contact {{
  LastName: string?
  Ext_Id__c: string
}}

flow load {{
  mode batch
  from file("in").read("contacts.jsonl") as Contact
  batch 200 within 1s
  to crm.insert("Contact")
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    let out = p.run_with_env(
        &[],
        &[("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.summary("load"),
        "load: 450 in, 447 delivered, 0 filtered, 3 failed, 3 dead-lettered"
    );
    let dead = p.jsonl("out/dead.jsonl");
    let refused: Vec<(&str, &str)> = dead
        .iter()
        .map(|d| {
            (
                d["record"]["Ext_Id__c"].as_str().unwrap_or_default(),
                d["error"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let expected = "crm.insert: `crm`: insert Contact refused the record: REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (fields: LastName)";
    assert_eq!(
        refused,
        [("C-0", expected), ("C-150", expected), ("C-300", expected)]
    );
    assert_no_credentials(&out.stderr, "stderr");
    assert_no_credentials(&p.read("out/dead.jsonl"), "the dead letter");
}

#[test]
fn a_query_past_2000_records_survives_a_token_expiring_mid_run_and_lookups_escape_values() {
    // the second page's request finds the token expired
    let org = emulator(
        "faults:\n  - { fault: session_expired, path: \"/services/data/*/query/*\", times: 1 }\n",
    );
    let p = Project::new();
    p.file(
        "in/names.jsonl",
        "{\"name\":\"O'Brien & Sons\"}\n{\"name\":\"x' OR Name != '\"}\n{\"name\":\"Plain\"}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Account {{
  Id: string
  Name: string
  Ext_Id__c: string?
}}

type Wanted {{
  name: string
}}

type Found {{
  name: string
  ext_id: string?
}}

flow export {{
  mode batch
  from crm.query("SELECT Id, Name, Ext_Id__c FROM Account") as Account
  to file("out").append("accounts.jsonl")
}}

flow find {{
  mode batch
  from file("in").read("names.jsonl") as Wanted
  enrich account = crm.query("SELECT Id, Name, Ext_Id__c FROM Account WHERE Name = {{.name}}") as Account?
  map Found {{
    name = .name
    ext_id = $account.Ext_Id__c
  }}
  to file("out").append("found.jsonl")
}}
"#
        ),
    );
    let out = p.run_with_env(
        &[],
        &[("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.summary("export"),
        "export: 2302 in, 2302 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(p.jsonl("out/accounts.jsonl").len(), 2302);
    let found: Vec<String> = p
        .jsonl("out/found.jsonl")
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(
        found,
        [
            r#"{"ext_id":"A-1","name":"O'Brien & Sons"}"#,
            r#"{"ext_id":null,"name":"x' OR Name != '"}"#,
            r#"{"ext_id":"A-2","name":"Plain"}"#,
        ]
    );
    assert!(
        out.stderr
            .contains("Salesforce refused the access token; getting a new one"),
        "{}",
        out.stderr
    );
    assert_no_credentials(&out.stderr, "stderr");
}

/// Copies every file of `examples/{name}` (inputs included) into a fresh
/// project, unchanged.
fn example(name: &str) -> (Project, std::path::PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let p = Project::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("example dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&dir).expect("inside the example");
                p.file(
                    &rel.to_string_lossy(),
                    std::fs::read(&path).expect("example file"),
                );
            }
        }
    }
    (p, dir)
}

#[test]
fn the_bulk_export_example_runs_against_the_emulator() {
    // the example as shipped, its seed and dev key; `--now` runs the
    // nightly flow at once
    let (p, dir) = example("salesforce-bulk-export");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emulator = rt
        .block_on(serve(Config {
            seed: Seed::load(&dir.join("emulator-seed.yaml")).expect("seed"),
            listen: "127.0.0.1:0".parse().expect("address"),
            pubsub_tls: None,
        }))
        .expect("emulator starts");
    let key = p.read("dev-private-key.pem");
    let out = p.run_with_env(
        &["--now"],
        &[
            ("SF_INSTANCE_URL", emulator.instance_url()),
            ("SF_CLIENT_ID", "aqueduct-dev"),
            ("SF_USERNAME", "integration@acme.example"),
            ("SF_PRIVATE_KEY", &key),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // of four opportunities, the open one and the one closed before
    // LAST_N_DAYS:30 (the seed's clock starts on 2026-03-01) stay out
    assert_eq!(
        out.summary("export_opportunities"),
        "export_opportunities: 2 in, 2 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    let csv = p.read("exports/opportunities.csv");
    let mut lines: Vec<&str> = csv.lines().collect();
    lines[1..].sort_unstable();
    assert_eq!(
        lines,
        [
            "opportunity_id,name,stage,won,amount,close_date,account,owner_email",
            "006000000000001AAA,Big Deal,Closed Won,true,125000,2026-02-27,Acme,jane.doe@acme.com",
            "006000000000002AAA,Small Deal,Closed Lost,false,0,2026-02-20,,",
        ]
    );
    assert!(!out.stderr.contains("PRIVATE KEY"), "{}", out.stderr);
    drop(emulator);
}

#[test]
fn the_document_upload_example_stores_files_in_the_emulator() {
    let (p, dir) = example("document-upload");
    let org = Org::from_file(
        &dir.join("emulator-seed.yaml"),
        "aqueduct-dev",
        "dev-secret",
    );
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut running = p.spawn_with_env(
        &[],
        &[
            ("SF_INSTANCE_URL", org.url()),
            ("SF_CLIENT_ID", "aqueduct-dev"),
            ("SF_CLIENT_SECRET", "dev-secret"),
            ("UPLOAD_TOKEN", "dev-token"),
            ("UPLOAD_LISTEN", &listen),
        ],
    );
    running.wait_listening(port);
    // the port listens before the flow runs (a request then waits for it);
    // a malformed body is refused with 400 once it does, without making a
    // record
    let serving = support::wait_until(std::time::Duration::from_secs(20), || {
        support::try_http(
            port,
            "POST",
            "/documents",
            "{",
            &[("Authorization", "Bearer dev-token")],
        )
        .is_ok_and(|r| r.status == 400)
    });
    assert!(serving, "{}", running.stderr());
    let accepted = support::try_http(
        port,
        "POST",
        "/documents",
        r#"{"file_name": "hello.txt", "content": "aGVsbG8K", "record_id": "001XX000003DHPh"}"#,
        &[("Authorization", "Bearer dev-token")],
    )
    .expect("upload");
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let stored = || {
        org.query("SELECT Title, PathOnClient, FirstPublishLocationId FROM ContentVersion ORDER BY PathOnClient",
        )
    };
    let all_there = support::wait_until(std::time::Duration::from_secs(20), || stored().len() == 3);
    assert!(all_there, "stored: {:?}\n{}", stored(), running.stderr());
    let titles: Vec<String> = stored()
        .iter()
        .map(|r| {
            format!(
                "{} ({})",
                r["Title"].as_str().unwrap_or_default(),
                r["PathOnClient"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        titles,
        [
            "Framework contract 2026 (contract-0042.pdf)",
            "delivery-note-7781.txt (delivery-note-7781.txt)",
            "hello.txt (hello.txt)",
        ]
    );
    let out = running.terminate(support::RUN_LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // broken.json had no content: dead-lettered by the scan, never sent
    let dead = p.read("dlq/scan_inbox.jsonl");
    assert!(dead.contains("scan-without-content.pdf"), "{dead}");
    assert_eq!(p.read("dlq/store_in_salesforce.jsonl"), "");
    assert_no_credentials(&out.stderr, "stderr");
    assert!(!out.stderr.contains("dev-secret"), "{}", out.stderr);
}

#[test]
fn change_data_capture_resumes_after_kill_9_without_losing_an_event() {
    let seed = "
streaming:
  connect_timeout_ms: 500
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
";
    let org = Org::start(
        Seed::parse(seed, "cdc seed").expect("seed"),
        "aqueduct-emulator",
        SECRET,
    );
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Account {{
  Id: string
  Name: string
}}

flow replicate {{
  mode async
  from crm.changes("Account") as Account
  to file("out").append("changes.jsonl")
}}
"#
        ),
    );
    let env = [("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)];
    let names = |p: &Project| -> std::collections::BTreeSet<String> {
        p.read("out/changes.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["Name"].as_str().map(str::to_string))
            .collect()
    };
    let mut running = p.spawn_with_env(&[], &env);
    // `replay` is `latest`: only events after the subscription count, so
    // the events made while the run is down reach it only through the
    // replay id it saved
    let subscribed = support::wait_until(std::time::Duration::from_secs(20), || {
        running
            .stderr()
            .contains("Subscribed to the Salesforce Streaming API")
    });
    assert!(subscribed, "{}", running.stderr());
    for i in 0..5 {
        org.create(
            "Account",
            serde_json::json!({"Name": &format!("Before {i}")}),
        );
    }
    let first = support::wait_until(std::time::Duration::from_secs(20), || names(&p).len() == 5);
    assert!(first, "{:?}\n{}", names(&p), running.stderr());
    // the replay id is written right after the acknowledgement; give it
    // that moment (a kill before it would re-deliver, not lose, but with
    // no position at all `latest` would start after the downtime)
    std::thread::sleep(std::time::Duration::from_millis(500));
    running.signal("KILL");
    running.wait_exit(support::RUN_LIMIT).expect("killed");

    for i in 0..5 {
        org.create(
            "Account",
            serde_json::json!({"Name": &format!("While down {i}")}),
        );
    }
    let mut running = p.spawn_with_env(&[], &env);
    org.create("Account", serde_json::json!({"Name": "After"}));
    let all = support::wait_until(std::time::Duration::from_secs(20), || names(&p).len() == 11);
    assert!(all, "{:?}\n{}", names(&p), running.stderr());
    let out = running.terminate(support::RUN_LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut expected: Vec<String> = (0..5).map(|i| format!("Before {i}")).collect();
    expected.extend((0..5).map(|i| format!("While down {i}")));
    expected.push("After".into());
    expected.sort();
    assert_eq!(names(&p).into_iter().collect::<Vec<_>>(), expected);
    assert_no_credentials(&out.stderr, "stderr");
}

#[test]
fn a_record_type_that_does_not_fit_the_sobject_stops_run_and_check_connect() {
    let org = emulator("");
    let p = Project::new();
    p.file(
        "in/contacts.jsonl",
        "{\"LastName\":\"Lee\",\"Nickname__c\":\"L\"}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Contact {{
  LastName: string
  Nickname__c: string
}}

flow load {{
  mode batch
  from file("in").read("contacts.jsonl") as Contact
  to crm.upsert("Contact", external_id: "LastName")
}}
"#
        ),
    );
    let env = [("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)];
    let expected = [
        "Contact has no field `Nickname__c` (field of `Contact`)",
        "Contact.LastName is not an external id field, which upsert needs",
    ];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .args(["check", "--connect"])
        .arg(p.root())
        .envs(env)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs aqueduct check");
    let raw = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // messages are wrapped to the terminal: compare them unwrapped
    let text = raw
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(out.status.code(), Some(1), "{raw}");
    assert!(text.contains("AQ0410"), "{text}");
    for problem in expected {
        assert!(text.contains(problem), "{problem} in {text}");
    }
    assert!(
        text.contains("main.aq:19:3"),
        "points at the upsert line: {text}"
    );

    let r = p.run_with_env(&[], &env);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("main.aq:19: flow `load`"), "{}", r.stderr);
    for problem in expected {
        assert!(r.stderr.contains(problem), "{problem} in {}", r.stderr);
    }
    let stored = org.query("SELECT Id FROM Contact WHERE LastName = 'Lee'");
    assert!(stored.is_empty(), "nothing was written: {stored:?}");
    assert_no_credentials(&r.stderr, "stderr");
}

/// A seed with a field `update` cannot write (`Region__c`) for the
/// preflight tests, and one contact that must stay as it is.
const PREFLIGHT_SEED: &str = "
objects:
  - name: Contact
    fields:
      - { name: LastName, type: string, required: true }
      - { name: Birthdate, type: date }
      - { name: Region__c, type: string, updateable: false }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
    records:
      - { LastName: Lee, Region__c: EMEA, Ext_Id__c: C-1 }
";

#[test]
fn wrong_types_and_fields_update_or_upsert_cannot_write_stop_check_connect_and_run() {
    let org = Org::start(
        Seed::parse(PREFLIGHT_SEED, "test seed").expect("seed"),
        "aqueduct-emulator",
        SECRET,
    );
    let lee = org.query("SELECT Id FROM Contact WHERE Ext_Id__c = 'C-1'");
    let lee = lee[0]["Id"]
        .as_str()
        .expect("the seeded contact")
        .to_string();
    let main = format!(
        r#"{SYSTEM}
type Rename {{
  Id: string
  LastName: string
  Region__c: string
}}

type Sync {{
  Ext_Id__c: string
  LastName: string
  Birthdate: bool
  CreatedDate: timestamp
}}

flow rename {{
  mode batch
  from file("in").read("renames.jsonl") as Rename
  to crm.update("Contact")
}}

flow sync {{
  mode batch
  from file("in").read("sync.jsonl") as Sync
  to crm.upsert("Contact", external_id: "Ext_Id__c")
}}
"#
    );
    let p = Project::new();
    p.file(
        "in/renames.jsonl",
        format!("{{\"Id\":\"{lee}\",\"LastName\":\"Renamed\",\"Region__c\":\"APAC\"}}\n"),
    )
    .file(
        "in/sync.jsonl",
        "{\"Ext_Id__c\":\"C-2\",\"LastName\":\"New\",\"Birthdate\":true,\"CreatedDate\":\"2024-01-02T03:04:05Z\"}\n",
    )
    .file("main.aq", &main);
    // the `to` steps: line (1-based) and column of `to`
    let at = |step: &str| {
        let line = main
            .lines()
            .position(|l| l.contains(step))
            .expect("the step's line");
        format!("main.aq:{}:3", line + 1)
    };
    let (update_at, upsert_at) = (at("to crm.update("), at("to crm.upsert("));
    let problems = [
        "Contact.Region__c cannot be updated by this user (field `Region__c` of `Rename` writes it)",
        "Contact.Birthdate is of type date, which cannot take field `Birthdate: bool`",
        "Contact.CreatedDate cannot be created or updated by this user (field `CreatedDate` of `Sync` writes it)",
    ];
    let env = [("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .args(["check", "--connect", "--format", "json"])
        .arg(p.root())
        .envs(env)
        .output()
        .expect("runs aqueduct check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diags: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON array");
    let got: Vec<(String, String, String)> = diags
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{}:{}:{}",
                    d["file"].as_str().unwrap_or_default(),
                    d["start"]["line"],
                    d["start"]["col"]
                ),
                d["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    // one diagnostic per step, its problems joined with `; `
    let step = |span: &str, op: &str, problems: &[&str]| {
        (
            "AQ0410".to_string(),
            span.to_string(),
            format!("`crm.{op}`: salesforce `crm`: {}", problems.join("; ")),
        )
    };
    assert_eq!(
        got,
        [
            step(&update_at, "update", &problems[..1]),
            step(&upsert_at, "upsert", &problems[1..]),
        ]
    );

    // `run` refuses to start: exit 3, every problem named, nothing written
    let r = p.run_with_env(&[], &env);
    assert_eq!(r.code, 3, "{}", r.stderr);
    // the same problems, each step's line `main.aq:LINE: flow `NAME`: …`
    for ((_, span, message), flow) in got.iter().zip(["rename", "sync"]) {
        let line = span.rsplit_once(':').map_or(span.as_str(), |(l, _)| l);
        let at = format!("{line}: flow `{flow}`: {message}");
        assert!(r.stderr.contains(&at), "{at} in {}", r.stderr);
    }
    let contacts = org.query("SELECT LastName, Region__c, Ext_Id__c FROM Contact");
    assert_eq!(contacts.len(), 1, "nothing created: {contacts:?}");
    assert_eq!(
        (&contacts[0]["LastName"], &contacts[0]["Region__c"]),
        (&serde_json::json!("Lee"), &serde_json::json!("EMEA")),
        "nothing updated"
    );
    assert_no_credentials(&r.stderr, "stderr");
}

#[test]
fn an_upsert_writing_a_field_it_cannot_update_is_a_warning_and_only_its_updates_fail() {
    // Region__c can be created, not updated: the upsert that creates C-2
    // may set it, the one that matches C-1 is refused by Salesforce
    let org = Org::start(
        Seed::parse(PREFLIGHT_SEED, "test seed").expect("seed"),
        "aqueduct-emulator",
        SECRET,
    );
    let main = format!(
        r#"{SYSTEM}
type Sync {{
  Ext_Id__c: string
  LastName: string
  Region__c: string?
}}

flow sync {{
  mode batch
  from file("in").read("sync.jsonl") as Sync
  to crm.upsert("Contact", external_id: "Ext_Id__c")
  dead_letter file("out").append("dead.jsonl")
}}
"#
    );
    let p = Project::new();
    p.file(
        "in/sync.jsonl",
        "{\"Ext_Id__c\":\"C-1\",\"LastName\":\"Lee\",\"Region__c\":\"APAC\"}\n{\"Ext_Id__c\":\"C-2\",\"LastName\":\"New\",\"Region__c\":\"APAC\"}\n",
    )
    .file("main.aq", &main);
    // the warning points at the operation call, `crm.upsert(…)`
    let (line, col) = main
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("crm.upsert(").map(|c| (i + 1, c + 1)))
        .expect("the step's line");
    let message = "salesforce `crm`: Contact.Region__c can be created but not updated by this user: an upsert that matches an existing record cannot write it (field `Region__c` of `Sync`)";
    let help = "if the upsert only ever creates records, nothing is wrong; otherwise leave `Region__c` out of `Sync` or have the field made updateable for the user";
    let env = [("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .args(["check", "--connect", "--format", "json"])
        .arg(p.root())
        .envs(env)
        .output()
        .expect("runs aqueduct check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // a warning: the project still checks
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diags: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON array");
    let got: Vec<[String; 5]> = diags
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            [
                text(&d["code"]),
                text(&d["severity"]),
                format!(
                    "{}:{}:{}",
                    text(&d["file"]),
                    d["start"]["line"],
                    d["start"]["col"]
                ),
                text(&d["message"]),
                text(&d["help"]),
            ]
        })
        .collect();
    assert_eq!(
        got,
        [[
            "AQ0412".to_string(),
            "warning".to_string(),
            format!("main.aq:{line}:{col}"),
            message.to_string(),
            help.to_string(),
        ]]
    );
    let denied = std::process::Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .args(["check", "--connect", "--deny-warnings"])
        .arg(p.root())
        .envs(env)
        .output()
        .expect("runs aqueduct check");
    assert_eq!(denied.status.code(), Some(1), "--deny-warnings fails on it");

    // `run` starts, logs the warning, creates C-2 and dead-letters the
    // update of C-1 with Salesforce's refusal
    let r = p.run_with_env(&[], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(message), "{}", r.stderr);
    assert_eq!(
        r.summary("sync"),
        "sync: 2 in, 1 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["record"]["Ext_Id__c"], "C-1");
    let error = dead[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("INVALID_FIELD_FOR_INSERT_UPDATE"), "{error}");
    let contacts = org.query("SELECT Ext_Id__c, Region__c FROM Contact ORDER BY Ext_Id__c");
    let regions: Vec<(&str, &str)> = contacts
        .iter()
        .map(|c| {
            (
                c["Ext_Id__c"].as_str().unwrap_or_default(),
                c["Region__c"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(regions, [("C-1", "EMEA"), ("C-2", "APAC")]);
}

/// The example's JWT app, its key pair made for the emulator only, next to
/// the default client-credentials app (run as the same user).
fn jwt_app() -> (String, String) {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/salesforce-bulk-export");
    let seed = std::fs::read_to_string(example.join("emulator-seed.yaml")).expect("the seed");
    let start = seed.find("\nauth:\n").expect("the seed's auth") + 1;
    let end = seed[start..]
        .find("\nobjects:")
        .expect("the seed's objects")
        + start;
    let auth = seed[start..end].replacen(
        "  clients:\n",
        "  clients:\n    - { client_id: aqueduct-emulator, client_secret: emulator-secret, username: integration@acme.example }\n",
        1,
    );
    let key = std::fs::read_to_string(example.join("dev-private-key.pem")).expect("the key");
    (auth, key)
}

#[test]
fn sforce_limit_info_is_exported_as_a_metric() {
    let (auth, key) = jwt_app();
    let org = emulator(&format!("limits:\n  daily_api_requests: 5000\n{auth}"));
    let p = Project::new();
    p.file("in/contacts.jsonl", "")
        .file("in/accounts.jsonl", "")
        .file(
            "main.aq",
            format!(
                r#"{SYSTEM}
system crm_jwt: salesforce {{
  instance_url = env("SF_INSTANCE_URL")
  api_version = "62.0"
  auth = jwt_bearer {{
    client_id = "aqueduct-dev"
    username = "integration@acme.example"
    private_key = secret("SF_PRIVATE_KEY")
  }}
}}

type Contact {{ LastName: string, Ext_Id__c: string }}
type Account {{ Name: string, Ext_Id__c: string }}

flow load {{
  mode async
  from file("in").tail("contacts.jsonl") as Contact
  to crm.insert("Contact")
  dead_letter file("out").append("dead.jsonl")
}}

flow accounts {{
  mode async
  from file("in").tail("accounts.jsonl") as Account
  to crm_jwt.insert("Account")
}}
"#
            ),
        );
    let admin = support::free_port();
    let mut running = p.spawn_with_env(
        &["--admin", &format!("127.0.0.1:{admin}")],
        &[
            ("SF_INSTANCE_URL", org.url()),
            ("SF_CLIENT_SECRET", SECRET),
            ("SF_PRIVATE_KEY", &key),
        ],
    );
    running.wait_listening(admin);
    let gauges = || {
        let text = support::http(admin, "GET", "/metrics", "").body;
        (
            support::metric(&text, "aqueduct_salesforce_api_requests{system=\"crm\"}"),
            support::metric(
                &text,
                "aqueduct_salesforce_api_requests_limit{system=\"crm\"}",
            ),
        )
    };
    // `tail` follows from the end of the file once it has started: a record
    // appended before that is not read, so append until one is counted.
    let mut n = 0;
    let mut append = || {
        n += 1;
        let line = format!("{{\"LastName\":\"L{n}\",\"Ext_Id__c\":\"M-{n}\"}}\n");
        std::fs::OpenOptions::new()
            .append(true)
            .open(p.path("in/contacts.jsonl"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()))
            .expect("appends a record");
    };
    let limit = std::time::Duration::from_secs(60);
    let until_counted = |append: &mut dyn FnMut(), above: f64| {
        let mut polls = 0;
        support::wait_until(limit, || {
            if polls % 100 == 0 {
                append();
            }
            polls += 1;
            gauges().0.is_some_and(|used| used > above)
        })
    };
    assert!(
        until_counted(&mut append, 0.0),
        "no API usage metric; stderr:\n{}",
        running.stderr()
    );
    let (first, max) = gauges();
    assert_eq!(max, Some(5000.0), "the org's allocation from the seed");
    let first = first.unwrap_or_default();
    // one more record: one more counted request, seen in the gauge
    assert!(
        until_counted(&mut append, first),
        "the gauge did not grow past {first}; stderr:\n{}",
        running.stderr()
    );

    // No credential of either system on /metrics: the JWT system has
    // logged in and called the org too (its preflight's describe)...
    let text = support::http(admin, "GET", "/metrics", "").body;
    assert!(
        support::metric(
            &text,
            "aqueduct_salesforce_api_requests{system=\"crm_jwt\"}"
        )
        .is_some(),
        "the JWT system called the org:\n{text}"
    );
    // ...yet neither the client secret, nor an access token (every token
    // of the org starts with its id and `!`, as the test's own shows), nor
    // any line of the private key is there
    let token_prefix = format!("{}!", &org.emulator.org_id()[..15]);
    assert!(org.access_token().starts_with(&token_prefix));
    assert!(
        !text.contains(SECRET),
        "the client secret on /metrics:\n{text}"
    );
    assert!(
        !text.contains(&token_prefix),
        "a token on /metrics:\n{text}"
    );
    assert!(
        !text.contains("PRIVATE KEY"),
        "the key on /metrics:\n{text}"
    );
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(
            !text.contains(line),
            "a line of the key on /metrics:\n{text}"
        );
    }
    running.terminate(limit);
}
