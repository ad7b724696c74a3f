//! Every step end to end through `aqueduct run`, on real files, SQLite and
//! HTTP on loopback: `where`, `let`, `split`, `map` with `...`, `tap`,
//! fan-out `to`, `route` with `else`, `enrich` (http `get` with path
//! interpolation, sqlite `query`), `batch N` and `batch N within D`,
//! `dedupe by … within …`. (`reply` is in `run_modes.rs`.)

mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::{Project, Rule, TestServer, http};

const ORDERS: &str = r#"{"id":"o1","customer":"acme","currency":"EUR","lines":[{"sku":"MUG","qty":3,"price":"12.50"},{"sku":"TEE","qty":10,"price":"19.99"}]}
{"id":"o2","customer":"globex","currency":"USD","lines":[{"sku":"MUG","qty":1,"price":"12.50"}]}
{"id":"o3","customer":"initech","currency":"EUR","lines":[]}
{"id":"o4","customer":"hooli","currency":"EUR","lines":[{"sku":"CAP","qty":4,"price":"25.00"}]}
"#;

#[test]
fn where_let_split_map_tap_fan_out_and_route_with_else() {
    let p = Project::new();
    p.file("in/orders.jsonl", ORDERS).file(
        "main.aq",
        r#"
system input: file { root = "in" }
system out: file { root = "out" }
system db: sqlite { path = "out/items.db" }

type Line { sku: string, qty: int, price: decimal }
type Order { id: string, customer: string, currency: string, lines: [Line] }
type Item { order_id: string, customer: string, sku: string, qty: int, total: decimal }

flow items {
  mode batch
  from input.read("orders.jsonl") as Order
  where .currency == "EUR"
  let order_id = .id
  let customer = upper(.customer)
  split .lines
  map Item { ..., order_id = $order_id, customer = $customer, total = .price * .qty }
  tap out.append("tap.jsonl")
  to out.append("all.jsonl")
  to db.insert("items")
  route {
    when .total >= 100 => to out.append("big.jsonl")
    else => to out.append("small.jsonl")
  }
}
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // o2 is filtered by `where`, o3 splits into nothing; 3 items × (tap + 2 targets + 1 route arm)
    assert_eq!(
        r.summary("items"),
        "items: 4 in, 12 delivered, 1 filtered, 0 failed, 0 dead-lettered"
    );
    let mug = r#"{"order_id":"o1","customer":"ACME","sku":"MUG","qty":3,"total":37.50}"#;
    let tee = r#"{"order_id":"o1","customer":"ACME","sku":"TEE","qty":10,"total":199.90}"#;
    let cap = r#"{"order_id":"o4","customer":"HOOLI","sku":"CAP","qty":4,"total":100.00}"#;
    let lines = |xs: &[&str]| xs.iter().map(|x| format!("{x}\n")).collect::<String>();
    assert_eq!(p.read("out/tap.jsonl"), lines(&[mug, tee, cap]));
    assert_eq!(p.read("out/all.jsonl"), lines(&[mug, tee, cap]));
    assert_eq!(p.read("out/big.jsonl"), lines(&[tee, cap]));
    assert_eq!(p.read("out/small.jsonl"), lines(&[mug]));
    assert_eq!(
        p.sqlite(
            "out/items.db",
            "select order_id, customer, sku, qty, total from items order by rowid"
        ),
        vec![
            vec![
                json!("o1"),
                json!("ACME"),
                json!("MUG"),
                json!(3),
                json!("37.50")
            ],
            vec![
                json!("o1"),
                json!("ACME"),
                json!("TEE"),
                json!(10),
                json!("199.90")
            ],
            vec![
                json!("o4"),
                json!("HOOLI"),
                json!("CAP"),
                json!(4),
                json!("100.00")
            ],
        ]
    );
}

#[test]
fn enrich_with_http_get_path_interpolation_and_sqlite_lookup() {
    let server = TestServer::start(vec![Rule::new("/rates/").respond(|hit| {
        let currency = hit.path.rsplit('/').next().unwrap_or_default().to_string();
        let rate = if currency == "USD" { "0.9" } else { "1" };
        json!({"currency": currency, "rate": rate})
    })]);
    let p = Project::new();
    {
        let conn = rusqlite::Connection::open(p.path("crm.db")).expect("creates crm.db");
        conn.execute_batch(
            "create table customers (id integer primary key, name text not null);
             insert into customers values (7, 'Acme'), (8, 'Globex');",
        )
        .expect("fills crm.db");
    }
    p.file(
        "in/orders.jsonl",
        r#"{"id":"o1","currency":"EUR","amount":"100.00","customer_id":7}
{"id":"o2","currency":"USD","amount":"100.00","customer_id":8}
{"id":"o3","currency":"EUR","amount":"2.50","customer_id":8}
"#,
    )
    .file(
        "main.aq",
        format!(
            r#"
system rates: http {{ base_url = "{url}" }}
system crm: sqlite {{ path = "crm.db" }}

type Order {{ id: string, currency: string, amount: decimal, customer_id: int }}
type Rate {{ currency: string, rate: decimal }}
type Customer {{ id: int, name: string }}
type Priced {{ id: string, currency: string, amount_eur: decimal, customer: string }}

flow price {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  enrich rate = rates.get("/rates/{{.currency}}") as Rate
  enrich cust = crm.query("select id, name from customers where id = :customer_id") as Customer
  where $rate != null and $cust != null
  map Priced {{ id = .id, currency = $rate.currency, amount_eur = .amount * $rate.rate, customer = $cust.name }}
  to file("out").append("priced.jsonl")
}}
"#,
            url = server.url()
        ),
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("price"),
        "price: 3 in, 3 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        p.read("out/priced.jsonl"),
        concat!(
            r#"{"id":"o1","currency":"EUR","amount_eur":100.00,"customer":"Acme"}"#,
            "\n",
            r#"{"id":"o2","currency":"USD","amount_eur":90.000,"customer":"Globex"}"#,
            "\n",
            r#"{"id":"o3","currency":"EUR","amount_eur":2.50,"customer":"Globex"}"#,
            "\n",
        )
    );
    let calls: Vec<(String, String)> = server
        .hits("/")
        .into_iter()
        .map(|h| (h.method, h.path))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("GET".to_string(), "/rates/EUR".to_string()),
            ("GET".to_string(), "/rates/USD".to_string()),
            ("GET".to_string(), "/rates/EUR".to_string()),
        ]
    );
}

const GROUPS: &str = r#"
system sink: http { base_url = env("SINK_URL") }
type Row { n: int }

flow groups {
  mode batch
  from file("in").read("rows.jsonl") as Row
  batch 3
  to sink.post("/batches")
}
"#;

fn groups_project(n: usize) -> Project {
    let p = Project::new();
    let rows: String = (1..=n).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    p.file("in/rows.jsonl", rows).file("main.aq", GROUPS);
    p
}

#[test]
fn batch_groups_deliveries_into_one_request_per_group() {
    let server = TestServer::start(vec![Rule::new("/batches")]);
    let p = groups_project(8);
    let r = p.run_with_env(&[], &[("SINK_URL", &server.url())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("groups"),
        "groups: 8 in, 8 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    // two full groups, then the rest when the input ends
    let bodies: Vec<serde_json::Value> = server.hits("/batches").iter().map(|h| h.json()).collect();
    assert_eq!(
        bodies,
        vec![
            json!([{"n": 1}, {"n": 2}, {"n": 3}]),
            json!([{"n": 4}, {"n": 5}, {"n": 6}]),
            json!([{"n": 7}, {"n": 8}]),
        ]
    );
}

#[test]
fn batch_group_of_one_record_is_still_a_json_array() {
    // connectors.md, http: "a batch as one JSON array per distinct path";
    // a receiver of `batch 3` must not have to accept two body shapes.
    let server = TestServer::start(vec![Rule::new("/batches")]);
    let p = groups_project(7);
    let r = p.run_with_env(&[], &[("SINK_URL", &server.url())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bodies: Vec<serde_json::Value> = server.hits("/batches").iter().map(|h| h.json()).collect();
    assert_eq!(bodies.len(), 3);
    assert_eq!(bodies[2], json!([{"n": 7}]));
}

#[test]
fn batch_within_sends_a_partial_group_when_its_time_is_up() {
    let server = TestServer::start(vec![Rule::new("/batches")]);
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system sink: http {{ base_url = "{url}" }}
system api: endpoint {{ listen = "127.0.0.1:{port}" }}
type Event {{ n: int }}

flow events {{
  mode async
  from api.post("/events") as Event
  batch 3 within 400ms
  to sink.post("/batches")
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            url = server.url()
        ),
    );
    let mut running = p.spawn(&[]);
    running.wait_serving(port, "/events");
    // two events at once: the group is not full, so it waits `within`
    let started = Instant::now();
    let answers: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (1..=2)
            .map(|n| {
                s.spawn(move || http(port, "POST", "/events", &format!("{{\"n\":{n}}}")).status)
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    assert_eq!(answers, vec![202, 202]);
    let hits = server.hits("/batches");
    assert_eq!(hits.len(), 1, "one request for the partial group");
    let mut ns: Vec<i64> = hits[0]
        .json()
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|e| e["n"].as_i64().expect("n"))
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, vec![1, 2]);
    let waited = hits[0].at.duration_since(started);
    assert!(
        waited >= Duration::from_millis(350),
        "the partial group was sent after {waited:?}, before `within 400ms`"
    );
    // three at once fill a group
    std::thread::scope(|s| {
        for n in 3..=5 {
            s.spawn(move || {
                assert_eq!(
                    http(port, "POST", "/events", &format!("{{\"n\":{n}}}")).status,
                    202
                )
            });
        }
    });
    let hits = server.hits("/batches");
    let sizes: Vec<usize> = hits
        .iter()
        .map(|h| h.json().as_array().expect("array").len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 5, "{sizes:?}");
    assert!(sizes.iter().all(|n| *n <= 3), "{sizes:?}");
    let r = running.terminate(Duration::from_secs(15));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn dedupe_drops_repeats_and_its_window_survives_a_restart() {
    let p = Project::new();
    p.file(
        "in/a.jsonl",
        "{\"id\":\"1\",\"v\":1}\n{\"id\":\"2\",\"v\":2}\n{\"id\":\"1\",\"v\":3}\n{\"id\":\"3\",\"v\":4}\n{\"id\":\"2\",\"v\":5}\n",
    )
    .file(
        "main.aq",
        r#"
type Msg { id: string, v: int }

flow unique {
  mode batch
  from file("in").read("*.jsonl") as Msg
  dedupe by .id within 1h
  to file("out").append("unique.jsonl")
}
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("unique"),
        "unique: 5 in, 3 delivered, 2 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        p.read("out/unique.jsonl"),
        "{\"id\":\"1\",\"v\":1}\n{\"id\":\"2\",\"v\":2}\n{\"id\":\"3\",\"v\":4}\n"
    );
    // a new file in a second run: `3` was seen an hour ago at most, `4` is new
    p.file(
        "in/b.jsonl",
        "{\"id\":\"3\",\"v\":6}\n{\"id\":\"4\",\"v\":7}\n",
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("unique"),
        "unique: 2 in, 1 delivered, 1 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        p.read("out/unique.jsonl"),
        "{\"id\":\"1\",\"v\":1}\n{\"id\":\"2\",\"v\":2}\n{\"id\":\"3\",\"v\":4}\n{\"id\":\"4\",\"v\":7}\n"
    );
}

/// A `dedupe` key is stored only once its record landed: a run whose target
/// never took the records (nothing listening, retries spent, the run
/// fails) leaves them unacknowledged *and* unseen, so the rerun delivers
/// every one of them instead of dropping them as duplicates.
#[test]
fn dedupe_does_not_remember_records_that_never_landed() {
    let port = support::free_port();
    let p = Project::new();
    p.file(
        "in/a.jsonl",
        "{\"id\":\"1\",\"v\":1}\n{\"id\":\"2\",\"v\":2}\n{\"id\":\"1\",\"v\":3}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"
system sink: http {{ base_url = "http://127.0.0.1:{port}" }}
type Msg {{ id: string, v: int }}

flow unique {{
  mode batch
  from file("in").read("*.jsonl") as Msg
  dedupe by .id within 1h
  to sink.post("/msgs")
  retry 2 backoff fixed(100ms)
}}
"#
        ),
    );
    let r = p.run(&[]);
    assert_ne!(r.code, 0, "nothing listens, the run fails: {}", r.stderr);
    let server = TestServer::start_on(port, vec![Rule::new("/msgs")]);
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("unique"),
        "unique: 3 in, 2 delivered, 1 filtered, 0 failed, 0 dead-lettered"
    );
    let ids: Vec<i64> = server
        .hits("/msgs")
        .iter()
        .map(|h| h.json()["v"].as_i64().unwrap_or_default())
        .collect();
    assert_eq!(ids, vec![1, 2], "each id once, the first of each");
}

#[test]
fn a_failing_tap_does_not_fail_the_record() {
    // language.md, `tap`: "A failing tap is logged and counted but does not fail the record."
    let server = TestServer::start(vec![Rule::new("/audit").always_fail().status(500)]);
    let p = Project::new();
    p.file("in/rows.jsonl", "{\"n\":1}\n{\"n\":2}\n").file(
        "main.aq",
        format!(
            r#"
system audit: http {{ base_url = "{url}" }}
type Row {{ n: int }}

flow tapped {{
  mode batch
  from file("in").read("rows.jsonl") as Row
  tap audit.post("/audit")
  to file("out").append("rows.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            url = server.url()
        ),
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(server.hits("/audit").len(), 2, "the tap was tried");
    assert_eq!(p.read("out/rows.jsonl"), "{\"n\":1}\n{\"n\":2}\n");
    assert_eq!(p.read("out/dead.jsonl"), "", "nothing is dead-lettered");
}

const SIZES: &str = r#"
system out: file { root = "out" }
type Row { n: int }

flow sizes {
  mode batch
  from file("in").read("rows.jsonl") as Row
  route {
    when .n >= 100 => to out.append("big.jsonl")
    when .n >= 10 => {
      tap out.append("medium_audit.jsonl")
      to out.append("medium.jsonl")
    }
  }
}
"#;

#[test]
fn route_without_else_sends_each_record_down_the_first_matching_arm() {
    let p = Project::new();
    p.file("in/rows.jsonl", "{\"n\":1}\n{\"n\":20}\n{\"n\":300}\n")
        .file("main.aq", SIZES);
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.read("out/big.jsonl"), "{\"n\":300}\n");
    assert_eq!(p.read("out/medium.jsonl"), "{\"n\":20}\n");
    assert_eq!(p.read("out/medium_audit.jsonl"), "{\"n\":20}\n");
}

#[test]
fn a_record_no_route_arm_takes_counts_as_filtered() {
    // language.md, `route`: "A record that matches no arm and finds no `else`
    // is dropped as filtered"; the run summary counts filtered records.
    let p = Project::new();
    p.file("in/rows.jsonl", "{\"n\":1}\n{\"n\":20}\n{\"n\":300}\n")
        .file("main.aq", SIZES);
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("sizes"),
        "sizes: 3 in, 3 delivered, 1 filtered, 0 failed, 0 dead-lettered"
    );
}

#[test]
fn an_enrich_lookup_that_finds_nothing_binds_null_which_the_flow_handles() {
    // language.md, D18: lookups that may find nothing (`http.get` answers
    // null on 404) bind `Type?`, so the checker makes the flow handle null
    // (AQ0603): with a fallback (`??`) or a guard (`where … != null`). A
    // required field is never written as null.
    let server = TestServer::start(vec![
        Rule::new("/rates/")
            .status(404)
            .fail_when(|h| h.path.ends_with("/XXX"))
            .respond(|_| json!({"currency": "EUR", "rate": "2"})),
    ]);
    let p = Project::new();
    p.file(
        "in/orders.jsonl",
        "{\"id\":\"o1\",\"currency\":\"EUR\",\"amount\":\"1.50\"}\n{\"id\":\"o2\",\"currency\":\"XXX\",\"amount\":\"1.00\"}\n",
    )
    .file(
        "main.aq",
        format!(
            r#"
system rates: http {{ base_url = "{url}" }}
type Order {{ id: string, currency: string, amount: decimal }}
type Rate {{ currency: string, rate: decimal }}
type Priced {{ id: string, amount_eur: decimal }}

flow fallback {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  enrich rate = rates.get("/rates/{{.currency}}") as Rate
  map Priced {{ id = .id, amount_eur = .amount * ($rate.rate ?? 0) }}
  to file("out").append("fallback.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}

flow guarded {{
  mode batch
  from file("in").read("orders.jsonl") as Order
  enrich rate = rates.get("/rates/{{.currency}}") as Rate
  where $rate != null
  map Priced {{ id = .id, amount_eur = .amount * $rate.rate }}
  to file("out").append("guarded.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}
"#,
            url = server.url()
        ),
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary("fallback"),
        "fallback: 2 in, 2 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        r.summary("guarded"),
        "guarded: 2 in, 1 delivered, 1 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        p.read("out/fallback.jsonl"),
        // (a decimal product with a zero factor is a plain `0`)
        "{\"id\":\"o1\",\"amount_eur\":3.00}\n{\"id\":\"o2\",\"amount_eur\":0}\n"
    );
    assert_eq!(
        p.read("out/guarded.jsonl"),
        "{\"id\":\"o1\",\"amount_eur\":3.00}\n"
    );
    assert_eq!(p.read("out/dead.jsonl"), "");
    assert_eq!(server.hits("/rates/XXX").len(), 2, "one lookup per flow");
}
