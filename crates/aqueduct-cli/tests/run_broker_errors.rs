//! Start-up failures of broker sources through `aqueduct run`: each names
//! the system and operation and says what is wrong, and none shows the
//! password of the URL (Redis refusing the credentials, a NATS durable on a
//! subject no stream captures, an MQTT broker that is not there).

mod support;

use support::Project;

#[test]
fn broker_start_up_failures_name_the_system_and_never_show_the_password() {
    let test = "broker_start_up_failures_name_the_system_and_never_show_the_password";
    let (Some(redis), Some(nats)) = (
        aqueduct_test_support::service_url("AQUEDUCT_TEST_REDIS_URL", test),
        aqueduct_test_support::service_url("AQUEDUCT_TEST_NATS_URL", test),
    ) else {
        return;
    };
    let with_password = |url: &str| url.replacen("://", "://aqueduct:s3cretpw@", 1);
    let subject = aqueduct_test_support::unique_name("nostream");
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            r#"
system cache: redis {{
  url = secret("REDIS_URL")
}}
system bus: nats {{
  url = secret("NATS_URL")
}}
system devices: mqtt {{
  url = secret("MQTT_URL")
}}

type Item {{ id: int }}

flow a {{
  mode async
  from cache.stream("k", "g") as Item
  to file("out").append("a.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}

flow b {{
  mode async
  from bus.subscribe("{subject}.>", durable: "d") as Item
  to file("out").append("b.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}

flow c {{
  mode async
  from devices.subscribe("x/#", 1) as Item
  to file("out").append("c.jsonl")
  dead_letter file("out").append("dead.jsonl")
}}
"#
        ),
    );
    let closed = support::free_port();
    let r = p.run_with_env(
        &[],
        &[
            ("REDIS_URL", &with_password(&redis)),
            ("NATS_URL", &with_password(&nats)),
            (
                "MQTT_URL",
                &format!("mqtt://aqueduct:s3cretpw@127.0.0.1:{closed}"),
            ),
        ],
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains("s3cretpw"),
        "a password leaked:\n{}",
        r.stderr
    );
    assert!(
        r.summary("a")
            .contains("`cache.stream`: cannot connect to the server"),
        "{}",
        r.stderr
    );
    assert!(
        r.summary("b").contains(&format!(
            "`bus.subscribe`: no JetStream stream captures subject `{subject}.>`"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.summary("c")
            .contains("`devices.subscribe`: the broker connection failed"),
        "{}",
        r.stderr
    );
}
