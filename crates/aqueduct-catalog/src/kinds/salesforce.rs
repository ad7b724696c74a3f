//! `salesforce`: the Salesforce REST, Bulk 2.0 and streaming APIs.
//!
//! Authentication uses OAuth only (client credentials, JWT bearer or a
//! refresh token): SOAP `login()` and the username-password flow are being
//! retired. Targets write through sObject Collections (200 records a call),
//! or through Bulk API 2.0 ingest jobs in `batch` mode; `publish` may send
//! through the Pub/Sub API instead (`transport: pubsub`).

use super::common::{
    BOUNDED_SOURCE, EVENTS, arg, named, opt_secret, option, req_named, required, secret,
};
use crate::{
    ALL_MODES, BlockSpec, ConnectorSpec, Mode, OperationSpec, ParamSpec, RecordShape, Role,
    Support, ValueType,
};

/// `token_url`, defaulting to the org's own token endpoint.
const TOKEN_URL: crate::OptionSpec = option(
    "token_url",
    ValueType::Url,
    "Token endpoint (default: /services/oauth2/token on instance_url).",
);

/// `oauth2_client_credentials { … }`.
const CLIENT_CREDENTIALS: BlockSpec = BlockSpec {
    kind: "oauth2_client_credentials",
    summary: "OAuth 2.0 client credentials of a connected app (runs as its \"Run As\" user; needs the My Domain host).",
    options: &[
        TOKEN_URL,
        required("client_id", ValueType::String, "The consumer key."),
        secret("client_secret", ValueType::String, "The consumer secret."),
    ],
};

/// `jwt_bearer { … }`.
const JWT_BEARER: BlockSpec = BlockSpec {
    kind: "jwt_bearer",
    summary: "OAuth 2.0 JWT bearer: a token minted from an RS256-signed assertion for `username`.",
    options: &[
        TOKEN_URL,
        required(
            "client_id",
            ValueType::String,
            "The consumer key (the JWT issuer).",
        ),
        required(
            "username",
            ValueType::String,
            "The user the flow acts as (the JWT subject).",
        ),
        secret(
            "private_key",
            ValueType::String,
            "PEM RSA private key matching the app's certificate.",
        ),
        option(
            "audience",
            ValueType::Url,
            "JWT audience (default: https://login.salesforce.com; https://test.salesforce.com for sandboxes).",
        ),
    ],
};

/// `refresh_token { … }`.
const REFRESH_TOKEN: BlockSpec = BlockSpec {
    kind: "refresh_token",
    summary: "OAuth 2.0 refresh token obtained once interactively; exchanged for access tokens.",
    options: &[
        TOKEN_URL,
        required("client_id", ValueType::String, "The consumer key."),
        opt_secret(
            "client_secret",
            ValueType::String,
            "The consumer secret, if the app requires it.",
        ),
        secret("refresh_token", ValueType::String, "The refresh token."),
    ],
};

/// `object`: an sObject API name.
const OBJECT: ParamSpec = arg(
    "object",
    ValueType::String,
    "sObject API name, e.g. \"Account\" or \"Invoice__c\".",
);

/// `replay`: where a new subscription starts.
const REPLAY: ParamSpec = named(
    "replay",
    ValueType::Enum(&["latest", "earliest"]),
    "Where to start when no position is saved: latest (new events) or earliest (the 72 h retained) (default: latest).",
);

/// `transport`: how `changes` and `events` receive events.
const TRANSPORT: ParamSpec = named(
    "transport",
    ValueType::Enum(&["cometd", "pubsub"]),
    "How events arrive: cometd (the Streaming API) or pubsub (the Pub/Sub API over gRPC, Avro payloads; builds with the `pubsub` feature) (default: cometd).",
);

/// `transport`: how `publish` sends events.
const PUBLISH_TRANSPORT: ParamSpec = named(
    "transport",
    ValueType::Enum(&["rest", "pubsub"]),
    "How events are sent: rest (sObject Collections, 200 a call) or pubsub (the Pub/Sub API's Publish over gRPC, Avro payloads, 200 a request; builds with the `pubsub` feature) (default: rest).",
);

/// A target writing records to an sObject.
const fn write(
    name: &'static str,
    summary: &'static str,
    params: &'static [ParamSpec],
) -> OperationSpec {
    OperationSpec {
        name,
        role: Role::Target,
        summary,
        modes: ALL_MODES,
        bounded: false,
        request_reply: false,
        params,
        record: RecordShape::Declared,
    }
}

/// The `salesforce` kind.
pub(crate) const SPEC: ConnectorSpec = ConnectorSpec {
    kind: "salesforce",
    summary: "A Salesforce org: SOQL and bulk queries, change events, platform events, outbound messages, writes.",
    options: &[
        required(
            "instance_url",
            ValueType::Url,
            "The org's My Domain URL, e.g. https://acme.my.salesforce.com.",
        ),
        option(
            "api_version",
            ValueType::String,
            "API version to call, e.g. \"62.0\" (default: \"61.0\").",
        ),
        option(
            "pubsub_url",
            ValueType::Url,
            "Pub/Sub API endpoint for transport: pubsub (default: https://api.pubsub.salesforce.com:7443).",
        ),
        option(
            "pubsub_ca",
            ValueType::String,
            "PEM file of CA certificates trusted for an https:// pubsub_url besides the Mozilla roots, e.g. a TLS-inspecting proxy's or the emulator's test CA (a relative path starts at the project directory).",
        ),
        required(
            "auth",
            ValueType::Block(&[CLIENT_CREDENTIALS, JWT_BEARER, REFRESH_TOKEN]),
            "How the connector obtains access tokens.",
        ),
    ],
    inline_positional: &[],
    operations: &[
        OperationSpec {
            name: "query",
            role: Role::Source,
            summary: "Run a SOQL query once through the REST API, following every result page.",
            modes: BOUNDED_SOURCE,
            bounded: true,
            request_reply: false,
            params: &[arg("soql", ValueType::String, "The SOQL query.")],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "bulk_query",
            role: Role::Source,
            summary: "Run a SOQL query as a Bulk API 2.0 query job, for large extracts.",
            modes: &[Mode::Batch],
            bounded: true,
            request_reply: false,
            params: &[arg("soql", ValueType::String, "The SOQL query.")],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "changes",
            role: Role::Source,
            summary: "Change Data Capture: each created, updated or undeleted record, complete (read back if needed); deletes are skipped.",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[OBJECT, REPLAY, TRANSPORT],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "events",
            role: Role::Source,
            summary: "Platform events of one type as they are published.",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "name",
                    ValueType::String,
                    "Platform event API name, e.g. \"Low_Ink__e\".",
                ),
                REPLAY,
                TRANSPORT,
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "outbound_messages",
            role: Role::Source,
            summary: "Listen for workflow outbound messages (SOAP); each notified sObject is a record, acknowledged once taken in.",
            modes: EVENTS,
            bounded: false,
            request_reply: false,
            params: &[
                arg(
                    "path",
                    ValueType::String,
                    "Route Salesforce posts to, e.g. \"/salesforce/accounts\".",
                ),
                req_named(
                    "listen",
                    ValueType::String,
                    "Address and port to listen on, e.g. \"0.0.0.0:8443\".",
                ),
                named(
                    "organization_id",
                    ValueType::String,
                    "Reject notifications from any other org (default: accept any).",
                ),
            ],
            record: RecordShape::Declared,
        },
        write("insert", "Create a record per input record.", &[OBJECT]),
        write("update", "Update records by their Id field.", &[OBJECT]),
        write(
            "upsert",
            "Create or update records matched on an external id field.",
            &[
                OBJECT,
                arg(
                    "external_id",
                    ValueType::String,
                    "External id field API name, e.g. \"External_Id__c\".",
                ),
            ],
        ),
        write("delete", "Delete records by their Id field.", &[OBJECT]),
        write(
            "publish",
            "Publish each record as a platform event.",
            &[
                arg(
                    "event",
                    ValueType::String,
                    "Platform event API name, e.g. \"Order_Placed__e\".",
                ),
                PUBLISH_TRANSPORT,
            ],
        ),
        OperationSpec {
            name: "get",
            role: Role::Call,
            summary: "Read one record by id; answers null when it does not exist.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[
                OBJECT,
                arg(
                    "id",
                    ValueType::Template,
                    "The record id; may use record fields, e.g. \"{.AccountId}\".",
                ),
                named(
                    "fields",
                    ValueType::List(&ValueType::String),
                    "Fields to read (default: every field).",
                ),
            ],
            record: RecordShape::Declared,
        },
        OperationSpec {
            name: "query",
            role: Role::Call,
            summary: "Run a SOQL query per record; answers with the first record, or null when there is none.",
            modes: ALL_MODES,
            bounded: false,
            request_reply: false,
            params: &[arg(
                "soql",
                ValueType::Template,
                "The SOQL query; interpolated values are quoted and escaped as SOQL literals.",
            )],
            record: RecordShape::Declared,
        },
    ],
    support: Support::Feature("salesforce"),
};
