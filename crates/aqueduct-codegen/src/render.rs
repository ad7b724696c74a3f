//! The handlebars templates under `templates/`, embedded at build time and
//! rendered in strict mode without escaping (the output is code, YAML and
//! Markdown, not HTML).

use crate::CodegenError;
use handlebars::Handlebars;
use serde::Serialize;

/// Every template: (name, text).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "workspace.Cargo.toml",
        include_str!("../templates/workspace.Cargo.toml.hbs"),
    ),
    (
        "workspace.README.md",
        include_str!("../templates/workspace.README.md.hbs"),
    ),
    (
        "service.Cargo.toml",
        include_str!("../templates/service.Cargo.toml.hbs"),
    ),
    (
        "service.README.md",
        include_str!("../templates/service.README.md.hbs"),
    ),
    ("lib.rs", include_str!("../templates/lib.rs.hbs")),
    ("types.rs", include_str!("../templates/types.rs.hbs")),
    ("flow.rs", include_str!("../templates/flow.rs.hbs")),
    ("main.rs", include_str!("../templates/main.rs.hbs")),
    (
        "flow_tests.rs",
        include_str!("../templates/flow_tests.rs.hbs"),
    ),
    ("Dockerfile", include_str!("../templates/Dockerfile.hbs")),
    (
        "dockerignore",
        include_str!("../templates/dockerignore.hbs"),
    ),
    (
        "k8s/configmap.yaml",
        include_str!("../templates/k8s/configmap.yaml.hbs"),
    ),
    (
        "k8s/deployment.yaml",
        include_str!("../templates/k8s/deployment.yaml.hbs"),
    ),
    (
        "k8s/cronjob.yaml",
        include_str!("../templates/k8s/cronjob.yaml.hbs"),
    ),
    (
        "k8s/job.yaml",
        include_str!("../templates/k8s/job.yaml.hbs"),
    ),
    (
        "k8s/hpa.yaml",
        include_str!("../templates/k8s/hpa.yaml.hbs"),
    ),
    (
        "k8s/service.yaml",
        include_str!("../templates/k8s/service.yaml.hbs"),
    ),
];

/// The template registry.
pub struct Renderer {
    hbs: Handlebars<'static>,
}

impl Renderer {
    /// Registers every template.
    pub fn new() -> Result<Renderer, CodegenError> {
        let mut hbs = Handlebars::new();
        hbs.set_strict_mode(true);
        hbs.register_escape_fn(handlebars::no_escape);
        for (name, text) in TEMPLATES {
            hbs.register_template_string(name, *text)
                .map_err(|e| CodegenError::Internal {
                    message: format!("template `{name}`: {e}"),
                })?;
        }
        Ok(Renderer { hbs })
    }

    /// Renders template `name` with `data`.
    pub fn render(&self, name: &str, data: &impl Serialize) -> Result<String, CodegenError> {
        self.hbs
            .render(name, data)
            .map_err(|e| CodegenError::Internal {
                message: format!("template `{name}`: {e}"),
            })
    }
}
