//! The admin HTTP port (axum): `/metrics` (Prometheus text), `/healthz`
//! (200 once the flows run, 503 naming them once a flow failed while the
//! process goes on) and `/readyz` (200 once every source started, while
//! no flow has failed).

use crate::metrics::Metrics;
use crate::shutdown::Readiness;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone)]
struct AdminState {
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
}

/// The admin routes, for embedding or testing.
pub fn router(metrics: Arc<Metrics>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AdminState { metrics, readiness })
}

async fn metrics_text(State(s): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn healthz(State(s): State<AdminState>) -> impl IntoResponse {
    let failed = s.readiness.failed_flows();
    if !failed.is_empty() {
        // a flow is gone for good while the process serves on: an
        // orchestrator should restart it (the flow resumes from its
        // committed positions)
        let names: Vec<String> = failed.iter().map(|f| format!("flow `{f}`")).collect();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("failed: {}\n", names.join(", ")),
        )
    } else if s.readiness.is_live() {
        (StatusCode::OK, "ok\n".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n".to_string())
    }
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    if s.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Binds `addr` and serves the admin routes in a background task; returns
/// the bound address (useful with port 0).
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(metrics, readiness);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "The admin server stopped.");
        }
    });
    tracing::info!(addr = %bound, "Admin port listening.");
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("writes");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("reads");
        out
    }

    #[tokio::test]
    async fn serves_health_and_metrics() {
        let metrics = Metrics::new();
        crate::metrics::StepMetrics::add(&metrics.step("f", "s1").records_in, 2);
        let ready = Arc::new(Readiness::new(1));
        let addr = serve("127.0.0.1:0".parse().expect("addr"), metrics, ready.clone())
            .await
            .expect("binds");
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 503"));
        ready
            .running
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        ready.source_started();
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        let m = get(addr, "/metrics").await;
        assert!(
            m.contains("aqueduct_records_in_total{flow=\"f\",step=\"s1\"} 2"),
            "{m}"
        );
    }
}
