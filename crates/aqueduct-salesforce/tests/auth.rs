//! The three OAuth grants against the emulator's token endpoint, the token
//! replaced once after it expires mid-run, and credentials kept out of
//! error messages.

mod common;

use aqueduct_runtime::connector::ConnectorFactory;
use base64::Engine;
use common::*;

const KEY: &[u8] = include_bytes!("../../aqueduct-emulator/tests/fixtures/jwt/test-key.pk8");
const PUBLIC_KEY: &str = include_str!("../../aqueduct-emulator/tests/fixtures/jwt/test-pub.pem");

fn account_schemas() -> std::sync::Arc<aqueduct_runtime::value::Schemas> {
    schemas(&[("Account", &[("Id", "string"), ("Name", "string")])])
}

async fn names(options: Vec<(String, aqueduct_graph::ConfigValue)>) -> Vec<String> {
    let s = account_schemas();
    let (cx, _stop) = context(
        options,
        "query",
        vec![("soql", lit("SELECT Id, Name FROM Account ORDER BY Name"))],
        "Account",
        &s,
        false,
    );
    let f = connector();
    drain(source(&f, &cx))
        .await
        .expect("query runs")
        .into_iter()
        .map(|r| r.expect("decoded").field("Name").to_text())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_read_the_org() {
    let emulator = start(aqueduct_emulator::Seed::builtin()).await;
    assert_eq!(
        names(client_credentials(emulator.instance_url())).await,
        ["Acme", "Globex", "Initech"]
    );
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_signs_an_rs256_assertion_with_the_configured_key() {
    let indented: String = PUBLIC_KEY
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    let seed = format!(
        "auth:\n  clients:\n    - client_id: jwt-app\n      username: integration@emulator.local\n      certificate: |\n{indented}  users:\n    - {{username: integration@emulator.local}}\nobjects:\n  - name: Account\n    fields:\n      - {{name: Name, type: string}}\n    records:\n      - {{Name: Solo}}\n"
    );
    let emulator = start_yaml(&seed).await;
    let key = pem(KEY);
    let options = system_options(
        emulator.instance_url(),
        "jwt_bearer",
        &[
            ("client_id", "jwt-app"),
            ("username", "integration@emulator.local"),
            ("private_key", &key),
        ],
    );
    assert_eq!(names(options).await, ["Solo"]);

    // A key put in one environment line with literal \n works too.
    let one_line = key.replace('\n', "\\n");
    let options = system_options(
        emulator.instance_url(),
        "jwt_bearer",
        &[
            ("client_id", "jwt-app"),
            ("username", "integration@emulator.local"),
            ("private_key", &one_line),
        ],
    );
    assert_eq!(names(options).await, ["Solo"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_is_not_pem_is_refused_at_start_up_without_quoting_it() {
    let emulator = start(aqueduct_emulator::Seed::builtin()).await;
    let s = account_schemas();
    let bogus = "not-a-key-0123456789-secretish";
    let (cx, _stop) = context(
        system_options(
            emulator.instance_url(),
            "jwt_bearer",
            &[
                ("client_id", "x"),
                ("username", "u"),
                ("private_key", bogus),
            ],
        ),
        "query",
        vec![("soql", lit("SELECT Id FROM Account"))],
        "Account",
        &s,
        false,
    );
    let f = connector();
    let Err(e) = f.source(&cx).map(|_| ()) else {
        panic!("a bad key must be refused")
    };
    let text = e.to_string();
    assert!(
        text.contains("private_key is not a PEM RSA private key"),
        "{text}"
    );
    assert!(!text.contains(bogus), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_grant_gets_access_tokens() {
    let emulator = start(aqueduct_emulator::Seed::builtin()).await;
    let answer = admin(
        &emulator,
        "POST",
        "refresh-tokens",
        serde_json::json!({"client_id": "aqueduct-emulator"}),
    )
    .await;
    let refresh = answer["refresh_token"].as_str().expect("refresh token");
    let options = system_options(
        emulator.instance_url(),
        "refresh_token",
        &[
            ("client_id", "aqueduct-emulator"),
            ("client_secret", "emulator-secret"),
            ("refresh_token", refresh),
        ],
    );
    assert_eq!(names(options).await, ["Acme", "Globex", "Initech"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_replaced_once_and_the_request_replayed() {
    let emulator = start(aqueduct_emulator::Seed::builtin()).await;
    let s = account_schemas();
    let (cx, _stop) = context(
        client_credentials(emulator.instance_url()),
        "get",
        vec![("object", lit("Account")), ("id", template("{.Id}"))],
        "Account?",
        &s,
        false,
    );
    let f = connector();
    let get = call(&f, &cx);
    let key = record(
        &s,
        "Account",
        serde_json::json!({"Id": "001000000000001AAA", "Name": "x"}),
    );
    assert_eq!(
        get.call(&key).await.expect("first").field("Name").to_text(),
        "Acme"
    );
    let expired = admin(&emulator, "POST", "tokens/expire", serde_json::json!({})).await;
    assert_eq!(expired["expired"], 1, "{expired}");
    assert_eq!(
        get.call(&key)
            .await
            .expect("after expiry")
            .field("Name")
            .to_text(),
        "Acme"
    );

    // A token that is refused again right after a new one is an error, not a loop.
    admin(
        &emulator,
        "POST",
        "faults",
        serde_json::json!({"fault": "session_expired", "path": "/services/data/*/sobjects/*", "times": 2}),
    )
    .await;
    let e = get.call(&key).await.expect_err("refused twice");
    let text = e.to_string();
    assert!(
        text.contains("HTTP 401 INVALID_SESSION_ID: Session expired or invalid"),
        "{text}"
    );
    assert!(!e.is_retryable() || text.contains("401"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_reported_without_the_secret() {
    let emulator = start(aqueduct_emulator::Seed::builtin()).await;
    let s = account_schemas();
    let secret = "wrong-secret-value-7391";
    let (cx, _stop) = context(
        system_options(
            emulator.instance_url(),
            "oauth2_client_credentials",
            &[
                ("client_id", "aqueduct-emulator"),
                ("client_secret", secret),
            ],
        ),
        "query",
        vec![("soql", lit("SELECT Id FROM Account"))],
        "Account",
        &s,
        false,
    );
    let f = connector();
    let e = drain(source(&f, &cx)).await.expect_err("refused");
    let text = e.to_string();
    assert_eq!(
        text,
        "`crm` token request refused (HTTP 400): invalid_client: invalid client credentials"
    );
    assert!(!e.is_retryable());
    assert!(!text.contains(secret));
}
