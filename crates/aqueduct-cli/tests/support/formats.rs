//! The payload-format checks every message broker gets (`format: text` and
//! `bytes`, see docs/connectors.md#formats), written once: [`round_trip`]
//! relays payloads from a broker source into a file and on through a
//! broker target of the same format, and the independent client reads them
//! back byte for byte; [`undecodable_text`] sends a payload that is not
//! UTF-8 to a `text` source, which must dead-letter it once, raw in base64
//! with the reason, and acknowledge it. Each broker supplies its parts
//! through [`Broker`].

use super::{Project, Running, wait_until};
use base64::Engine;
use serde_json::{Value, json};
use std::time::Duration;

/// Bytes that are not UTF-8 (0xff, 0xfe never occur in it; 0x80 alone is
/// a stray continuation byte), with a NUL and a newline for good measure.
pub const BINARY: &[u8] = &[0x00, 0xff, 0xfe, b'\n', 0x80, b'a'];

/// How long the few messages may take to land: a guard against hangs.
const LIMIT: Duration = Duration::from_secs(30);

/// A message as the independent client read it: its bytes and, where the
/// protocol has one, its content type.
pub type Received = (Vec<u8>, Option<String>);

/// The broker-specific parts of the checks, each done with the broker's own
/// Rust client (not aqueduct).
pub trait Broker {
    /// The environment variable the system's `url` secret reads, and its value.
    fn secret(&self) -> (&'static str, String);
    /// The declaration of the system `broker` of a flow reading `input`.
    fn system(&self, input: &str) -> String;
    /// A new input and output (queue, subject, channel, topic) named after `prefix`.
    fn places(&self, prefix: &str) -> (String, String);
    /// The source operation reading `input` in `format`, e.g.
    /// `broker.consume("q", format: text)`.
    fn source(&self, input: &str, format: &str) -> String;
    /// The target operation writing to `output` in `format`.
    fn target(&self, output: &str, format: &str) -> String;
    /// Called before the flow starts: a broker that keeps nothing for a
    /// reader that is not there must start reading `output` now.
    fn listen(&self, _output: &str) {}
    /// Called once the flow started: returns when its source is ready to
    /// take what [`Broker::send`] publishes.
    fn started(&self, _running: &mut Running, _input: &str) {}
    /// Publishes `payloads` to `input`, in order, each confirmed by the broker.
    fn send(&self, input: &str, payloads: &[&[u8]]);
    /// The `n` messages that arrived on `output`, in order (fewer after a
    /// bounded wait).
    fn received(&self, output: &str, n: usize) -> Vec<Received>;
    /// While the flow runs: the broker holds nothing unacknowledged or
    /// undelivered of `input` (true for a source that acknowledges nothing).
    fn settled(&self, _input: &str) -> bool {
        true
    }
    /// After the flow stopped: how many messages of `input` the broker
    /// holds unacknowledged or would deliver again.
    fn unacknowledged(&self, _input: &str) -> usize {
        0
    }
    /// The content type the target gives a message in `format`, where the
    /// protocol carries one.
    fn content_type(&self, _format: &str) -> Option<String> {
        None
    }
    /// Removes what [`Broker::places`] made.
    fn delete(&self, _places: &[&str]) {}
}

/// The payloads [`round_trip`] sends in `format` and the records the file
/// must hold for them.
fn samples(format: &str) -> (Vec<&'static [u8]>, Vec<Value>) {
    let b64 = base64::engine::general_purpose::STANDARD;
    match format {
        "text" => (
            vec!["héllo wörld".as_bytes(), b"two\nlines {not json", b""],
            vec![
                json!({"text": "héllo wörld"}),
                json!({"text": "two\nlines {not json"}),
                json!({"text": ""}),
            ],
        ),
        "bytes" => (
            vec![BINARY, b"", b"{\"id\":1}"],
            vec![
                json!({"bytes": b64.encode(BINARY)}),
                json!({"bytes": ""}),
                json!({"bytes": b64.encode(b"{\"id\":1}")}),
            ],
        ),
        other => panic!("no samples for format {other}"),
    }
}

/// Payloads in `format` ("text" or "bytes") relayed by one flow from the
/// broker's source into a file (bytes in base64) and on through its target
/// in the same format: the file holds the records, the client reads the
/// payloads back byte for byte (with the format's content type where the
/// protocol has one), and the source acknowledged every message.
pub fn round_trip(broker: &impl Broker, format: &str) {
    let (payloads, records) = samples(format);
    let (input, output) = broker.places(&format!("aq_{format}"));
    broker.listen(&output);
    let ty = match format {
        "text" => "type Line { text: string }",
        _ => "type Line { bytes: bytes }",
    };
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            "{}\n{ty}\n\nflow relay {{\n  mode async\n  from {} as Line\n  to file(\"out\").append(\"relayed.jsonl\")\n  to {}\n}}\n",
            broker.system(&input),
            broker.source(&input, format),
            broker.target(&output, format),
        ),
    );
    let (var, url) = broker.secret();
    let mut running = p.spawn_with_env(&[], &[(var, &url)]);
    broker.started(&mut running, &input);
    broker.send(&input, &payloads);
    let n = payloads.len();
    let done = wait_until(LIMIT, || lines(&p, "out/relayed.jsonl") == n);
    assert!(done, "not all delivered; stderr:\n{}", running.stderr());
    // acks follow the commits of both targets
    let settled = wait_until(Duration::from_secs(10), || broker.settled(&input));
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "the source's messages are not all acknowledged");
    assert_eq!(
        broker.unacknowledged(&input),
        0,
        "messages unacknowledged after the stop; stderr:\n{}",
        r.stderr
    );
    assert_eq!(
        r.summary("relay"),
        format!(
            "relay: {n} in, {} delivered, 0 filtered, 0 failed, 0 dead-lettered",
            2 * n
        )
    );
    assert_eq!(p.jsonl("out/relayed.jsonl"), records);
    let content_type = broker.content_type(format);
    assert_eq!(
        broker.received(&output, n),
        payloads
            .iter()
            .map(|b| (b.to_vec(), content_type.clone()))
            .collect::<Vec<_>>()
    );
    broker.delete(&[&input, &output]);
}

/// A payload that is not UTF-8 between two good ones on a `text` source:
/// dead-lettered once with its bytes in base64 under `raw_base64` and the
/// reason, acknowledged (nothing unacknowledged after the stop), and the
/// good ones delivered around it.
pub fn undecodable_text(broker: &impl Broker) {
    let (input, output) = broker.places("aq_text_bad");
    let p = Project::new();
    p.file(
        "main.aq",
        format!(
            "{}\ntype Line {{ text: string }}\n\nflow lines {{\n  mode async\n  from {} as Line\n  to file(\"out\").append(\"lines.jsonl\")\n  dead_letter file(\"out\").append(\"dead.jsonl\")\n}}\n",
            broker.system(&input),
            broker.source(&input, "text"),
        ),
    );
    let (var, url) = broker.secret();
    let mut running = p.spawn_with_env(&[], &[(var, &url)]);
    broker.started(&mut running, &input);
    broker.send(&input, &[b"before", BINARY, b"after"]);
    let done = wait_until(LIMIT, || {
        lines(&p, "out/lines.jsonl") == 2 && lines(&p, "out/dead.jsonl") == 1
    });
    assert!(done, "not all delivered; stderr:\n{}", running.stderr());
    let settled = wait_until(Duration::from_secs(10), || broker.settled(&input));
    let r = running.terminate(Duration::from_secs(20));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(settled, "the source's messages are not all acknowledged");
    // the bad payload was acknowledged once the dead letter took it
    assert_eq!(
        broker.unacknowledged(&input),
        0,
        "messages unacknowledged after the stop; stderr:\n{}",
        r.stderr
    );
    only_the_bad_line_dead(&p, &r, "the payload is not UTF-8 text");
    broker.delete(&[&input, &output]);
}

/// Flow `lines` of `p` read `before`, [`BINARY`] and `after` as text: the
/// two good lines are in `out/lines.jsonl`, the bad one alone is in
/// `out/dead.jsonl`, raw in base64 with `error`, from the source step.
pub fn only_the_bad_line_dead(p: &Project, r: &super::Outcome, error: &str) {
    assert_eq!(
        r.summary("lines"),
        "lines: 3 in, 2 delivered, 0 filtered, 1 failed, 1 dead-lettered"
    );
    assert_eq!(
        p.jsonl("out/lines.jsonl"),
        vec![json!({"text": "before"}), json!({"text": "after"})]
    );
    let dead = p.jsonl("out/dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:#?}");
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        dead[0]["raw_base64"],
        json!(b64.encode(BINARY)),
        "{dead:#?}"
    );
    assert_eq!(dead[0]["error"], json!(error), "{dead:#?}");
    assert_eq!(dead[0]["flow"], json!("lines"));
    assert_eq!(dead[0]["step"], json!("source"));
}

/// Lines of `rel` in the project (0 before the file exists).
fn lines(p: &Project, rel: &str) -> usize {
    p.read(rel).lines().count()
}
