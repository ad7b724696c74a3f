//! `aqueduct run [PATH]`: check a project, then run its flows until they end
//! (bounded sources) or until Ctrl-C/SIGTERM (event sources), printing what
//! each flow did.

use crate::exit::{CmdResult, Exit, Failure};
use crate::output::{Output, Stream};
use crate::project;
use aqueduct_check::manifest::StateStore;
use aqueduct_runtime::executor::{self, RunOptions, RunReport};
use aqueduct_runtime::secrets::EnvConfig;
use clap::ValueEnum;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

mod progress;

/// Log formats of `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory, or a single `.aq` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Run only this flow (repeatable); default: every flow.
    #[arg(long = "flow", value_name = "NAME")]
    pub flows: Vec<String>,
    /// Environment profile from aqueduct.yaml supplying env("…") values.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Serve metrics and health on this address (e.g. 127.0.0.1:9090).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t)]
    pub log_format: LogFormat,
    /// Run scheduled batch flows once, now, instead of on their schedule.
    #[arg(long)]
    pub now: bool,
}

/// Checks the project and runs it; exit 1 when a flow failed.
pub fn run(args: &Args, out: &Output) -> CmdResult {
    let checked = project::load(&args.path)?.check();
    let Some(graph) = checked.graph_or_report(out, "run it")? else {
        return Ok(Exit::Findings);
    };
    // `--now`: a nightly flow tried out by hand runs once, at once.
    let unscheduled;
    let graph = if args.now {
        let mut g = graph.clone();
        for flow in &mut g.flows {
            flow.mode.schedule = None;
        }
        unscheduled = g;
        &unscheduled
    } else {
        graph
    };
    for name in &args.flows {
        if graph.flow(name).is_none() {
            let known: Vec<&str> = graph.flows.iter().map(|f| f.name.as_str()).collect();
            return Err(Failure::Usage(format!(
                "there is no flow `{name}`; flows: {}",
                known.join(", ")
            )));
        }
    }
    let manifest = checked.result.manifest.clone().unwrap_or_default();
    let overrides = match &args.env {
        None => BTreeMap::new(),
        Some(env) => manifest.environments.get(env).cloned().ok_or_else(|| {
            let known: Vec<&str> = manifest.environments.keys().map(String::as_str).collect();
            Failure::Usage(format!(
                "aqueduct.yaml has no environment `{env}`; environments: {}",
                known.join(", ")
            ))
        })?,
    };
    let admin = match &args.admin {
        None => None,
        Some(a) => Some(a.parse().map_err(|_| {
            Failure::Usage(format!("`{a}` is not an address such as 127.0.0.1:9090"))
        })?),
    };
    let root = if args.path.is_dir() {
        args.path.clone()
    } else {
        args.path.parent().map(PathBuf::from).unwrap_or_default()
    };
    // Relative paths in flows (file roots, SQLite files, the state store)
    // start from the project directory, wherever `run` was started.
    if !root.as_os_str().is_empty() {
        std::env::set_current_dir(&root).map_err(|e| Failure::io("enter", &root, &e))?;
    }
    init_logs(args.log_format, out.colored(Stream::Stderr), out.quiet);
    aqueduct_connectors::install_crypto();
    let sources: BTreeMap<String, Arc<str>> = checked
        .sources
        .iter()
        .map(|(_, f)| (f.name.clone(), Arc::<str>::from(f.text.as_str())))
        .collect();
    let state_url = match &manifest.state {
        Some(StateStore::Sqlite { path }) => format!("sqlite://{path}"),
        Some(StateStore::Postgres { url }) => url.clone(),
        None => String::new(),
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))?;
    let flows = (!args.flows.is_empty()).then(|| args.flows.clone());
    let selected = args.flows.clone();
    let located = sources.clone();
    let report = runtime.block_on(async move {
        let state = aqueduct_runtime::state::open(&state_url)
            .await
            .map_err(|e| Failure::Runtime(format!("cannot open the state store: {e}")))?;
        let config = Arc::new(EnvConfig {
            overrides,
            secrets_dir: None,
        });
        let lease_ttl = aqueduct_runtime::lease::ttl_from_env().map_err(Failure::Usage)?;
        let opts = RunOptions {
            flows,
            state,
            config,
            sources,
            lease_ttl,
            ..RunOptions::default()
        };
        let pieces =
            executor::build(graph, &crate::registry::full_registry(), opts).map_err(|errors| {
                let lines: Vec<String> = errors
                    .iter()
                    .map(|e| {
                        format!(
                            "  {}: flow `{}`: {e}",
                            executor::location(&e.origin, &located),
                            e.flow
                        )
                    })
                    .collect();
                Failure::Runtime(format!("the project cannot start:\n{}", lines.join("\n")))
            })?;
        // the signals are caught before any flow starts serving
        aqueduct_runtime::shutdown::on_signals(pieces.shutdown_handle());
        let running = pieces.spawn();
        if let Some(line) = serving_note(graph, &selected) {
            out.note(&line);
        }
        if let Some(addr) = admin {
            let bound =
                aqueduct_runtime::admin::serve(addr, running.metrics(), running.readiness())
                    .await
                    .map_err(|e| {
                        Failure::Runtime(format!("cannot serve the admin port on {addr}: {e}"))
                    })?;
            tracing::info!(%bound, "Admin port serves /metrics, /healthz and /readyz.");
        }
        let progress = progress::start(graph, running.metrics(), out.colored(Stream::Stderr));
        let report: RunReport = running.wait().await;
        progress.finish();
        Ok::<RunReport, Failure>(report)
    })?;
    out.note(report.to_string().trim_end());
    Ok(if report.ok() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

/// Says that the run keeps going, when a selected flow waits for input
/// (`sync` and `async` flows: endpoints, event sources): `run` then ends
/// on Ctrl-C or SIGTERM, not by itself. Where each endpoint listens is
/// logged by the endpoint (`Endpoint listening.`).
fn serving_note(graph: &aqueduct_graph::Graph, selected: &[String]) -> Option<String> {
    let waiting: Vec<String> = graph
        .flows
        .iter()
        .filter(|f| selected.is_empty() || selected.contains(&f.name))
        .filter(|f| f.mode.kind != aqueduct_graph::ModeKind::Batch)
        .map(|f| format!("`{}`", f.name))
        .collect();
    (!waiting.is_empty()).then(|| {
        format!(
            "running until Ctrl-C (or SIGTERM): {} wait for input; use a second terminal to send requests",
            waiting.join(", ")
        )
    })
}

/// Logs go to stderr; `RUST_LOG` filters them (default `info`). Quiet
/// (`-q`) means warnings and errors only, whatever `RUST_LOG` says.
fn init_logs(format: LogFormat, ansi: bool, quiet: bool) {
    let filter = if quiet {
        tracing_subscriber::EnvFilter::new("warn")
    } else {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // A second initialisation (tests run commands in one process) is harmless.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
