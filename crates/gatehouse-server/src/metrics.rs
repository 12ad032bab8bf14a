//! `/metrics` in Prometheus text format: requests by route and status, latency histograms,
//! logins by outcome, hashing queue depth, throttled requests, revocation-list size.

use std::{
    collections::HashMap,
    fmt::Write as _,
    hash::Hash,
    sync::{atomic::AtomicI64, Arc, RwLock},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    extract::{Request, State},
    http::{header, Method},
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{request_ctx::REQUEST, state::AppState};

/// Labels of request metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template (`/admin/users/{id}`), not the raw path.
    pub route: RouteName,
    /// HTTP method.
    pub method: MethodName,
    /// Status code.
    pub status: u16,
}

/// A route template as a label value (shares the route layer's string; no copy per request).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteName(pub Arc<str>);

impl EncodeLabelValue for RouteName {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(&self.0)
    }
}

/// An HTTP method as a label value.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct MethodName(pub Method);

impl EncodeLabelValue for MethodName {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.as_str())
    }
}

/// Labels for outcomes (`logins`, `throttled`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Outcome or endpoint.
    pub outcome: String,
}

/// The counter and histogram of one (route, method, status), as handles sharing the
/// families' storage.
type RequestHandles = (Counter, Histogram);

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    /// The handles of every label set seen so far, so that recording a request is one
    /// foldhash lookup instead of two SipHash lookups in the families (the label set is a
    /// route template, a method and a status: a few dozen entries at most).
    handles: RwLock<HashMap<RouteLabels, RequestHandles, foldhash::fast::RandomState>>,
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
        Self { registry, requests, latency, handles: RwLock::default(), logins, throttled, hash_queue, revocations }
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

    /// Counts a request to a matched route and records its latency.
    pub fn request(&self, route: &Arc<str>, method: &Method, status: u16, latency: Duration) {
        let labels = RouteLabels { route: RouteName(route.clone()), method: MethodName(method.clone()), status };
        let record = |(count, histogram): &RequestHandles| {
            count.inc();
            histogram.observe(latency.as_secs_f64());
        };
        if let Some(seen) = self.handles.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&labels) {
            return record(seen);
        }
        let made = (self.requests.get_or_create(&labels).clone(), self.latency.get_or_create(&labels).clone());
        record(&made);
        self.handles.write().unwrap_or_else(std::sync::PoisonError::into_inner).entry(labels).or_insert(made);
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

/// Route layer that notes its route's template in the request context; the edge middleware
/// records the request's count and latency under it once the response is ready.
/// It adds nothing to the response future (no boxing, no extra poll), unlike a `from_fn`
/// middleware, which cost a boxed future and a service clone per request. Each route gets
/// its own, made from the route's declaration
/// ([`SecureRouter::into_router_with_each`](gatehouse_axum::SecureRouter::into_router_with_each)),
/// so no request needs axum's `MatchedPath` (whose lookup and extension cost ≈ 500
/// instructions per request; axum's `matched-path` feature is off).
#[derive(Debug, Clone)]
pub struct MarkRouteLayer(Arc<str>);

impl MarkRouteLayer {
    /// Marks requests as routed to `template` (`/admin/users/{id}`).
    pub fn new(template: &str) -> Self {
        Self(Arc::from(template))
    }
}

impl<S> tower::Layer<S> for MarkRouteLayer {
    type Service = MarkRoute<S>;
    fn layer(&self, inner: S) -> MarkRoute<S> {
        MarkRoute { route: Arc::clone(&self.0), inner }
    }
}

/// The service made by [`MarkRouteLayer`].
#[derive(Debug, Clone)]
pub struct MarkRoute<S> {
    route: Arc<str>,
    inner: S,
}

impl<S: tower::Service<Request>> tower::Service<Request> for MarkRoute<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> S::Future {
        let _ = REQUEST.try_with(|c| c.route.set(Arc::clone(&self.route)));
        self.inner.call(req)
    }
}

/// `GET /metrics`
pub async fn metrics(State(st): State<AppState>) -> Response {
    let body = st.metrics.render(st.hasher.depth(), st.revocations.len());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
