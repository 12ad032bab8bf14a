//! Cross-cutting HTTP behaviour: request ids, the request's log span and access log, header
//! limits, the error shape for every error response, security headers.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    task::{ready, Context, Poll},
    time::Instant,
};

use axum::{
    body::{Body, HttpBody as _},
    extract::{ConnectInfo, Request},
    http::{header, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    serve::IncomingStream,
};
use futures_util::future::Either;
use gatehouse_axum::{with_request_id, ErrorBody};
use tokio::net::TcpListener;
use tower::Service;

use crate::{
    request_ctx::{self, RequestCtx, Scoped, REQUEST},
    state::AppState,
};

/// The request-id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

fn sane_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// The service every request passes first, wrapping the rest of the stack:
///
/// - accepts a sane incoming `X-Request-Id` or makes one, puts it in the request context
///   (where handlers, the audit trail and logs read it) and on the response; the request's
///   own headers are left as they came (an insert there reallocated hyper's full header map);
/// - sets the request context ([`REQUEST`]: request id, client IP, method, path; the
///   authenticator adds the subject) that every log line of the request carries, and writes
///   the access-log line when the response is ready;
/// - refuses oversized or too many headers with 431, and a body over `max_body_bytes` with
///   413 (by its `Content-Length` at once; a body without one is cut off once it exceeds the
///   limit, and the handler reading it answers 413);
/// - marks credential headers sensitive;
/// - renders every error response in the API error shape with the request id, including
///   bare ones from the framework (404, 405, 413, 415);
/// - sets the security headers;
/// - records the request's metrics (route template from [`crate::metrics::MarkRouteLayer`]).
///
/// It is a plain tower service rather than an `axum::middleware::from_fn` function: that
/// would box a clone of the whole inner stack on every request, on top of its own boxed
/// future, and served through an outer `Router` it cost another route lookup and boxed
/// route future (docs/PERFORMANCE.md).
#[derive(Debug, Clone)]
pub struct Edge<S> {
    state: AppState,
    inner: S,
    /// The connection's peer, when served by [`MakeEdge`]; otherwise the request's
    /// `ConnectInfo<SocketAddr>` extension is used, if any.
    peer: Option<SocketAddr>,
}

impl<S> Edge<S> {
    /// Wraps `inner` (the routes and the rest of the middleware).
    pub fn new(state: AppState, inner: S) -> Self {
        Self { state, inner, peer: None }
    }

    /// The make-service for [`axum::serve`]: one [`Edge`] per connection, knowing its peer.
    pub fn into_make_service(self) -> MakeEdge<S> {
        MakeEdge(self)
    }
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let st = &self.state;
        let id = match req.headers().get(&REQUEST_ID) {
            Some(v) if sane_request_id(v) => v.clone(),
            _ => new_request_id(),
        };
        let peer = self.peer.or_else(|| req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0));
        // `X-Forwarded-For` only counts behind a trusted proxy.
        let xff = if st.trusted_proxies.is_empty() {
            None
        } else {
            req.headers().get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok())
        };
        let ip = peer.map(|p| crate::net::client_ip(p.ip(), xff, &st.trusted_proxies));
        let mut ctx = Some(Box::new(RequestCtx::new(id.clone(), ip, req.method().clone(), req.uri().clone())));
        let tls = req.uri().scheme_str() == Some("https");
        let refused = header_limits(&req).or_else(|| body_limit(&mut req, st.settings.max_body_bytes));
        let fut = match refused {
            Some(refused) => Either::Left(std::future::ready(Ok(refused))),
            None => {
                // Walked rather than looked up with `entry`, which makes room for an insert
                // first: the parsed request's header map is full, so that reallocated it.
                for (name, value) in req.headers_mut().iter_mut() {
                    if name == header::AUTHORIZATION || name == header::COOKIE || name == X_API_KEY {
                        value.set_sensitive(true);
                    }
                }
                // Called now, inside the request's scope (routing notes the route there), on
                // the service `poll_ready` readied. hyper-util's `TowerToHyperService` calls
                // each request on its own clone of this `Edge`, so the contract holds.
                Either::Right(request_ctx::enter(&mut ctx, || self.inner.call(req)))
            }
        };
        let respond = Respond { fut, after: Some(After { st: st.clone(), id, tls, start }) };
        EdgeFuture { scoped: Scoped::new(ctx, respond) }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Edge`]: the inner service's response, finished by the edge
    /// ([`finish`]), all inside the request's [`REQUEST`] scope. A named future rather than a
    /// boxed `async` block: no allocation per request.
    pub struct EdgeFuture<S: Service<Request>> {
        #[pin]
        scoped: Scoped<Respond<S::Future>>,
    }
}

impl<S> Future for EdgeFuture<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().scoped.poll(cx)
    }
}

pin_project_lite::pin_project! {
    /// What [`EdgeFuture`] runs inside the request scope: the response (the inner service's,
    /// or the edge's own refusal), then [`finish`].
    struct Respond<F> {
        #[pin]
        fut: Either<std::future::Ready<Result<Response, Infallible>>, F>,
        after: Option<After>,
    }
}

/// What [`finish`] needs once the response is there.
struct After {
    st: AppState,
    id: HeaderValue,
    tls: bool,
    start: Instant,
}

impl<F> Future for Respond<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = match ready!(this.fut.poll(cx)) {
            Ok(res) => res,
            Err(never) => match never {},
        };
        let Some(after) = this.after.take() else {
            panic!("the edge's response future was polled after it completed");
        };
        Poll::Ready(Ok(finish(&after.st, res, after.id, after.tls, after.start)))
    }
}

// The security headers' values, as constants: `from_static` outside a `const` checks the
// bytes on every call.
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");

/// Everything the edge does to a response: the error shape, security headers, request id,
/// metrics and the access line.
fn finish(st: &AppState, mut res: Response, id: HeaderValue, tls: bool, start: Instant) -> Response {
    let rid = || id.to_str().unwrap_or("-");
    if res.extensions().get::<ErrorBody>().is_some() {
        res = with_request_id(res, Some(rid()));
    } else if (res.status().is_client_error() || res.status().is_server_error()) && !is_json(&res) {
        res = bare_error(res.status()).into_response();
        res = with_request_id(res, Some(rid()));
    }
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    h.insert(header::REFERRER_POLICY, NO_REFERRER);
    h.insert(header::X_FRAME_OPTIONS, DENY);
    if tls {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    let elapsed = start.elapsed();
    // Always inside the request's scope (`Scoped` enters it around every poll); `try_with`
    // so that a scope that could not be entered costs the metric, not a panic.
    let _ = REQUEST.try_with(|c| {
        if let Some(route) = c.route.get() {
            st.metrics.request(route, &c.method, res.status().as_u16(), elapsed);
        }
    });
    access_log(res.status(), elapsed);
    res.headers_mut().insert(REQUEST_ID, id);
    res
}

/// The make-service serving [`Edge`] over TCP (see [`Edge::into_make_service`]).
#[derive(Debug, Clone)]
pub struct MakeEdge<S>(Edge<S>);

impl<S: Clone> Service<IncomingStream<'_, TcpListener>> for MakeEdge<S> {
    type Response = Edge<S>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Edge<S>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, conn: IncomingStream<'_, TcpListener>) -> Self::Future {
        let mut edge = self.0.clone();
        edge.peer = Some(*conn.remote_addr());
        std::future::ready(Ok(edge))
    }
}

/// The 413 for a request whose `Content-Length` exceeds `max` bytes. A body of unknown length
/// is wrapped so that reading past `max` fails, which axum's body extractors answer with 413.
/// A body known to be empty (most `GET`s) is left as it is.
fn body_limit(req: &mut Request, max: usize) -> Option<Response> {
    match req.headers().get(header::CONTENT_LENGTH) {
        Some(len) => {
            let len = len.to_str().ok().and_then(|l| l.parse::<u64>().ok());
            len.is_some_and(|l| l > max as u64).then(|| bare_error(StatusCode::PAYLOAD_TOO_LARGE).into_response())
        }
        None => {
            if req.body().size_hint().exact() != Some(0) {
                let body = std::mem::take(req.body_mut());
                *req.body_mut() = Body::new(http_body_util::Limited::new(body, max));
            }
            None
        }
    }
}

/// A fresh request id: a random UUID, formatted on the stack.
fn new_request_id() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let s = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"))
}

/// The access log: one line per response (`status`, `latency_us`; INFO, ERROR for 5xx), with
/// the request's id, method, path and subject (from [`REQUEST`]). Silence it with
/// `RUST_LOG=info,gatehouse::access=warn`. Under gatehouse's own subscriber the line is
/// written directly ([`crate::telemetry::access_line`]); under any other, it is a `tracing`
/// event.
fn access_log(status: StatusCode, latency: std::time::Duration) {
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    let code = status.as_u16();
    if status.is_server_error() {
        if tracing::enabled!(target: "gatehouse::access", tracing::Level::ERROR)
            && !crate::telemetry::access_line(tracing::Level::ERROR, code, latency_us)
        {
            tracing::error!(target: "gatehouse::access", status = code, latency_us, "finished processing request");
        }
    } else if tracing::enabled!(target: "gatehouse::access", tracing::Level::INFO)
        && !crate::telemetry::access_line(tracing::Level::INFO, code, latency_us)
    {
        tracing::info!(target: "gatehouse::access", status = code, latency_us, "finished processing request");
    }
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}

fn bare_error(status: StatusCode) -> ErrorBody {
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed on this resource"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "unsupported Content-Type"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ("headers_too_large", "request headers are too large"),
        s if s.is_server_error() => ("internal_error", "an internal error occurred"),
        _ => ("bad_request", "the request could not be processed"),
    };
    ErrorBody::new(status, code, detail)
}

/// The fallback for unknown routes.
pub async fn not_found() -> Response {
    bare_error(StatusCode::NOT_FOUND).into_response()
}

/// Most header bytes (names + values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields a request may carry.
pub const MAX_HEADERS: usize = 100;

/// The 431 response (API error shape) for requests with oversized or too many headers.
fn header_limits(req: &Request) -> Option<Response> {
    let h = req.headers();
    let bytes: usize = h.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    (h.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES).then(|| {
        ErrorBody::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("request headers exceed {MAX_HEADERS} fields or {MAX_HEADER_BYTES} bytes"),
        )
        .into_response()
    })
}
