//! `describe`: the global list of sObjects and one object's metadata, in
//! the shape of `DescribeGlobalResult` / `DescribeSObjectResult` (the keys a
//! client keys schema inference on: `type`, `nillable`, `defaultedOnCreate`,
//! `createable`, `updateable`, `externalId`, `idLookup`, `referenceTo`,
//! `relationshipName`, `picklistValues`).

use crate::schema::{FieldDef, FieldType, ObjectDef, Schema};
use serde_json::{Value, json};

/// The `urls` block of an object.
fn urls(o: &ObjectDef, base: &str) -> Value {
    let s = format!("{base}/sobjects/{}", o.name);
    json!({"sobject": s, "describe": format!("{s}/describe"), "rowTemplate": format!("{s}/{{ID}}")})
}

/// The flags shared by the global and the full describe.
fn basics(o: &ObjectDef, base: &str) -> serde_json::Map<String, Value> {
    let writable = !o.is_event;
    let v = json!({
        "name": o.name,
        "label": o.label,
        "labelPlural": o.label_plural,
        "keyPrefix": o.key_prefix,
        "custom": o.custom,
        "createable": true,
        "updateable": writable,
        "deletable": writable,
        "queryable": writable,
        "retrieveable": writable,
        "searchable": writable,
        "triggerable": true,
        "undeletable": false,
        "replicateable": writable,
        "layoutable": writable,
        "mergeable": false,
        "feedEnabled": false,
        "activateable": false,
        "deprecatedAndHidden": false,
        "customSetting": false,
        "urls": urls(o, base),
    });
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// `GET /sobjects/`
pub fn global(schema: &Schema, base: &str) -> Value {
    let objects: Vec<Value> = schema
        .objects
        .iter()
        .map(|o| Value::Object(basics(o, base)))
        .collect();
    json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects})
}

/// `GET /sobjects/{SObject}` (the basic information block).
pub fn basic(o: &ObjectDef, base: &str) -> Value {
    json!({"objectDescribe": Value::Object(basics(o, base)), "recentItems": []})
}

/// `GET /sobjects/{SObject}/describe`
pub fn full(o: &ObjectDef, base: &str) -> Value {
    let mut m = basics(o, base);
    m.insert(
        "fields".into(),
        Value::Array(o.fields.iter().map(field).collect()),
    );
    let children: Vec<Value> = o
        .children
        .iter()
        .map(|c| json!({"childSObject": c.child, "field": c.field, "relationshipName": c.name, "cascadeDelete": false, "deprecatedAndHidden": false, "restrictedDelete": false}))
        .collect();
    m.insert("childRelationships".into(), Value::Array(children));
    m.insert("recordTypeInfos".into(), json!([]));
    m.insert("supportedScopes".into(), json!([]));
    Value::Object(m)
}

fn field(f: &FieldDef) -> Value {
    let defaulted = f.system || f.default.is_some();
    let picklist: Vec<Value> = f
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"value": v, "label": v, "active": true, "defaultValue": i == 0 && f.default.as_ref().and_then(Value::as_str) == Some(v.as_str()), "validFor": null}))
        .collect();
    json!({
        "name": f.name,
        "label": f.label,
        "type": f.ftype.describe_name(),
        "soapType": f.ftype.soap_type(),
        "length": f.length,
        "byteLength": f.length * 3,
        "precision": f.precision,
        "scale": f.scale,
        "digits": if f.ftype == FieldType::Int { f.precision } else { 0 },
        "nillable": f.nillable,
        "createable": f.createable && !f.system,
        "updateable": f.updateable && !f.system,
        "defaultedOnCreate": defaulted,
        "defaultValue": f.default.clone().unwrap_or(Value::Null),
        "externalId": f.external_id,
        "idLookup": f.id_lookup,
        "unique": f.unique,
        "caseSensitive": false,
        "custom": f.custom,
        "calculated": false,
        "autoNumber": false,
        "filterable": true,
        "sortable": f.ftype != FieldType::Textarea,
        "groupable": f.ftype != FieldType::Textarea,
        "nameField": f.name == "Name",
        "referenceTo": f.reference_to,
        "relationshipName": f.relationship_name,
        "polymorphicForeignKey": f.reference_to.len() > 1,
        "restrictedPicklist": false,
        "picklistValues": picklist,
        "deprecatedAndHidden": false,
    })
}
