//! Invariants of the connector catalogue, and a snapshot of all of it.
//!
//! The checker trusts this data: each test here states one rule the checker
//! (or `aqueduct connectors`) relies on.

use std::collections::HashSet;

use aqueduct_catalog::{
    ConnectorSpec, Mode, OperationSpec, OptionSpec, RecordShape, Role, Support, ValueType, catalog,
    connector, kind_names,
};

/// Every operation of every kind, with its kind.
fn operations() -> impl Iterator<Item = (&'static ConnectorSpec, &'static OperationSpec)> {
    catalog()
        .iter()
        .flat_map(|c| c.operations.iter().map(move |o| (c, o)))
}

/// Every option of every kind, including those inside nested blocks.
fn all_options() -> Vec<(String, &'static OptionSpec)> {
    fn walk(
        path: String,
        options: &'static [OptionSpec],
        out: &mut Vec<(String, &'static OptionSpec)>,
    ) {
        for option in options {
            let here = format!("{path}.{}", option.name);
            if let ValueType::Block(blocks) = &option.ty {
                for block in *blocks {
                    walk(format!("{here}={}", block.kind), block.options, out);
                }
            }
            out.push((here, option));
        }
    }
    let mut out = Vec::new();
    for c in catalog() {
        walk(c.kind.to_owned(), c.options, &mut out);
    }
    out
}

/// Whether `ty` is a type written in the language without naming a user type:
/// a primitive, `[T]`, or either followed by `?`.
fn is_language_type(ty: &str) -> bool {
    let ty = ty.strip_suffix('?').unwrap_or(ty);
    if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return is_language_type(inner);
    }
    [
        "string",
        "int",
        "float",
        "decimal",
        "bool",
        "timestamp",
        "date",
        "bytes",
        "json",
    ]
    .contains(&ty)
}

/// Whether `s` is a bare identifier, so it can be written as an enum value.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[test]
fn the_design_table_is_complete() {
    let expected = [
        "file",
        "stdio",
        "http",
        "endpoint",
        "sqlite",
        "postgres",
        "mysql",
        "redis",
        "amqp",
        "mqtt",
        "nats",
        "kafka",
        "salesforce",
        "soap",
        "graphql",
    ];
    assert_eq!(kind_names().collect::<Vec<_>>(), expected);
}

#[test]
fn kind_names_are_unique() {
    let mut seen = HashSet::new();
    for kind in kind_names() {
        assert!(seen.insert(kind), "kind {kind} is listed twice");
    }
}

#[test]
fn every_operation_of_the_design_exists() {
    use Role::{Call, Source, Target};
    let expected: &[(&str, &[(&str, Role)])] = &[
        (
            "file",
            &[
                ("read", Source),
                ("tail", Source),
                ("write", Target),
                ("append", Target),
            ],
        ),
        ("stdio", &[("stdin", Source), ("stdout", Target)]),
        (
            "http",
            &[
                ("poll", Source),
                ("post", Target),
                ("put", Target),
                ("patch", Target),
                ("delete", Target),
                ("get", Call),
                ("post", Call),
            ],
        ),
        (
            "endpoint",
            &[
                ("post", Source),
                ("put", Source),
                ("get", Source),
                ("events", Target),
            ],
        ),
        (
            "sqlite",
            &[
                ("query", Source),
                ("poll", Source),
                ("insert", Target),
                ("upsert", Target),
                ("delete", Target),
                ("query", Call),
            ],
        ),
        ("postgres", &[("changes", Source)]),
        ("mysql", &[("changes", Source)]),
        (
            "redis",
            &[
                ("stream", Source),
                ("subscribe", Source),
                ("xadd", Target),
                ("publish", Target),
                ("set", Target),
                ("get", Call),
            ],
        ),
        ("amqp", &[("consume", Source), ("publish", Target)]),
        ("mqtt", &[("subscribe", Source), ("publish", Target)]),
        (
            "nats",
            &[
                ("subscribe", Source),
                ("publish", Target),
                ("request", Call),
            ],
        ),
        (
            "salesforce",
            &[
                ("query", Source),
                ("bulk_query", Source),
                ("changes", Source),
                ("events", Source),
                ("outbound_messages", Source),
                ("insert", Target),
                ("update", Target),
                ("upsert", Target),
                ("delete", Target),
                ("publish", Target),
                ("get", Call),
                ("query", Call),
            ],
        ),
        ("soap", &[("call", Target), ("call", Call)]),
        ("graphql", &[("mutate", Target), ("query", Call)]),
    ];
    for (kind, ops) in expected {
        let c = connector(kind).unwrap_or_else(|| panic!("no kind {kind}"));
        for (name, role) in *ops {
            assert!(
                c.operation(name, *role).is_some(),
                "{kind}.{name} is missing as a {role:?}"
            );
        }
    }
    // The SQL kinds share every sqlite operation.
    let sqlite = connector("sqlite").unwrap();
    for kind in ["postgres", "mysql"] {
        for op in sqlite.operations {
            assert!(
                connector(kind)
                    .unwrap()
                    .operation(op.name, op.role)
                    .is_some(),
                "{kind}.{} missing",
                op.name
            );
        }
    }
}

#[test]
fn sqlite_has_no_change_data_capture() {
    assert!(
        connector("sqlite")
            .unwrap()
            .operation("changes", Role::Source)
            .is_none()
    );
}

#[test]
fn operation_name_and_role_pairs_are_unique_within_a_kind() {
    for c in catalog() {
        let mut seen = HashSet::new();
        for op in c.operations {
            assert!(
                seen.insert((op.name, op.role)),
                "{}.{} is listed twice as a {:?}",
                c.kind,
                op.name,
                op.role
            );
        }
    }
}

#[test]
fn option_and_param_names_are_unique() {
    for c in catalog() {
        let mut seen = HashSet::new();
        for o in c.options {
            assert!(seen.insert(o.name), "{}: option {} twice", c.kind, o.name);
        }
    }
    for (c, op) in operations() {
        let mut seen = HashSet::new();
        for p in op.params {
            assert!(
                seen.insert(p.name),
                "{}.{}: parameter {} twice",
                c.kind,
                op.name,
                p.name
            );
        }
    }
}

#[test]
fn positional_params_come_first_and_required_before_optional() {
    for (c, op) in operations() {
        let first_named = op
            .params
            .iter()
            .position(|p| !p.positional)
            .unwrap_or(op.params.len());
        assert!(
            op.params[first_named..].iter().all(|p| !p.positional),
            "{}.{}: a positional parameter follows a named one",
            c.kind,
            op.name
        );
        // An optional positional parameter followed by a required one could
        // never be left out, so it would not really be optional.
        let first_optional = op
            .positional()
            .position(|p| !p.required)
            .unwrap_or(usize::MAX);
        assert!(
            op.positional().skip(first_optional).all(|p| !p.required),
            "{}.{}: a required positional parameter follows an optional one",
            c.kind,
            op.name
        );
    }
}

#[test]
fn documented_required_options_exist() {
    let required = [
        ("http", "base_url"),
        ("endpoint", "listen"),
        ("sqlite", "path"),
        ("postgres", "url"),
        ("mysql", "url"),
        ("redis", "url"),
        ("amqp", "url"),
        ("mqtt", "url"),
        ("nats", "url"),
        ("kafka", "url"),
        ("salesforce", "instance_url"),
        ("salesforce", "auth"),
        ("soap", "url"),
        ("graphql", "url"),
    ];
    for (kind, name) in required {
        let option = connector(kind).unwrap().option(name);
        assert!(
            option.is_some_and(|o| o.required),
            "{kind}.{name} should be a required option"
        );
    }
    let required: HashSet<_> = required.into_iter().collect();
    for c in catalog() {
        for o in c.options.iter().filter(|o| o.required) {
            assert!(
                required.contains(&(c.kind, o.name)),
                "{}.{} is required but not listed here",
                c.kind,
                o.name
            );
        }
    }
    assert!(
        connector("file")
            .unwrap()
            .option("root")
            .is_some_and(|o| !o.required)
    );
    assert!(connector("stdio").unwrap().options.is_empty());
}

#[test]
fn connection_urls_that_can_carry_passwords_are_secret() {
    for kind in ["postgres", "mysql", "redis", "amqp", "mqtt", "nats"] {
        assert!(
            connector(kind).unwrap().option("url").unwrap().secret,
            "{kind}.url should be secret"
        );
    }
}

#[test]
fn credentials_in_auth_blocks_are_secret() {
    let credentials = [
        "token",
        "password",
        "value",
        "client_secret",
        "secret",
        "private_key",
        "refresh_token",
    ];
    for (path, option) in all_options() {
        if credentials.contains(&option.name) && path.contains(".auth=") {
            assert!(option.secret, "{path} holds a credential but is not secret");
        }
    }
}

#[test]
fn inline_positional_names_are_options() {
    for c in catalog() {
        for name in c.inline_positional {
            assert!(
                c.option(name).is_some(),
                "{}: inline argument {name} is not an option",
                c.kind
            );
        }
    }
    assert_eq!(connector("file").unwrap().inline_positional, ["root"]);
}

#[test]
fn fixed_record_types_are_language_types() {
    for (c, op) in operations() {
        if let RecordShape::Fixed(fields) = op.record {
            for (field, ty) in fields {
                assert!(
                    is_language_type(ty),
                    "{}.{}: field {field} has type {ty:?}",
                    c.kind,
                    op.name
                );
            }
        }
    }
}

#[test]
fn the_language_type_check_itself() {
    for ok in ["string", "json?", "[int]", "[decimal?]?", "[[bytes]]"] {
        assert!(is_language_type(ok), "{ok}");
    }
    for bad in ["String", "Account", "[string", "string??", "", "list<int>"] {
        assert!(!is_language_type(bad), "{bad}");
    }
}

#[test]
fn enum_values_are_bare_identifiers() {
    fn check(where_: &str, ty: &ValueType) {
        match ty {
            ValueType::Enum(values) => {
                assert!(!values.is_empty(), "{where_}: empty enum");
                for v in *values {
                    assert!(
                        is_identifier(v),
                        "{where_}: enum value {v:?} cannot be written bare"
                    );
                }
            }
            ValueType::List(inner) => check(where_, inner),
            _ => {}
        }
    }
    for (path, option) in all_options() {
        check(&path, &option.ty);
    }
    for (c, op) in operations() {
        for p in op.params {
            check(&format!("{}.{}({})", c.kind, op.name, p.name), &p.ty);
        }
    }
}

/// The checker compares a `Field` parameter's type with the named field's
/// declared type, so it must be a type a record field can be declared with.
#[test]
fn field_parameters_name_a_language_type() {
    for (c, op) in operations() {
        for p in op.params {
            if let ValueType::Field(ty) = p.ty {
                assert!(
                    is_language_type(ty) && !ty.ends_with('?'),
                    "{}.{}({}): `{ty}` is not a required language type",
                    c.kind,
                    op.name,
                    p.name
                );
            }
        }
    }
}

#[test]
fn block_kinds_are_unique_per_option() {
    for (path, option) in all_options() {
        if let ValueType::Block(blocks) = option.ty {
            assert!(!blocks.is_empty(), "{path}: no block kinds");
            let mut seen = HashSet::new();
            for b in blocks {
                assert!(seen.insert(b.kind), "{path}: block kind {} twice", b.kind);
            }
        }
    }
}

#[test]
fn source_timing_rules_hold() {
    for (c, op) in operations() {
        let at = format!("{}.{} ({:?})", c.kind, op.name, op.role);
        assert!(!op.modes.is_empty(), "{at}: no modes");
        if op.role != Role::Source {
            assert!(
                !op.bounded && !op.request_reply,
                "{at}: only sources are bounded or request-reply"
            );
            continue;
        }
        if op.request_reply {
            assert!(
                !op.bounded,
                "{at}: a request-reply source cannot be bounded"
            );
        }
        // batch needs a bounded source; sync needs a request-reply one.
        assert_eq!(
            op.modes.contains(&Mode::Batch),
            op.bounded,
            "{at}: batch iff bounded"
        );
        assert_eq!(
            op.modes.contains(&Mode::Sync),
            op.request_reply,
            "{at}: sync iff request-reply"
        );
        assert!(
            !matches!(op.record, RecordShape::Nothing),
            "{at}: a source must produce records"
        );
    }
}

#[test]
fn summaries_are_single_lines() {
    let mut summaries: Vec<(String, &str)> = Vec::new();
    for c in catalog() {
        summaries.push((c.kind.to_owned(), c.summary));
        for op in c.operations {
            summaries.push((format!("{}.{}", c.kind, op.name), op.summary));
            for p in op.params {
                summaries.push((format!("{}.{}({})", c.kind, op.name, p.name), p.summary));
            }
        }
    }
    for (path, option) in all_options() {
        summaries.push((path, option.summary));
    }
    for (at, summary) in summaries {
        assert!(
            !summary.trim().is_empty() && !summary.contains('\n'),
            "{at}: summary must be one non-empty line"
        );
        assert!(
            summary.ends_with('.'),
            "{at}: summary should be a sentence ending in '.'"
        );
    }
}

#[test]
fn support_matches_the_runtime_plan() {
    let support = |kind| connector(kind).unwrap().support;
    for kind in ["file", "stdio", "http", "endpoint", "sqlite"] {
        assert_eq!(support(kind), Support::Embedded, "{kind}");
    }
    // Run by the connector crate behind the CLI's `db` feature.
    assert_eq!(support("postgres"), Support::Feature("db"));
    assert_eq!(support("mysql"), Support::Feature("db"));
    // Connector crates behind the CLI's `brokers` feature.
    for kind in ["amqp", "nats", "redis", "mqtt"] {
        assert_eq!(support(kind), Support::Feature("brokers"), "{kind}");
    }
    // Its own feature: the client builds librdkafka from C.
    assert_eq!(support("kafka"), Support::Feature("kafka"));
    // Run by crates/aqueduct-web behind the CLI's `web` feature
    // (crates/aqueduct-cli/tests/registry.rs keeps this honest).
    for kind in ["soap", "graphql"] {
        assert_eq!(support(kind), Support::Feature("web"), "{kind}");
    }
    // Runnable when the CLI is built with the cargo feature (on by default).
    assert_eq!(support("salesforce"), Support::Feature("salesforce"));
}

#[test]
fn the_connector_reference_mentions_every_operation() {
    let doc = include_str!("../../../docs/connectors.md");
    for c in catalog() {
        assert!(
            doc.contains(&format!("## `{}`", c.kind)),
            "docs/connectors.md has no section for {}",
            c.kind
        );
        for op in c.operations {
            assert!(
                doc.contains(&format!("`{}(", op.name)),
                "docs/connectors.md never shows {}.{}",
                c.kind,
                op.name
            );
        }
    }
}

#[test]
fn snapshot_of_the_whole_catalogue() {
    insta::assert_json_snapshot!("catalog", catalog());
}
