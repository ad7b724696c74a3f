//! The per-record checks of a write: reading the body into declared
//! fields (unknown, read-only and system fields refused; relationships by
//! external id resolved), then the saved record's references, unique values
//! and validation rules.

use super::{WriteCtx, external_field, find_by};
use crate::errors::ApiError;
use crate::org::State;
use crate::schema::{FieldDef, FieldType, ObjectDef};
use crate::soql;
use crate::store::Record;
use crate::values::from_json;
use serde_json::{Map, Value, json};

/// Which kind of write a body is read for.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Op {
    Create,
    Update,
}

/// Reads a request body into checked values keyed by declared field names;
/// resolves relationships given by external id.
pub(super) fn read_input(
    st: &State,
    def: &ObjectDef,
    input: &Map<String, Value>,
    op: Op,
    _ctx: &WriteCtx,
) -> Result<Record, ApiError> {
    let mut out = Record::new();
    let mut refused = Vec::new();
    for (key, value) in input {
        if key == "attributes" || (op == Op::Update && key.eq_ignore_ascii_case("Id")) {
            continue;
        }
        let (field, value) = match def.field(key) {
            Some(f) => (f, from_json(f, value)?),
            None => match (def.relationship(key), value) {
                (Some(f), Value::Object(by_ext)) => (f, resolve_relationship(st, f, by_ext)?),
                _ => {
                    return Err(ApiError::invalid_field(format!(
                        "No such column '{key}' on sobject of type {}",
                        def.name
                    ))
                    .with_fields(&[key]));
                }
            },
        };
        let allowed = if op == Op::Create {
            field.createable
        } else {
            field.updateable
        };
        if !allowed || field.system {
            refused.push(field.name.clone());
            continue;
        }
        out.insert(field.name.clone(), value);
    }
    if !refused.is_empty() {
        let list = refused.join(", ");
        let fields: Vec<&str> = refused.iter().map(String::as_str).collect();
        return Err(ApiError::bad(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!("Unable to create/update fields: {list}. Please check the security settings of this field and verify that it is read/write for your profile or permission set."),
        )
        .with_fields(&fields));
    }
    Ok(out)
}

/// `{"Account": {"Ext_Id__c": "A-1"}}` → the Account's id.
fn resolve_relationship(
    st: &State,
    f: &FieldDef,
    by_ext: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let schema = st.schema.clone();
    let target_name = by_ext
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str)
        .or_else(|| f.reference_to.first().map(String::as_str))
        .unwrap_or("");
    let Some(target) = schema.index(target_name) else {
        return Err(ApiError::invalid_field(format!(
            "Invalid relationship type {target_name} for {}",
            f.name
        )));
    };
    let keys: Vec<(&String, &Value)> = by_ext.iter().filter(|(k, _)| *k != "attributes").collect();
    let [(key, value)] = keys.as_slice() else {
        return Err(ApiError::invalid_field(format!(
            "A relationship by external id names exactly one field: {}",
            f.relationship_name.clone().unwrap_or_default()
        )));
    };
    let tdef = &schema.objects[target];
    let ext = external_field(tdef, key).map_err(|_| {
        ApiError::invalid_field(format!(
            "Field {key} is not an external ID field of {}",
            tdef.name
        ))
    })?;
    let v = from_json(ext, value)?;
    let found = find_by(st, target, &ext.name, &v);
    match found.as_slice() {
        [one] => Ok(json!(one)),
        [] => Err(ApiError::invalid_field(format!(
            "Foreign key external ID: {} not found for field {} in entity {}",
            crate::values::to_text(&v),
            ext.name,
            tdef.name
        ))),
        _ => Err(ApiError::invalid_field(format!(
            "Foreign key external ID: {} matches more than one record for field {} in entity {}",
            crate::values::to_text(&v),
            ext.name,
            tdef.name
        ))),
    }
}

/// References exist, unique values are unique, validation rules pass.
pub(super) fn check_record(
    st: &State,
    def: &ObjectDef,
    obj: usize,
    rec: &Record,
    own_id: Option<&str>,
    _ctx: &WriteCtx,
) -> Result<(), ApiError> {
    let schema = st.schema.clone();
    for f in def
        .fields
        .iter()
        .filter(|f| f.ftype == FieldType::Reference && !f.system)
    {
        let Some(id) = rec.get(&f.name).and_then(Value::as_str) else {
            continue;
        };
        let target = schema.by_prefix(id).map(|i| &schema.objects[i]);
        let type_ok = target.is_some_and(|t| {
            f.reference_to
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&t.name))
        });
        if !type_ok {
            return Err(ApiError::bad(
                "FIELD_INTEGRITY_EXCEPTION",
                format!("{}: id value of incorrect type: {id}", f.label),
            )
            .with_fields(&[&f.name]));
        }
        if st.data.live(&schema, id).is_none() {
            return Err(ApiError::bad(
                "INVALID_CROSS_REFERENCE_KEY",
                format!("invalid cross reference id: {id}"),
            )
            .with_fields(&[&f.name]));
        }
    }
    for f in def.fields.iter().filter(|f| f.unique) {
        let Some(v) = rec.get(&f.name).filter(|v| !v.is_null()) else {
            continue;
        };
        let others: Vec<String> = find_by(st, obj, &f.name, v)
            .into_iter()
            .filter(|i| Some(i.as_str()) != own_id)
            .collect();
        if let Some(other) = others.first() {
            return Err(ApiError::bad(
                "DUPLICATE_VALUE",
                format!(
                    "duplicate value found: {} duplicates value on record with id: {other}",
                    f.name
                ),
            ));
        }
    }
    for rule in &def.rules {
        match soql::matches(&schema, &st.data, obj, &rule.when, rec, st.clock.today()) {
            Ok(true) => {
                let fields: Vec<&str> = rule.field.iter().map(String::as_str).collect();
                return Err(ApiError::bad(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    rule.message.clone(),
                )
                .with_fields(&fields));
            }
            Ok(false) => {}
            Err(e) => {
                return Err(ApiError::new(
                    500,
                    "UNKNOWN_EXCEPTION",
                    format!("validation rule {} cannot run: {}", rule.name, e.message),
                ));
            }
        }
    }
    Ok(())
}
