//! The hand-written baseline of the sync endpoint benchmark: the quote
//! flow of [`crate::project::endpoint_flow`] written as an engineer would
//! by hand, on the HTTP stack aqueduct's endpoint uses (axum on a
//! multi-threaded tokio runtime): a typed request struct from the body,
//! the price in cents, the answer formatted straight into its bytes. What
//! aqueduct adds on top of this (its executor, the flow's steps, the
//! reply's encoding) is the "added latency" the benchmark reports.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use serde::Deserialize;

#[derive(Deserialize)]
struct QuoteRequest {
    sku: String,
    quantity: i64,
    country: String,
}

/// Cents as a decimal with two places, as the flow's decimals print.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

async fn quote(axum::Json(req): axum::Json<QuoteRequest>) -> Response {
    if req.quantity <= 0 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "quantity must be positive",
        )
            .into_response();
    }
    let unit = if req.quantity >= 100 { 850 } else { 1000 };
    let shipping = if req.country.to_uppercase() == "DE" {
        0
    } else {
        490
    };
    let total = unit * req.quantity + shipping;
    let sku = serde_json::to_string(&req.sku).unwrap_or_else(|_| "\"\"".into());
    let body = format!(
        "{{\"sku\":{sku},\"quantity\":{},\"unit_price\":{},\"shipping\":{},\"total\":{}}}",
        req.quantity,
        money(unit),
        money(shipping),
        money(total)
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Serves `POST /quote` on `listen` until the process is killed.
pub fn serve(listen: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?
            // as aqueduct's endpoint does: answers are not held back
            .tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
        let app = Router::new().route("/quote", post(quote));
        axum::serve(listener, app)
            .await
            .map_err(|e| format!("server failed: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::money;

    #[test]
    fn money_prints_two_places() {
        assert_eq!(money(3000), "30.00");
        assert_eq!(money(490), "4.90");
        assert_eq!(money(0), "0.00");
        assert_eq!(money(-5), "-0.05");
    }
}
