//! Seeds: the built-in one and its documented ids, generated records,
//! validation rules, and the errors a bad seed gets (each naming the
//! object, field or record, so the user can fix it).

mod common;

use aqueduct_emulator::{Config, Seed, serve};
use common::Client;
use serde_json::json;

async fn refused(yaml: &str) -> String {
    let seed = match Seed::parse(yaml, "seed.yaml") {
        Ok(s) => s,
        Err(e) => return e.to_string(),
    };
    match serve(Config {
        seed,
        listen: "127.0.0.1:0".parse().expect("addr"),
        pubsub_tls: None,
    })
    .await
    {
        Ok(_) => panic!("the seed should be refused:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn the_builtin_seed_has_the_documented_records_and_credentials() {
    let emulator = serve(Config::default()).await.expect("starts");
    assert!(emulator.instance_url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        emulator.token_url(),
        format!("{}/services/oauth2/token", emulator.instance_url())
    );
    assert_eq!(emulator.org_id(), "00D000000000001EAA");
    assert_eq!(emulator.api_version(), "62.0");
    let creds = emulator.credentials();
    assert_eq!(creds.len(), 1);
    assert_eq!(
        (
            creds[0].client_id.as_str(),
            creds[0].client_secret.as_deref(),
            creds[0].username.as_str()
        ),
        (
            "aqueduct-emulator",
            Some("emulator-secret"),
            "integration@emulator.local"
        )
    );
    let client = Client::new(emulator.instance_url());
    let token = common::token(&client).await;
    let r = client.get("/services/data/v62.0/query?q=SELECT+Id,+Name,+(SELECT+LastName+FROM+Contacts+ORDER+BY+LastName)+FROM+Account+ORDER+BY+Name", &token).await;
    let body = r.json();
    let rows: Vec<(String, String)> = body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["Id"].as_str().unwrap_or("").to_string(),
                r["Name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("001000000000001AAA".into(), "Acme".into()),
            ("001000000000002AAA".into(), "Globex".into()),
            ("001000000000003AAA".into(), "Initech".into())
        ]
    );
    assert_eq!(body["records"][0]["Contacts"]["totalSize"], 2);
    let r = client.get("/services/data/v62.0/query?q=SELECT+Id,+CreatedBy.Name+FROM+Contact+WHERE+Email='ada@acme.example'", &token).await;
    assert_eq!(r.json()["records"][0]["Id"], "003000000000001AAA");
    assert_eq!(
        r.json()["records"][0]["CreatedBy"]["Name"],
        "Integration User"
    );
    let admin = client
        .send("GET", "/_emulator", &[], None, false)
        .await
        .json();
    assert_eq!(admin["token_url"], emulator.token_url());
    assert_eq!(admin["clients"][0]["client_secret"], "emulator-secret");
    emulator.shutdown().await;
}

#[tokio::test]
async fn generated_records_and_validation_rules() {
    let emulator = common::start_yaml(
        r#"
objects:
  - name: Invoice__c
    fields:
      - {name: Number__c, type: string, external_id: true, unique: true}
      - {name: Amount__c, type: currency}
      - {name: Paid__c, type: boolean}
      - {name: Due__c, type: date}
    validation_rules:
      - {name: positive, when: "Amount__c < 0", message: "Amount must not be negative", field: Amount__c}
    generate:
      - count: 2500
        fields: {Number__c: "INV-{n}", Amount__c: 10.5, Due__c: "2024-01-31"}
"#,
    )
    .await;
    let client = Client::new(emulator.instance_url());
    let token = common::token(&client).await;
    let r = client.get("/services/data/v62.0/query?q=SELECT+COUNT()+FROM+Invoice__c+WHERE+Due__c+=+2024-01-31+AND+Paid__c+=+false", &token).await;
    assert_eq!(r.json()["totalSize"], 2500, "{}", r.text);
    let r = client
        .get(
            "/services/data/v62.0/sobjects/Invoice__c/Number__c/INV-2500",
            &token,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["Id"].clone()),
        (200, json!("a000000000000eKAAQ")),
        "{}",
        r.text
    );
    let r = client
        .json(
            "POST",
            "/services/data/v62.0/sobjects/Invoice__c/",
            &token,
            &json!({"Number__c": "X", "Amount__c": -1}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!([{"message": "Amount must not be negative", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": ["Amount__c"]}])
    );
    // The default 2,000-row page: a query of every invoice needs two pages.
    let r = client
        .get(
            "/services/data/v62.0/query?q=SELECT+Id+FROM+Invoice__c",
            &token,
        )
        .await;
    let body = r.json();
    assert_eq!(
        (
            body["records"].as_array().map(Vec::len),
            body["done"].clone()
        ),
        (Some(2000), json!(false))
    );
    let next = body["nextRecordsUrl"].as_str().expect("next page");
    assert!(next.ends_with("-2000"), "{next}");
    let body = client.get(next, &token).await.json();
    assert_eq!(
        (
            body["records"].as_array().map(Vec::len),
            body["done"].clone()
        ),
        (Some(500), json!(true))
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn bad_seeds_are_refused_with_the_place_of_the_mistake() {
    let cases = [
        (
            "objects:\n  - name: A\n    fields: [{name: X, type: strng}]\n",
            "field `A.X`: unknown type `strng`",
        ),
        (
            "objects:\n  - name: A\n    fields: [{name: B, type: reference}]\n",
            "field `A.B`: a reference needs `reference_to`",
        ),
        (
            "objects:\n  - name: A\n    fields: [{name: B, type: reference, reference_to: [Nope]}]\n",
            "field `A.B` references `Nope`, which the seed does not define",
        ),
        (
            "objects:\n  - name: A\n    fields: [{name: N, type: string, required: true}]\n    records: [{N: ok}, {}]\n",
            "object `A`, record 2: REQUIRED_FIELD_MISSING: Required fields are missing: [N]",
        ),
        (
            "objects:\n  - name: A\n    records: [{Id: 001000000000001AAA}]\n",
            "object `A`, record 1: Id `001000000000001AAA` is not an id with key prefix a00",
        ),
        (
            "objects:\n  - name: E__e\n    records: [{}]\n",
            "platform events have no records",
        ),
        (
            "objects:\n  - name: A\n    validation_rules: [{name: r, when: \"X >\", message: m}]\n",
            "validation rule `r`",
        ),
        (
            "org: {id: 001000000000001}\n",
            "org.id `001000000000001` is not a 15- or 18-character 00D… id",
        ),
        ("org: {api_version: \"20.0\"}\n", "org.api_version `20.0`"),
        (
            "outbound:\n  - {name: o, object: Nope, endpoint: http://x}\n",
            "outbound `o`: object `Nope` is not defined",
        ),
        (
            "faults:\n  - {fault: gremlins}\n",
            "seed.yaml:2:13: faults[0].fault: unknown variant `gremlins`",
        ),
        (
            "objects:\n  - name: A\n    fieldz: []\n",
            "seed.yaml:3:5: objects[0]: unknown field `fieldz`",
        ),
    ];
    for (yaml, needle) in cases {
        let message = refused(yaml).await;
        assert!(
            message.contains(needle),
            "{yaml}\n→ {message}\n(expected to contain {needle})"
        );
    }
}
