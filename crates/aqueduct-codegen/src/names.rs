//! Rust names for language names: snake_case fields, functions and modules,
//! UpperCamelCase structs, kebab-case crates; keywords and clashes avoided.

use std::collections::BTreeSet;

/// Rust keywords (strict and reserved) and names generated code relies on.
const RESERVED: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield", "union",
    // names of the step functions' parameters and of the generated modules
    "rec", "b", "x", "y", "types", "main", "lib", "natives", "graph", "std", "core", "alloc",
];

/// Type names a struct must not shadow (the native prelude and the std prelude).
const TAKEN_TYPES: &[&str] = &[
    "Bindings",
    "EvalError",
    "NativeValue",
    "Value",
    "Decimal",
    "DateTime",
    "Utc",
    "NaiveDate",
    "Func",
    "BinaryOp",
    "UnaryOp",
    "Natives",
    "Slot",
    "Type",
    "String",
    "Option",
    "Vec",
    "Result",
    "Box",
    "Some",
    "None",
    "Ok",
    "Err",
    "Self",
];

/// `snake_case` of any name: `AnnualRevenue` → `annual_revenue`,
/// `Account.Name` → `account_name`, `Device_Id__c` → `device_id_c`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() {
                let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
                let next = chars.get(i + 1).copied();
                let boundary = match prev {
                    Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                    Some(p) if p.is_ascii_uppercase() => {
                        next.is_some_and(|n| n.is_ascii_lowercase())
                    }
                    _ => false,
                };
                if boundary && !out.ends_with('_') {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_string();
    if out.is_empty() {
        out.push_str("field");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if RESERVED.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// `UpperCamelCase` of a type name: `order_row` → `OrderRow`; names the
/// prelude uses get a `Record` suffix (`Value` → `ValueRecord`).
pub fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = c.is_ascii_digit();
        } else {
            upper = true;
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Record");
    }
    if TAKEN_TYPES.contains(&out.as_str()) {
        out.push_str("Record");
    }
    out
}

/// `kebab-case` crate and directory name of a service.
pub fn kebab(name: &str) -> String {
    snake(name).trim_matches('_').replace('_', "-")
}

/// Makes names unique in order of appearance by appending `_2`, `_3`, ….
pub fn unique(names: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    names
        .into_iter()
        .map(|n| {
            let mut candidate = n.clone();
            let mut i = 2;
            while !seen.insert(candidate.clone()) {
                candidate = format!("{n}_{i}");
                i += 1;
            }
            candidate
        })
        .collect()
}

/// A Rust string literal for `text`.
pub fn str_lit(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_names() {
        assert_eq!(snake("AnnualRevenue"), "annual_revenue");
        assert_eq!(snake("Account.Name"), "account_name");
        assert_eq!(snake("Device_Id__c"), "device_id_c");
        assert_eq!(snake("HTTPStatus"), "http_status");
        assert_eq!(snake("type"), "type_");
        assert_eq!(snake("Id"), "id");
        assert_eq!(camel("order_row"), "OrderRow");
        assert_eq!(camel("Value"), "ValueRecord");
        assert_eq!(kebab("import_orders"), "import-orders");
        assert_eq!(unique(vec!["a".into(), "a".into()]), vec!["a", "a_2"]);
        assert_eq!(str_lit("a\"b\\{}"), "\"a\\\"b\\\\{}\"");
    }
}
