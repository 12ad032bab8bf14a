//! `/metrics` in Prometheus text format: requests by route and status, latency histograms,
//! logins by outcome, hashing queue depth, throttled requests, revocation-list size.

use std::{sync::atomic::AtomicI64, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::state::AppState;

/// Labels of request metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template (`/admin/users/{id}`), not the raw path.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Status code.
    pub status: u16,
}

/// Labels for outcomes (`logins`, `throttled`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Outcome or endpoint.
    pub outcome: String,
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    logins: Family<OutcomeLabels, Counter>,
    throttled: Family<OutcomeLabels, Counter>,
    hash_queue: Gauge<i64, AtomicI64>,
    revocations: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
        });
        let logins = Family::<OutcomeLabels, Counter>::default();
        let throttled = Family::<OutcomeLabels, Counter>::default();
        let hash_queue = Gauge::<i64, AtomicI64>::default();
        let revocations = Gauge::<i64, AtomicI64>::default();
        registry.register("http_requests", "HTTP requests by route, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        registry.register("logins", "Login attempts by outcome", logins.clone());
        registry.register("throttled", "Requests refused by throttling, by endpoint", throttled.clone());
        registry.register("hash_queue_depth", "Password hash jobs queued or running", hash_queue.clone());
        registry.register("revocation_entries", "Entries in the in-memory revocation view", revocations.clone());
        Self { registry, requests, latency, logins, throttled, hash_queue, revocations }
    }
}

impl Metrics {
    /// Counts a login attempt (`ok`, `failed`, `throttled`, `busy`).
    pub fn login(&self, outcome: &str) {
        self.logins.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    }

    /// Counts a throttled request at `endpoint`.
    pub fn throttled(&self, endpoint: &str) {
        self.throttled.get_or_create(&OutcomeLabels { outcome: endpoint.to_owned() }).inc();
    }

    /// Renders the text exposition.
    pub fn render(&self, hash_queue: usize, revocations: usize) -> String {
        self.hash_queue.set(hash_queue as i64);
        self.revocations.set(revocations as i64);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Route-level middleware recording request count and latency by route template.
pub async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let res = next.run(req).await;
    let labels = RouteLabels { route, method, status: res.status().as_u16() };
    st.metrics.requests.get_or_create(&labels).inc();
    st.metrics.latency.get_or_create(&labels).observe(start.elapsed().as_secs_f64());
    res
}

/// `GET /metrics`
pub async fn metrics(State(st): State<AppState>) -> Response {
    let body = st.metrics.render(st.hasher.depth(), st.revocations.len());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
