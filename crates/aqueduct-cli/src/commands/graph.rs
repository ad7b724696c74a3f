//! `aqueduct graph [PATH]`: draw or dump the checked flow graph.
//!
//! The project must check without errors; otherwise the diagnostics go to
//! stderr and the command exits 1. DOT, Mermaid and SVG come from
//! `aqueduct_graph::render`; JSON and YAML are the whole serialized graph.

use crate::exit::{CmdResult, Exit, Failure};
use crate::output::Output;
use crate::project;
use aqueduct_graph::{Graph, render};
use clap::ValueEnum;
use std::path::PathBuf;

/// Output formats of `graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum GraphFormat {
    /// Graphviz DOT (`dot -Tpng`).
    #[default]
    Dot,
    /// A Mermaid flowchart (renders in GitHub Markdown).
    Mermaid,
    /// A standalone SVG drawing, laid out without Graphviz.
    Svg,
    /// The whole checked graph as JSON.
    Json,
    /// The whole checked graph as YAML.
    Yaml,
}

/// Arguments of `graph`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory, or a single `.aq` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: GraphFormat,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Checks the project, then writes the graph.
pub fn run(args: &Args, out: &Output) -> CmdResult {
    let checked = project::load(&args.path)?.check();
    let Some(graph) = checked.graph_or_report(out, "draw its graph")? else {
        return Ok(Exit::Findings);
    };
    let text = render_graph(graph, args.format)?;
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| Failure::io("write", path, &e))?,
        None => out.print(&text)?,
    }
    Ok(Exit::Ok)
}

/// The graph in `format`.
fn render_graph(graph: &Graph, format: GraphFormat) -> Result<String, Failure> {
    Ok(match format {
        GraphFormat::Dot => render::dot(graph),
        GraphFormat::Mermaid => render::mermaid(graph),
        GraphFormat::Svg => render::svg(graph),
        GraphFormat::Json => {
            let json = serde_json::to_string_pretty(graph)
                .map_err(|e| Failure::Runtime(format!("cannot serialize the graph: {e}")))?;
            json + "\n"
        }
        // serde_yaml cannot write nested enums (`Type::Optional(Record)`);
        // going through a JSON value gives the same shape as the JSON output.
        GraphFormat::Yaml => serde_json::to_value(graph)
            .map_err(|e| e.to_string())
            .and_then(|v| serde_yaml::to_string(&v).map_err(|e| e.to_string()))
            .map_err(|e| Failure::Runtime(format!("cannot serialize the graph: {e}")))?,
    })
}
