//! The `salesforce` operations through `aqueduct run` that
//! `run_salesforce.rs` does not cover, against the emulator started in this
//! process: outbound messages into SQLite with the Ack only after the row
//! is committed and a `kill -9` before the Ack redelivered, not lost; the
//! `update`, `upsert` and `delete` targets; `get` as an enrichment; platform
//! `events`; and Bulk API 2.0 ingest jobs with refused rows (insert,
//! update, delete) and with a job that fails midway.

mod support;

use aqueduct_emulator::Seed;
use serde_json::{Value, json};
use std::time::Duration;
use support::Project;
use support::salesforce::Org;

const SECRET: &str = "emulator-secret";

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

fn org(seed: &str) -> Org {
    Org::start(
        Seed::parse(seed, "test seed").expect("seed"),
        "aqueduct-emulator",
        SECRET,
    )
}

/// The emulator's outbound notifications (`GET /_emulator/outbound`).
fn notifications(org: &Org) -> Vec<Value> {
    org.admin("GET", "outbound", Value::Null)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn outbound_messages_are_acked_only_after_the_row_is_committed_and_survive_kill_9() {
    let port = support::free_port();
    let org = org(&format!(
        "
outbound:
  - name: AccountToErp
    object: Account
    fields: [Name, Industry]
    endpoint: http://127.0.0.1:{port}/sf/outbound
    retry_initial_ms: 200
    retry_max_ms: 1000
    attempt_timeout_ms: 2000
objects:
  - name: Account
    fields:
      - {{ name: Name, type: string, required: true }}
      - {{ name: Industry, type: string }}
"
    ));
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{SYSTEM}
system erp: sqlite {{ path = "out/erp.db" }}

type Account {{
  Id: string
  Name: string
  Industry: string?
  _notification_id: string
}}

flow accounts_to_erp {{
  mode async
  from crm.outbound_messages("/sf/outbound", listen: "127.0.0.1:{port}", organization_id: "{org_id}") as Account
  to erp.upsert("accounts", key: [_notification_id])
  retry 100 backoff fixed(200ms)
}}
"#,
            org_id = org.emulator.org_id()
        ),
    );
    let env = [("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)];
    let mut running = p.spawn_with_env(&[], &env);
    running.wait_listening(port);

    // The ERP is busy: the test holds SQLite's write lock, so the row
    // cannot be committed. Salesforce posts, times out, posts again; the
    // listener never answers with the Ack, and the table stays empty.
    let db = rusqlite::Connection::open(p.path("out/erp.db")).expect("opens the ERP database");
    db.execute_batch("BEGIN IMMEDIATE")
        .expect("takes the write lock");
    let first = org.create(
        "Account",
        json!({"Name": "Acme & Sons", "Industry": "Energy"}),
    );
    let retried = support::wait_until(Duration::from_secs(30), || {
        notifications(&org)
            .first()
            .and_then(|n| n["attempts"].as_u64())
            .is_some_and(|a| a >= 2)
    });
    assert!(retried, "{:?}\n{}", notifications(&org), running.stderr());
    let pending = notifications(&org);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["acknowledged"], json!(false), "{pending:?}");
    let rows: i64 = db
        .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
        .expect("counts");
    assert_eq!(rows, 0);

    // kill -9 before any Ack; a second account is made while aqueduct is
    // down; then the ERP is free again and aqueduct restarts.
    running.signal("KILL");
    running.wait_exit(support::RUN_LIMIT).expect("killed");
    let second = org.create("Account", json!({"Name": "Globex"}));
    db.execute_batch("COMMIT").expect("releases the lock");
    drop(db);
    let mut running = p.spawn_with_env(&[], &env);
    let acked = support::wait_until(Duration::from_secs(60), || {
        let all = notifications(&org);
        all.len() == 2 && all.iter().all(|n| n["acknowledged"] == json!(true))
    });
    assert!(acked, "{:?}\n{}", notifications(&org), running.stderr());
    let out = running.terminate(support::RUN_LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Each notification is one row, whatever the number of deliveries.
    let mut expected: Vec<Vec<Value>> = notifications(&org)
        .iter()
        .map(|n| {
            let id = n["record_id"].as_str().unwrap_or_default();
            let name = if id == first { "Acme & Sons" } else { "Globex" };
            vec![json!(n["id"]), json!(id), json!(name)]
        })
        .collect();
    expected.sort_by_key(|r| r[0].to_string());
    assert_eq!(
        p.sqlite(
            "out/erp.db",
            "SELECT _notification_id, Id, Name FROM accounts ORDER BY _notification_id"
        ),
        expected
    );
    assert!(
        expected.iter().any(|r| r[1] == json!(second)),
        "{expected:?}"
    );
    let attempts: Vec<u64> = notifications(&org)
        .iter()
        .filter_map(|n| n["attempts"].as_u64())
        .collect();
    eprintln!("delivery attempts per notification: {attempts:?}");
}

const OPS_SEED: &str = "
bulk:
  processing_delay_ms: 100
objects:
  - name: Account
    fields:
      - { name: Name, type: string, required: true }
      - { name: Industry, type: string }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
    records:
      - { Name: Acme, Ext_Id__c: A-1 }
      - { Name: Globex, Ext_Id__c: A-2 }
      - { Name: Initech, Ext_Id__c: A-3 }
  - name: Contact
    fields:
      - { name: LastName, type: string, required: true }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
      - { name: AccountId, type: reference, reference_to: [Account], relationship_name: Account }
  - name: Order_Placed__e
    fields:
      - { name: Order_Number__c, type: string }
      - { name: Total__c, type: double }
";

const ACME: &str = "001000000000001AAA";
const GLOBEX: &str = "001000000000002AAA";
const INITECH: &str = "001000000000003AAA";

/// The accounts of the org as `Ext_Id__c Name Industry` lines, sorted.
fn accounts(org: &Org) -> Vec<String> {
    let mut all: Vec<String> = org
        .query("SELECT Name, Industry, Ext_Id__c FROM Account")
        .iter()
        .map(|a| {
            format!(
                "{} {} {}",
                a["Ext_Id__c"].as_str().unwrap_or("-"),
                a["Name"].as_str().unwrap_or("-"),
                a["Industry"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn update_upsert_delete_and_get_run_against_the_org() {
    let org = org(OPS_SEED);
    let p = Project::new();
    p.file(
        "in/renames.jsonl",
        format!(
            "{{\"Id\":\"{ACME}\",\"Name\":\"Acme Corp\"}}\n{{\"Id\":\"001000000000009AAA\",\"Name\":\"Nobody\"}}\n"
        ),
    )
    .file(
        "in/sync.jsonl",
        "{\"Ext_Id__c\":\"A-2\",\"Name\":\"Globex Corp\",\"Industry\":\"Energy\"}\n{\"Ext_Id__c\":\"A-9\",\"Name\":\"Umbrella\",\"Industry\":null}\n",
    )
    .file("in/remove.jsonl", format!("{{\"Id\":\"{INITECH}\"}}\n"))
    .file(
        "in/contacts.jsonl",
        format!(
            "{{\"LastName\":\"Lee\",\"AccountId\":\"{GLOBEX}\"}}\n{{\"LastName\":\"Kim\",\"AccountId\":\"{INITECH}\"}}\n{{\"LastName\":\"Roe\",\"AccountId\":null}}\n"
        ),
    )
    .file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Rename {{
  Id: string
  Name: string
}}

type ByExternalId {{
  Ext_Id__c: string
  Name: string
  Industry: string?
}}

type AccountId {{
  Id: string
}}

type ContactIn {{
  LastName: string
  AccountId: string?
}}

type AccountInfo {{
  Name: string
  Industry: string?
}}

type ContactOut {{
  last_name: string
  account: string?
  industry: string?
}}

flow rename {{
  mode batch
  from file("in").read("renames.jsonl") as Rename
  batch 50 within 1s
  to crm.update("Account")
  dead_letter file("out").append("rename_dead.jsonl")
}}

flow sync {{
  mode batch
  from file("in").read("sync.jsonl") as ByExternalId
  batch 50 within 1s
  to crm.upsert("Account", external_id: "Ext_Id__c")
}}

flow remove {{
  mode batch
  from file("in").read("remove.jsonl") as AccountId
  to crm.delete("Account")
}}

flow contacts {{
  mode batch
  from file("in").read("contacts.jsonl") as ContactIn
  enrich account = crm.get("Account", "{{.AccountId}}", fields: ["Name", "Industry"]) as AccountInfo?
  map ContactOut {{
    last_name = .LastName
    account = $account.Name
    industry = $account.Industry
  }}
  to file("out").append("contacts.jsonl")
}}
"#
        ),
    );
    let env = [("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)];
    let run = |flow: &str| {
        let out = p.run_with_env(&["--flow", flow], &env);
        assert_eq!(out.code, 0, "{flow}: {}", out.stderr);
        out
    };

    // update: one record saved, the one with an unknown id refused
    let out = run("rename");
    assert_eq!(
        out.summary("rename"),
        "rename: 2 in, 1 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    let dead = p.jsonl("out/rename_dead.jsonl");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["record"]["Name"], "Nobody");
    let error = dead[0]["error"].as_str().unwrap_or_default();
    eprintln!("update refusal: {error}");
    assert!(
        error.starts_with("crm.update: `crm`: update Account refused the record: "),
        "{error}"
    );

    // upsert: A-2 updated (Industry set), A-9 created
    let out = run("sync");
    assert_eq!(
        out.summary("sync"),
        "sync: 2 in, 2 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );

    // delete: Initech gone
    let out = run("remove");
    assert_eq!(
        out.summary("remove"),
        "remove: 1 in, 1 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        accounts(&org),
        [
            "A-1 Acme Corp -",
            "A-2 Globex Corp Energy",
            "A-9 Umbrella -",
        ]
    );

    // get: the upserted account's fields; null for a deleted account and
    // for no id at all
    let out = run("contacts");
    assert_eq!(
        out.summary("contacts"),
        "contacts: 3 in, 3 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    let got: Vec<String> = p
        .jsonl("out/contacts.jsonl")
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        got,
        [
            r#"{"account":"Globex Corp","industry":"Energy","last_name":"Lee"}"#,
            r#"{"account":null,"industry":null,"last_name":"Kim"}"#,
            r#"{"account":null,"industry":null,"last_name":"Roe"}"#,
        ]
    );
}

#[test]
fn platform_events_reach_an_events_flow() {
    let org = org(OPS_SEED);
    // published before the flow starts: `replay: earliest` brings them
    for (n, total) in [("O-1", 10.5), ("O-2", 20.0)] {
        org.create(
            "Order_Placed__e",
            json!({"Order_Number__c": n, "Total__c": total}),
        );
    }
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"{SYSTEM}
type Order {{
  Order_Number__c: string
  Total__c: float
  ReplayId: int
  EventUuid: string
}}

flow orders {{
  mode async
  from crm.events("Order_Placed__e", replay: earliest) as Order
  to file("out").append("orders.jsonl")
}}
"#
        ),
    );
    let env = [("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)];
    let mut running = p.spawn_with_env(&[], &env);
    let subscribed = support::wait_until(Duration::from_secs(20), || {
        running
            .stderr()
            .contains("Subscribed to the Salesforce Streaming API")
    });
    assert!(subscribed, "{}", running.stderr());
    // and one published while it runs
    org.create(
        "Order_Placed__e",
        json!({"Order_Number__c": "O-3", "Total__c": 30.25}),
    );
    let orders = |p: &Project| {
        p.read("out/orders.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect::<Vec<_>>()
    };
    let all = support::wait_until(Duration::from_secs(20), || orders(&p).len() == 3);
    assert!(all, "{:?}\n{}", orders(&p), running.stderr());
    let out = running.terminate(support::RUN_LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got = orders(&p);
    let numbers: Vec<(&str, f64)> = got
        .iter()
        .map(|o| {
            (
                o["Order_Number__c"].as_str().unwrap_or_default(),
                o["Total__c"].as_f64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(numbers, [("O-1", 10.5), ("O-2", 20.0), ("O-3", 30.25)]);
    // replay ids grow; every event has its uuid
    let replay: Vec<i64> = got.iter().filter_map(|o| o["ReplayId"].as_i64()).collect();
    assert_eq!(replay.len(), 3);
    assert!(replay.windows(2).all(|w| w[0] < w[1]), "{replay:?}");
    assert!(
        got.iter()
            .all(|o| o["EventUuid"].as_str().is_some_and(|u| !u.is_empty())),
        "{got:?}"
    );
}

/// 2,500 contacts, every 1,000th (from the 8th) without a LastName.
fn contact_lines() -> String {
    (0..2500)
        .map(|i| {
            let last = if i % 1000 == 7 {
                "null".to_string()
            } else {
                format!("\"Last {i}\"")
            };
            format!("{{\"LastName\":{last},\"Ext_Id__c\":\"C-{i}\"}}\n")
        })
        .collect()
}

const BULK_FLOW: &str = r#"
type Contact {
  LastName: string?
  Ext_Id__c: string
}

flow load {
  mode batch chunk 5000
  from file("in").read("contacts.jsonl") as Contact
  batch 2500 within 5s
  to crm.insert("Contact")
  dead_letter file("out").append("dead.jsonl")
}
"#;

#[test]
fn a_bulk_ingest_job_dead_letters_its_failed_rows_and_saves_the_others() {
    let org = org(OPS_SEED);
    let p = Project::new();
    p.file("in/contacts.jsonl", contact_lines())
        .file("main.aq", format!("{SYSTEM}{BULK_FLOW}"));
    let out = p.run_with_env(
        &[],
        &[("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // one group above 2,000 records: one ingest job, no collections call
    let jobs = org.rest_get("/jobs/ingest");
    let jobs = jobs["records"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["object"], "Contact");
    assert_eq!(
        out.summary("load"),
        "load: 2500 in, 2497 delivered, 0 filtered, 3 failed, 3 dead-lettered"
    );
    let dead: Vec<(String, String)> = p
        .jsonl("out/dead.jsonl")
        .iter()
        .map(|d| {
            (
                d["record"]["Ext_Id__c"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                d["error"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected = "crm.insert: `crm`: bulk insert Contact refused the record: REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]:LastName";
    assert_eq!(
        dead,
        [
            ("C-7".to_string(), expected.to_string()),
            ("C-1007".to_string(), expected.to_string()),
            ("C-2007".to_string(), expected.to_string()),
        ]
    );
    assert_eq!(org.count("SELECT COUNT() FROM Contact"), 2497);
    let refused =
        org.query("SELECT Id FROM Contact WHERE Ext_Id__c IN ('C-7', 'C-1007', 'C-2007')");
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn rows_of_an_ingest_job_that_fails_midway_are_dead_lettered_as_unprocessed() {
    // the job fails after 1,500 rows (the emulator's `bulk_job_failed`
    // fault): those rows were saved or refused, the other 1,000 never ran
    let org = org(&format!(
        "{OPS_SEED}faults:\n  - {{ fault: bulk_job_failed, object: Contact, after: 1500 }}\n"
    ));
    let p = Project::new();
    p.file("in/contacts.jsonl", contact_lines())
        .file("main.aq", format!("{SYSTEM}{BULK_FLOW}"));
    let out = p.run_with_env(
        &[],
        &[("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.summary("load"),
        "load: 2500 in, 1498 delivered, 0 filtered, 1002 failed, 1002 dead-lettered"
    );
    let dead = p.jsonl("out/dead.jsonl");
    let reason = |i: usize| dead[i]["error"].as_str().unwrap_or_default().to_string();
    let ext = |i: usize| {
        dead[i]["record"]["Ext_Id__c"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        (ext(0), ext(1), ext(2)),
        ("C-7".into(), "C-1007".into(), "C-1500".into())
    );
    assert!(
        reason(0).contains("REQUIRED_FIELD_MISSING"),
        "{}",
        reason(0)
    );
    eprintln!("unprocessed: {}", reason(2));
    assert!(
        reason(2).contains(
            "failed before the record was processed: InternalServerError : the job failed while processing"
        ),
        "{}",
        reason(2)
    );
    let unprocessed: Vec<String> = (2..dead.len()).map(ext).collect();
    let expected: Vec<String> = (1500..2500).map(|i| format!("C-{i}")).collect();
    assert_eq!(unprocessed, expected);
    assert_eq!(org.count("SELECT COUNT() FROM Contact"), 1498);
}

/// 2,500 contacts `C-1` … `C-2500` (`LastName` `Last n`) for the update
/// and delete ingest jobs.
const INGEST_SEED: &str = "
bulk:
  processing_delay_ms: 100
objects:
  - name: Contact
    fields:
      - { name: LastName, type: string, required: true }
      - { name: Ext_Id__c, type: string, external_id: true, unique: true }
    generate:
      - count: 2500
        fields: { LastName: \"Last {n}\", Ext_Id__c: \"C-{n}\" }
";

/// The rows (1-based) whose Id names no contact, so Salesforce refuses them.
const UNKNOWN_ROWS: [usize; 3] = [8, 1008, 2008];

/// The id of the seed's contact `C-n`: the emulator numbers the ids of a
/// key prefix in creation order (docs/emulator.md), here checked against
/// the org for the first and the last contact; `n` above 2,500 names none.
fn contact_ids(org: &Org) -> Vec<String> {
    let mut ids = aqueduct_emulator::ids::IdGen::default();
    let all: Vec<String> = (0..2503).map(|_| ids.next("003")).collect();
    for n in [1, 2500] {
        let found = org.query(&format!("SELECT Id FROM Contact WHERE Ext_Id__c = 'C-{n}'"));
        assert_eq!(found[0]["Id"], json!(all[n - 1]), "the id of C-{n}");
    }
    all
}

/// Row `n` (1-based) of an ingest input: contact `C-n`, or for the
/// [`UNKNOWN_ROWS`] an id past the last contact.
fn ingest_id(ids: &[String], n: usize) -> &str {
    match UNKNOWN_ROWS.iter().position(|&r| r == n) {
        Some(k) => &ids[2500 + k],
        None => &ids[n - 1],
    }
}

/// Runs `flow` (2,500 records in one `batch` group, refused ones
/// dead-lettered) and checks that it was one ingest job of `operation`
/// with the [`UNKNOWN_ROWS`] dead-lettered with Salesforce's error.
fn run_ingest(org: &Org, p: &Project, flow: &str, operation: &str, ids: &[String]) {
    p.file("main.aq", format!("{SYSTEM}{flow}"));
    let out = p.run_with_env(
        &[],
        &[("SF_INSTANCE_URL", org.url()), ("SF_CLIENT_SECRET", SECRET)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let jobs = org.rest_get("/jobs/ingest");
    let jobs = jobs["records"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 1, "one job, no collections call: {jobs:?}");
    assert_eq!(
        (&jobs[0]["object"], &jobs[0]["operation"]),
        (&json!("Contact"), &json!(operation))
    );
    assert_eq!(
        out.summary("load"),
        "load: 2500 in, 2497 delivered, 0 filtered, 3 failed, 3 dead-lettered"
    );
    let dead: Vec<(String, String)> = p
        .jsonl("out/dead.jsonl")
        .iter()
        .map(|d| {
            (
                d["record"]["Id"].as_str().unwrap_or_default().to_string(),
                d["error"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected = format!(
        "crm.{operation}: `crm`: bulk {operation} Contact refused the record: INVALID_CROSS_REFERENCE_KEY: invalid cross reference id"
    );
    let unknown: Vec<(String, String)> = UNKNOWN_ROWS
        .iter()
        .map(|&n| (ingest_id(ids, n).to_string(), expected.clone()))
        .collect();
    assert_eq!(dead, unknown);
}

#[test]
fn a_bulk_update_job_dead_letters_its_failed_rows_and_applies_the_others() {
    let org = org(INGEST_SEED);
    let ids = contact_ids(&org);
    let lines: String = (1..=2500)
        .map(|n| {
            format!(
                "{{\"Id\":\"{}\",\"LastName\":\"Renamed {n}\"}}\n",
                ingest_id(&ids, n)
            )
        })
        .collect();
    let p = Project::new();
    p.file("in/renames.jsonl", lines);
    let flow = r#"
type Rename {
  Id: string
  LastName: string
}

flow load {
  mode batch chunk 5000
  from file("in").read("renames.jsonl") as Rename
  batch 2500 within 5s
  to crm.update("Contact")
  dead_letter file("out").append("dead.jsonl")
}
"#;
    run_ingest(&org, &p, flow, "update", &ids);
    assert_eq!(
        org.count("SELECT COUNT() FROM Contact WHERE LastName LIKE 'Renamed%'"),
        2497
    );
    // the contacts of the refused rows were not touched
    let kept = org.query(
        "SELECT Ext_Id__c, LastName FROM Contact WHERE Ext_Id__c IN ('C-8', 'C-1008', 'C-2008') ORDER BY LastName",
    );
    let kept: Vec<&str> = kept.iter().filter_map(|c| c["LastName"].as_str()).collect();
    assert_eq!(kept, ["Last 1008", "Last 2008", "Last 8"]);
}

#[test]
fn a_bulk_delete_job_dead_letters_its_failed_rows_and_deletes_the_others() {
    let org = org(INGEST_SEED);
    let ids = contact_ids(&org);
    let lines: String = (1..=2500)
        .map(|n| format!("{{\"Id\":\"{}\"}}\n", ingest_id(&ids, n)))
        .collect();
    let p = Project::new();
    p.file("in/remove.jsonl", lines);
    let flow = r#"
type ContactId {
  Id: string
}

flow load {
  mode batch chunk 5000
  from file("in").read("remove.jsonl") as ContactId
  batch 2500 within 5s
  to crm.delete("Contact")
  dead_letter file("out").append("dead.jsonl")
}
"#;
    run_ingest(&org, &p, flow, "delete", &ids);
    // only the contacts the refused rows did not name are left
    let left = org.query("SELECT Ext_Id__c FROM Contact ORDER BY Ext_Id__c");
    let left: Vec<&str> = left
        .iter()
        .filter_map(|c| c["Ext_Id__c"].as_str())
        .collect();
    assert_eq!(left, ["C-1008", "C-2008", "C-8"]);
}
