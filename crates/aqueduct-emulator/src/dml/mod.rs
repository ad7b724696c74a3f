//! Writes: insert, update, delete, upsert and platform-event publish, with
//! the checks Salesforce makes on each record (field names, createable /
//! updateable, types, required fields, references, unique values,
//! validation rules, and the `unable_to_lock_row` fault). Every API area
//! (REST, collections, composite, Bulk, the seed loader) writes through
//! here, so a record is accepted or refused the same way everywhere.
//!
//! Each successful write is also noted in [`State::pending`] so that the
//! commit publishes its change event and outbound notification.

use crate::clock::rest_datetime;
use crate::errors::ApiError;
use crate::ids;
use crate::org::State;
use crate::schema::{FieldDef, FieldType, ObjectDef};
use crate::store::{Record, is_deleted};
use crate::values::{from_json, same};
use checks::{Op, check_record, read_input};
use serde_json::{Map, Value, json};

mod checks;

/// Who writes, from where (for audit fields and CDC `changeOrigin`).
#[derive(Debug, Clone, Default)]
pub struct WriteCtx {
    /// The user id written to `CreatedById`/`LastModifiedById`.
    pub user_id: String,
    /// `com/salesforce/api/rest/62.0;client=…`, empty for the seed.
    pub origin: String,
    /// Method and path of the request, for fault rules.
    pub method: String,
    /// Path of the request.
    pub path: String,
}

/// What kind of change a write made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A record was created.
    Create,
    /// A record was updated.
    Update,
    /// A record was deleted.
    Delete,
    /// A platform event was published.
    Publish,
}

/// One write awaiting commit.
#[derive(Debug, Clone)]
pub struct Change {
    /// The object.
    pub obj: usize,
    /// The record (or event) id.
    pub id: String,
    /// What happened.
    pub kind: ChangeKind,
    /// Create: every field; update: changed fields; publish: the event's fields.
    pub values: Record,
    /// Changed field names (updates).
    pub changed: Vec<String>,
    /// `changeOrigin`.
    pub origin: String,
    /// The writing user.
    pub user_id: String,
    /// Epoch ms of the write.
    pub at_ms: i64,
}

/// The outcome of an upsert.
#[derive(Debug, Clone, PartialEq)]
pub enum Upserted {
    /// A record was created.
    Created(String),
    /// One record matched and was updated.
    Updated(String),
    /// Several records matched: nothing was written.
    Multiple(Vec<String>),
}

/// Inserts a record; returns its id. `explicit_id` is for the seed only.
pub fn insert(
    st: &mut State,
    obj: usize,
    input: &Map<String, Value>,
    ctx: &WriteCtx,
    explicit_id: Option<String>,
) -> Result<String, ApiError> {
    let schema = st.schema.clone();
    let def = &schema.objects[obj];
    if def.is_event {
        return publish(st, obj, input, ctx).map(|(id, _)| id);
    }
    if input.keys().any(|k| k.eq_ignore_ascii_case("Id")) {
        return Err(ApiError::invalid_field(
            "The Id field should not be specified in the sobject data.",
        ));
    }
    let values = read_input(st, def, input, Op::Create, ctx)?;
    let mut rec = Record::new();
    for f in def.fields.iter().filter(|f| !f.system) {
        let v = match values.get(&f.name) {
            Some(v) => v.clone(),
            None => f.default.clone().unwrap_or(Value::Null),
        };
        rec.insert(f.name.clone(), v);
    }
    let missing: Vec<&str> = def
        .fields
        .iter()
        .filter(|f| {
            !f.system && !f.nillable && f.createable && rec.get(&f.name).is_none_or(Value::is_null)
        })
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(required_missing(&missing));
    }
    let id = match explicit_id {
        Some(id) => id,
        None => st.ids.next(&def.key_prefix),
    };
    let now = rest_datetime(st.clock.now());
    rec.insert("Id".into(), json!(id));
    rec.insert("IsDeleted".into(), json!(false));
    for f in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
        rec.insert(f.into(), json!(now));
    }
    for f in ["CreatedById", "LastModifiedById"] {
        rec.insert(f.into(), json!(ctx.user_id));
    }
    check_record(st, def, obj, &rec, Some(&id), ctx)?;
    if st.faults.take_lock(&def.name, &ctx.method, &ctx.path) {
        return Err(lock_error(&id));
    }
    st.data.insert(obj, id.clone(), rec.clone());
    note(st, obj, &id, ChangeKind::Create, rec, Vec::new(), ctx);
    Ok(id)
}

/// Updates a live record of `obj`.
pub fn update(
    st: &mut State,
    obj: usize,
    id: &str,
    input: &Map<String, Value>,
    ctx: &WriteCtx,
) -> Result<(), ApiError> {
    let schema = st.schema.clone();
    let def = &schema.objects[obj];
    if def.is_event {
        return Err(ApiError::bad(
            "INVALID_OPERATION",
            format!("{} does not support update", def.name),
        ));
    }
    let old = live_record(st, obj, id)?;
    let values = read_input(st, def, input, Op::Update, ctx)?;
    let mut rec = old.clone();
    let mut changed = Vec::new();
    for (name, v) in values {
        if rec.get(&name) != Some(&v) {
            changed.push(name.clone());
        }
        rec.insert(name, v);
    }
    let nulled_required: Vec<&str> = def
        .fields
        .iter()
        .filter(|f| {
            !f.system
                && !f.nillable
                && changed.contains(&f.name)
                && rec.get(&f.name).is_none_or(Value::is_null)
        })
        .map(|f| f.name.as_str())
        .collect();
    if !nulled_required.is_empty() {
        return Err(required_missing(&nulled_required));
    }
    let now = rest_datetime(st.clock.now());
    rec.insert("LastModifiedDate".into(), json!(now));
    rec.insert("SystemModstamp".into(), json!(now));
    rec.insert("LastModifiedById".into(), json!(ctx.user_id));
    check_record(st, def, obj, &rec, Some(id), ctx)?;
    if st.faults.take_lock(&def.name, &ctx.method, &ctx.path) {
        return Err(lock_error(id));
    }
    st.data.replace(obj, id, rec.clone());
    if !changed.is_empty() {
        let mut values = Record::new();
        for name in &changed {
            values.insert(name.clone(), rec.get(name).cloned().unwrap_or(Value::Null));
        }
        values.insert("LastModifiedDate".into(), json!(now));
        changed.push("LastModifiedDate".to_string());
        note(st, obj, id, ChangeKind::Update, values, changed, ctx);
    }
    Ok(())
}

/// Moves a live record of `obj` to the recycle bin.
pub fn delete(st: &mut State, obj: usize, id: &str, ctx: &WriteCtx) -> Result<(), ApiError> {
    let schema = st.schema.clone();
    let def = &schema.objects[obj];
    let mut rec = live_record(st, obj, id)?;
    if st.faults.take_lock(&def.name, &ctx.method, &ctx.path) {
        return Err(lock_error(id));
    }
    let now = rest_datetime(st.clock.now());
    rec.insert("IsDeleted".into(), json!(true));
    rec.insert("LastModifiedDate".into(), json!(now));
    rec.insert("SystemModstamp".into(), json!(now));
    rec.insert("LastModifiedById".into(), json!(ctx.user_id));
    st.data.replace(obj, id, rec);
    note(
        st,
        obj,
        id,
        ChangeKind::Delete,
        Record::new(),
        Vec::new(),
        ctx,
    );
    Ok(())
}

/// Removes a record for good (Bulk `hardDelete`); deleted records too.
pub fn hard_delete(st: &mut State, obj: usize, id: &str, ctx: &WriteCtx) -> Result<(), ApiError> {
    let schema = st.schema.clone();
    let def = &schema.objects[obj];
    let Some(rec) = st.data.get(obj, id) else {
        return Err(ApiError::bad(
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
        ));
    };
    let was_live = !is_deleted(rec);
    if st.faults.take_lock(&def.name, &ctx.method, &ctx.path) {
        return Err(lock_error(id));
    }
    st.data.remove(obj, id);
    if was_live {
        note(
            st,
            obj,
            id,
            ChangeKind::Delete,
            Record::new(),
            Vec::new(),
            ctx,
        );
    }
    Ok(())
}

/// Upserts by an external id field (or `Id`).
pub fn upsert(
    st: &mut State,
    obj: usize,
    ext_field: &str,
    ext_value: &Value,
    input: &Map<String, Value>,
    ctx: &WriteCtx,
) -> Result<Upserted, ApiError> {
    let schema = st.schema.clone();
    let def = &schema.objects[obj];
    let field = external_field(def, ext_field)?;
    let key = from_json(field, ext_value)?;
    let mut body = input.clone();
    body.retain(|k, _| !k.eq_ignore_ascii_case(&field.name) && !k.eq_ignore_ascii_case("Id"));
    if key.is_null() || key.as_str() == Some("") {
        if field.ftype == FieldType::Id {
            return insert(st, obj, &body, ctx, None).map(Upserted::Created);
        }
        return Err(
            ApiError::bad("MISSING_ARGUMENT", format!("{} not specified", field.name))
                .with_fields(&[&field.name]),
        );
    }
    let found = find_by(st, obj, &field.name, &key);
    match found.as_slice() {
        [] if field.ftype == FieldType::Id => Err(ApiError::not_found()),
        [] => {
            body.insert(field.name.clone(), key);
            insert(st, obj, &body, ctx, None).map(Upserted::Created)
        }
        [one] => {
            let id = one.clone();
            update(st, obj, &id, &body, ctx).map(|_| Upserted::Updated(id))
        }
        many => Ok(Upserted::Multiple(many.to_vec())),
    }
}

/// Publishes a platform event (REST and the other record APIs); returns
/// its id and `EventUuid`.
pub fn publish(
    st: &mut State,
    obj: usize,
    input: &Map<String, Value>,
    ctx: &WriteCtx,
) -> Result<(String, String), ApiError> {
    publish_event(st, obj, input, ctx, None, true)
}

/// Publishes a platform event with the publisher's `EventUuid` if it gave
/// one; `required` says whether required custom fields must be set (they
/// must through REST; the Pub/Sub API's `Publish` does not check them, as
/// Salesforce documents).
pub fn publish_event(
    st: &mut State,
    obj: usize,
    input: &Map<String, Value>,
    ctx: &WriteCtx,
    uuid: Option<String>,
    required: bool,
) -> Result<(String, String), ApiError> {
    let schema = st.schema.clone();
    let def = &schema.objects[obj];
    let values = read_input(st, def, input, Op::Create, ctx)?;
    let missing: Vec<&str> = def
        .fields
        .iter()
        .filter(|f| !f.system && !f.nillable && values.get(&f.name).is_none_or(Value::is_null))
        .map(|f| f.name.as_str())
        .collect();
    if required && !missing.is_empty() {
        return Err(required_missing(&missing));
    }
    let id = st.ids.next(&def.key_prefix);
    let uuid = match uuid {
        Some(u) => u,
        None => st.ids.uuid("event"),
    };
    let mut rec = Record::new();
    for f in def.fields.iter().filter(|f| !f.system) {
        rec.insert(
            f.name.clone(),
            values
                .get(&f.name)
                .cloned()
                .or_else(|| f.default.clone())
                .unwrap_or(Value::Null),
        );
    }
    rec.insert("EventUuid".into(), json!(uuid));
    note(st, obj, &id, ChangeKind::Publish, rec, Vec::new(), ctx);
    Ok((id, uuid))
}

/// Ids of live records whose `field` equals `value` (text case-insensitively).
pub fn find_by(st: &State, obj: usize, field: &str, value: &Value) -> Vec<String> {
    let Some(table) = st.data.tables.get(obj) else {
        return Vec::new();
    };
    if let Some(ids) = table.candidates(field, value) {
        return ids
            .into_iter()
            .filter(|id| {
                table
                    .rows
                    .get(id)
                    .is_some_and(|r| !is_deleted(r) && r.get(field).is_some_and(|v| same(v, value)))
            })
            .collect();
    }
    table
        .rows
        .values()
        .filter(|r| !is_deleted(r))
        .filter(|r| r.get(field).is_some_and(|v| !v.is_null() && same(v, value)))
        .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The field an upsert or lookup keys on: `Id` or an external id field.
pub fn external_field<'a>(def: &'a ObjectDef, name: &str) -> Result<&'a FieldDef, ApiError> {
    match def.field(name) {
        Some(f) if f.id_lookup => Ok(f),
        Some(f) => Err(ApiError::invalid_field(format!(
            "Field {} is not an external ID or indexed field for {}",
            f.name, def.name
        ))),
        None => Err(ApiError::not_found()),
    }
}

/// A live record of `obj`, or the error an update/delete of it gets.
fn live_record(st: &State, obj: usize, id: &str) -> Result<Record, ApiError> {
    match st.data.get(obj, id) {
        Some(r) if is_deleted(r) => Err(ApiError::bad("ENTITY_IS_DELETED", "entity is deleted")),
        Some(r) => Ok(r.clone()),
        None => Err(ApiError::bad(
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
        )),
    }
}

fn note(
    st: &mut State,
    obj: usize,
    id: &str,
    kind: ChangeKind,
    values: Record,
    changed: Vec<String>,
    ctx: &WriteCtx,
) {
    let at_ms = st.clock.now_ms();
    st.pending.push(Change {
        obj,
        id: id.to_string(),
        kind,
        values,
        changed,
        origin: ctx.origin.clone(),
        user_id: ctx.user_id.clone(),
        at_ms,
    });
}

fn required_missing(fields: &[&str]) -> ApiError {
    ApiError::bad(
        "REQUIRED_FIELD_MISSING",
        format!("Required fields are missing: [{}]", fields.join(", ")),
    )
    .with_fields(fields)
}

fn lock_error(id: &str) -> ApiError {
    ApiError::bad(
        "UNABLE_TO_LOCK_ROW",
        format!("unable to obtain exclusive access to this record or 1 records: {id}"),
    )
}

/// A valid 18-character id of `obj` from a path segment or body value.
pub fn id_of(def: &ObjectDef, text: &str) -> Option<String> {
    ids::normalize(text).filter(|id| id.starts_with(&def.key_prefix))
}
