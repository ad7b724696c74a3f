//! `aqueduct connectors [KIND]`: the connector catalogue, as a list of kinds
//! or one kind's options and operations.

use crate::exit::{CmdResult, Exit, Failure};
use crate::output::{Output, table};
use aqueduct_catalog::{
    ConnectorSpec, OperationSpec, RecordShape, Support, ValueType, catalog, connector, kind_names,
};
use aqueduct_diagnostics::did_you_mean;
use clap::ValueEnum;

/// Output formats of `connectors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListFormat {
    /// Aligned text.
    #[default]
    Human,
    /// The catalogue entries as JSON.
    Json,
}

/// Arguments of `connectors`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show this connector kind (e.g. `file`, `postgres`).
    pub kind: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
}

/// Prints the catalogue, or one kind.
pub fn run(args: &Args, out: &Output) -> CmdResult {
    let text = match &args.kind {
        None => match args.format {
            ListFormat::Human => list(),
            ListFormat::Json => json(&catalog())?,
        },
        Some(kind) => {
            let spec = connector(kind).ok_or_else(|| unknown(kind))?;
            match args.format {
                ListFormat::Human => describe(spec),
                ListFormat::Json => json(spec)?,
            }
        }
    };
    out.print(&text)?;
    Ok(Exit::Ok)
}

fn unknown(kind: &str) -> Failure {
    let mut message = format!("`{kind}` is not a connector kind");
    if let Some(best) = did_you_mean(kind, kind_names()) {
        message.push_str(&format!("\n  help: did you mean `{best}`?"));
    }
    message.push_str("\n  help: `aqueduct connectors` lists every kind");
    Failure::Usage(message)
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| Failure::Runtime(format!("cannot serialize the catalogue: {e}")))
}

fn list() -> String {
    let mut rows = vec![vec![
        "KIND".to_string(),
        "SUPPORT".to_string(),
        "SUMMARY".to_string(),
    ]];
    rows.extend(catalog().iter().map(|c| {
        vec![
            c.kind.to_string(),
            support(c.support),
            c.summary.to_string(),
        ]
    }));
    table(&rows, "")
}

fn describe(spec: &ConnectorSpec) -> String {
    let mut out = format!(
        "{}: {}\nsupport: {}\n",
        spec.kind,
        spec.summary,
        support(spec.support)
    );
    out.push_str("\noptions:\n");
    if spec.options.is_empty() {
        out.push_str("  (none)\n");
    }
    let rows: Vec<Vec<String>> = spec
        .options
        .iter()
        .map(|o| {
            let flags = [(o.required, "required"), (o.secret, "secret")];
            let flags: Vec<&str> = flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, f)| *f)
                .collect();
            vec![
                o.name.to_string(),
                value_type(&o.ty),
                flags.join(", "),
                o.summary.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(&rows, "  "));
    for option in spec.options {
        if let ValueType::Block(blocks) = &option.ty {
            for block in *blocks {
                out.push_str(&format!(
                    "\n  {} = {} {{ … }}: {}\n",
                    option.name, block.kind, block.summary
                ));
                let rows: Vec<Vec<String>> = block
                    .options
                    .iter()
                    .map(|o| {
                        vec![
                            o.name.to_string(),
                            value_type(&o.ty),
                            required(o.required),
                            o.summary.to_string(),
                        ]
                    })
                    .collect();
                out.push_str(&table(&rows, "    "));
            }
        }
    }
    out.push_str("\noperations:\n");
    for op in spec.operations {
        out.push_str(&operation(spec.kind, op));
    }
    out
}

fn operation(kind: &str, op: &OperationSpec) -> String {
    let role = format!("{:?}", op.role).to_lowercase();
    let modes: Vec<String> = op
        .modes
        .iter()
        .map(|m| format!("{m:?}").to_lowercase())
        .collect();
    let mut traits = vec![role, format!("modes: {}", modes.join(", "))];
    if op.bounded {
        traits.push("bounded".to_string());
    }
    if op.request_reply {
        traits.push("request-reply".to_string());
    }
    let args: Vec<&str> = op.positional().map(|p| p.name).collect();
    let mut out = format!(
        "\n  {kind}.{}({})  [{}]\n    {}\n",
        op.name,
        args.join(", "),
        traits.join("; "),
        op.summary
    );
    let rows: Vec<Vec<String>> = op
        .params
        .iter()
        .map(|p| {
            let how = if p.positional { "positional" } else { "named" };
            vec![
                p.name.to_string(),
                value_type(&p.ty),
                format!("{how}, {}", required(p.required)),
                p.summary.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(&rows, "    "));
    out.push_str(&format!("    record: {}\n", record(&op.record)));
    out
}

fn required(yes: bool) -> String {
    if yes { "required" } else { "optional" }.to_string()
}

fn support(support: Support) -> String {
    match support {
        Support::Embedded => "embedded".to_string(),
        Support::Feature(feature) => format!("feature `{feature}`"),
        Support::Planned => "planned".to_string(),
    }
}

fn value_type(ty: &ValueType) -> String {
    match ty {
        ValueType::String => "string".to_string(),
        ValueType::Url => "url".to_string(),
        ValueType::Int => "int".to_string(),
        ValueType::Bool => "bool".to_string(),
        ValueType::Duration => "duration".to_string(),
        ValueType::Size => "size".to_string(),
        ValueType::Enum(names) => names.join("|"),
        ValueType::List(inner) => format!("[{}]", value_type(inner)),
        ValueType::FieldList => "[field]".to_string(),
        ValueType::Field(ty) => format!("field ({ty})"),
        ValueType::Template => "template".to_string(),
        ValueType::Block(blocks) => blocks
            .iter()
            .map(|b| format!("{} {{…}}", b.kind))
            .collect::<Vec<_>>()
            .join(" | "),
        ValueType::Map => "{ name = string … }".to_string(),
    }
}

fn record(shape: &RecordShape) -> String {
    match shape {
        RecordShape::Declared => {
            "as declared by the flow (`as Type`, or the record type at this point)".to_string()
        }
        RecordShape::Fixed(fields) => {
            let fields: Vec<String> = fields.iter().map(|(n, t)| format!("{n}: {t}")).collect();
            format!("{{ {} }}", fields.join(", "))
        }
        RecordShape::Nothing => "none".to_string(),
    }
}
