//! sObject resources: describe, create (and platform-event publish), read,
//! update, delete, and get/upsert/delete by external id.

use crate::describe;
use crate::dml::{self, Upserted};
use crate::errors::ApiError;
use crate::http::{ApiRequest, ApiResponse, Caller};
use crate::org::State;
use crate::schema::ObjectDef;
use crate::store::{Record, is_deleted};
use serde_json::{Map, Value, json};

/// `/sobjects/…` with the segments after `sobjects`.
pub fn handle(
    st: &mut State,
    req: &ApiRequest,
    caller: &Caller,
    segs: &[&str],
) -> Result<ApiResponse, ApiError> {
    let schema = st.schema.clone();
    let base = req.base();
    let m = req.method.as_str();
    let [name, rest @ ..] = segs else {
        return match m {
            "GET" => Ok(ApiResponse::json(200, describe::global(&schema, &base))),
            _ => Err(ApiError::method_not_allowed(m, "GET")),
        };
    };
    let obj = schema
        .index(name)
        .ok_or_else(|| ApiError::unknown_sobject(name))?;
    let def = &schema.objects[obj];
    let ctx = caller.ctx("rest", req);
    match (m, rest) {
        ("GET", []) => Ok(ApiResponse::json(200, describe::basic(def, &base))),
        ("POST", []) => create(st, obj, def, req, &ctx),
        ("GET", ["describe"]) => Ok(ApiResponse::json(200, describe::full(def, &base))),
        (_, ["describe"]) => Err(ApiError::method_not_allowed(m, "GET, HEAD")),
        ("POST", [field]) if field.eq_ignore_ascii_case("Id") => create(st, obj, def, req, &ctx),
        (_, [key]) => match dml::id_of(def, key) {
            Some(id) => by_id(st, obj, def, &id, req, &ctx),
            None => Err(ApiError::new(
                404,
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {key}"),
            )),
        },
        (_, [field, value]) => by_external_id(st, obj, def, field, value, req, &ctx),
        _ => Err(ApiError::not_found()),
    }
}

fn body_object(req: &ApiRequest) -> Result<Map<String, Value>, ApiError> {
    match req.json()? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::json_parser(
            "Cannot deserialize instance of sObject from START_ARRAY value",
        )),
    }
}

fn create(
    st: &mut State,
    obj: usize,
    def: &ObjectDef,
    req: &ApiRequest,
    ctx: &dml::WriteCtx,
) -> Result<ApiResponse, ApiError> {
    let body = body_object(req)?;
    if def.is_event {
        let (id, uuid) = dml::publish(st, obj, &body, ctx)?;
        return Ok(ApiResponse::json(
            201,
            json!({"id": id, "success": true, "errors": [{"statusCode": "OPERATION_ENQUEUED", "message": uuid, "fields": []}]}),
        ));
    }
    let id = dml::insert(st, obj, &body, ctx, None)?;
    Ok(
        ApiResponse::json(201, json!({"id": id, "success": true, "errors": []})).with_header(
            "Location",
            format!("{}/sobjects/{}/{id}", req.base(), def.name),
        ),
    )
}

fn by_id(
    st: &mut State,
    obj: usize,
    def: &ObjectDef,
    id: &str,
    req: &ApiRequest,
    ctx: &dml::WriteCtx,
) -> Result<ApiResponse, ApiError> {
    match st.data.get(obj, id) {
        None => return Err(ApiError::not_found()),
        Some(r) if is_deleted(r) => {
            return Err(ApiError::new(404, "ENTITY_IS_DELETED", "entity is deleted"));
        }
        Some(_) => {}
    }
    match req.method.as_str() {
        "GET" | "HEAD" => {
            let rec = st.data.get(obj, id).cloned().unwrap_or_default();
            Ok(ApiResponse::json(200, render(def, &rec, req)?))
        }
        "PATCH" => {
            let body = body_object(req)?;
            dml::update(st, obj, id, &body, ctx)?;
            Ok(ApiResponse::empty(204))
        }
        "DELETE" => {
            dml::delete(st, obj, id, ctx)?;
            Ok(ApiResponse::empty(204))
        }
        m => Err(ApiError::method_not_allowed(m, "GET, HEAD, PATCH, DELETE")),
    }
}

fn by_external_id(
    st: &mut State,
    obj: usize,
    def: &ObjectDef,
    field: &str,
    value: &str,
    req: &ApiRequest,
    ctx: &dml::WriteCtx,
) -> Result<ApiResponse, ApiError> {
    let f = dml::external_field(def, field).map_err(|e| {
        if e.status == 404 {
            ApiError::new(
                404,
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {field}"),
            )
        } else {
            e
        }
    })?;
    let key = crate::values::from_json(f, &json!(value))?;
    let matches = dml::find_by(st, obj, &f.name, &key);
    let urls = |ids: &[String]| {
        json!(
            ids.iter()
                .map(|i| format!("{}/sobjects/{}/{i}", req.base(), def.name))
                .collect::<Vec<_>>()
        )
    };
    match req.method.as_str() {
        "GET" | "HEAD" => match matches.as_slice() {
            [] => Err(ApiError::not_found()),
            [one] => {
                let rec = st.data.get(obj, one).cloned().unwrap_or_default();
                Ok(ApiResponse::json(200, render(def, &rec, req)?))
            }
            many => Ok(ApiResponse::json(300, urls(many))),
        },
        "DELETE" => match matches.as_slice() {
            [] => Err(ApiError::not_found()),
            [one] => {
                let one = one.clone();
                dml::delete(st, obj, &one, ctx)?;
                Ok(ApiResponse::empty(204))
            }
            many => Ok(ApiResponse::json(300, urls(many))),
        },
        "PATCH" => {
            let body = body_object(req)?;
            if req.param("updateOnly") == Some("true") && matches.is_empty() {
                return Err(ApiError::not_found());
            }
            match dml::upsert(st, obj, &f.name, &key, &body, ctx)? {
                Upserted::Created(id) => Ok(ApiResponse::json(
                    201,
                    json!({"id": id, "success": true, "errors": [], "created": true}),
                )
                .with_header(
                    "Location",
                    format!("{}/sobjects/{}/{id}", req.base(), def.name),
                )),
                Upserted::Updated(id) if req.version_number() >= st.settings.upsert_200_from => {
                    Ok(ApiResponse::json(
                        200,
                        json!({"id": id, "success": true, "errors": [], "created": false}),
                    ))
                }
                Upserted::Updated(_) => Ok(ApiResponse::empty(204)),
                Upserted::Multiple(ids) => Ok(ApiResponse::json(300, urls(&ids))),
            }
        }
        "POST" => Err(ApiError::method_not_allowed(
            "POST",
            "GET, HEAD, PATCH, DELETE",
        )),
        m => Err(ApiError::method_not_allowed(m, "GET, HEAD, PATCH, DELETE")),
    }
}

/// A record as `GET /sobjects/{SObject}/{id}` returns it (`?fields=` honoured).
fn render(def: &ObjectDef, rec: &Record, req: &ApiRequest) -> Result<Value, ApiError> {
    let wanted: Option<Vec<&str>> = req.param("fields").map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });
    render_fields(def, rec, wanted.as_deref(), &req.base())
}

/// A record with `attributes`, all fields or the named ones (`INVALID_FIELD` for unknown names).
pub fn render_fields(
    def: &ObjectDef,
    rec: &Record,
    wanted: Option<&[&str]>,
    base: &str,
) -> Result<Value, ApiError> {
    let id = rec.get("Id").and_then(Value::as_str).unwrap_or("");
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": def.name, "url": format!("{base}/sobjects/{}/{id}", def.name)}),
    );
    match wanted {
        None => {
            for f in &def.fields {
                out.insert(
                    f.name.clone(),
                    rec.get(&f.name).cloned().unwrap_or(Value::Null),
                );
            }
        }
        Some(list) => {
            for name in list {
                let f = def.field(name).ok_or_else(|| {
                    ApiError::invalid_field(format!("No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", def.name))
                })?;
                out.insert(
                    f.name.clone(),
                    rec.get(&f.name).cloned().unwrap_or(Value::Null),
                );
            }
        }
    }
    Ok(Value::Object(out))
}
