//! The start-up preflight: `GET /sobjects/{object}/describe` of every
//! sObject a flow writes, reads by id or follows for changes, compared with
//! the flow's record type before any record moves (and by `aqueduct check
//! --connect`). What is reported: an sObject the org does not have (or the
//! user cannot see), a field the sObject does not have, a field whose type
//! cannot take the record's values, a field written that the user cannot
//! create (insert) or update (update), an upsert whose external id is not
//! an external id or id-lookup field, and (insert) a required field the
//! record type has no field for. An upsert writing a field that can be
//! created but not updated is a warning, not a refusal ([`warnings`]).
//!
//! Field names compare without regard to case, as Salesforce's API names
//! do. `Id`, the `attributes` member and the fields the connector adds
//! (`_op`, `_commit_time`) are never reported: `Id` names the record, it
//! is not written as a field.

use crate::client::{Body, Client};
use aqueduct_connectors::support::startup::startup;
use aqueduct_graph::{FieldType, Type};
use aqueduct_runtime::connector::{ConnectorError, OpContext};
use reqwest::Method;
use serde::Deserialize;
use std::sync::Arc;

/// What the preflight compares: one operation's use of an sObject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use<'a> {
    /// `insert` (and `publish`, an insert of a platform event).
    Insert,
    /// `update` by `Id`.
    Update,
    /// `upsert` on this external id field.
    Upsert(&'a str),
    /// `delete` by `Id`: only the object must exist.
    Delete,
    /// Fields read (`get`, `changes`): they must exist with a fitting type.
    Read,
}

/// An sObject as `describe` answers (the members the preflight reads).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SObject {
    pub(crate) name: String,
    pub(crate) fields: Vec<SField>,
}

/// One field of a `describe` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SField {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) ftype: String,
    #[serde(default)]
    pub(crate) nillable: bool,
    #[serde(default)]
    pub(crate) createable: bool,
    #[serde(default)]
    pub(crate) updateable: bool,
    #[serde(default)]
    pub(crate) defaulted_on_create: bool,
    #[serde(default)]
    pub(crate) external_id: bool,
    #[serde(default)]
    pub(crate) id_lookup: bool,
}

impl SObject {
    fn field(&self, name: &str) -> Option<&SField> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// Describes `object`; `None` when the org answers 404 (no such sObject,
/// or one the user cannot see).
pub(crate) async fn describe(
    client: &Client,
    object: &str,
) -> Result<Option<SObject>, ConnectorError> {
    let path = client.data_path(&format!(
        "/sobjects/{}/describe",
        aqueduct_connectors::support::template::encode_path_segment(object)
    ));
    let reply = client
        .send(Method::GET, &path, &[], &Body::None, false)
        .await?;
    if reply.status == 404 {
        return Ok(None);
    }
    let reply = client.check(&format!("describe {object}"), reply)?;
    serde_json::from_slice(&reply.body).map(Some).map_err(|e| {
        ConnectorError::Permanent(format!(
            "`{}`: the describe of {object} is not what Salesforce sends: {e}",
            client.system
        ))
    })
}

/// Whether a record field stands for a field of the sObject: not `Id`, not
/// `attributes`, and not one the connector adds (`_op`, `_commit_time`:
/// Salesforce names never start with `_`).
fn is_object_field(name: &str) -> bool {
    !name.eq_ignore_ascii_case("id") && name != "attributes" && !name.starts_with('_')
}

/// Whether a field of Salesforce type `sf` can take values of `ty`.
fn fits(ty: &Type, sf: &str) -> bool {
    let text = matches!(
        sf,
        "id" | "reference"
            | "string"
            | "textarea"
            | "picklist"
            | "multipicklist"
            | "combobox"
            | "email"
            | "phone"
            | "url"
            | "encryptedstring"
    );
    match ty.required() {
        // JSON goes as it is: Salesforce itself judges it
        Type::Json | Type::Null => true,
        Type::String => text || matches!(sf, "date" | "datetime" | "time" | "base64"),
        Type::Bool => sf == "boolean",
        Type::Int => matches!(sf, "int" | "double" | "currency" | "percent"),
        Type::Float | Type::Decimal => matches!(sf, "double" | "currency" | "percent"),
        Type::Date => sf == "date",
        Type::Timestamp => sf == "datetime",
        Type::Bytes => sf == "base64",
        _ => false,
    }
}

/// Everything wrong with `use_` of `object` (as described, `None` when it
/// does not exist) by records of type `type_name` with `fields`.
pub(crate) fn problems(
    object_name: &str,
    object: Option<&SObject>,
    use_: Use<'_>,
    type_name: &str,
    fields: &[FieldType],
) -> Vec<String> {
    let Some(object) = object else {
        return vec![format!(
            "the org has no sObject `{object_name}` (or the user cannot see it)"
        )];
    };
    let mut out = Vec::new();
    if use_ == Use::Delete {
        return out;
    }
    let sobject = &object.name;
    for field in fields.iter().filter(|f| is_object_field(&f.name)) {
        let Some(sf) = object.field(&field.name) else {
            out.push(format!(
                "{sobject} has no field `{}` (field of `{type_name}`)",
                field.name
            ));
            continue;
        };
        if !fits(&field.ty, &sf.ftype) {
            out.push(format!(
                "{sobject}.{} is of type {}, which cannot take field `{}: {}`",
                sf.name, sf.ftype, field.name, field.ty
            ));
        }
        let writable = match use_ {
            Use::Insert => sf.createable,
            Use::Update => sf.updateable,
            Use::Upsert(_) => sf.createable || sf.updateable,
            Use::Delete | Use::Read => true,
        };
        if !writable {
            // upsert may create or update each record: only a field it can
            // do neither with is refused, and the message says both
            let how = match use_ {
                Use::Update => "updated",
                Use::Upsert(_) => "created or updated",
                _ => "created",
            };
            out.push(format!(
                "{sobject}.{} cannot be {how} by this user (field `{}` of `{type_name}` writes it)",
                sf.name, field.name
            ));
        }
    }
    if let Use::Upsert(external) = use_ {
        if !fields.iter().any(|f| f.name.eq_ignore_ascii_case(external)) {
            out.push(format!(
                "`{type_name}` has no field `{external}`, the external id upsert matches on"
            ));
        }
        match object.field(external) {
            None => out.push(format!("{sobject} has no field `{external}` to upsert on")),
            Some(sf) if !(sf.external_id || sf.id_lookup) => out.push(format!(
                "{sobject}.{} is not an external id field, which upsert needs",
                sf.name
            )),
            Some(_) => {}
        }
    }
    if use_ == Use::Insert {
        for sf in &object.fields {
            let required = sf.createable && !sf.nillable && !sf.defaulted_on_create;
            if required
                && sf.ftype != "boolean"
                && !fields.iter().any(|f| f.name.eq_ignore_ascii_case(&sf.name))
            {
                out.push(format!(
                    "{sobject}.{} is required, and `{type_name}` has no field for it",
                    sf.name
                ));
            }
        }
    }
    out
}

/// What may fail without stopping the flow: an upsert writing a field the
/// user can create but not update. Each record's upsert that inserts
/// writes it; one that matches an existing record is refused
/// (`INVALID_FIELD_FOR_INSERT_UPDATE`), so a flow that only ever inserts
/// through upsert is right and one that updates is not, which describe
/// cannot tell: a warning with what to do, not a refusal. Each warning is
/// the message and its help line.
pub(crate) fn warnings(
    object: Option<&SObject>,
    use_: Use<'_>,
    type_name: &str,
    fields: &[FieldType],
) -> Vec<(String, String)> {
    let (Some(object), Use::Upsert(external)) = (object, use_) else {
        return Vec::new();
    };
    fields
        .iter()
        .filter(|f| is_object_field(&f.name) && !f.name.eq_ignore_ascii_case(external))
        .filter_map(|f| object.field(&f.name).map(|sf| (f, sf)))
        .filter(|(_, sf)| sf.createable && !sf.updateable)
        .map(|(f, sf)| {
            (
                format!(
                    "{}.{} can be created but not updated by this user: an upsert that matches an existing record cannot write it (field `{}` of `{type_name}`)",
                    object.name, sf.name, f.name
                ),
                format!(
                    "if the upsert only ever creates records, nothing is wrong; otherwise leave `{}` out of `{type_name}` or have the field made updateable for the user",
                    f.name
                ),
            )
        })
        .collect()
}

/// Runs the preflight of `use_` of `object` by the records of `cx` at
/// start-up (on a thread of its own: operations are built from synchronous
/// code): an error listing every problem stops the flow before it starts.
/// Records without a declared record type (`json`) are not compared.
pub(crate) fn preflight(
    cx: &OpContext,
    client: &Arc<Client>,
    object: &str,
    use_: Use<'_>,
) -> Result<(), ConnectorError> {
    let layout = match cx.record_type.required() {
        Type::Record(name) => cx.schemas.layout(name).cloned(),
        _ => None,
    };
    let (type_name, fields) = match layout {
        Some(l) => (l.name.clone(), l.fields.clone()),
        None if use_ == Use::Delete => (String::new(), Vec::new()),
        None => return Ok(()),
    };
    let key = object.to_ascii_lowercase();
    let cached = client
        .described
        .lock()
        .ok()
        .and_then(|d| d.get(&key).cloned());
    let described = match cached {
        Some(described) => described,
        None => {
            let (client2, object2) = (client.clone(), object.to_string());
            let described =
                startup(move || Box::pin(async move { describe(&client2, &object2).await }))?
                    .map(Arc::new);
            if let Ok(mut d) = client.described.lock() {
                d.insert(key, described.clone());
            }
            described
        }
    };
    for (message, help) in warnings(described.as_deref(), use_, &type_name, &fields) {
        cx.warn(format!("salesforce `{}`: {message}", client.system), help);
    }
    let found = problems(object, described.as_deref(), use_, &type_name, &fields);
    if found.is_empty() {
        return Ok(());
    }
    Err(ConnectorError::Config(format!(
        "salesforce `{}`: {}",
        client.system,
        found.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Members of `GET /sobjects/Account/describe` as Salesforce documents
    /// them (REST API Developer Guide, "Get Field and Other Metadata for an
    /// Object"; DescribeFieldResult in the SOAP API guide), cut to a few
    /// fields and to the members the preflight reads plus some it ignores.
    /// `tests/wire.rs` serves the same answer to the connector.
    const ACCOUNT: &str = include_str!("../tests/fixtures/account_describe.json");

    fn account() -> SObject {
        serde_json::from_str(ACCOUNT).expect("the documented describe parses")
    }

    fn field(name: &str, ty: &str) -> FieldType {
        FieldType {
            name: name.to_string(),
            ty: Type::parse(ty).expect("a type"),
            doc: Vec::new(),
        }
    }

    #[test]
    fn a_type_that_fits_passes() {
        let fields = [
            field("Id", "string?"),
            field("name", "string"),
            field("AnnualRevenue", "decimal?"),
            field("Account_Number__c", "string"),
        ];
        let account = account();
        assert!(problems("Account", Some(&account), Use::Insert, "Acct", &fields).is_empty());
        let upsert = Use::Upsert("Account_Number__c");
        assert!(problems("Account", Some(&account), upsert, "Acct", &fields).is_empty());
    }

    #[test]
    fn unknown_fields_wrong_types_and_read_only_fields_are_named() {
        let fields = [
            field("Name", "string"),
            field("Revenue", "decimal"),
            field("AnnualRevenue", "bool"),
            field("CreatedDate", "timestamp"),
            field("Region__c", "string"),
        ];
        let account = account();
        assert_eq!(
            problems("Account", Some(&account), Use::Insert, "Acct", &fields),
            [
                "Account has no field `Revenue` (field of `Acct`)",
                "Account.AnnualRevenue is of type currency, which cannot take field `AnnualRevenue: bool`",
                "Account.CreatedDate cannot be created by this user (field `CreatedDate` of `Acct` writes it)",
            ]
        );
        assert_eq!(
            problems("Account", Some(&account), Use::Update, "Acct", &fields[3..]),
            [
                "Account.CreatedDate cannot be updated by this user (field `CreatedDate` of `Acct` writes it)",
                "Account.Region__c cannot be updated by this user (field `Region__c` of `Acct` writes it)",
            ]
        );
        // upsert creates or updates: Region__c can be created, so it passes
        let upsert = [
            field("Account_Number__c", "string"),
            field("CreatedDate", "timestamp"),
            field("Region__c", "string"),
        ];
        assert_eq!(
            problems(
                "Account",
                Some(&account),
                Use::Upsert("Account_Number__c"),
                "Acct",
                &upsert
            ),
            [
                "Account.CreatedDate cannot be created or updated by this user (field `CreatedDate` of `Acct` writes it)"
            ]
        );
    }

    #[test]
    fn upsert_warns_of_a_field_it_can_create_but_not_update() {
        let account = account();
        // Region__c is createable, not updateable; CreatedDate is neither
        // (a refusal, not a warning); the external id is matched, not
        // written by an update
        let fields = [
            field("Account_Number__c", "string"),
            field("region__c", "string"),
            field("CreatedDate", "timestamp"),
        ];
        let upsert = Use::Upsert("Account_Number__c");
        assert_eq!(
            warnings(Some(&account), upsert, "Acct", &fields),
            [(
                "Account.Region__c can be created but not updated by this user: an upsert that matches an existing record cannot write it (field `region__c` of `Acct`)".to_string(),
                "if the upsert only ever creates records, nothing is wrong; otherwise leave `region__c` out of `Acct` or have the field made updateable for the user".to_string(),
            )]
        );
        // the same field is no warning for insert (it can be created) nor
        // for update (there it is a refusal)
        for use_ in [Use::Insert, Use::Update, Use::Read, Use::Delete] {
            assert!(warnings(Some(&account), use_, "Acct", &fields).is_empty());
        }
        assert!(warnings(None, upsert, "Acct", &fields).is_empty());
    }

    #[test]
    fn upsert_needs_an_external_id_and_insert_the_required_fields() {
        let account = account();
        let fields = [field("AnnualRevenue", "decimal")];
        assert_eq!(
            problems(
                "Account",
                Some(&account),
                Use::Upsert("AnnualRevenue"),
                "Acct",
                &fields
            ),
            ["Account.AnnualRevenue is not an external id field, which upsert needs"]
        );
        assert_eq!(
            problems(
                "Account",
                Some(&account),
                Use::Upsert("Code__c"),
                "Acct",
                &fields
            ),
            [
                "`Acct` has no field `Code__c`, the external id upsert matches on",
                "Account has no field `Code__c` to upsert on"
            ]
        );
        assert_eq!(
            problems("Account", Some(&account), Use::Insert, "Acct", &fields),
            ["Account.Name is required, and `Acct` has no field for it"]
        );
    }

    #[test]
    fn a_missing_object_is_one_problem_and_delete_checks_nothing_else() {
        assert_eq!(
            problems("Acount", None, Use::Delete, "Acct", &[]),
            ["the org has no sObject `Acount` (or the user cannot see it)"]
        );
        let account = account();
        let fields = [field("Nope", "int")];
        assert!(problems("Account", Some(&account), Use::Delete, "Acct", &fields).is_empty());
    }
}
