//! Routing of `/services/data/vXX.X/…` to the API areas. Composite calls
//! this again for each subrequest, so a subrequest behaves exactly like the
//! same request sent alone.

use crate::errors::ApiError;
use crate::http::{ApiRequest, ApiResponse, Caller};
use crate::org::State;
use crate::{bulk, collections, composite, query, sobjects};
use serde_json::json;

/// Handles one authenticated request.
pub fn dispatch(st: &mut State, req: &ApiRequest, caller: &Caller) -> ApiResponse {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    let result = match (m, segs.as_slice()) {
        ("GET", []) => Ok(resources(req)),
        (_, ["sobjects", ..]) => sobjects::handle(st, req, caller, &segs[1..]),
        ("GET", ["query"]) => query::start(st, req, false),
        ("GET", ["queryAll"]) => query::start(st, req, true),
        ("GET", ["query" | "queryAll", locator]) => query::more(st, req, locator),
        ("POST", ["composite"]) => composite::handle(st, req, caller),
        (_, ["composite", "sobjects", ..]) => collections::handle(st, req, caller, &segs[2..]),
        ("GET", ["limits"]) => {
            let now = st.clock.now_ms();
            Ok(ApiResponse::json(200, st.limits.report(now)))
        }
        (_, ["jobs", ..]) => bulk::handle(st, req, caller, &segs[1..]),
        (_, ["query" | "queryAll" | "limits" | "composite"]) => {
            Err(ApiError::method_not_allowed(m, "GET"))
        }
        _ => Err(ApiError::not_found()),
    };
    result.into()
}

/// `GET /services/data/vXX.X/`: the resources of this version.
fn resources(req: &ApiRequest) -> ApiResponse {
    let base = req.base();
    let mut map = serde_json::Map::new();
    for name in [
        "sobjects",
        "query",
        "queryAll",
        "composite",
        "limits",
        "jobs",
    ] {
        let url = if name == "jobs" {
            format!("{base}/jobs/ingest")
        } else {
            format!("{base}/{name}")
        };
        map.insert(name.to_string(), json!(url));
    }
    ApiResponse::json(200, serde_json::Value::Object(map))
}
