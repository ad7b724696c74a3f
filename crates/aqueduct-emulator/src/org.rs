//! The emulated org: all mutable state behind one lock ([`State`]), and the
//! shared handle the HTTP handlers and background tasks hold ([`Org`]).
//! Requests are short and in memory, so one mutex keeps every API area
//! consistent (a write, its change event and its outbound notification are
//! one step) without lock ordering to think about. Waiting (CometD long
//! polls, Bulk processing delays, outbound retries) happens outside it.

use crate::bulk::Jobs;
use crate::clock::{Clock, parse_datetime};
use crate::cometd::Sessions;
use crate::dml::{self, Change, WriteCtx};
use crate::events::Bus;
use crate::faults::Faults;
use crate::ids::{self, IdGen};
use crate::jwt::VerifyKey;
use crate::limits::Limits;
use crate::oauth::Tokens;
use crate::outbound::Outbound;
use crate::query::Cursors;
use crate::schema::Schema;
use crate::seed::{Seed, SeedError, StreamingSeed};
use crate::store::{Data, Savepoint};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// A connected app the token endpoint accepts.
#[derive(Debug, Clone)]
pub struct Client {
    /// Consumer key.
    pub client_id: String,
    /// Consumer secret.
    pub secret: Option<String>,
    /// Run-as user id.
    pub user_id: String,
    /// Run-as username.
    pub username: String,
    /// Verifies JWT assertions.
    pub key: Option<VerifyKey>,
}

/// A user of the org.
#[derive(Debug, Clone)]
pub struct User {
    /// `005…`
    pub id: String,
    /// Login name.
    pub username: String,
    /// Password (password flow).
    pub password: Option<String>,
}

/// Knobs read from the seed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Newest API version served, as a number.
    pub max_version: f64,
    /// Default query page size.
    pub query_batch_size: usize,
    /// Lowest version where upsert-update answers 200 with a body.
    pub upsert_200_from: f64,
    /// Bulk processing delay, ms.
    pub bulk_delay_ms: u64,
    /// Bulk query page size.
    pub bulk_page_size: usize,
    /// Streaming knobs.
    pub streaming: StreamingSeed,
    /// Access token lifetime without use, ms.
    pub token_ttl_ms: i64,
    /// Password flow allowed.
    pub allow_password_flow: bool,
    /// Extra JWT audiences.
    pub audiences: Vec<String>,
}

/// Everything that changes, behind the org's lock.
#[derive(Debug)]
pub struct State {
    /// Knobs.
    pub settings: Settings,
    /// 18-character org id.
    pub org_id: String,
    /// The org's base URL (`http://127.0.0.1:PORT`).
    pub instance_url: String,
    /// Metadata.
    pub schema: Arc<Schema>,
    /// Records.
    pub data: Data,
    /// Id generators.
    pub ids: IdGen,
    /// The emulated clock.
    pub clock: Clock,
    /// Connected apps.
    pub clients: Vec<Client>,
    /// Users.
    pub users: Vec<User>,
    /// Issued tokens.
    pub tokens: Tokens,
    /// API allocations.
    pub limits: Limits,
    /// Armed faults.
    pub faults: Faults,
    /// Open query cursors.
    pub cursors: Cursors,
    /// Bulk API 2.0 jobs.
    pub jobs: Jobs,
    /// Retained streaming events.
    pub bus: Bus,
    /// CometD sessions.
    pub sessions: Sessions,
    /// Outbound messages and their notifications.
    pub outbound: Outbound,
    /// Writes since the last commit.
    pub pending: Vec<Change>,
}

/// A savepoint over records and pending changes.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    data: Savepoint,
    pending: usize,
}

impl State {
    /// Builds an org from a seed (records loaded, nothing published).
    pub fn from_seed(seed: &Seed) -> Result<State, SeedError> {
        let invalid = |message: String| SeedError::Invalid {
            path: seed.origin(),
            message,
        };
        let schema = Arc::new(Schema::build(seed).map_err(invalid)?);
        let org_id = ids::normalize(&seed.org.id)
            .filter(|i| i.starts_with("00D"))
            .ok_or_else(|| {
                invalid(format!(
                    "org.id `{}` is not a 15- or 18-character 00D… id",
                    seed.org.id
                ))
            })?;
        let max_version: f64 = seed
            .org
            .api_version
            .parse()
            .ok()
            .filter(|v| *v >= 31.0)
            .ok_or_else(|| {
                invalid(format!(
                    "org.api_version `{}` is not a version such as 62.0 (31.0 or later)",
                    seed.org.api_version
                ))
            })?;
        let start = match &seed.org.clock_start {
            Some(t) => Some(parse_datetime(t).ok_or_else(|| {
                invalid(format!(
                    "org.clock_start `{t}` is not an RFC 3339 timestamp"
                ))
            })?),
            None => None,
        };
        let settings = Settings {
            max_version,
            query_batch_size: seed.rest.query_batch_size.clamp(200, 2000),
            upsert_200_from: seed.rest.upsert_200_from_version,
            bulk_delay_ms: seed.bulk.processing_delay_ms,
            bulk_page_size: seed.bulk.query_page_size.max(1),
            streaming: seed.streaming.clone(),
            token_ttl_ms: seed.auth.token_ttl_seconds.max(1) * 1000,
            allow_password_flow: seed.auth.allow_password_flow,
            audiences: seed.auth.audiences.clone(),
        };
        let mut st = State {
            data: Data::new(&schema),
            schema: schema.clone(),
            settings,
            org_id,
            instance_url: String::new(),
            ids: IdGen::default(),
            clock: Clock::new(start, seed.org.clock_frozen),
            clients: Vec::new(),
            users: Vec::new(),
            tokens: Tokens::default(),
            limits: Limits::new(
                seed.limits.daily_api_requests,
                seed.limits.daily_bulk_v2_query_jobs,
            ),
            faults: Faults::default(),
            cursors: Cursors::default(),
            jobs: Jobs::default(),
            bus: Bus::new(seed.streaming.retention_hours),
            sessions: Sessions::default(),
            outbound: Outbound::default(),
            pending: Vec::new(),
        };
        st.load_users(seed).map_err(invalid)?;
        st.load_records(seed).map_err(invalid)?;
        st.outbound = Outbound::build(&schema, &seed.outbound).map_err(invalid)?;
        for rule in &seed.faults {
            st.faults.add(rule.clone());
        }
        // The seed is the org's starting state, not a change to stream.
        st.pending.clear();
        st.data.commit();
        Ok(st)
    }

    fn load_users(&mut self, seed: &Seed) -> Result<(), String> {
        let mut users = seed.auth.users.clone();
        for c in &seed.auth.clients {
            if !users
                .iter()
                .any(|u| u.username.eq_ignore_ascii_case(&c.username))
            {
                users.push(crate::seed::UserSeed {
                    username: c.username.clone(),
                    ..Default::default()
                });
            }
        }
        let user_obj = self
            .schema
            .index("User")
            .ok_or("the seed has no User object")?;
        let prefix = self.schema.objects[user_obj].key_prefix.clone();
        let ids: Vec<String> = users.iter().map(|_| self.ids.next(&prefix)).collect();
        let first = ids.first().cloned().unwrap_or_default();
        let ctx = WriteCtx {
            user_id: first,
            ..Default::default()
        };
        for (u, id) in users.iter().zip(&ids) {
            let mut input = Map::new();
            input.insert("Username".into(), json!(u.username));
            input.insert(
                "Name".into(),
                json!(u.name.clone().unwrap_or_else(|| u.username.clone())),
            );
            if let Some(e) = &u.email {
                input.insert("Email".into(), json!(e));
            }
            dml::insert(self, user_obj, &input, &ctx, Some(id.clone()))
                .map_err(|e| format!("user `{}`: {e}", u.username))?;
            self.users.push(User {
                id: id.clone(),
                username: u.username.clone(),
                password: u.password.clone(),
            });
        }
        for c in &seed.auth.clients {
            let user = self
                .users
                .iter()
                .find(|u| u.username.eq_ignore_ascii_case(&c.username))
                .cloned()
                .ok_or("client user missing")?;
            let key = match &c.certificate {
                None => None,
                Some(text) => Some(
                    load_key(text, seed)
                        .map_err(|e| format!("client `{}`: certificate: {e}", c.client_id))?,
                ),
            };
            self.clients.push(Client {
                client_id: c.client_id.clone(),
                secret: c.client_secret.clone(),
                user_id: user.id.clone(),
                username: user.username.clone(),
                key,
            });
            for rt in &c.refresh_tokens {
                self.tokens.add_refresh(rt, &c.client_id, &user.id);
            }
        }
        Ok(())
    }

    fn load_records(&mut self, seed: &Seed) -> Result<(), String> {
        let ctx = WriteCtx {
            user_id: self.default_user(),
            ..Default::default()
        };
        for o in &seed.objects {
            let Some(obj) = self.schema.index(&o.name) else {
                continue;
            };
            if self.schema.objects[obj].is_event
                && (!o.records.is_empty() || !o.generate.is_empty())
            {
                return Err(format!(
                    "object `{}`: platform events have no records; publish them at run time",
                    o.name
                ));
            }
            let mut records: Vec<Map<String, Value>> = o.records.clone();
            for g in &o.generate {
                for n in 1..=g.count {
                    records.push(
                        g.fields
                            .iter()
                            .map(|(k, v)| (k.clone(), substitute(v, n)))
                            .collect(),
                    );
                }
            }
            for (i, r) in records.iter().enumerate() {
                let mut input = r.clone();
                let explicit = match input.remove("Id") {
                    Some(Value::String(id)) => {
                        let def = &self.schema.objects[obj];
                        let id = dml::id_of(def, &id).ok_or_else(|| {
                            format!(
                                "object `{}`, record {}: Id `{id}` is not an id with key prefix {}",
                                o.name,
                                i + 1,
                                def.key_prefix
                            )
                        })?;
                        self.ids.reserve(&id);
                        Some(id)
                    }
                    Some(other) => {
                        return Err(format!(
                            "object `{}`, record {}: Id {other} is not a string",
                            o.name,
                            i + 1
                        ));
                    }
                    None => None,
                };
                dml::insert(self, obj, &input, &ctx, explicit)
                    .map_err(|e| format!("object `{}`, record {}: {e}", o.name, i + 1))?;
            }
        }
        Ok(())
    }

    /// The id of the org's first user (the default run-as user).
    pub fn default_user(&self) -> String {
        self.users.first().map(|u| u.id.clone()).unwrap_or_default()
    }

    /// A savepoint for `allOrNone`.
    pub fn mark(&self) -> Mark {
        Mark {
            data: self.data.savepoint(),
            pending: self.pending.len(),
        }
    }

    /// Undoes every write since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        self.data.rollback(mark.data);
        self.pending.truncate(mark.pending);
    }

    /// Makes the writes final and publishes their events and notifications.
    pub fn commit(&mut self) {
        self.data.commit();
        let changes = std::mem::take(&mut self.pending);
        if changes.is_empty() {
            return;
        }
        crate::events::publish_changes(self, &changes);
        crate::outbound::enqueue(self, &changes);
    }

    /// The 15-character org id (token prefix).
    pub fn org_id15(&self) -> &str {
        &self.org_id[..15]
    }
}

fn load_key(text: &str, seed: &Seed) -> Result<VerifyKey, String> {
    if text.contains("-----BEGIN") {
        return VerifyKey::from_pem(text);
    }
    let path = match &seed.base_dir {
        Some(dir) => dir.join(text),
        None => std::path::PathBuf::from(text),
    };
    let pem = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    VerifyKey::from_pem(&pem)
}

fn substitute(v: &Value, n: u64) -> Value {
    match v {
        Value::String(s) if s.contains("{n}") => {
            let text = s.replace("{n}", &n.to_string());
            if s == "{n}" {
                json!(n)
            } else {
                Value::String(text)
            }
        }
        other => other.clone(),
    }
}

/// The shared org handle.
#[derive(Debug)]
pub struct Org {
    state: Mutex<State>,
    /// Wakes CometD long polls (new events, dropped sessions).
    pub events: Notify,
    /// Wakes the Bulk processor.
    pub bulk: Notify,
    /// Wakes the outbound-message driver.
    pub outbound: Notify,
}

impl Org {
    /// Wraps a state.
    pub fn new(state: State) -> Arc<Org> {
        Arc::new(Org {
            state: Mutex::new(state),
            events: Notify::new(),
            bulk: Notify::new(),
            outbound: Notify::new(),
        })
    }

    /// Locks the state. A panic while it was held (a bug) must not take the
    /// whole emulator down, so a poisoned lock is taken over.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes every background waiter after a request (cheap when idle).
    pub fn wake(&self) {
        self.events.notify_waiters();
        self.bulk.notify_one();
        self.outbound.notify_one();
    }
}
