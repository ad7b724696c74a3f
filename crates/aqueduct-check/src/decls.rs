//! Pass 1: collect the declarations of every file by kind and name, report
//! duplicates, and resolve record types into the [`TypeEnv`].

use crate::names::{FxHashMap, Names};
use crate::typeck::{TypeEnv, Typer};
use aqueduct_diagnostics::{Diagnostic, FileId, codes};
use aqueduct_graph::{FieldType, RecordType};
use aqueduct_syntax::ast;

/// A declaration and the file it is in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a, T> {
    pub file: FileId,
    pub decl: &'a T,
    /// The declared name's span.
    pub name_span: aqueduct_diagnostics::Span,
}

/// Every declaration of the project by kind, first one wins on duplicates.
#[derive(Debug, Default)]
pub(crate) struct Decls<'a> {
    pub systems: Names<'a, At<'a, ast::SystemDecl>>,
    pub types: Names<'a, At<'a, ast::TypeDecl>>,
    pub channels: Names<'a, At<'a, ast::ChannelDecl>>,
    pub flows: Names<'a, At<'a, ast::FlowDecl>>,
    pub tests: Names<'a, At<'a, ast::TestDecl>>,
    /// Source order of every declaration, for lowering in a stable order.
    pub order: Vec<(FileId, &'a ast::Decl)>,
}

/// Collects declarations, reporting AQ0202 for a second declaration of a name.
pub(crate) fn collect<'a>(
    files: &'a [(FileId, ast::File)],
    diags: &mut Vec<Diagnostic>,
) -> Decls<'a> {
    let mut decls = Decls::default();
    for (file, tree) in files {
        for decl in &tree.decls {
            decls.order.push((*file, decl));
            let (kind, first) = match decl {
                ast::Decl::System(d) => ("system", insert(&mut decls.systems, *file, d, &d.name)),
                ast::Decl::Type(d) => ("type", insert(&mut decls.types, *file, d, &d.name)),
                ast::Decl::Channel(d) => {
                    ("channel", insert(&mut decls.channels, *file, d, &d.name))
                }
                ast::Decl::Flow(d) => ("flow", insert(&mut decls.flows, *file, d, &d.name)),
                ast::Decl::Test(d) => ("test", insert(&mut decls.tests, *file, d, &d.name)),
            };
            if let Some((first_file, first_span)) = first {
                let name = &decl.name().name;
                diags.push(
                    Diagnostic::error(codes::AQ0202, format!("{kind} `{name}` is declared twice"))
                        .with_primary(
                            *file,
                            decl.name().span,
                            format!("second {kind} named `{name}`"),
                        )
                        .with_context(first_file, first_span, "first declared here")
                        .with_help(format!(
                            "rename one of them; every {kind} needs its own name"
                        )),
                );
            }
        }
    }
    // A system and a channel share the namespace of sources and targets.
    for (name, channel) in decls.channels.sorted() {
        if let Some(system) = decls.systems.get(name) {
            diags.push(
                Diagnostic::error(
                    codes::AQ0202,
                    format!("`{name}` names both a system and a channel"),
                )
                .with_primary(
                    channel.file,
                    channel.decl.name.span,
                    "channel declared here",
                )
                .with_context(system.file, system.decl.name.span, "system declared here")
                .with_help(
                    "sources and targets refer to systems and channels by name: rename one of them",
                ),
            );
        }
    }
    decls
}

fn insert<'a, T>(
    map: &mut Names<'a, At<'a, T>>,
    file: FileId,
    decl: &'a T,
    name: &'a ast::Ident,
) -> Option<(FileId, aqueduct_diagnostics::Span)> {
    // The first declaration of a name stays.
    map.insert_first(
        &name.name,
        At {
            file,
            decl,
            name_span: name.span,
        },
    )
    .map(|existing| (existing.file, existing.name_span))
}

/// Resolves every `type` declaration into a record type.
pub(crate) fn resolve_types(decls: &Decls<'_>, diags: &mut Vec<Diagnostic>) -> TypeEnv {
    let mut env = TypeEnv::default();
    // Names first, so fields may refer to any type, in any file or order.
    let types = decls.types.sorted();
    env.records.reserve(types.len());
    for &(name, at) in &types {
        env.records.insert(
            name.to_string(),
            RecordType {
                name: name.to_string(),
                fields: Vec::new(),
                doc: doc_lines(&at.decl.doc),
            },
        );
    }
    let mut resolved = Vec::with_capacity(types.len());
    for &(name, at) in &types {
        let mut typer = Typer::new(&env, at.file, diags);
        let mut fields: Vec<FieldType> = Vec::new();
        let mut seen: FxHashMap<&str, aqueduct_diagnostics::Span> =
            FxHashMap::with_capacity_and_hasher(at.decl.fields.len(), Default::default());
        for field in &at.decl.fields {
            if let Some(first) = seen.get(field.name.name.as_str()) {
                typer.diags.push(
                    Diagnostic::error(
                        codes::AQ0207,
                        format!("field `{}` is declared twice in `{name}`", field.name.name),
                    )
                    .with_primary(at.file, field.name.span, "declared again here")
                    .with_context(at.file, *first, "first declared here")
                    .with_help("remove one of the two declarations"),
                );
                continue;
            }
            seen.insert(&field.name.name, field.name.span);
            let ty = typer.resolve_type(&field.ty);
            fields.push(FieldType {
                name: field.name.name.clone(),
                ty,
                doc: doc_lines(&field.doc),
            });
        }
        resolved.push((name, fields));
    }
    for (name, fields) in resolved {
        if let Some(record) = env.records.get_mut(name) {
            record.fields = fields;
        }
    }
    env
}

/// The lines of a doc comment.
pub(crate) fn doc_lines(doc: &Option<ast::Doc>) -> Vec<String> {
    doc.as_ref().map(|d| d.lines.clone()).unwrap_or_default()
}
