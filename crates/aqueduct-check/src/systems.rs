//! `system` declarations checked against the connector catalogue.

use crate::decls::{Decls, doc_lines};
use crate::options;
use crate::project::Ctx;
use aqueduct_diagnostics::{Diagnostic, FileId, codes, did_you_mean};
use aqueduct_graph::System;
use aqueduct_syntax::ast;

/// The diagnostic for a connector kind that does not exist.
pub(crate) fn unknown_kind(file: FileId, kind: &ast::Ident) -> Diagnostic {
    let d = Diagnostic::error(
        codes::AQ0210,
        format!("there is no connector kind `{}`", kind.name),
    )
    .with_primary(file, kind.span, "unknown connector kind");
    match did_you_mean(&kind.name, aqueduct_catalog::kind_names()) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help(format!(
            "connector kinds: {} (see `aqueduct connectors`)",
            aqueduct_catalog::kind_names()
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Checks every declared system and lowers it.
pub(crate) fn check_systems(ctx: &mut Ctx<'_>, decls: &Decls<'_>) -> Vec<System> {
    let mut out = Vec::new();
    for (name, at) in decls.systems.sorted() {
        let decl = at.decl;
        let Some(connector) = aqueduct_catalog::connector(&decl.kind.name) else {
            ctx.diags.push(unknown_kind(at.file, &decl.kind));
            continue;
        };
        let owner = options::Lazy(|f: &mut std::fmt::Formatter<'_>| {
            write!(f, "system `{name}` ({})", connector.kind)
        });
        let options = options::check_options(
            at.file,
            &options::written(&decl.options),
            connector.options,
            &owner,
            decl.name.span.to(decl.kind.span),
            &mut ctx.diags,
        );
        out.push(System {
            name: name.to_string(),
            kind: connector.kind.to_string(),
            options,
            doc: doc_lines(&decl.doc),
            origin: ctx.origin(at.file, decl.span),
        });
    }
    // Source order, not name order, so generated output follows the files.
    out.sort_by(|a, b| (&a.origin.file, a.origin.start).cmp(&(&b.origin.file, b.origin.start)));
    out
}
