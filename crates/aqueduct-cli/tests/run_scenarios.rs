//! Four of the reference scenarios in `examples/`, each run as a user runs
//! it: the example directory copied unchanged, its systems pointed through
//! the environment variables it already reads at the Salesforce emulator
//! (started in process), the machine's PostgreSQL and Mosquitto, or a
//! peer the test plays (a payment provider, a verification service); then
//! what lands is checked where it lands.
//!
//! - `salesforce-accounts-to-erp`: accounts created, updated and deleted
//!   through the emulator's REST API reach the ERP's `customers` table.
//! - `card-payment`: `POST /payments` answered per PSP outcome, a PSP that
//!   is too slow, one that is down, and the open circuit breaker.
//! - `passport-check`: 202, the verifier's call, the signed callback, the
//!   result in SQLite and pushed to a connected event-stream client.
//! - `fitness-devices`: MQTT readings (one resent) become platform events.
//!
//! Needs `AQUEDUCT_TEST_POSTGRES_URL` and `AQUEDUCT_TEST_MQTT_URL` for the
//! first and last; without them those print `SKIP: …` and pass, unless
//! `AQUEDUCT_REQUIRE_SERVICES=1`.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::salesforce::Org;
use support::{Project, Rule, TestServer, try_http, wait_until};

/// The example directory `name`.
fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

/// A project holding a copy of every file of the example `name`.
fn copy_of(name: &str) -> Project {
    fn copy(from: &Path, to: &Path, p: &Project) {
        for entry in std::fs::read_dir(from).expect("example dir").flatten() {
            let path = entry.path();
            let rel = to.join(entry.file_name());
            if path.is_dir() {
                copy(&path, &rel, p);
            } else {
                p.file(
                    &rel.to_string_lossy(),
                    std::fs::read(&path).expect("example file"),
                );
            }
        }
    }
    let p = Project::new();
    copy(&example(name), Path::new(""), &p);
    p
}

/// A POST with headers; panics on an I/O error.
fn post(port: u16, path: &str, body: &str, headers: &[(&str, &str)]) -> support::Response {
    try_http(port, "POST", path, body, headers)
        .unwrap_or_else(|e| panic!("POST {path} on port {port}: {e}"))
}

/// Waits until the route `path` on `port` hands requests to its flow: a
/// malformed body (with the route's credentials) is refused with 400 once
/// it does; 503 before.
fn wait_serving(running: &mut support::Running, port: u16, path: &str, headers: &[(&str, &str)]) {
    running.wait_listening(port);
    let mut last = None;
    let ok = wait_until(Duration::from_secs(30), || {
        last = try_http(port, "POST", path, "{", headers)
            .ok()
            .map(|r| r.status);
        last == Some(400)
    });
    assert!(
        ok,
        "{path} on port {port} does not serve (last status {last:?}):\n{}",
        running.stderr()
    );
}

// ---------------------------------------------------------------------------
// salesforce-accounts-to-erp

#[test]
fn salesforce_accounts_reach_the_erp_customers_table() {
    let Some(pg) = aqueduct_test_support::service_url(
        "AQUEDUCT_TEST_POSTGRES_URL",
        "salesforce_accounts_reach_the_erp_customers_table",
    ) else {
        return;
    };
    let dir = example("salesforce-accounts-to-erp");
    let org = Org::from_file(
        &dir.join("emulator-seed.yaml"),
        "aqueduct-dev",
        "dev-secret",
    );
    let erp = support::postgres::Database::create(&pg, "aq_erp");
    // the table of the README
    support::postgres::psql(
        &erp.url,
        "CREATE TABLE customers (
           external_id text PRIMARY KEY,
           name        text NOT NULL,
           city        text NOT NULL,
           tier        text NOT NULL
         )",
    );
    let p = copy_of("salesforce-accounts-to-erp");
    let token_url = org.emulator.token_url();
    let mut running = p.spawn_with_env(
        &[],
        &[
            ("SF_INSTANCE_URL", org.url()),
            ("SF_TOKEN_URL", &token_url),
            ("SF_CLIENT_ID", "aqueduct-dev"),
            ("SF_CLIENT_SECRET", "dev-secret"),
            ("ERP_DATABASE_URL", &erp.url),
        ],
    );
    // `replay` is `latest`: only changes after the subscription count
    let subscribed = wait_until(Duration::from_secs(30), || {
        running
            .stderr()
            .contains("Subscribed to the Salesforce Streaming API")
    });
    assert!(subscribed, "{}", running.stderr());
    let customers = || support::postgres::psql(&erp.url, "SELECT * FROM customers ORDER BY name");
    let wait_for = |expected: &str, running: &support::Running| {
        let arrived = wait_until(Duration::from_secs(30), || customers() == expected);
        assert!(
            arrived,
            "customers:\n{}\nexpected:\n{expected}\nstderr:\n{}",
            customers(),
            running.stderr()
        );
    };

    let acme = org.create(
        "Account",
        json!({"Name": " Acme ", "BillingCity": "Lyon", "AnnualRevenue": 2_500_000}),
    );
    let shop = org.create(
        "Account",
        json!({"Name": "Corner Shop", "AnnualRevenue": 250_000.5}),
    );
    // no annual revenue: filtered out
    let tiny = org.create("Account", json!({"Name": "Tiny"}));
    wait_for(
        &format!("{acme}|Acme|Lyon|gold\n{shop}|Corner Shop|unknown|standard"),
        &running,
    );

    org.update(
        "Account",
        &shop,
        json!({"BillingCity": "Paris", "AnnualRevenue": 1_500_000}),
    );
    org.update("Account", &tiny, json!({"AnnualRevenue": 10}));
    wait_for(
        &format!(
            "{acme}|Acme|Lyon|gold\n{shop}|Corner Shop|Paris|gold\n{tiny}|Tiny|unknown|standard"
        ),
        &running,
    );

    // a delete is not replicated (the flow skips deletes): the row stays.
    // A later change shows the delete event was passed over.
    org.delete("Account", &acme);
    org.update("Account", &tiny, json!({"Name": "Tiny Ltd"}));
    wait_for(
        &format!(
            "{acme}|Acme|Lyon|gold\n{shop}|Corner Shop|Paris|gold\n{tiny}|Tiny Ltd|unknown|standard"
        ),
        &running,
    );

    let out = running.terminate(support::RUN_LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // 3 creates and 3 updates read back; Tiny's create filtered, the delete skipped
    assert_eq!(
        out.summary("accounts_to_erp"),
        "accounts_to_erp: 6 in, 5 delivered, 1 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(p.read("dlq/accounts.jsonl"), "");
    assert!(!out.stderr.contains("dev-secret"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// card-payment

/// The PSP's answer to a charge, by card token (as a PSP's test cards do).
fn charge_outcome(hit: &support::Hit) -> Value {
    let charge = hit.json();
    let id = format!("ch_{}", charge["reference"].as_str().unwrap_or_default());
    match charge["source"].as_str().unwrap_or_default() {
        "tok_3ds" => json!({"id": id, "status": "requires_action",
            "next_action_url": format!("https://psp.example.com/3ds/{id}")}),
        "tok_chargeDeclined" => {
            json!({"id": id, "status": "declined", "decline_code": "insufficient_funds"})
        }
        _ => json!({"id": id, "status": "succeeded"}),
    }
}

#[test]
fn card_payments_get_the_documented_replies() {
    let psp = TestServer::start(vec![Rule::new("/v1/charges").respond(charge_outcome)]);
    let p = copy_of("card-payment");
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let psp_url = psp.url();
    let mut running = p.spawn_with_env(
        &[],
        &[
            ("PAYMENTS_LISTEN", &listen),
            ("PAYMENTS_API_KEY", "dev-key"),
            ("PSP_BASE_URL", &psp_url),
            ("PSP_SECRET_KEY", "sk_test_scenarios"),
        ],
    );
    let key = [("X-Api-Key", "dev-key")];
    wait_serving(&mut running, port, "/payments", &key);
    let pay = |order: &str, amount: &str, token: &str| {
        post(
            port,
            "/payments",
            &format!(
                r#"{{"order_id": "{order}", "amount": {amount}, "currency": "eur", "card_token": "{token}"}}"#
            ),
            &key,
        )
    };

    let paid = pay("o-1", "59.90", "tok_visa");
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert_eq!(
        paid.body,
        r#"{"order_id":"o-1","status":"paid","charge_id":"ch_o-1","message":"payment captured","redirect_url":null}"#
    );
    // as examples/card-payment/README.md shows it
    assert_eq!(
        psp.hits("/v1/charges")[0].body,
        r#"{"amount":59.90,"currency":"EUR","source":"tok_visa","reference":"o-1","receipt_email":null}"#
    );

    let challenge = pay("o-2", "420", "tok_3ds");
    assert_eq!(challenge.status, 200, "{}", challenge.body);
    assert_eq!(
        challenge.json(),
        json!({"order_id": "o-2", "status": "action_required", "charge_id": "ch_o-2",
            "message": "the card issuer asks the customer to confirm",
            "redirect_url": "https://psp.example.com/3ds/ch_o-2"})
    );

    let declined = pay("o-3", "12.00", "tok_chargeDeclined");
    assert_eq!(declined.status, 200, "{}", declined.body);
    assert_eq!(
        declined.json(),
        json!({"order_id": "o-3", "status": "declined", "charge_id": "ch_o-3",
            "message": "declined: insufficient_funds", "redirect_url": null})
    );

    // refused before the PSP: a zero amount (422), no API key (401)
    let charges = psp.hits("/v1/charges").len();
    let zero = pay("o-4", "0", "tok_visa");
    assert_eq!(zero.status, 422, "{}", zero.body);
    assert_eq!(zero.json()["code"], "rejected", "{}", zero.body);
    let anonymous = try_http(
        port,
        "POST",
        "/payments",
        r#"{"order_id": "o-5", "amount": 1, "currency": "eur", "card_token": "tok_visa"}"#,
        &[],
    )
    .expect("POST /payments");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(psp.hits("/v1/charges").len(), charges);

    // a PSP slower than the client's 4 s timeout
    psp.set_rules(vec![
        Rule::new("/v1/charges")
            .delay(Duration::from_secs(8))
            .respond(charge_outcome),
    ]);
    let slow = pay("o-6", "5", "tok_visa");
    // the call gives up after 4 s (502); on a loaded machine the request's
    // own 5 s may run out first (504)
    let expected = match slow.status {
        502 => "upstream_failed",
        504 => "timeout",
        other => panic!("a PSP past the timeout answered {other}: {}", slow.body),
    };
    assert_eq!(slow.json()["code"], expected, "{}", slow.body);

    // back to normal; a success also closes the count of failures
    psp.set_rules(vec![Rule::new("/v1/charges").respond(charge_outcome)]);
    let recovered = pay("o-7", "5", "tok_visa");
    assert_eq!(recovered.status, 200, "{}", recovered.body);
    assert_eq!(recovered.json()["status"], "paid", "{}", recovered.body);

    // a PSP that fails: 502 each time, until five failures in a row open
    // the breaker; then 503 at once, without calling the PSP
    psp.set_rules(vec![Rule::new("/v1/charges").always_fail().status(500)]);
    for n in 0..5 {
        let down = pay(&format!("o-down-{n}"), "5", "tok_visa");
        assert_eq!(down.status, 502, "{}", down.body);
        assert_eq!(down.json()["code"], "upstream_failed", "{}", down.body);
        assert!(!down.body.contains("scripted failure"), "{}", down.body);
    }
    let calls = psp.hits("/v1/charges").len();
    let open = pay("o-open", "5", "tok_visa");
    assert_eq!(open.status, 503, "{}", open.body);
    assert_eq!(
        open.json(),
        json!({"error": "a system the flow calls is unavailable; try again later",
            "code": "unavailable"})
    );
    assert_eq!(psp.hits("/v1/charges").len(), calls);

    let out = running.terminate(support::RUN_LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("sk_test_scenarios"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// passport-check

#[test]
fn passport_checks_go_out_and_results_come_back_to_sqlite_and_browsers() {
    let verifier = TestServer::start(vec![
        Rule::new("/v1/verifications").respond(|_| json!({"accepted": true})),
    ]);
    let p = copy_of("passport-check");
    let (api, callbacks, ui) = (
        support::free_port(),
        support::free_port(),
        support::free_port(),
    );
    let listen = |port: u16| format!("127.0.0.1:{port}");
    let verifier_url = verifier.url();
    let mut running = p.spawn_with_env(
        &[],
        &[
            ("CHECKS_LISTEN", &listen(api)),
            ("CALLBACKS_LISTEN", &listen(callbacks)),
            ("UI_LISTEN", &listen(ui)),
            ("VERIFIER_URL", &verifier_url),
            ("CHECKS_API_KEY", "dev-key"),
            ("VERIFIER_TOKEN", "dev-token"),
            ("VERIFIER_WEBHOOK_SECRET", "whsec-dev"),
        ],
    );
    let key = [("X-Api-Key", "dev-key")];
    wait_serving(&mut running, api, "/checks", &key);
    running.wait_listening(ui);

    let submitted = post(
        api,
        "/checks",
        r#"{"check_id": "c-1", "document_number": "c01x00t47", "country": "deu", "holder_name": "Erika Mustermann"}"#,
        &key,
    );
    assert_eq!(submitted.status, 202, "{}", submitted.body);
    let short = post(
        api,
        "/checks",
        r#"{"check_id": "c-2", "document_number": "123", "country": "deu", "holder_name": "X"}"#,
        &key,
    );
    assert_eq!(short.status, 202, "{}", short.body);
    let anonymous = try_http(api, "POST", "/checks", "{}", &[]).expect("POST /checks");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);

    let called = wait_until(Duration::from_secs(30), || {
        !verifier.hits("/v1/verifications").is_empty()
    });
    assert!(called, "{}", running.stderr());
    // as examples/passport-check/README.md shows it
    assert_eq!(
        verifier.hits("/v1/verifications")[0].body,
        r#"{"reference":"c-1","document_type":"passport","document_number":"C01X00T47","issuing_country":"DEU","holder_name":"Erika Mustermann","callback_url":"https://onboarding.example.com/callbacks/passport"}"#
    );

    // a browser watching the page
    let browser = support::sse::EventStream::open(&format!("http://127.0.0.1:{ui}/updates"));
    let callback = |body: &str, signature: &str| {
        post(
            callbacks,
            "/callbacks/passport",
            body,
            &[("X-Signature", signature)],
        )
    };
    let sign =
        |body: &str| aqueduct_connectors::endpoint::hmac_sha256_hex(b"whsec-dev", body.as_bytes());
    let verified =
        r#"{"reference": "c-1", "outcome": "verified", "completed_at": "2026-03-01T10:00:00Z"}"#;
    let forged = callback(verified, &sign("something else"));
    assert_eq!(forged.status, 401, "{}", forged.body);
    let accepted = callback(verified, &sign(verified));
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let pushed = wait_until(Duration::from_secs(30), || !browser.events().is_empty());
    assert!(pushed, "{}", running.stderr());
    // as examples/passport-check/README.md shows it
    assert_eq!(
        browser.raw(),
        [
            r#"{"check_id":"c-1","status":"verified","reason":"","completed_at":"2026-03-01T10:00:00Z"}"#
        ]
    );

    // the webhook delivered again counts once; the next result is pushed
    let again = callback(verified, &sign(verified));
    assert_eq!(again.status, 202, "{}", again.body);
    let rejected = r#"{"reference": "c-3", "outcome": "rejected", "reason": "expired", "completed_at": "2026-03-01T11:00:00Z"}"#;
    assert_eq!(callback(rejected, &sign(rejected)).status, 202);
    let both = wait_until(Duration::from_secs(30), || browser.events().len() >= 2);
    assert!(both, "{:?}\n{}", browser.events(), running.stderr());

    let db = p.path("data/checks.db");
    let stored = wait_until(Duration::from_secs(30), || {
        support::sqlite_count(&db, "select count(*) from check_results") == Some(2)
    });
    assert!(stored, "{}", running.stderr());
    let out = running.terminate(support::RUN_LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        browser.events(),
        [
            json!({"check_id": "c-1", "status": "verified", "reason": "",
                "completed_at": "2026-03-01T10:00:00Z"}),
            json!({"check_id": "c-3", "status": "rejected", "reason": "expired",
                "completed_at": "2026-03-01T11:00:00Z"}),
        ]
    );
    assert_eq!(
        p.sqlite(
            "data/checks.db",
            "select check_id, status, reason, completed_at from check_results order by check_id"
        ),
        [
            vec![
                json!("c-1"),
                json!("verified"),
                json!(""),
                json!("2026-03-01T10:00:00Z")
            ],
            vec![
                json!("c-3"),
                json!("rejected"),
                json!("expired"),
                json!("2026-03-01T11:00:00Z")
            ],
        ]
    );
    assert_eq!(verifier.hits("/v1/verifications").len(), 1);
    assert_eq!(
        out.summary("submit_check"),
        "submit_check: 2 in, 1 delivered, 1 filtered, 0 failed, 0 dead-lettered"
    );
    // two results, each to two targets (the table and the event stream)
    assert_eq!(
        out.summary("receive_result"),
        "receive_result: 3 in, 4 delivered, 1 filtered, 0 failed, 0 dead-lettered"
    );
}

// ---------------------------------------------------------------------------
// fitness-devices

/// Publishes each payload to its topic at QoS 1 and waits for every PUBACK.
fn mqtt_publish(url: &str, messages: &[(String, String)]) {
    use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(async {
        let id = aqueduct_test_support::unique_name("band");
        let sep = if url.contains('?') { '&' } else { '?' };
        let options =
            MqttOptions::parse_url(format!("{url}{sep}client_id={id}")).expect("an mqtt url");
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let sender = client.clone();
        let owned = messages.to_vec();
        tokio::spawn(async move {
            for (topic, payload) in owned {
                sender
                    .publish(topic, QoS::AtLeastOnce, false, payload.into_bytes())
                    .await
                    .expect("publishes");
            }
        });
        let mut acked = 0;
        while acked < messages.len() {
            match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::PubAck(_)))) => acked += 1,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("publishing failed: {e}"),
                Err(_) => panic!("no PUBACK for {} messages", messages.len() - acked),
            }
        }
        let _ = client.disconnect().await;
    });
}

#[test]
fn fitness_readings_become_platform_events_once_each() {
    let Some(mqtt) = aqueduct_test_support::service_url(
        "AQUEDUCT_TEST_MQTT_URL",
        "fitness_readings_become_platform_events_once_each",
    ) else {
        return;
    };
    let dir = example("fitness-devices");
    let org = Org::from_file(
        &dir.join("emulator-seed.yaml"),
        "aqueduct-dev",
        "dev-secret",
    );
    let p = copy_of("fitness-devices");
    let client = aqueduct_test_support::unique_name("aqueduct-fitness");
    let mut running = p.spawn_with_env(
        &[],
        &[
            ("SF_INSTANCE_URL", org.url()),
            ("SF_CLIENT_ID", "aqueduct-dev"),
            ("SF_CLIENT_SECRET", "dev-secret"),
            ("MQTT_URL", &mqtt),
            ("MQTT_CLIENT_ID", &client),
        ],
    );
    let subscribed = wait_until(Duration::from_secs(30), || {
        running.stderr().contains("subscribed")
    });
    assert!(subscribed, "{}", running.stderr());

    // bands of this test only: the topic filter is the example's
    let band = aqueduct_test_support::unique_name("band");
    let reading = |device: &str, message: &str, heart: i64, steps: i64, at: &str| {
        (
            format!("devices/{device}/metrics"),
            json!({"device_id": device, "message_id": format!("{band}-{message}"),
                "heart_rate": heart, "steps": steps, "recorded_at": at})
            .to_string(),
        )
    };
    let (a, b) = (format!("{band}-a"), format!("{band}-b"));
    let first = reading(&a, "m-1", 131, 40, "2026-03-01T07:00:00Z");
    mqtt_publish(
        &mqtt,
        &[
            first.clone(),
            // the device missed the ack and sends m-1 again
            first,
            reading(&a, "m-2", 165, 12, "2026-03-01T07:00:05Z"),
            reading(&b, "m-3", 90, 3, "2026-03-01T07:00:05Z"),
            // implausible: dropped
            reading(&b, "m-4", 0, 0, "2026-03-01T07:00:10Z"),
        ],
    );

    let mine = || -> Vec<Value> {
        let mut events: Vec<Value> = org
            .retained_events("/event/Fitness_Reading__e")
            .into_iter()
            .map(|e| {
                let payload = &e["data"]["payload"];
                json!({
                    "device": payload["Device_Id__c"],
                    "heart_rate": payload["Heart_Rate__c"],
                    "steps": payload["Steps__c"],
                    "zone": payload["Zone__c"],
                    "at": payload["Recorded_At__c"],
                })
            })
            .filter(|e| e["device"].as_str().is_some_and(|d| d.starts_with(&band)))
            .collect();
        events.sort_by_key(|e| (e["device"].to_string(), e["at"].to_string()));
        events
    };
    // `batch 100 within 5s`: the three readings go out within seconds
    let published = wait_until(Duration::from_secs(40), || mine().len() >= 3);
    assert!(published, "{:?}\n{}", mine(), running.stderr());
    // a clean stop drains what is in flight: a repeat would be published by now
    let out = running.terminate(support::RUN_LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        mine(),
        [
            json!({"device": a, "heart_rate": 131, "steps": 40, "zone": "cardio", "at": "2026-03-01T07:00:00.000Z"}),
            json!({"device": a, "heart_rate": 165, "steps": 12, "zone": "peak", "at": "2026-03-01T07:00:05.000Z"}),
            json!({"device": b, "heart_rate": 90, "steps": 3, "zone": "rest", "at": "2026-03-01T07:00:05.000Z"}),
        ]
    );
    assert_eq!(
        out.summary("ingest_metrics"),
        "ingest_metrics: 5 in, 3 delivered, 2 filtered, 0 failed, 0 dead-lettered"
    );
    assert_eq!(
        out.summary("publish_readings"),
        "publish_readings: 3 in, 3 delivered, 0 filtered, 0 failed, 0 dead-lettered"
    );
    assert!(!out.stderr.contains("dev-secret"), "{}", out.stderr);
}
