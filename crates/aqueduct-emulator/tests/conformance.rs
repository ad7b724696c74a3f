//! The recorded-fixture conformance tests: every file in
//! `tests/conformance/` holds requests and the answers Salesforce's
//! documentation gives for them (status, headers, body shape), and is
//! replayed here against a fresh emulator. The fixtures are written from
//! the documentation (each names its source), not from the emulator's
//! output, so the emulator and a client tested against it cannot silently
//! agree on something Salesforce does not do.
//!
//! Outbound messaging goes the other way (the org posts SOAP to a
//! listener), so its fixture, `tests/conformance/outbound/`, is replayed
//! by `tests/outbound_conformance.rs` here and by the connector's
//! `tests/outbound_conformance.rs`, not by this file.
//!
//! Fixture format (YAML):
//!
//! ```yaml
//! source: where the expected answers come from
//! seed: |            # optional seed YAML (default: the built-in seed)
//!   ...
//! steps:
//!   - name: what the step shows
//!     request: {method: POST, path: /services/data/v62.0/..., json: {...}}
//!     # also: form: {...}, body: "raw text", content_type: text/csv,
//!     # headers: {...}, auth: false (no bearer token), cookies: false
//!     response: {status: 201, headers: {...}, json: <shape>, text: "..."}
//!     poll: true       # repeat until the answer matches (bounded), for async jobs
//!     capture: {name: path.to.value, other: "header:Sforce-Locator"}
//! ```
//!
//! Expected strings may be placeholders: `$any`, `$absent` (the key must be
//! missing), `$string`, `$number`, `$bool`, `$id` / `$id:001` (an
//! 18-character id, with that key prefix), `$datetime` (REST timestamp),
//! `$regex:<re>`. `${name}` is replaced by a captured value (`${token}` and
//! `${instance}` are always there). Objects may have more keys than the
//! fixture lists unless the step (or its response) says `exact: true`; arrays match element by
//! element, unless the expected array ends with `"$more"`.

mod common;

use common::{Client, Reply};
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_fixtures_match_the_documentation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 14,
        "expected the fixture files, found {files:?}"
    );
    let mut failures = Vec::new();
    for file in &files {
        if let Err(e) = run_fixture(file).await {
            failures.push(format!(
                "{}: {e}",
                file.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

async fn run_fixture(file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let fixture: Value = serde_yaml::from_str(&text).map_err(|e| format!("fixture YAML: {e}"))?;
    if fixture
        .get("source")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("every fixture names its documentation source".into());
    }
    let seed = match fixture.get("seed").and_then(Value::as_str) {
        Some(yaml) => {
            aqueduct_emulator::Seed::parse(yaml, "fixture seed").map_err(|e| e.to_string())?
        }
        None => aqueduct_emulator::Seed::builtin(),
    };
    let emulator = common::start(seed).await;
    let client = Client::new(emulator.instance_url());
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("instance".into(), emulator.instance_url().to_string());
    vars.insert("token".into(), common::token(&client).await);
    let steps = fixture
        .get("steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        let name = step
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        run_step(&client, step, &mut vars)
            .await
            .map_err(|e| format!("step {} ({name}): {e}", i + 1))?;
    }
    emulator.shutdown().await;
    Ok(())
}

fn subst(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    out
}

/// Captured numbers are kept as text with a `#` marker key, so `"${n}"`
/// standing alone becomes a number again.
fn subst_json(v: &Value, vars: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && vars.contains_key(&format!("#{name}"))
                && let Ok(n) = serde_json::from_str::<serde_json::Number>(&vars[name])
            {
                return Value::Number(n);
            }
            Value::String(subst(s, vars))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| subst_json(x, vars)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), subst_json(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

async fn send(client: &Client, req: &Value, vars: &HashMap<String, String>) -> Reply {
    let method = req.get("method").and_then(Value::as_str).unwrap_or("GET");
    let path = subst(req.get("path").and_then(Value::as_str).unwrap_or("/"), vars);
    let mut headers: Vec<(String, String)> = Vec::new();
    if req.get("auth").and_then(Value::as_bool).unwrap_or(true) {
        headers.push(common::auth(&vars["token"]));
    }
    if let Some(h) = req.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            headers.push((k.clone(), subst(&value_text(v), vars)));
        }
    }
    let body = if let Some(j) = req.get("json") {
        Some((
            "application/json".to_string(),
            serde_json::to_vec(&subst_json(j, vars)).unwrap_or_default(),
        ))
    } else if let Some(f) = req.get("form").and_then(Value::as_object) {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in f {
            s.append_pair(k, &subst(&value_text(v), vars));
        }
        Some((
            "application/x-www-form-urlencoded".to_string(),
            s.finish().into_bytes(),
        ))
    } else {
        req.get("body").and_then(Value::as_str).map(|b| {
            let ct = req
                .get("content_type")
                .and_then(Value::as_str)
                .unwrap_or("text/plain")
                .to_string();
            (ct, subst(b, vars).into_bytes())
        })
    };
    let with_cookies = req.get("cookies").and_then(Value::as_bool).unwrap_or(true);
    client
        .send(method, &path, &headers, body, with_cookies)
        .await
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn run_step(
    client: &Client,
    step: &Value,
    vars: &mut HashMap<String, String>,
) -> Result<(), String> {
    let req = step.get("request").ok_or("no request")?;
    let expected = step.get("response").ok_or("no response")?;
    let poll = step.get("poll").and_then(Value::as_bool).unwrap_or(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let reply = loop {
        let reply = send(client, req, vars).await;
        match check(&reply, expected, step, vars) {
            Ok(()) => break reply,
            Err(e) if !poll || Instant::now() >= deadline => {
                return Err(format!(
                    "{e}\n  answer: {} {}",
                    reply.status,
                    truncate(&reply.text)
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    if let Some(c) = step.get("capture").and_then(Value::as_object) {
        for (name, path) in c {
            let path = path.as_str().ok_or("capture paths are strings")?;
            let value = match path.strip_prefix("header:") {
                Some(h) => reply.header(h).ok_or(format!("no header {h} to capture"))?,
                None => {
                    let v = pointer(&reply.json(), path)
                        .ok_or(format!("nothing at `{path}` to capture"))?;
                    if v.is_number() {
                        vars.insert(format!("#{name}"), String::new());
                    }
                    value_text(&v)
                }
            };
            vars.insert(name.clone(), value);
        }
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    if s.len() > 1500 {
        format!("{}…", &s[..1500])
    } else {
        s.to_string()
    }
}

fn pointer(v: &Value, path: &str) -> Option<Value> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match part.parse::<usize>() {
            Ok(i) if cur.is_array() => cur.get(i)?,
            _ => cur.get(part)?,
        };
    }
    Some(cur.clone())
}

fn check(
    reply: &Reply,
    expected: &Value,
    step: &Value,
    vars: &HashMap<String, String>,
) -> Result<(), String> {
    if let Some(status) = expected.get("status").and_then(Value::as_u64)
        && reply.status as u64 != status
    {
        return Err(format!("status {} instead of {status}", reply.status));
    }
    if let Some(h) = expected.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            let want = subst_json(v, vars);
            let got = reply.header(k).map(Value::String).unwrap_or(Value::Null);
            if want == Value::String("$absent".into()) {
                if !got.is_null() {
                    return Err(format!("header {k} should be absent, is {got}"));
                }
                continue;
            }
            if got.is_null() {
                return Err(format!("header {k} missing"));
            }
            shape(&got, &want, &format!("header {k}"), false)?;
        }
    }
    let exact = step
        .get("exact")
        .or_else(|| expected.get("exact"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(j) = expected.get("json") {
        let got: Value =
            serde_json::from_str(&reply.text).map_err(|e| format!("the body is not JSON ({e})"))?;
        shape(&got, &subst_json(j, vars), "body", exact)?;
    }
    if let Some(t) = expected.get("text").and_then(Value::as_str) {
        let want = subst(t, vars);
        if reply.text != want {
            return Err(format!(
                "body text differs:\n  want {want:?}\n  got  {:?}",
                reply.text
            ));
        }
    }
    if let Some(list) = expected.get("contains").and_then(Value::as_array) {
        for c in list.iter().filter_map(Value::as_str) {
            let c = subst(c, vars);
            if !reply.text.contains(&c) {
                return Err(format!("body does not contain {c:?}"));
            }
        }
    }
    Ok(())
}

fn shape(got: &Value, want: &Value, at: &str, exact: bool) -> Result<(), String> {
    if let Value::String(w) = want
        && let Some(rest) = w.strip_prefix('$')
        && !rest.starts_with('{')
    {
        let (kind, arg) = rest.split_once(':').unwrap_or((rest, ""));
        let ok = match kind {
            "any" => true,
            "string" => got.is_string(),
            "number" => got.is_number(),
            "bool" => got.is_boolean(),
            "id" => got.as_str().is_some_and(|s| {
                s.len() == 18
                    && aqueduct_emulator::ids::normalize(s).as_deref() == Some(s)
                    && s.starts_with(arg)
            }),
            "datetime" => got.as_str().is_some_and(|s| {
                Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
                    .is_ok_and(|r| r.is_match(s))
            }),
            "regex" => got
                .as_str()
                .is_some_and(|s| Regex::new(arg).is_ok_and(|r| r.is_match(s))),
            _ => return Err(format!("{at}: unknown placeholder {w}")),
        };
        return if ok {
            Ok(())
        } else {
            Err(format!("{at}: {got} is not {w}"))
        };
    }
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                let here = format!("{at}.{k}");
                match g.get(k) {
                    None if wv == "$absent" => {}
                    None => {
                        return Err(format!(
                            "{here} missing (have: {:?})",
                            g.keys().collect::<Vec<_>>()
                        ));
                    }
                    Some(gv) if wv == "$absent" => {
                        return Err(format!("{here} should be absent, is {gv}"));
                    }
                    Some(gv) => shape(gv, wv, &here, exact)?,
                }
            }
            if exact && let Some(extra) = g.keys().find(|k| !w.contains_key(*k)) {
                return Err(format!("{at}.{extra} is not in the fixture (exact)"));
            }
            Ok(())
        }
        (Value::Array(g), Value::Array(w)) => {
            let open = w.last() == Some(&Value::String("$more".into()));
            let w: &[Value] = if open { &w[..w.len() - 1] } else { w };
            if (open && g.len() < w.len()) || (!open && g.len() != w.len()) {
                return Err(format!(
                    "{at}: {} elements instead of {}{}",
                    g.len(),
                    w.len(),
                    if open { " or more" } else { "" }
                ));
            }
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                shape(gv, wv, &format!("{at}[{i}]"), exact)?;
            }
            Ok(())
        }
        (Value::Number(g), Value::Number(w)) if g.as_f64() == w.as_f64() => Ok(()),
        _ if got == want => Ok(()),
        _ => Err(format!("{at}: {got} instead of {want}")),
    }
}
