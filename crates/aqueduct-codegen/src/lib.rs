//! Code generation stage: a checked [`Graph`] becomes standalone Rust
//! services (`aqueduct build`).
//!
//! Input: a `Graph` from `aqueduct-check` and [`GenerateOptions`]. Output: a
//! [`GeneratedWorkspace`], every file of a cargo workspace as text by
//! relative path; this crate never writes to disk (the CLI does).
//!
//! One crate per service: a flow, or the flows joined by in-process
//! channels ([`services`]). Each crate has
//! - `src/types.rs`: a struct per record type ([`model`]), with conversions
//!   from and to the runtime's values;
//! - `src/<flow>.rs`: a function per step expression ([`steps`], [`expr`]),
//!   registered in the runtime's `Natives` table, so the service never
//!   interprets an expression;
//! - `src/main.rs`: wiring only: the embedded `graph.json` (configuration),
//!   the embedded connectors and the connector crates its systems need
//!   ([`connectors`]), the admin port, signals;
//! - `tests/flow_tests.rs`: the project's flow tests, on the native steps;
//! - a multi-stage `Dockerfile`, Kubernetes manifests under `k8s/` (with a
//!   HorizontalPodAutoscaler when its replicas share a broker's messages,
//!   [`scaling`]) and a README.
//!
//! Templates are handlebars files under `templates/` ([`render`]). Output is
//! deterministic: the same graph and options give the same bytes. Rust
//! files are emitted well-formed but not line-wrapped; the CLI runs
//! `rustfmt` on them.
//!
//! ```
//! use aqueduct_codegen::{generate, GenerateOptions};
//! let graph = aqueduct_graph::Graph::default();
//! let out = generate(&graph, &GenerateOptions::default()).expect("an empty project generates");
//! assert!(out.files.contains_key("Cargo.toml"));
//! ```
#![warn(missing_docs)]

pub mod connectors;
pub mod expr;
pub mod model;
pub mod names;
pub mod native;
pub mod render;
pub mod scaling;
pub mod services;
pub mod steps;

use aqueduct_graph::{Graph, ModeKind};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Where generated crates get the aqueduct runtime from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeSource {
    /// A directory holding `aqueduct-runtime/`, `aqueduct-connectors/` and
    /// the connector crates the flows use, relative to the output directory
    /// (never an absolute path).
    Path(String),
    /// A published version.
    Version(String),
}

impl Default for RuntimeSource {
    fn default() -> RuntimeSource {
        RuntimeSource::Version(env!("CARGO_PKG_VERSION").to_string())
    }
}

/// What to generate.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// Only the services running these flows (empty: every flow).
    pub flows: Vec<String>,
    /// Where the runtime comes from.
    pub runtime: RuntimeSource,
    /// The `.aq` texts by file name, to quote each step above its function.
    pub sources: BTreeMap<String, String>,
}

/// The generated files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeneratedWorkspace {
    /// File contents by path relative to the output directory (`/`-separated).
    pub files: BTreeMap<String, String>,
    /// The services, in order.
    pub services: Vec<ServiceSummary>,
    /// The aqueduct library crates the services depend on directly:
    /// `aqueduct-runtime`, `aqueduct-connectors` and the connector crates
    /// their systems need, sorted.
    pub libraries: Vec<String>,
}

/// One generated service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSummary {
    /// Crate name.
    pub name: String,
    /// Directory in the workspace.
    pub dir: String,
    /// Its flows.
    pub flows: Vec<String>,
}

/// Why nothing could be generated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodegenError {
    /// `--flow NAME` names no flow (AQ0501).
    #[error("there is no flow named `{name}`; flows: {known}")]
    UnknownFlow {
        /// The name asked for.
        name: String,
        /// The project's flows, comma-separated.
        known: String,
    },
    /// A template failed to render (AQ0502): a bug in aqueduct.
    #[error("the code generator failed: {message}; this is a bug in aqueduct, please report it")]
    Internal {
        /// What failed.
        message: String,
    },
}

impl CodegenError {
    /// The diagnostic code.
    pub fn code(&self) -> &'static str {
        match self {
            CodegenError::UnknownFlow { .. } => "AQ0501",
            CodegenError::Internal { .. } => "AQ0502",
        }
    }
}

/// Generates the services of `graph`.
pub fn generate(
    graph: &Graph,
    options: &GenerateOptions,
) -> Result<GeneratedWorkspace, Vec<CodegenError>> {
    let known = graph
        .flows
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let unknown: Vec<CodegenError> = options
        .flows
        .iter()
        .filter(|f| graph.flow(f).is_none())
        .map(|f| CodegenError::UnknownFlow {
            name: f.clone(),
            known: known.clone(),
        })
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let renderer = Renderer::new().map_err(|e| vec![e])?;
    let all_groups = services::group(graph);
    let groups: Vec<Vec<String>> = all_groups
        .clone()
        .into_iter()
        .filter(|g| options.flows.is_empty() || g.iter().any(|f| options.flows.contains(f)))
        .collect();
    let mut out = GeneratedWorkspace::default();
    let mut summaries = Vec::new();
    let dirs = names::unique(
        groups
            .iter()
            .map(|g| names::kebab(g.first().map(String::as_str).unwrap_or("service")))
            .collect(),
    );
    let mut crates_used = std::collections::BTreeSet::new();
    for (flows, dir) in groups.iter().zip(dirs) {
        let service = services::service(graph, flows);
        crates_used.extend(
            connectors::needed(&service.graph)
                .into_iter()
                .map(|c| c.name),
        );
        // each service of the project gets its own default admin port, so
        // two of them started on one host do not collide (9090, 9091, …,
        // by the service's place in the whole project, whatever `--flow` says)
        let place = all_groups.iter().position(|g| g == flows).unwrap_or(0);
        let admin_port = 9090 + u16::try_from(place).unwrap_or(0);
        let data = service_data(&service, graph, &dir, options, admin_port);
        emit_service(&renderer, &service, &data, &dir, options, &mut out.files)
            .map_err(|e| vec![e])?;
        summaries.push(data);
        out.services.push(ServiceSummary {
            name: crate_name(graph, &dir),
            dir: dir.clone(),
            flows: flows.clone(),
        });
    }
    let dependency = |name: &str, no_defaults: bool| {
        let extra = if no_defaults {
            ", default-features = false"
        } else {
            ""
        };
        match &options.runtime {
            RuntimeSource::Path(p) => {
                format!("{{ path = \"{}/{name}\"{extra} }}", p.trim_end_matches('/'))
            }
            RuntimeSource::Version(v) if no_defaults => format!("{{ version = \"{v}\"{extra} }}"),
            RuntimeSource::Version(v) => format!("\"{v}\""),
        }
    };
    // every connector crate some service uses; each service turns on the
    // features it needs, so none is on by default here
    let used: Vec<String> = crates_used.iter().cloned().collect();
    out.libraries = ["aqueduct-connectors", "aqueduct-runtime"]
        .into_iter()
        .map(str::to_string)
        .chain(crates_used)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let connector_crates: Vec<serde_json::Value> = used
        .iter()
        .map(|name| json!({"name": name, "dependency": dependency(name, true)}))
        .collect();
    let any_scalable = summaries
        .iter()
        .any(|d| d["scalable"].as_bool() == Some(true));
    let any_stateful = summaries
        .iter()
        .any(|d| d["stateful"].as_bool() == Some(true));
    let ws = json!({
        "any_scalable": any_scalable,
        "any_stateful": any_stateful,
        "project": graph.project,
        "services": summaries,
        "runtime": dependency("aqueduct-runtime", false),
        "connectors": dependency("aqueduct-connectors", false),
        "connector_crates": connector_crates,
    });
    let e = |e: CodegenError| vec![e];
    out.files.insert(
        "Cargo.toml".into(),
        renderer.render("workspace.Cargo.toml", &ws).map_err(e)?,
    );
    out.files.insert(
        "README.md".into(),
        renderer.render("workspace.README.md", &ws).map_err(e)?,
    );
    out.files.insert(
        ".dockerignore".into(),
        renderer.render("dockerignore", &ws).map_err(e)?,
    );
    out.files.insert(".gitignore".into(), "target/\n".into());
    for text in out.files.values_mut() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    Ok(out)
}

use render::Renderer;

fn crate_name(graph: &Graph, dir: &str) -> String {
    let project = names::kebab(&graph.project);
    if project.is_empty() || dir == project || dir.starts_with(&format!("{project}-")) {
        dir.to_string()
    } else {
        format!("{project}-{dir}")
    }
}

fn service_data(
    service: &services::Service,
    graph: &Graph,
    dir: &str,
    options: &GenerateOptions,
    admin_port: u16,
) -> serde_json::Value {
    let krate = crate_name(graph, dir);
    let lib = krate.replace('-', "_");
    let flow_list = service
        .flows
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let modules = names::unique(service.flows.iter().map(|f| names::snake(f)).collect());
    let model = model::Model::new(&service.graph);
    let flows: Vec<serde_json::Value> = service
        .graph
        .flows
        .iter()
        .zip(&modules)
        .map(|(f, module)| {
            json!({
                "name": f.name,
                "name_lit": names::str_lit(&f.name),
                "module": module,
                "mode": f.mode.kind.as_str(),
                "native": native::of(&model, f).is_some(),
                "file": f.origin.file,
                "doc": if f.doc.is_empty() { serde_json::Value::Null } else { json!(f.doc.join(" ")) },
            })
        })
        .collect();
    let mut files: Vec<&str> = service
        .graph
        .flows
        .iter()
        .map(|f| f.origin.file.as_str())
        .collect();
    files.sort();
    files.dedup();
    let ports = service.ports();
    let env: Vec<serde_json::Value> = service
        .env_vars()
        .into_iter()
        .map(|(name, default)| {
            // inbound endpoints listen on every interface inside a container
            let in_container = ports
                .iter()
                .find(|p| p.var.as_deref() == Some(name.as_str()))
                .map(|p| format!("0.0.0.0:{}", p.port));
            let value = in_container.or_else(|| default.clone());
            json!({
                "name": name,
                "default": default,
                "value": value.map(|v| serde_json::Value::String(v).to_string()),
            })
        })
        .collect();
    let workload = service.workload();
    let modes: Vec<&str> = {
        let mut m: Vec<&str> = service
            .graph
            .flows
            .iter()
            .map(|f| f.mode.kind.as_str())
            .collect();
        m.sort();
        m.dedup();
        m
    };
    let _ = options;
    let connector_crates: Vec<serde_json::Value> = connectors::needed(&service.graph)
        .into_iter()
        .map(|c| {
            let features = c
                .features
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let dependency = if features.is_empty() {
                format!("{}.workspace = true", c.name)
            } else {
                format!(
                    "{} = {{ workspace = true, features = [{features}] }}",
                    c.name
                )
            };
            json!({"name": c.name, "lib": c.lib, "dependency": dependency})
        })
        .collect();
    // only long-running services scale out (a Job or CronJob runs once)
    let (scaled, sticky, single) = match scaling::of(service) {
        _ if workload != services::Workload::Deployment => (Vec::new(), None, None),
        scaling::Scaling::Shared { how, sticky } => (how, sticky, None),
        scaling::Scaling::Single(why) => (Vec::new(), None, Some(why)),
    };
    json!({
        "connector_crates": connector_crates,
        "scalable": !scaled.is_empty(),
        // replicas with stable names and a fixed count (a StatefulSet)
        "stateful": sticky.is_some(),
        "autoscaled": !scaled.is_empty() && sticky.is_none(),
        "sticky": sticky,
        "scaled": scaled,
        "single": single,
        "crate": krate,
        "lib": lib,
        "dir": dir,
        "project": names::kebab(&graph.project),
        "flow_list": flow_list,
        "files": files.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "),
        "flows": flows,
        "env": env,
        "secrets": service.secrets(),
        "ports": ports,
        "cron": service.cron(),
        "modes": modes.join(", "),
        "workload": match workload {
            services::Workload::Deployment => "Deployment",
            services::Workload::CronJob => "CronJob",
            services::Workload::Job => "Job",
        },
        "is_deployment": workload == services::Workload::Deployment,
        "is_cronjob": workload == services::Workload::CronJob,
        "is_job": workload == services::Workload::Job,
        "has_sync": service.graph.flows.iter().any(|f| f.mode.kind == ModeKind::Sync),
        "admin_port": admin_port,
    })
}

fn emit_service(
    renderer: &Renderer,
    service: &services::Service,
    data: &serde_json::Value,
    dir: &str,
    options: &GenerateOptions,
    files: &mut BTreeMap<String, String>,
) -> Result<(), CodegenError> {
    let model = model::Model::new(&service.graph);
    let mut put = |path: &str, text: String| {
        files.insert(format!("{dir}/{path}"), text);
    };
    put("Cargo.toml", renderer.render("service.Cargo.toml", data)?);
    put("README.md", renderer.render("service.README.md", data)?);
    put("Dockerfile", renderer.render("Dockerfile", data)?);
    put("src/main.rs", renderer.render("main.rs", data)?);
    put("src/lib.rs", renderer.render("lib.rs", data)?);
    put(
        "tests/flow_tests.rs",
        renderer.render("flow_tests.rs", data)?,
    );
    let graph_json =
        serde_json::to_string_pretty(&service.graph).map_err(|e| CodegenError::Internal {
            message: format!("graph.json: {e}"),
        })?;
    put("src/graph.json", graph_json + "\n");
    put(
        "src/types.rs",
        renderer.render("types.rs", &types_data(&model, &service.graph, data))?,
    );
    let modules = data["flows"].as_array().cloned().unwrap_or_default();
    for (flow, module) in service.graph.flows.iter().zip(modules) {
        let generated = steps::FlowGen::new(&model, flow, &options.sources);
        let uses: Vec<&String> = generated.structs.iter().collect();
        let uses = match uses.as_slice() {
            [] => serde_json::Value::Null,
            [one] => json!(one),
            many => json!(format!(
                "{{{}}}",
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        let mut doc: Vec<String> = Vec::new();
        if !flow.doc.is_empty() {
            doc.push("//!".into());
            doc.extend(flow.doc.iter().map(|l| doc_line("//!", l)));
        }
        let flow_data = json!({
            "name": flow.name,
            "file": flow.origin.file,
            "doc": doc,
            "uses": uses,
            "fns": generated.fns,
            "native": native::of(&model, flow),
            "natives_param": if generated.fns.is_empty() { "_natives" } else { "natives" },
        });
        let module = module["module"].as_str().unwrap_or("flow").to_string();
        put(
            &format!("src/{module}.rs"),
            renderer.render("flow.rs", &flow_data)?,
        );
    }
    put(
        "k8s/configmap.yaml",
        renderer.render("k8s/configmap.yaml", data)?,
    );
    let workload = match service.workload() {
        services::Workload::Deployment => "deployment",
        services::Workload::CronJob => "cronjob",
        services::Workload::Job => "job",
    };
    // a StatefulSet is the Deployment's template with another kind
    let file = match workload {
        "deployment" if data["stateful"].as_bool() == Some(true) => "statefulset",
        other => other,
    };
    put(
        &format!("k8s/{file}.yaml"),
        renderer.render(&format!("k8s/{workload}.yaml"), data)?,
    );
    if data["autoscaled"].as_bool() == Some(true) {
        put("k8s/hpa.yaml", renderer.render("k8s/hpa.yaml", data)?);
    }
    if workload == "deployment" && !service.ports().is_empty() {
        put(
            "k8s/service.yaml",
            renderer.render("k8s/service.yaml", data)?,
        );
    }
    Ok(())
}

fn doc_line(prefix: &str, text: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix} {text}")
    }
}

fn types_data(model: &model::Model, graph: &Graph, data: &serde_json::Value) -> serde_json::Value {
    let mut any_serde = false;
    let mut any_json_out = false;
    let structs: Vec<serde_json::Value> = graph
        .types
        .iter()
        .filter_map(|t| model.get(&t.name))
        .map(|s| {
            let serde_ok = model.serde_ok(
                &aqueduct_graph::Type::Record(s.name.clone()),
                &mut Vec::new(),
            );
            any_serde |= serde_ok;
            let derives = if serde_ok {
                "Debug, Clone, PartialEq, Serialize, Deserialize"
            } else {
                "Debug, Clone, PartialEq"
            };
            let fields: Vec<serde_json::Value> = s
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let rename = (serde_ok && f.rust != f.name).then(|| names::str_lit(&f.name));
                    // decimals, timestamps and dates through the runtime's own parsers
                    let de_with =
                        native::deserialize_with(&f.ty)
                            .filter(|_| serde_ok)
                            .map(|path| {
                                let default = if f.ty.is_optional() { "default, " } else { "" };
                                format!("{default}deserialize_with = \"{path}\"")
                            });
                    // `"name":` as JSON text, written before the field's value
                    let key = serde_json::to_string(&f.name).unwrap_or_default();
                    let sep = if i == 0 { "{" } else { "," };
                    json!({
                        "de_with": de_with,
                        "key_lit": names::str_lit(&format!("{sep}{key}:")),
                        "doc": f.doc.iter().map(|l| doc_line("///", l)).collect::<Vec<_>>(),
                        "rename": rename,
                        "rust": f.rust,
                        "ty": model.rust_type(&f.ty),
                        "slot": i,
                        "name_lit": names::str_lit(&f.name),
                    })
                })
                .collect();
            let json_out = native::writable(
                model,
                &aqueduct_graph::Type::Record(s.name.clone()),
                &mut Vec::new(),
            );
            any_json_out |= json_out;
            json!({
                "doc": s.doc.iter().map(|l| doc_line("///", l)).collect::<Vec<_>>(),
                "json_out": json_out,
                "empty": s.fields.is_empty(),
                "rust": s.rust,
                "name_lit": names::str_lit(&s.name),
                "derives": derives,
                "slots_var": if s.fields.is_empty() { "_slots" } else { "slots" },
                "fields": fields,
            })
        })
        .collect();
    json!({
        "crate": data["crate"],
        "serde": any_serde,
        "json_out": any_json_out,
        "structs": structs,
    })
}
