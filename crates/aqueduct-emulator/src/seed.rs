//! The seed file: the org's sObject definitions and records, the connected
//! app credentials it accepts, and the knobs of each emulated API. YAML (or
//! JSON, which is YAML). Every key has a default, so an empty file is a
//! valid (empty) org; [`Seed::builtin`] is the one `aqueduct emulate
//! salesforce` uses when no file is given. `docs/emulator.md` documents the
//! format key by key.

use crate::faults::FaultRule;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The seed shipped with the crate: a few Accounts and Contacts, a custom
/// object with an external id, and a platform event.
pub const BUILTIN: &str = include_str!("../seeds/default.yaml");

/// A whole seed file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Seed {
    /// The org itself.
    pub org: OrgSeed,
    /// Connected apps and users the token endpoint accepts.
    pub auth: AuthSeed,
    /// API allocations.
    pub limits: LimitsSeed,
    /// REST knobs.
    pub rest: RestSeed,
    /// Bulk API 2.0 knobs.
    pub bulk: BulkSeed,
    /// Streaming API knobs.
    pub streaming: StreamingSeed,
    /// Outbound messages (workflow actions) and where they are delivered.
    pub outbound: Vec<OutboundSeed>,
    /// Faults armed from the start.
    pub faults: Vec<FaultRule>,
    /// sObjects (and platform events, named `…__e`) with their records.
    pub objects: Vec<ObjectSeed>,
    /// The directory relative paths in the seed start from.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
    /// The file the seed was read from (named in errors).
    #[serde(skip)]
    pub path: Option<String>,
}

/// `org:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrgSeed {
    /// 15- or 18-character org id (`00D…`).
    pub id: String,
    /// The org's name.
    pub name: String,
    /// The `instance_url` handed out in tokens; default `http://<bound address>`.
    pub instance_url: Option<String>,
    /// The newest API version served (`62.0`); versions 31.0 up to it are listed.
    pub api_version: String,
    /// Start time of the emulated clock (RFC 3339); default: now.
    pub clock_start: Option<String>,
    /// When true, time stands still unless advanced through the admin API.
    pub clock_frozen: bool,
}

impl Default for OrgSeed {
    fn default() -> Self {
        OrgSeed {
            id: "00D000000000001".to_string(),
            name: "aqueduct emulator".to_string(),
            instance_url: None,
            api_version: "62.0".to_string(),
            clock_start: None,
            clock_frozen: false,
        }
    }
}

/// `auth:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSeed {
    /// Lifetime of access tokens (the org's session timeout), seconds.
    pub token_ttl_seconds: i64,
    /// Whether `grant_type=password` works (off, as in orgs created since Summer '23).
    pub allow_password_flow: bool,
    /// Extra JWT `aud` values accepted besides login/test.salesforce.com and the instance URL.
    pub audiences: Vec<String>,
    /// Connected apps (consumer key, secret, run-as user, certificate).
    pub clients: Vec<ClientSeed>,
    /// Users of the org (each becomes a `User` record).
    pub users: Vec<UserSeed>,
}

impl Default for AuthSeed {
    fn default() -> Self {
        AuthSeed {
            token_ttl_seconds: 7200,
            allow_password_flow: false,
            audiences: Vec::new(),
            clients: vec![ClientSeed::default()],
            users: Vec::new(),
        }
    }
}

/// One connected app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSeed {
    /// Consumer key (`client_id`, and the JWT `iss`).
    pub client_id: String,
    /// Consumer secret; `None` for a JWT-only app.
    pub client_secret: Option<String>,
    /// The user the app runs as (client credentials) and the JWT `sub` it accepts.
    pub username: String,
    /// X.509 certificate or public key (PEM text, or a path to a PEM file)
    /// that verifies JWT bearer assertions; JWT is refused without one.
    pub certificate: Option<String>,
    /// Refresh tokens already issued to this app (as an interactive flow would have).
    pub refresh_tokens: Vec<String>,
}

impl Default for ClientSeed {
    fn default() -> Self {
        ClientSeed {
            client_id: "aqueduct-emulator".to_string(),
            client_secret: Some("emulator-secret".to_string()),
            username: "integration@emulator.local".to_string(),
            certificate: None,
            refresh_tokens: Vec::new(),
        }
    }
}

/// One user.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct UserSeed {
    /// Login name.
    pub username: String,
    /// Full name.
    pub name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Password for the (legacy) password flow.
    pub password: Option<String>,
}

/// `limits:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSeed {
    /// `DailyApiRequests.Max`, over a rolling 24 hours of emulated time.
    pub daily_api_requests: u64,
    /// `DailyBulkV2QueryJobs.Max`.
    pub daily_bulk_v2_query_jobs: u64,
}

impl Default for LimitsSeed {
    fn default() -> Self {
        LimitsSeed {
            daily_api_requests: 15_000,
            daily_bulk_v2_query_jobs: 10_000,
        }
    }
}

/// `rest:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestSeed {
    /// Query page size when the client does not ask (`batchSize` is clamped to 200–2000).
    pub query_batch_size: usize,
    /// Lowest API version whose upsert-update answers 200 with a body (204 below it).
    pub upsert_200_from_version: f64,
}

impl Default for RestSeed {
    fn default() -> Self {
        RestSeed {
            query_batch_size: 2000,
            upsert_200_from_version: 46.0,
        }
    }
}

/// `bulk:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkSeed {
    /// How long a closed job stays `InProgress` before it is processed, milliseconds.
    pub processing_delay_ms: u64,
    /// Rows per query result page when the client gives no `maxRecords`.
    pub query_page_size: usize,
}

impl Default for BulkSeed {
    fn default() -> Self {
        BulkSeed {
            processing_delay_ms: 0,
            query_page_size: 50_000,
        }
    }
}

/// `streaming:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamingSeed {
    /// Retention of CDC and platform events, hours of emulated time.
    pub retention_hours: i64,
    /// How long `/meta/connect` is held when there is nothing to deliver, milliseconds (real time).
    pub connect_timeout_ms: u64,
    /// A session without a `/meta/connect` for this long is dropped, seconds of emulated time.
    pub session_timeout_seconds: i64,
    /// Refuse requests of an established session that lack its `BAYEUX_BROWSER` cookie.
    pub require_cookie: bool,
    /// Most events handed out by one `/meta/connect` answer.
    pub max_events_per_connect: usize,
}

impl Default for StreamingSeed {
    fn default() -> Self {
        StreamingSeed {
            retention_hours: 72,
            connect_timeout_ms: 110_000,
            session_timeout_seconds: 40,
            require_cookie: true,
            max_events_per_connect: 100,
        }
    }
}

/// One outbound message: which changes send a notification, with which fields, where.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundSeed {
    /// The action's name (shows in the admin API).
    pub name: String,
    /// The sObject whose changes trigger it.
    pub object: String,
    /// Fields sent in each notification (`Id` is always sent).
    #[serde(default)]
    pub fields: Vec<String>,
    /// The listener URL notifications are posted to.
    pub endpoint: String,
    /// Which writes trigger it: `created`, `updated` (default both).
    #[serde(default = "default_on")]
    pub on: Vec<String>,
    /// A SOQL condition the record must meet (the workflow rule's criteria).
    #[serde(default)]
    pub when: Option<String>,
    /// Put a session id (an access token of the run-as user) in notifications.
    #[serde(default)]
    pub send_session_id: bool,
    /// First retry delay, milliseconds (doubles on each failure).
    #[serde(default = "default_retry_initial")]
    pub retry_initial_ms: u64,
    /// Longest delay between retries, milliseconds (Salesforce: 2 hours).
    #[serde(default = "default_retry_max")]
    pub retry_max_ms: u64,
    /// A notification unacknowledged for this long is dropped, seconds of emulated time (Salesforce: 24 hours).
    #[serde(default = "default_give_up")]
    pub give_up_after_seconds: i64,
    /// Time allowed for one delivery attempt, milliseconds (Salesforce: 60 s).
    #[serde(default = "default_attempt_timeout")]
    pub attempt_timeout_ms: u64,
}

fn default_on() -> Vec<String> {
    vec!["created".to_string(), "updated".to_string()]
}
fn default_retry_initial() -> u64 {
    1000
}
fn default_retry_max() -> u64 {
    2 * 60 * 60 * 1000
}
fn default_give_up() -> i64 {
    24 * 60 * 60
}
fn default_attempt_timeout() -> u64 {
    60_000
}

/// One sObject (or platform event when the name ends in `__e`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectSeed {
    /// API name: `Account`, `Invoice__c`, `Low_Ink__e`.
    pub name: String,
    /// Label (default: the name).
    pub label: Option<String>,
    /// Plural label (default: label + "s").
    pub label_plural: Option<String>,
    /// 3-character key prefix (default: the standard one, or `a00`, `a01`… / `e00`…).
    pub key_prefix: Option<String>,
    /// Whether writes publish Change Data Capture events (default true; ignored for events).
    pub change_events: Option<bool>,
    /// Fields besides the system ones (Id, IsDeleted, CreatedDate, …).
    pub fields: Vec<FieldSeed>,
    /// Records, field name → value; `Id` may be given, relationships may be
    /// set by external id (`Account: {Ext__c: A-1}`).
    pub records: Vec<Map<String, Value>>,
    /// Generated records: `count` copies of `fields`, `{n}` replaced by 1…count.
    pub generate: Vec<GenerateSeed>,
    /// Validation rules: a write whose record meets `when` fails.
    pub validation_rules: Vec<ValidationSeed>,
}

/// One field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSeed {
    /// API name.
    pub name: String,
    /// `string`, `textarea`, `email`, `phone`, `url`, `picklist`, `boolean`,
    /// `int`, `double`, `currency`, `percent`, `date`, `datetime`, `reference`.
    #[serde(rename = "type")]
    pub field_type: String,
    /// Label (default: the name).
    #[serde(default)]
    pub label: Option<String>,
    /// Maximum length of text fields (default 255; 32768 for textarea).
    #[serde(default)]
    pub length: Option<u32>,
    /// Digits in total (numbers; default 18).
    #[serde(default)]
    pub precision: Option<u32>,
    /// Digits after the point (numbers; default 0 for int, 2 otherwise).
    #[serde(default)]
    pub scale: Option<u32>,
    /// A value is required on create (`nillable: false`).
    #[serde(default)]
    pub required: bool,
    /// An external id (upsert key, `idLookup`).
    #[serde(default)]
    pub external_id: bool,
    /// Values must be unique (case-insensitively).
    #[serde(default)]
    pub unique: bool,
    /// May be set on create (default true).
    #[serde(default = "yes")]
    pub createable: bool,
    /// May be set on update (default true).
    #[serde(default = "yes")]
    pub updateable: bool,
    /// Value given on create when none is (`defaultedOnCreate`).
    #[serde(default)]
    pub default: Option<Value>,
    /// Referenced sObjects (reference fields).
    #[serde(default)]
    pub reference_to: Vec<String>,
    /// Name of the parent relationship (`Account` for `AccountId`, `Parent__r` for `Parent__c`).
    #[serde(default)]
    pub relationship_name: Option<String>,
    /// Name of the child relationship on the parent (`Contacts`), for subqueries.
    #[serde(default)]
    pub child_relationship_name: Option<String>,
    /// Picklist values.
    #[serde(default)]
    pub values: Vec<String>,
}

fn yes() -> bool {
    true
}

/// `generate:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSeed {
    /// How many records.
    pub count: u64,
    /// Field values; `{n}` in strings becomes the record's number (1-based).
    #[serde(default)]
    pub fields: Map<String, Value>,
}

/// `validation_rules:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationSeed {
    /// The rule's name.
    pub name: String,
    /// SOQL condition over the record being saved; true means the save fails.
    pub when: String,
    /// Error message (`FIELD_CUSTOM_VALIDATION_EXCEPTION`).
    pub message: String,
    /// Field the error is shown on.
    #[serde(default)]
    pub field: Option<String>,
}

/// A seed that could not be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// YAML syntax or a key/type mistake, with its place in the file.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The seed parses but does not describe a consistent org.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, naming the object/field/record.
        message: String,
    },
}

impl SeedError {
    /// A line telling the user how to fix it.
    pub fn help(&self) -> &'static str {
        match self {
            SeedError::Read { .. } => "give the path of a readable YAML seed file with --seed",
            SeedError::Syntax { .. } | SeedError::Invalid { .. } => {
                "see docs/emulator.md (\"The seed file\") for every key; `aqueduct emulate salesforce` without --seed uses the built-in seed"
            }
        }
    }
}

impl Seed {
    /// The built-in seed.
    pub fn builtin() -> Seed {
        // The built-in seed is tested; should it ever fail, an empty org is
        // still a working emulator.
        Seed::parse(BUILTIN, "<built-in seed>").unwrap_or_default()
    }

    /// Parses seed text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Seed, SeedError> {
        if text.trim().is_empty() {
            return Ok(Seed::default());
        }
        serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            SeedError::Syntax {
                path: path.to_string(),
                line,
                column,
                message: e
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or("")
                    .to_string(),
            }
        })
    }

    /// Reads and parses a seed file; relative paths in it start from its directory.
    pub fn load(path: &Path) -> Result<Seed, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|e| SeedError::Read {
            path: path.display().to_string(),
            // Without Rust's ` (os error N)` suffix.
            message: e
                .to_string()
                .split(" (os error")
                .next()
                .unwrap_or_default()
                .to_string(),
        })?;
        let mut seed = Seed::parse(&text, &path.display().to_string())?;
        seed.base_dir = path.parent().map(Path::to_path_buf);
        seed.path = Some(path.display().to_string());
        Ok(seed)
    }

    /// Where errors about this seed point: its file, or `seed`.
    pub fn origin(&self) -> String {
        self.path.clone().unwrap_or_else(|| "seed".to_string())
    }

    /// Whether the seed could not be read at all (an I/O error, not a mistake in it).
    pub fn is_read_error(e: &SeedError) -> bool {
        matches!(e, SeedError::Read { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_seed_parses() {
        let seed = Seed::parse(BUILTIN, "default.yaml").expect("built-in seed parses");
        assert!(seed.objects.iter().any(|o| o.name == "Account"));
        assert!(seed.objects.iter().any(|o| o.name.ends_with("__e")));
    }

    #[test]
    fn unknown_keys_are_reported_with_their_place() {
        let err = Seed::parse("org:\n  nme: x\n", "s.yaml").expect_err("unknown key");
        let text = err.to_string();
        assert!(text.starts_with("s.yaml:2:3: "), "{text}");
        assert!(text.contains("unknown field `nme`"), "{text}");
    }

    #[test]
    fn an_empty_file_is_an_empty_org() {
        let seed = Seed::parse("\n", "s.yaml").expect("empty seed");
        assert!(seed.objects.is_empty());
        assert_eq!(seed.auth.clients.len(), 1);
    }
}
