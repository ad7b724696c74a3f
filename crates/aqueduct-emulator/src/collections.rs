//! sObject Collections (`/composite/sobjects`): create, update, upsert and
//! delete up to 200 records in one call, retrieve by ids. Per-record
//! results come back in input order inside a 200, errors under
//! `statusCode`; with `allOrNone` any failure rolls every record back and
//! the records that did not fail report `ALL_OR_NONE_OPERATION_ROLLED_BACK`.
//! A body the JSON parser cannot map to the fields' types fails the whole
//! call with 400, as it does in Salesforce.

use crate::dml::{self, Upserted, WriteCtx};
use crate::errors::ApiError;
use crate::http::{ApiRequest, ApiResponse, Caller};
use crate::ids;
use crate::org::State;
use crate::sobjects::render_fields;
use serde_json::{Map, Value, json};

/// Most records per call.
pub const MAX_RECORDS: usize = 200;

/// `/composite/sobjects…` with the segments after `sobjects`.
pub fn handle(
    st: &mut State,
    req: &ApiRequest,
    caller: &Caller,
    segs: &[&str],
) -> Result<ApiResponse, ApiError> {
    let ctx = caller.ctx("rest", req);
    handle_with(st, req, &ctx, segs, None)
}

/// The same, with `force_all_or_none` set by an enclosing composite request.
pub fn handle_with(
    st: &mut State,
    req: &ApiRequest,
    ctx: &WriteCtx,
    segs: &[&str],
    force_all_or_none: Option<bool>,
) -> Result<ApiResponse, ApiError> {
    match (req.method.as_str(), segs) {
        ("POST", []) => save(st, req, ctx, Op::Create, force_all_or_none),
        ("PATCH", []) => save(st, req, ctx, Op::Update, force_all_or_none),
        ("DELETE", []) => delete(st, req, ctx, force_all_or_none),
        ("GET" | "POST", [object]) => retrieve(st, req, object),
        ("PATCH", [object, field]) => save(
            st,
            req,
            ctx,
            Op::Upsert(object.to_string(), field.to_string()),
            force_all_or_none,
        ),
        (m, _) => Err(ApiError::method_not_allowed(m, "GET, POST, PATCH, DELETE")),
    }
}

#[derive(Clone, PartialEq)]
enum Op {
    Create,
    Update,
    Upsert(String, String),
}

fn too_many() -> ApiError {
    ApiError::bad(
        "EXCEEDED_ID_LIMIT",
        format!(
            "record limit reached. cannot submit more than {MAX_RECORDS} records into this call"
        ),
    )
}

fn save(
    st: &mut State,
    req: &ApiRequest,
    ctx: &WriteCtx,
    op: Op,
    force: Option<bool>,
) -> Result<ApiResponse, ApiError> {
    let body = req.json()?;
    let all_or_none = force.unwrap_or_else(|| {
        body.get("allOrNone")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    });
    let Some(records) = body.get("records").and_then(Value::as_array) else {
        return Err(ApiError::json_parser(
            "The request body must have a records array",
        ));
    };
    if records.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let schema = st.schema.clone();
    let upsert_target = match &op {
        Op::Upsert(object, field) => {
            let obj = schema
                .index(object)
                .ok_or_else(|| ApiError::unknown_sobject(object))?;
            let f = dml::external_field(&schema.objects[obj], field)?;
            Some((obj, f.name.clone()))
        }
        _ => None,
    };
    let mark = st.mark();
    let mut results = Vec::new();
    let mut failed = false;
    for rec in records {
        let Value::Object(rec) = rec else {
            st.rollback(mark);
            return Err(ApiError::json_parser("Each record must be a JSON object"));
        };
        let outcome = save_one(st, &schema, &op, upsert_target.as_ref(), rec, ctx);
        match outcome {
            Err((_, e)) if e.code == "JSON_PARSER_ERROR" => {
                st.rollback(mark);
                return Err(e);
            }
            Err((id, e)) => {
                failed = true;
                let mut r = json!({"success": false, "errors": [e.to_status_json()]});
                if let Some(id) = id {
                    r["id"] = json!(id);
                }
                results.push(r);
            }
            Ok(r) => results.push(r),
        }
    }
    if failed && all_or_none {
        st.rollback(mark);
        roll_back_successes(&mut results);
    }
    Ok(ApiResponse::json(200, Value::Array(results)))
}

type Failure = (Option<String>, ApiError);

fn save_one(
    st: &mut State,
    schema: &crate::schema::Schema,
    op: &Op,
    upsert: Option<&(usize, String)>,
    rec: &Map<String, Value>,
    ctx: &WriteCtx,
) -> Result<Value, Failure> {
    let type_name = rec
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str);
    let id_in_body = rec
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("id"))
        .and_then(|(_, v)| v.as_str())
        .map(str::to_string);
    let mut fields = rec.clone();
    fields.remove("attributes");
    match op {
        Op::Create => {
            let obj = object_of(schema, type_name).map_err(|e| (None, e))?;
            let id = dml::insert(st, obj, &fields, ctx, None).map_err(|e| (None, e))?;
            Ok(json!({"id": id, "success": true, "errors": []}))
        }
        Op::Update => {
            let obj = object_of(schema, type_name).map_err(|e| (None, e))?;
            let raw = id_in_body.ok_or_else(|| {
                (
                    None,
                    ApiError::bad("MISSING_ARGUMENT", "Id not specified in an update call"),
                )
            })?;
            let id = dml::id_of(&schema.objects[obj], &raw).ok_or_else(|| {
                (
                    Some(raw.clone()),
                    ApiError::bad(
                        "MALFORMED_ID",
                        format!(
                            "Id in update is not a valid {} id: {raw}",
                            schema.objects[obj].name
                        ),
                    ),
                )
            })?;
            fields.retain(|k, _| !k.eq_ignore_ascii_case("id"));
            dml::update(st, obj, &id, &fields, ctx).map_err(|e| (Some(id.clone()), e))?;
            Ok(json!({"id": id, "success": true, "errors": []}))
        }
        Op::Upsert(..) => {
            let Some((obj, field)) = upsert else {
                return Err((None, ApiError::not_found()));
            };
            if let Some(t) = type_name
                && !t.eq_ignore_ascii_case(&schema.objects[*obj].name)
            {
                return Err((
                    None,
                    ApiError::bad(
                        "INVALID_TYPE",
                        format!(
                            "Record type {t} does not match the URL's {}",
                            schema.objects[*obj].name
                        ),
                    ),
                ));
            }
            let key = fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(field))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null);
            match dml::upsert(st, *obj, field, &key, &fields, ctx).map_err(|e| (None, e))? {
                Upserted::Created(id) => {
                    Ok(json!({"id": id, "success": true, "errors": [], "created": true}))
                }
                Upserted::Updated(id) => {
                    Ok(json!({"id": id, "success": true, "errors": [], "created": false}))
                }
                Upserted::Multiple(ids) => Err((
                    None,
                    ApiError::bad(
                        "DUPLICATE_EXTERNAL_ID",
                        format!(
                            "{field}: more than one record found for external id field: [{}]",
                            ids.join(", ")
                        ),
                    )
                    .with_fields(&[field]),
                )),
            }
        }
    }
}

fn object_of(schema: &crate::schema::Schema, type_name: Option<&str>) -> Result<usize, ApiError> {
    let Some(t) = type_name else {
        return Err(ApiError::bad(
            "INVALID_TYPE",
            "No SObject Type defined in the record's attributes",
        ));
    };
    schema.index(t).ok_or_else(|| {
        ApiError::bad(
            "INVALID_TYPE",
            format!("sObject type '{t}' is not supported."),
        )
    })
}

fn roll_back_successes(results: &mut [Value]) {
    let rolled = ApiError::bad(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
    );
    for r in results.iter_mut() {
        if r["success"] == json!(true) {
            let mut failed = json!({"success": false, "errors": [rolled.to_status_json()]});
            if let Some(id) = r
                .get("id")
                .filter(|_| r.get("created") != Some(&json!(true)))
            {
                failed["id"] = id.clone();
            }
            *r = failed;
        }
    }
}

fn delete(
    st: &mut State,
    req: &ApiRequest,
    ctx: &WriteCtx,
    force: Option<bool>,
) -> Result<ApiResponse, ApiError> {
    let Some(list) = req.param("ids") else {
        return Err(ApiError::bad("MISSING_ARGUMENT", "ids not specified"));
    };
    let all_or_none = force.unwrap_or(req.param("allOrNone") == Some("true"));
    let raw: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if raw.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let schema = st.schema.clone();
    let mark = st.mark();
    let mut results = Vec::new();
    let mut failed = false;
    for r in raw {
        let outcome =
            match ids::normalize(r).and_then(|id| schema.by_prefix(&id).map(|obj| (obj, id))) {
                None => Err(ApiError::bad("MALFORMED_ID", format!("malformed id {r}"))),
                Some((obj, id)) => dml::delete(st, obj, &id, ctx).map(|_| id),
            };
        match outcome {
            Ok(id) => results.push(json!({"id": id, "success": true, "errors": []})),
            Err(e) => {
                failed = true;
                results.push(json!({"id": r, "success": false, "errors": [e.to_status_json()]}));
            }
        }
    }
    if failed && all_or_none {
        st.rollback(mark);
        roll_back_successes(&mut results);
    }
    Ok(ApiResponse::json(200, Value::Array(results)))
}

fn retrieve(st: &mut State, req: &ApiRequest, object: &str) -> Result<ApiResponse, ApiError> {
    let schema = st.schema.clone();
    let obj = schema
        .index(object)
        .ok_or_else(|| ApiError::unknown_sobject(object))?;
    let def = &schema.objects[obj];
    let (id_list, field_list): (Vec<String>, Vec<String>) = if req.method == "POST" {
        let body = req.json()?;
        let strings = |k: &str| {
            body.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        (strings("ids"), strings("fields"))
    } else {
        let split = |k: &str| {
            req.param(k)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        (split("ids"), split("fields"))
    };
    if id_list.is_empty() || field_list.is_empty() {
        return Err(ApiError::bad(
            "MISSING_ARGUMENT",
            "ids and fields are required",
        ));
    }
    if id_list.len() > 2000 {
        return Err(too_many());
    }
    let wanted: Vec<&str> = field_list.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for raw in &id_list {
        let rec = dml::id_of(def, raw)
            .and_then(|id| st.data.get(obj, &id))
            .filter(|r| !crate::store::is_deleted(r));
        out.push(match rec {
            Some(r) => render_fields(def, r, Some(&wanted), &req.base())?,
            None => Value::Null,
        });
    }
    Ok(ApiResponse::json(200, Value::Array(out)))
}
