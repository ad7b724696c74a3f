//! `aqueduct emulate salesforce [--seed FILE] [--listen ADDR]
//! [--pubsub-tls-cert FILE --pubsub-tls-key FILE [--pubsub-tls-listen ADDR]]`:
//! run the local Salesforce org emulator (`aqueduct-emulator`) until Ctrl-C
//! or SIGTERM, after printing where it listens and the credentials it
//! accepts.

use crate::exit::{CmdResult, Exit, Failure};
use crate::output::Output;
use aqueduct_emulator::{Config, PubSubTls, Seed, ServeError};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Arguments of `emulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The system to emulate.
    #[command(subcommand)]
    pub system: System,
}

/// Systems `emulate` can stand in for.
#[derive(Debug, clap::Subcommand)]
pub enum System {
    /// A local Salesforce org: OAuth, REST, SOQL, Bulk API 2.0, CometD streaming, outbound messages.
    Salesforce(SalesforceArgs),
}

/// Arguments of `emulate salesforce`.
#[derive(Debug, clap::Args)]
pub struct SalesforceArgs {
    /// Seed file (YAML) with the org's sObjects, records and connected apps; default: the built-in seed.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8943")]
    pub listen: String,
    /// Also serve the Pub/Sub API over TLS with this certificate (PEM), on --pubsub-tls-listen.
    #[arg(long, value_name = "FILE", requires = "pubsub_tls_key")]
    pub pubsub_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --pubsub-tls-cert.
    #[arg(long, value_name = "FILE", requires = "pubsub_tls_cert")]
    pub pubsub_tls_key: Option<PathBuf>,
    /// Address of the Pub/Sub API over TLS.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8944",
        requires = "pubsub_tls_cert"
    )]
    pub pubsub_tls_listen: String,
}

/// `addr` as a socket address, or a usage error naming it.
fn address(addr: &str) -> Result<SocketAddr, Failure> {
    addr.parse()
        .map_err(|_| Failure::Usage(format!("`{addr}` is not an address such as 127.0.0.1:8943")))
}

/// Starts the emulator and serves until a signal.
pub fn run(args: &Args, out: &Output) -> CmdResult {
    let System::Salesforce(sf) = &args.system;
    let listen = address(&sf.listen)?;
    let pubsub_tls = match (&sf.pubsub_tls_cert, &sf.pubsub_tls_key) {
        (Some(cert), Some(key)) => Some(PubSubTls {
            cert: cert.clone(),
            key: key.clone(),
            listen: address(&sf.pubsub_tls_listen)?,
        }),
        // clap makes each of the two require the other
        _ => None,
    };
    let seed = match &sf.seed {
        None => Seed::builtin(),
        Some(path) => match Seed::load(path) {
            Ok(s) => s,
            Err(e) => return Ok(seed_error(out, &e)),
        },
    };
    init_logs();
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        // caught from before the emulator serves, so a SIGTERM always stops it cleanly
        let stop = aqueduct_runtime::shutdown::signals();
        let emulator = match aqueduct_emulator::serve(Config { seed, listen, pubsub_tls }).await {
            Ok(e) => e,
            Err(ServeError::Seed(e)) => return Ok(seed_error(out, &e)),
            Err(e) => return Err(Failure::Runtime(e.to_string())),
        };
        let url = emulator.instance_url().to_string();
        let mut text = format!(
            "Salesforce emulator listening on {}\n  instance URL  {url}\n  token URL     {}\n  API version   {}\n  org id        {}\n",
            emulator.addr(),
            emulator.token_url(),
            emulator.api_version(),
            emulator.org_id()
        );
        for c in emulator.credentials() {
            let secret = c.client_secret.as_deref().map(|s| format!(" / client_secret {s}")).unwrap_or_default();
            let jwt = if c.jwt { ", JWT bearer" } else { "" };
            text.push_str(&format!("  client        client_id {}{secret} (runs as {}{jwt})\n", c.client_id, c.username));
        }
        if let Some(pubsub) = emulator.pubsub_url() {
            text.push_str(&format!("  Pub/Sub API   {pubsub} (gRPC without TLS: the system's pubsub_url)\n"));
        }
        if let Some(pubsub) = emulator.pubsub_tls_url() {
            text.push_str(&format!("  Pub/Sub TLS   {pubsub} (gRPC over TLS: pubsub_url, with pubsub_ca naming the CA of the certificate)\n"));
        }
        text.push_str(&format!("  admin API     {url}/_emulator (faults, clock, tokens; see docs/emulator.md)\n"));
        out.print(&text)?;
        out.note("Press Ctrl-C to stop.");
        stop.await;
        emulator.shutdown().await;
        out.note("Salesforce emulator stopped.");
        Ok(Exit::Ok)
    })
}

/// A seed that cannot be used: the error with its place and a help line;
/// exit 2 when the file cannot be read, 1 when it has a mistake.
fn seed_error(out: &Output, e: &aqueduct_emulator::SeedError) -> Exit {
    out.error(&format!("{e}\n  help: {}", e.help()));
    if Seed::is_read_error(e) {
        Exit::Usage
    } else {
        Exit::Findings
    }
}

/// Logs (outbound delivery failures, …) go to stderr; `RUST_LOG` filters them.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
