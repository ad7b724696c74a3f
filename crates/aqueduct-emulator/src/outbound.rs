//! Outbound messaging: committed writes that meet an outbound message's
//! criteria queue a notification; a background driver posts them (up to 100
//! per SOAP message, grouped by action) to the configured listener and
//! retries with a doubling delay, capped at `retry_max_ms`, until the
//! listener answers 200 with `<Ack>true</Ack>` or `give_up_after_seconds`
//! of emulated time have passed. Like Salesforce, a retry carries the
//! record's latest data, and a deleted record is sent with its Id only.

use crate::clock::event_datetime;
use crate::dml::{Change, ChangeKind};
use crate::org::{Org, State};
use crate::schema::Schema;
use crate::seed::OutboundSeed;
use crate::soql::{self, Expr};
use crate::values::to_text;
use quick_xml::escape::escape;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One configured outbound message.
#[derive(Debug, Clone)]
pub struct Action {
    /// Name.
    pub name: String,
    /// `04k…` action id.
    pub id: String,
    /// The object.
    pub obj: usize,
    /// Fields sent (declared spelling, `Id` first).
    pub fields: Vec<String>,
    /// Listener URL.
    pub endpoint: String,
    /// Fires on create.
    pub on_create: bool,
    /// Fires on update.
    pub on_update: bool,
    /// Criteria.
    pub when: Option<Expr>,
    /// Include a session id.
    pub send_session_id: bool,
    /// Retry timing.
    pub retry_initial_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
    /// Give up after this many emulated seconds.
    pub give_up_after_seconds: i64,
    /// Per-attempt timeout.
    pub attempt_timeout_ms: u64,
}

/// One queued notification.
#[derive(Debug, Clone)]
pub struct Notification {
    /// `04l…`, the de-duplication id listeners use.
    pub id: String,
    /// Index of its action.
    pub action: usize,
    /// The record.
    pub record_id: String,
    /// Emulated ms when queued.
    pub queued_ms: i64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Acknowledged.
    pub acked: bool,
    /// Dropped after the retry window.
    pub given_up: bool,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    next_attempt: Instant,
}

/// The actions and their notifications.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    /// Configured outbound messages.
    pub actions: Vec<Action>,
    /// Every notification, delivered or not.
    pub queue: Vec<Notification>,
}

impl Outbound {
    /// Compiles the seed's `outbound:` list.
    pub fn build(schema: &Schema, seeds: &[OutboundSeed]) -> Result<Outbound, String> {
        let mut actions = Vec::new();
        for (i, s) in seeds.iter().enumerate() {
            let obj = schema.index(&s.object).ok_or_else(|| {
                format!(
                    "outbound `{}`: object `{}` is not defined",
                    s.name, s.object
                )
            })?;
            let def = &schema.objects[obj];
            let mut fields = vec!["Id".to_string()];
            for f in &s.fields {
                let fd = def.field(f).ok_or_else(|| {
                    format!("outbound `{}`: `{}` has no field `{f}`", s.name, def.name)
                })?;
                if !fields.contains(&fd.name) {
                    fields.push(fd.name.clone());
                }
            }
            let when = match &s.when {
                Some(w) => Some(
                    soql::parse_condition(w)
                        .map_err(|e| format!("outbound `{}`: when: {}", s.name, e.message))?,
                ),
                None => None,
            };
            let url_ok = s.endpoint.starts_with("http://") || s.endpoint.starts_with("https://");
            if !url_ok {
                return Err(format!(
                    "outbound `{}`: endpoint `{}` is not an http(s) URL",
                    s.name, s.endpoint
                ));
            }
            for on in &s.on {
                if on != "created" && on != "updated" {
                    return Err(format!(
                        "outbound `{}`: `on` takes created and updated, not `{on}`",
                        s.name
                    ));
                }
            }
            actions.push(Action {
                name: s.name.clone(),
                id: {
                    let id15 = format!("04k{:012}", i + 1);
                    format!("{id15}{}", crate::ids::suffix(&id15))
                },
                obj,
                fields,
                endpoint: s.endpoint.clone(),
                on_create: s.on.iter().any(|o| o == "created"),
                on_update: s.on.iter().any(|o| o == "updated"),
                when,
                send_session_id: s.send_session_id,
                retry_initial_ms: s.retry_initial_ms.max(1),
                retry_max_ms: s.retry_max_ms.max(1),
                give_up_after_seconds: s.give_up_after_seconds,
                attempt_timeout_ms: s.attempt_timeout_ms.max(1),
            });
        }
        Ok(Outbound {
            actions,
            queue: Vec::new(),
        })
    }

    /// The admin view of the queue.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.queue
                .iter()
                .map(|n| {
                    json!({
                        "id": n.id,
                        "action": self.actions.get(n.action).map(|a| a.name.clone()),
                        "record_id": n.record_id,
                        "attempts": n.attempts,
                        "acknowledged": n.acked,
                        "given_up": n.given_up,
                        "last_error": n.last_error,
                    })
                })
                .collect(),
        )
    }

    /// Queues an acknowledged notification again (a duplicate delivery, as
    /// Salesforce may make); false when there is none with this id.
    pub fn redeliver(&mut self, id: &str) -> bool {
        match self.queue.iter_mut().find(|n| n.id == id) {
            Some(n) => {
                n.acked = false;
                n.given_up = false;
                n.next_attempt = Instant::now();
                true
            }
            None => false,
        }
    }
}

/// Queues the notifications of committed changes.
pub fn enqueue(st: &mut State, changes: &[Change]) {
    if st.outbound.actions.is_empty() {
        return;
    }
    let schema = st.schema.clone();
    let now = st.clock.now_ms();
    let mut new = Vec::new();
    for c in changes {
        for (i, a) in st.outbound.actions.iter().enumerate() {
            let fires = a.obj == c.obj
                && ((c.kind == ChangeKind::Create && a.on_create)
                    || (c.kind == ChangeKind::Update && a.on_update));
            if !fires {
                continue;
            }
            if let Some(when) = &a.when {
                let Some(rec) = st.data.get(c.obj, &c.id) else {
                    continue;
                };
                if !soql::matches(&schema, &st.data, c.obj, when, rec, st.clock.today())
                    .unwrap_or(false)
                {
                    continue;
                }
            }
            new.push((i, c.id.clone()));
        }
    }
    for (action, record_id) in new {
        let id = st.ids.next("04l");
        st.outbound.queue.push(Notification {
            id,
            action,
            record_id,
            queued_ms: now,
            attempts: 0,
            acked: false,
            given_up: false,
            last_error: None,
            next_attempt: Instant::now(),
        });
    }
}

/// One SOAP message to send: which notifications, where, what.
struct Delivery {
    ids: Vec<String>,
    endpoint: String,
    body: String,
    timeout: Duration,
}

/// Runs until aborted: posts due notifications and records the outcomes.
pub async fn run(org: Arc<Org>) {
    let client = reqwest::Client::builder().build();
    let Ok(client) = client else {
        tracing::error!(
            "The outbound-message driver cannot build its HTTP client; outbound messages will not be delivered."
        );
        return;
    };
    loop {
        let (deliveries, next) = {
            let mut st = org.lock();
            due(&mut st)
        };
        if deliveries.is_empty() {
            // Sleep until the next retry is due or a commit queues more.
            let wait = next
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(3600));
            let _ = tokio::time::timeout(wait, org.outbound.notified()).await;
            continue;
        }
        for d in deliveries {
            let outcome = post(&client, &d).await;
            let mut st = org.lock();
            record(&mut st, &d.ids, outcome);
        }
    }
}

async fn post(client: &reqwest::Client, d: &Delivery) -> Result<(), String> {
    let response = client
        .post(&d.endpoint)
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"\"")
        .timeout(d.timeout)
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| format!("delivery failed: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    if status != 200 {
        return Err(format!("the listener answered HTTP {status}"));
    }
    if acked(&text) {
        Ok(())
    } else {
        Err("the answer has no <Ack>true</Ack>".to_string())
    }
}

/// Whether a listener's answer acknowledges the notifications.
pub fn acked(xml: &str) -> bool {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut in_ack = false;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e)) => in_ack = e.local_name().into_inner() == "Ack",
            Ok(quick_xml::events::Event::Text(t)) if in_ack => {
                let text = t.into_inner().trim().to_string();
                if text == "true" {
                    return true;
                }
            }
            Ok(quick_xml::events::Event::End(_)) => in_ack = false,
            Ok(quick_xml::events::Event::Eof) | Err(_) => return false,
            _ => {}
        }
    }
}

fn record(st: &mut State, ids: &[String], outcome: Result<(), String>) {
    let now = st.clock.now_ms();
    let actions = st.outbound.actions.clone();
    for n in st.outbound.queue.iter_mut().filter(|n| ids.contains(&n.id)) {
        n.attempts += 1;
        match &outcome {
            Ok(()) => {
                n.acked = true;
                n.last_error = None;
            }
            Err(e) => {
                let Some(a) = actions.get(n.action) else {
                    continue;
                };
                n.last_error = Some(e.clone());
                if now - n.queued_ms >= a.give_up_after_seconds * 1000 {
                    n.given_up = true;
                    tracing::warn!(notification = %n.id, attempts = n.attempts, "Outbound notification dropped after the retry window.");
                    continue;
                }
                let factor = 1u64 << (n.attempts - 1).min(30);
                let delay = a
                    .retry_initial_ms
                    .saturating_mul(factor)
                    .min(a.retry_max_ms);
                n.next_attempt = Instant::now() + Duration::from_millis(delay);
            }
        }
    }
}

/// Due deliveries (≤100 notifications each) and when the next one is due.
fn due(st: &mut State) -> (Vec<Delivery>, Option<Instant>) {
    let now = Instant::now();
    let mut next: Option<Instant> = None;
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, n) in st.outbound.queue.iter().enumerate() {
        if n.acked || n.given_up {
            continue;
        }
        if n.next_attempt > now {
            next = Some(next.map_or(n.next_attempt, |t| t.min(n.next_attempt)));
            continue;
        }
        match groups
            .iter_mut()
            .find(|(a, list)| *a == n.action && list.len() < 100)
        {
            Some((_, list)) => list.push(i),
            None => groups.push((n.action, vec![i])),
        }
    }
    let mut deliveries = Vec::new();
    for (action, members) in groups {
        let ids: Vec<String> = members
            .iter()
            .map(|&i| st.outbound.queue[i].id.clone())
            .collect();
        let records: Vec<(String, String)> = members
            .iter()
            .map(|&i| {
                (
                    st.outbound.queue[i].id.clone(),
                    st.outbound.queue[i].record_id.clone(),
                )
            })
            .collect();
        let Some(a) = st.outbound.actions.get(action).cloned() else {
            continue;
        };
        let body = envelope(st, &a, &records);
        deliveries.push(Delivery {
            ids,
            endpoint: a.endpoint.clone(),
            body,
            timeout: Duration::from_millis(a.attempt_timeout_ms),
        });
    }
    (deliveries, next)
}

/// The SOAP 1.1 notifications message.
fn envelope(st: &mut State, a: &Action, records: &[(String, String)]) -> String {
    let schema = st.schema.clone();
    let def = &schema.objects[a.obj];
    let session = if a.send_session_id {
        let client = st.clients.first().cloned();
        client.map(|c| crate::oauth::mint(st, &c.user_id, None))
    } else {
        None
    };
    let org15 = st.org_id15().to_string();
    let version = format!("{:.1}", st.settings.max_version);
    let mut out = String::new();
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str(r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#);
    out.push_str(
        r#"<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">"#,
    );
    out.push_str(&format!("<OrganizationId>{}</OrganizationId>", st.org_id));
    out.push_str(&format!("<ActionId>{}</ActionId>", a.id));
    match session {
        Some(s) => out.push_str(&format!("<SessionId>{}</SessionId>", escape(&s))),
        None => out.push_str(r#"<SessionId xsi:nil="true"/>"#),
    }
    out.push_str(&format!(
        "<EnterpriseUrl>{}/services/Soap/c/{version}/{org15}</EnterpriseUrl>",
        escape(&st.instance_url)
    ));
    out.push_str(&format!(
        "<PartnerUrl>{}/services/Soap/u/{version}/{org15}</PartnerUrl>",
        escape(&st.instance_url)
    ));
    for (notification_id, record_id) in records {
        out.push_str(&format!("<Notification><Id>{notification_id}</Id>"));
        out.push_str(&format!(
            r#"<sObject xsi:type="sf:{}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">"#,
            def.name
        ));
        let rec = st
            .data
            .get(a.obj, record_id)
            .filter(|r| !crate::store::is_deleted(r));
        for f in &a.fields {
            let value = match rec {
                Some(r) => r.get(f).cloned().unwrap_or(Value::Null),
                None if f == "Id" => json!(record_id),
                None => continue,
            };
            if value.is_null() {
                continue;
            }
            let text = match def.field(f).map(|x| x.ftype) {
                Some(crate::schema::FieldType::Datetime) => value
                    .as_str()
                    .and_then(crate::clock::parse_datetime)
                    .map(event_datetime)
                    .unwrap_or_default(),
                _ => to_text(&value),
            };
            out.push_str(&format!("<sf:{f}>{}</sf:{f}>", escape(&text)));
        }
        out.push_str("</sObject></Notification>");
    }
    out.push_str("</notifications></soapenv:Body></soapenv:Envelope>");
    out
}

#[cfg(test)]
mod tests {
    use super::acked;

    #[test]
    fn recognises_the_ack() {
        let ack = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
 <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>
</soapenv:Body></soapenv:Envelope>"#;
        assert!(acked(ack));
        assert!(!acked(&ack.replace("true", "false")));
        assert!(!acked("<html>ok</html>"));
        assert!(!acked("not xml <"));
    }
}
