//! The Rust model of a graph's types: a struct per record type, field
//! names, and the Rust type of every language type.

use crate::names;
use aqueduct_graph::{Graph, RecordType, Type};
use std::collections::BTreeMap;

/// One generated struct.
#[derive(Debug, Clone)]
pub struct Struct {
    /// The record type's name in the language.
    pub name: String,
    /// The Rust struct name.
    pub rust: String,
    /// Fields in slot order.
    pub fields: Vec<Field>,
    /// Doc comment lines.
    pub doc: Vec<String>,
}

/// One field of a generated struct.
#[derive(Debug, Clone)]
pub struct Field {
    /// As the external system spells it.
    pub name: String,
    /// The Rust field name.
    pub rust: String,
    /// Its language type.
    pub ty: Type,
    /// Doc comment lines.
    pub doc: Vec<String>,
}

/// The structs of a graph by record type name.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Structs by record type name.
    pub structs: BTreeMap<String, Struct>,
}

impl Model {
    /// The model of every record type of `graph`.
    pub fn new(graph: &Graph) -> Model {
        let rust_names = names::unique(graph.types.iter().map(|t| names::camel(&t.name)).collect());
        let structs = graph
            .types
            .iter()
            .zip(rust_names)
            .map(|(t, rust)| (t.name.clone(), Model::structure(t, rust)))
            .collect();
        Model { structs }
    }

    fn structure(t: &RecordType, rust: String) -> Struct {
        let field_names = names::unique(t.fields.iter().map(|f| names::snake(&f.name)).collect());
        Struct {
            name: t.name.clone(),
            rust,
            fields: t
                .fields
                .iter()
                .zip(field_names)
                .map(|(f, rust)| Field {
                    name: f.name.clone(),
                    rust,
                    ty: norm(&f.ty),
                    doc: f.doc.clone(),
                })
                .collect(),
            doc: t.doc.clone(),
        }
    }

    /// The struct of record type `name`.
    pub fn get(&self, name: &str) -> Option<&Struct> {
        self.structs.get(name)
    }

    /// The Rust type standing for `ty`.
    pub fn rust_type(&self, ty: &Type) -> String {
        match norm(ty) {
            Type::String => "String".into(),
            Type::Int => "i64".into(),
            Type::Float => "f64".into(),
            Type::Decimal => "Decimal".into(),
            Type::Bool => "bool".into(),
            Type::Timestamp => "DateTime<Utc>".into(),
            Type::Date => "NaiveDate".into(),
            Type::Bytes => "Vec<u8>".into(),
            Type::Json | Type::Null | Type::Duration => "Value".into(),
            Type::List(t) => format!("Vec<{}>", self.rust_type(&t)),
            Type::Record(name) => self
                .get(&name)
                .map(|s| s.rust.clone())
                .unwrap_or_else(|| "Value".into()),
            Type::Optional(t) => format!("Option<{}>", self.rust_type(&t)),
        }
    }

    /// True when `ty` stands for a Rust `Copy` type.
    pub fn is_copy(&self, ty: &Type) -> bool {
        match norm(ty) {
            Type::Int | Type::Float | Type::Decimal | Type::Bool | Type::Timestamp | Type::Date => {
                true
            }
            Type::Optional(t) => self.is_copy(&t),
            _ => false,
        }
    }

    /// True when the struct can derive serde's traits (no json or bytes inside).
    pub fn serde_ok(&self, ty: &Type, seen: &mut Vec<String>) -> bool {
        match norm(ty) {
            Type::Json | Type::Null | Type::Duration | Type::Bytes => false,
            Type::List(t) | Type::Optional(t) => self.serde_ok(&t, seen),
            Type::Record(name) => {
                if seen.contains(&name) {
                    return true;
                }
                seen.push(name.clone());
                self.get(&name)
                    .is_some_and(|s| s.fields.iter().all(|f| self.serde_ok(&f.ty, seen)))
            }
            _ => true,
        }
    }
}

/// A type as generated code represents it: `json`, `null`, `duration` and
/// `json?` are all [`Type::Json`] (a runtime value that may be null).
pub fn norm(ty: &Type) -> Type {
    match ty {
        Type::Json | Type::Duration => Type::Json,
        Type::Optional(inner) => match norm(inner) {
            Type::Json | Type::Null => Type::Json,
            Type::Optional(t) => Type::Optional(t),
            t => Type::Optional(Box::new(t)),
        },
        Type::List(t) => Type::List(Box::new(norm(t))),
        other => other.clone(),
    }
}
