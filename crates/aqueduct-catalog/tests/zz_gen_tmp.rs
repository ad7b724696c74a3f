use aqueduct_catalog::*;
fn ty(t: &ValueType) -> String {
    match t {
        ValueType::String => "string".into(),
        ValueType::Url => "URL".into(),
        ValueType::Int => "int".into(),
        ValueType::Bool => "bool".into(),
        ValueType::Duration => "duration".into(),
        ValueType::Size => "size".into(),
        ValueType::Enum(v) => v.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" \\| "),
        ValueType::List(i) => format!("list of {}", ty(i)),
        ValueType::FieldList => "field list".into(),
        ValueType::Template => "template".into(),
        ValueType::Block(b) => format!("block: {}", b.iter().map(|b| format!("`{}`", b.kind)).collect::<Vec<_>>().join(", ")),
        ValueType::Map => "map".into(),
    }
}
const COMMON: &[&str] = &["bearer", "basic", "api_key", "oauth2_client_credentials"];
fn opts(out: &mut String, o: &[OptionSpec]) {
    out.push_str("| option | type | required | summary |\n|---|---|---|---|\n");
    for o in o {
        let req = match (o.required, o.secret) { (true, true) => "yes (secret)", (true, false) => "yes", (false, true) => "no (secret)", _ => "no" };
        out.push_str(&format!("| `{}` | {} | {} | {} |\n", o.name, ty(&o.ty), req, o.summary.replace('|', "\\|")));
    }
}
#[test]
fn draft() {
    let mut out = String::new();
    out.push_str("| kind | sources | targets | calls | runs today |\n|---|---|---|---|---|\n");
    for c in catalog() {
        let names = |r: Role| c.operations.iter().filter(|o| o.role == r).map(|o| format!("`{}`", o.name)).collect::<Vec<_>>().join(", ");
        let s = |x: String| if x.is_empty() { "—".to_string() } else { x };
        let sup = match c.support { Support::Embedded => "yes".to_string(), Support::Feature(f) => format!("with feature `{f}`"), Support::Planned => "not yet".into() };
        out.push_str(&format!("| [`{}`](#{}) | {} | {} | {} | {} |\n", c.kind, c.kind, s(names(Role::Source)), s(names(Role::Target)), s(names(Role::Call)), sup));
    }
    out.push('\n');
    for c in catalog() {
        out.push_str(&format!("## `{}`\n\n{}\n\n", c.kind, c.summary));
        out.push_str(match c.support { Support::Embedded => "**Runs today:** yes, built into every `aqueduct` binary.\n\n".to_string(), Support::Feature(f) => format!("**Runs today:** yes, in builds with the `{f}` feature of `aqueduct-connectors`.\n\n"), Support::Planned => "**Runs today:** no. `aqueduct check` validates it; `aqueduct run` refuses it at start-up.\n\n".into() }.as_str());
        if !c.options.is_empty() { out.push_str("### Options\n\n"); opts(&mut out, c.options); out.push('\n'); }
        if !c.inline_positional.is_empty() { out.push_str(&format!("Inline form: `{}(…)` sets {}.\n\n", c.kind, c.inline_positional.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "))); }
        for o in c.options { if let ValueType::Block(bs) = &o.ty { for b in *bs {
            if COMMON.contains(&b.kind) && c.kind != "salesforce" { continue; }
            out.push_str(&format!("`{} = {} {{ … }}`: {}\n\n", o.name, b.kind, b.summary));
            opts(&mut out, b.options); out.push('\n');
        }}}
        out.push_str("### Operations\n\n");
        for op in c.operations {
            let sig: Vec<_> = op.positional().map(|p| p.name.to_string()).collect();
            let modes: Vec<_> = op.modes.iter().map(|m| format!("{m:?}").to_lowercase()).collect();
            let mut tags = vec![format!("{:?}", op.role).to_lowercase(), format!("modes: {}", modes.join(", "))];
            if op.role == Role::Source { tags.push(if op.bounded { "bounded".into() } else { "unbounded".into() }) }
            if op.request_reply { tags.push("request-reply".into()) }
            let rec = match op.record { RecordShape::Declared => "records: as declared".to_string(), RecordShape::Nothing => "no record".into(), RecordShape::Fixed(f) => format!("records: {:?}", f) };
            tags.push(rec);
            out.push_str(&format!("#### {} `{}({})`\n\n{}\n\n*{}*\n\n", format!("{:?}", op.role).to_lowercase(), op.name, sig.join(", "), op.summary, tags[1..].join(" · ")));
            out.push_str("| parameter | passed | type | summary |\n|---|---|---|---|\n");
            let mut fmt = false;
            for p in op.params {
                if ["header", "delimiter", "record"].contains(&p.name) { fmt = true; continue; }
                let k = match (p.positional, p.required) { (true, true) => "position, required", (true, false) => "position, optional", (false, true) => "by name, required", _ => "by name, optional" };
                out.push_str(&format!("| `{}` | {} | {} | {} |\n", p.name, k, ty(&p.ty), p.summary.replace('|', "\\|")));
            }
            if fmt { out.push_str("\nAlso takes the [format parameters](#formats) `header`, `delimiter` and `record`.\n"); }
            out.push('\n');
        }
    }
    std::fs::write("/tmp/connectors_draft.md", out).unwrap();
}
