//! The checker's shared context: sources (for origins), collected
//! diagnostics, and systems the checker creates (inline systems, record
//! types of fixed connector shapes).

use aqueduct_diagnostics::{Diagnostic, FileId, SourceMap, Span};
use aqueduct_graph::{FieldType, Origin, RecordType, System, Type};

/// State shared by every pass.
pub(crate) struct Ctx<'a> {
    pub sources: &'a SourceMap,
    pub diags: Vec<Diagnostic>,
    /// Systems written inline (`file("dlq")`), named by their text (`file("dlq")`).
    pub inline_systems: Vec<System>,
    /// Record types made from connectors' fixed shapes.
    pub fixed_types: Vec<RecordType>,
    /// Declared channels and the record type each carries.
    pub channel_types: crate::names::FxHashMap<&'a str, Type>,
    /// Cron expressions already validated: projects repeat a few schedules
    /// many times, and parsing one is costly.
    cron_seen: crate::names::FxHashMap<String, Result<(), String>>,
}

impl<'a> Ctx<'a> {
    pub fn new(sources: &'a SourceMap) -> Self {
        Ctx {
            sources,
            diags: Vec::new(),
            inline_systems: Vec::new(),
            fixed_types: Vec::new(),
            channel_types: Default::default(),
            cron_seen: Default::default(),
        }
    }

    /// Validates a cron expression, once per distinct text.
    pub fn validate_cron(&mut self, text: &str) -> Result<(), String> {
        if let Some(known) = self.cron_seen.get(text) {
            return known.clone();
        }
        let result = crate::cron::validate(text);
        self.cron_seen.insert(text.to_string(), result.clone());
        result
    }

    /// The origin of `span` in `file`, for graph nodes.
    pub fn origin(&self, file: FileId, span: Span) -> Origin {
        let name = self
            .sources
            .get(file)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        Origin {
            file: name,
            start: span.start,
            end: span.end,
        }
    }

    /// The record type of a connector's fixed shape, named `kind.operation`.
    pub fn fixed_type(
        &mut self,
        spec: &aqueduct_catalog::OperationSpec,
        kind: &str,
        fields: &[(&str, &str)],
    ) -> Type {
        let name = format!("{kind}.{}", spec.name);
        if !self.fixed_types.iter().any(|t| t.name == name) {
            let fields = fields
                .iter()
                .map(|(n, t)| FieldType {
                    name: (*n).to_string(),
                    ty: Type::parse(t).unwrap_or(Type::Json),
                    doc: Vec::new(),
                })
                .collect();
            self.fixed_types.push(RecordType {
                name: name.clone(),
                fields,
                doc: vec![spec.summary.to_string()],
            });
        }
        Type::Record(name)
    }
}
