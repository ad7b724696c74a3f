//! Generated projects for the check benchmark.
//!
//! A project is a run of modules, each one file in the `files` layout. The
//! modules cycle through four kinds written after the examples in
//! `examples/` (batch orders, a sync card payment, device readings through a
//! channel, CRM replication with callbacks), so a project uses what real
//! ones use: doc comments and comments, option blocks, `env()` and
//! `secret()`, every timing mode, `where`/`let`/`map` with spreads,
//! `if`/`else if`, `??` and string interpolation, `enrich`, `route`,
//! `dedupe`, `batch`, channels, policies, and tests with stubs. Names get
//! the module's number, and numbers and texts vary with it, so no two
//! modules are the same text.

use aqueduct_diagnostics::SourceMap;

/// Module `i`: one of the four kinds, ~70–100 lines.
pub fn module(i: usize) -> String {
    match i % 4 {
        0 => orders(i),
        1 => payments(i),
        2 => devices(i),
        _ => replication(i),
    }
}

/// A threshold that differs from module to module.
fn limit(i: usize, base: usize) -> usize {
    base + (i * 37) % 900
}

fn orders(i: usize) -> String {
    let big = limit(i, 100);
    let gold = limit(i, 1_000);
    let (amount, total) = (gold * 10, gold * 12);
    format!(
        r#"/// Orders of region {i}, as the shop exports them every night.
type Order{i} {{
  id: string
  customer: string
  amount: decimal
  currency: string
  note: string?
  created: timestamp
}}

/// One invoice per order.
type Invoice{i} {{
  order_id: string
  total: decimal
  tier: string
  label: string
}}

system inbox{i}: file {{ root = "in/{i}" }}
system out{i}: file {{ root = "out/{i}" }}
system db{i}: sqlite {{ path = "db{i}.sqlite" }}

/// Invoices on their way to storage.
channel invoices{i}: Invoice{i}

/// Bills last night's orders of region {i}.
flow bill{i} {{
  mode batch schedule "0 2 * * *" chunk 500
  from inbox{i}.read("orders.csv", format: csv) as Order{i}
  where .amount > 0 and .currency in ["EUR", "USD"]
  let doubled = .amount * 2
  map Invoice{i} {{
    order_id = .id
    total = round(.amount * 1.2, 2)
    tier = if .amount > {gold} {{ "gold" }} else {{ "standard" }}
    label = "order {{.id}} for {{upper(trim(.customer))}}"
  }}
  to invoices{i}
  retry 3 backoff exponential(1s, 1m)
  dead_letter out{i}.append("dead.jsonl")
}}

// Big invoices go to the database, the others to a file.
flow store{i} {{
  mode async
  from invoices{i}
  route {{
    when .total > {big} => to db{i}.upsert("big_invoices", key: [order_id])
    else => to out{i}.append("invoices.jsonl")
  }}
  dead_letter out{i}.append("dead_store.jsonl")
}}

test bill_gold_{i} for bill{i} {{
  given Order{i} {{ id = "{i}", customer = " acme ", amount = {amount}, currency = "EUR", created = "2026-01-01T00:00:00Z" }}
  expect Invoice{i} {{ order_id = "{i}", total = {total}, tier = "gold", label = "order {i} for ACME" }}
}}

test bill_skips_other_currencies_{i} for bill{i} {{
  given Order{i} {{ id = "x{i}", customer = "b", amount = 5, currency = "JPY", created = "2026-01-01T00:00:00Z" }}
  expect nothing
}}
"#
    )
}

fn payments(i: usize) -> String {
    let port = 30_000 + i % 20_000;
    format!(
        r#"/// The checkout of shop {i} calls this endpoint with its API key.
system checkout{i}: endpoint {{
  listen = env("PAYMENTS_LISTEN_{i}", "127.0.0.1:{port}")
  auth = api_key {{
    header = "X-Api-Key"
    value = secret("PAYMENTS_API_KEY_{i}")
  }}
  max_body = 16KiB
}}

/// The payment service provider's REST API.
system psp{i}: http {{
  base_url = env("PSP_BASE_URL", "http://127.0.0.1:9090")
  auth = bearer {{
    token = secret("PSP_SECRET_KEY")
  }}
  timeout = 4s
}}

/// What the checkout sends: a card token, never a card number.
type PaymentRequest{i} {{
  order_id: string
  amount: decimal
  currency: string
  card_token: string
  email: string?
}}

/// The body of `POST /v1/charges`.
type ChargeRequest{i} {{
  amount: decimal
  currency: string
  source: string
  reference: string
  receipt_email: string?
}}

/// The provider's answer.
type ChargeResult{i} {{
  id: string
  /// "succeeded", "requires_action" or "declined".
  status: string
  decline_code: string?
  next_action_url: string?
}}

/// What the checkout gets back.
type PaymentResult{i} {{
  order_id: string
  status: string
  charge_id: string
  message: string
  redirect_url: string?
}}

/// Charges a card while the checkout waits.
flow card_payment{i} {{
  mode sync
  from checkout{i}.post("/payments") as PaymentRequest{i}
  where .amount > 0 and len(.card_token) > 0
  let order_id = .order_id
  map ChargeRequest{i} {{
    amount = .amount
    currency = upper(.currency)
    source = .card_token
    reference = .order_id
    receipt_email = .email
  }}
  enrich charge = psp{i}.post("/v1/charges") as ChargeResult{i}
  route {{
    when $charge.status == "succeeded" => reply PaymentResult{i} {{
      order_id = $order_id
      status = "paid"
      charge_id = $charge.id
      message = "payment captured"
    }}
    else => reply PaymentResult{i} {{
      order_id = $order_id
      status = "declined"
      charge_id = $charge.id
      message = "declined: {{$charge.decline_code ?? "no reason given"}}"
      redirect_url = $charge.next_action_url
    }}
  }}
  timeout 5s
  circuit_breaker {{ failures = 5, reset = 30s }}
}}

test successful_charge_{i} for card_payment{i} {{
  given PaymentRequest{i} {{ order_id = "o-{i}", amount = 59.90, currency = "eur", card_token = "tok_visa" }}
  stub psp{i}.post("/v1/charges") => ChargeResult{i} {{ id = "ch_{i}", status = "succeeded" }}
  expect reply PaymentResult{i} {{
    order_id = "o-{i}"
    status = "paid"
    charge_id = "ch_{i}"
    message = "payment captured"
  }}
}}
"#
    )
}

fn devices(i: usize) -> String {
    let peak = limit(i, 150) % 60 + 150;
    format!(
        r#"/// The MQTT broker the devices of site {i} publish to.
system broker{i}: mqtt {{
  url = secret("MQTT_URL")
  client_id = "aqueduct-fitness-{i}"
}}

/// The Salesforce org that receives platform events.
system crm{i}: salesforce {{
  instance_url = env("SF_INSTANCE_URL")
  auth = oauth2_client_credentials {{
    client_id = env("SF_CLIENT_ID")
    client_secret = secret("SF_CLIENT_SECRET")
  }}
}}

/// What a device publishes (JSON).
type DeviceMetric{i} {{
  device_id: string
  /// Unique per message; devices resend when they miss the ack.
  message_id: string
  heart_rate: int
  steps: int
  recorded_at: timestamp
}}

/// A checked reading, passed between the two flows.
type Reading{i} {{
  device_id: string
  heart_rate: int
  steps: int
  recorded_at: timestamp
}}

/// The `Fitness_Reading__e` platform event.
type FitnessReading{i} {{
  Device_Id__c: string
  Heart_Rate__c: int
  Steps__c: int
  Zone__c: string
  Recorded_At__c: timestamp
}}

/// Readings that passed the checks.
channel readings{i}: Reading{i}

/// Takes device messages in once each and drops implausible ones.
flow ingest_metrics{i} {{
  mode async
  from broker{i}.subscribe("site{i}/+/metrics", qos: 1) as DeviceMetric{i}
  dedupe by .message_id within 10m
  where .heart_rate > 0 and .heart_rate < 250
  map Reading{i} {{
    ...
  }}
  to readings{i}
  dead_letter file("dlq").append("ingest_metrics_{i}.jsonl")
}}

/// Publishes readings as platform events, a hundred per API call.
flow publish_readings{i} {{
  mode async
  from readings{i}
  batch 100 within 5s
  map FitnessReading{i} {{
    Device_Id__c = .device_id
    Heart_Rate__c = .heart_rate
    Steps__c = .steps
    Zone__c = if .heart_rate >= {peak} {{
      "peak"
    }} else if .heart_rate >= 120 {{
      "cardio"
    }} else {{
      "rest"
    }}
    Recorded_At__c = .recorded_at
  }}
  to crm{i}.publish("Fitness_Reading__e")
  retry 5 backoff exponential(500ms, 30s)
  rate_limit 50 per 1s
  dead_letter file("dlq").append("publish_readings_{i}.jsonl")
}}

test readings_pass_once_{i} for ingest_metrics{i} {{
  given DeviceMetric{i} {{ device_id = "band-{i}", message_id = "m-1", heart_rate = 131, steps = 40, recorded_at = "2026-03-01T07:00:00Z" }}
  expect readings{i}: Reading{i} {{ device_id = "band-{i}", heart_rate = 131, steps = 40, recorded_at = "2026-03-01T07:00:00Z" }}
}}
"#
    )
}

fn replication(i: usize) -> String {
    let revenue = limit(i, 1_000) * 1_000;
    let port = 10_000 + i % 20_000;
    format!(
        r#"/// The CRM of business unit {i}, reached over its REST and streaming APIs.
system sales{i}: salesforce {{
  instance_url = env("SF_INSTANCE_URL")
  api_version = "61.0"
  auth = oauth2_client_credentials {{
    token_url = env("SF_TOKEN_URL")
    client_id = env("SF_CLIENT_ID")
    client_secret = secret("SF_CLIENT_SECRET")
  }}
}}

/// The ERP's PostgreSQL database.
system erp{i}: postgres {{
  url = secret("ERP_DATABASE_URL")
  pool_size = 4
}}

/// Where the verification service calls back; it signs each body.
system callbacks{i}: endpoint {{
  listen = env("CALLBACKS_LISTEN_{i}", "127.0.0.1:{port}")
  auth = hmac {{
    header = "X-Signature"
    secret = secret("VERIFIER_WEBHOOK_SECRET")
  }}
}}

/// The Account fields the replication needs, as Salesforce names them.
type Account{i} {{
  Id: string
  Name: string
  BillingCity: string?
  AnnualRevenue: decimal?
  LastModifiedDate: timestamp
}}

/// A row of the ERP's `customers` table.
type Customer{i} {{
  /// The Salesforce Account Id.
  external_id: string
  name: string
  city: string
  tier: string
}}

/// The verification service's callback.
type Callback{i} {{
  reference: string
  /// "verified", "rejected" or "needs_review".
  outcome: string
  reason: string?
  completed_at: timestamp
}}

/// Account changes are replicated to the ERP as they happen.
flow accounts_to_erp{i} {{
  mode async
  from sales{i}.changes("Account") as Account{i}
  where .AnnualRevenue != null
  map Customer{i} {{
    external_id = .Id
    name = trim(.Name)
    city = .BillingCity ?? "unknown"
    tier = if .AnnualRevenue > {revenue} {{ "gold" }} else {{ "standard" }}
  }}
  to erp{i}.upsert("customers", key: [external_id])
  retry 5 backoff exponential(1s, 1m)
  dead_letter file("dlq").append("accounts_{i}.jsonl")
}}

/// Stores each verification result once.
flow receive_result{i} {{
  mode async
  from callbacks{i}.post("/callbacks/{i}") as Callback{i}
  dedupe by .reference within 1d
  to erp{i}.upsert("check_results", key: [reference])
  retry 3 backoff fixed(1s)
  dead_letter file("dlq").append("receive_result_{i}.jsonl")
}}

test gold_accounts_{i} for accounts_to_erp{i} {{
  given Account{i} {{ Id = "{i}", Name = " Acme ", AnnualRevenue = {revenue}1, LastModifiedDate = "2026-01-01T00:00:00Z" }}
  expect Customer{i} {{ external_id = "{i}", name = "Acme", city = "unknown", tier = "gold" }}
}}

test small_accounts_are_dropped_{i} for accounts_to_erp{i} {{
  given Account{i} {{ Id = "s{i}", Name = "Tiny", AnnualRevenue = null, LastModifiedDate = "2026-01-01T00:00:00Z" }}
  expect nothing
}}
"#
    )
}

/// A project of at least `target_lines` lines: one file per module, or all
/// modules in one file. Returns the sources, lines and bytes.
pub fn project(target_lines: usize, single: bool) -> (SourceMap, usize, usize) {
    let mut sources = SourceMap::default();
    let (mut lines, mut bytes, mut i) = (0, 0, 0);
    let mut all = String::new();
    while lines < target_lines {
        let text = module(i);
        lines += text.lines().count();
        bytes += text.len();
        if single {
            all.push_str(&text);
        } else {
            sources.add(format!("m{i:05}.aq"), text);
        }
        i += 1;
    }
    if single {
        sources.add("all.aq".to_string(), all);
    }
    (sources, lines, bytes)
}
