//! The JWT bearer grant end to end: assertions signed with RS256 by a test
//! key are verified against the connected app's certificate (or public
//! key), and every claim Salesforce checks is checked.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::Client;
use serde_json::{Value, json};

const KEY: &[u8] = include_bytes!("fixtures/jwt/test-key.pk8");
const OTHER_KEY: &[u8] = include_bytes!("fixtures/jwt/other-key.pk8");
const PUBLIC_KEY: &str = include_str!("fixtures/jwt/test-pub.pem");

fn assertion(key: &[u8], header: Value, claims: Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{h}.{c}");
    let pair = ring::signature::RsaKeyPair::from_pkcs8(key).expect("test key");
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut sig,
    )
    .expect("signs");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn claims(exp_offset: i64) -> Value {
    json!({"iss": "jwt-app", "sub": "integration@emulator.local", "aud": "https://login.salesforce.com", "exp": now() + exp_offset})
}

async fn grant(client: &Client, assertion: &str) -> (u16, Value) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
    form.append_pair("assertion", assertion);
    let r = client
        .send(
            "POST",
            "/services/oauth2/token",
            &[],
            Some((
                "application/x-www-form-urlencoded".into(),
                form.finish().into_bytes(),
            )),
            false,
        )
        .await;
    (r.status, r.json())
}

fn seed_with(certificate: &str) -> String {
    let indented: String = certificate
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    format!(
        "auth:\n  clients:\n    - client_id: jwt-app\n      username: integration@emulator.local\n      certificate: |\n{indented}  users:\n    - {{username: integration@emulator.local}}\n    - {{username: other@emulator.local}}\n"
    )
}

#[tokio::test]
async fn jwt_bearer_tokens_are_issued_for_valid_assertions_only() {
    let emulator = common::start_yaml(&seed_with(PUBLIC_KEY)).await;
    let client = Client::new(emulator.instance_url());
    let header = json!({"alg": "RS256"});

    let (status, body) = grant(&client, &assertion(KEY, header.clone(), claims(180))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body.get("refresh_token").is_none(),
        "JWT bearer issues no refresh token"
    );
    let token = body["access_token"].as_str().expect("token").to_string();
    assert_eq!(
        client
            .get("/services/data/v62.0/limits", &token)
            .await
            .status,
        200
    );

    // Another user of the org who has the app (Salesforce: pre-authorised).
    let other = json!({"iss": "jwt-app", "sub": "other@emulator.local", "aud": "https://test.salesforce.com", "exp": now() + 60});
    assert_eq!(
        grant(&client, &assertion(KEY, header.clone(), other))
            .await
            .0,
        200
    );
    // The instance URL is an accepted audience (My Domain), trailing slash or not.
    let aud = json!({"iss": "jwt-app", "sub": "integration@emulator.local", "aud": format!("{}/", emulator.instance_url()), "exp": now() + 60});
    assert_eq!(
        grant(&client, &assertion(KEY, header.clone(), aud)).await.0,
        200
    );
    // About three minutes of clock skew are tolerated.
    assert_eq!(
        grant(&client, &assertion(KEY, header.clone(), claims(-120)))
            .await
            .0,
        200
    );

    let refused = [
        (
            assertion(OTHER_KEY, header.clone(), claims(180)),
            "invalid_grant",
            "invalid assertion",
        ),
        (
            assertion(KEY, json!({"alg": "RS512"}), claims(180)),
            "invalid_grant",
            "invalid assertion",
        ),
        (
            assertion(KEY, header.clone(), claims(-600)),
            "invalid_grant",
            "expired authorization code",
        ),
        (
            assertion(
                KEY,
                header.clone(),
                json!({"iss": "jwt-app", "sub": "integration@emulator.local", "aud": "https://example.com", "exp": now() + 60}),
            ),
            "invalid_grant",
            "audience is invalid",
        ),
        (
            assertion(
                KEY,
                header.clone(),
                json!({"iss": "jwt-app", "sub": "nobody@x", "aud": "https://login.salesforce.com", "exp": now() + 60}),
            ),
            "invalid_grant",
            "user hasn't approved this consumer",
        ),
        (
            assertion(
                KEY,
                header.clone(),
                json!({"iss": "unknown-app", "sub": "integration@emulator.local", "aud": "https://login.salesforce.com", "exp": now() + 60}),
            ),
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            assertion(
                KEY,
                header.clone(),
                json!({"iss": "jwt-app", "sub": "integration@emulator.local", "aud": "https://login.salesforce.com"}),
            ),
            "invalid_grant",
            "invalid assertion",
        ),
    ];
    for (a, error, description) in refused {
        let (status, body) = grant(&client, &a).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body,
            json!({"error": error, "error_description": description})
        );
    }
    // A tampered signature.
    let good = assertion(KEY, header, claims(60));
    // Another first signature character (the last one may carry only padding bits).
    let sig_start = good.rfind('.').expect("three parts") + 1;
    let swapped = if good[sig_start..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{swapped}{}", &good[..sig_start], &good[sig_start + 1..]);
    assert_eq!(
        grant(&client, &tampered).await.1["error_description"],
        "invalid assertion"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_certificate_file_verifies_assertions_and_an_app_without_one_refuses_jwt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cert =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt/test-cert.pem");
    std::fs::copy(&cert, dir.path().join("server.crt")).expect("copy certificate");
    let seed_path = dir.path().join("seed.yaml");
    std::fs::write(
        &seed_path,
        "auth:\n  clients:\n    - {client_id: jwt-app, username: integration@emulator.local, certificate: server.crt}\n    - {client_id: plain, client_secret: s, username: integration@emulator.local}\n",
    )
    .expect("write seed");
    let seed = aqueduct_emulator::Seed::load(&seed_path).expect("seed loads");
    let emulator = common::start(seed).await;
    let client = Client::new(emulator.instance_url());
    let creds = emulator.credentials();
    assert_eq!(
        creds
            .iter()
            .map(|c| (c.client_id.as_str(), c.jwt))
            .collect::<Vec<_>>(),
        [("jwt-app", true), ("plain", false)]
    );
    assert_eq!(
        grant(
            &client,
            &assertion(KEY, json!({"alg": "RS256"}), claims(60))
        )
        .await
        .0,
        200
    );
    let plain = json!({"iss": "plain", "sub": "integration@emulator.local", "aud": "https://login.salesforce.com", "exp": now() + 60});
    let (status, body) = grant(&client, &assertion(KEY, json!({"alg": "RS256"}), plain)).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("invalid assertion"))
    );
    // A JWT-only app cannot use client credentials.
    let form = b"grant_type=client_credentials&client_id=jwt-app&client_secret=".to_vec();
    let r = client
        .send(
            "POST",
            "/services/oauth2/token",
            &[],
            Some(("application/x-www-form-urlencoded".into(), form)),
            false,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_client"))
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_bad_certificate_is_a_seed_error_naming_the_client() {
    let err = aqueduct_emulator::serve(aqueduct_emulator::Config {
        seed: aqueduct_emulator::Seed::parse("auth:\n  clients:\n    - {client_id: x, username: u@x, certificate: /nonexistent/cert.pem}\n", "s.yaml").expect("parses"),
        listen: "127.0.0.1:0".parse().expect("addr"),
        pubsub_tls: None,
    })
    .await
    .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("client `x`: certificate: cannot read `/nonexistent/cert.pem`"),
        "{text}"
    );
}
