//! Cross-cutting HTTP behaviour: request ids, the error shape for every error response,
//! security headers.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderName, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use gatehouse_axum::{with_request_id, ErrorBody};

use crate::{
    audit::{RequestCtx, REQUEST},
    state::AppState,
};

/// The request-id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn sane_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// Accepts a sane incoming `X-Request-Id` or makes one; sets it on the request (for handlers
/// and logs) and on the response; renders every error response in the API error shape with
/// the request id, including bare ones from the framework (404, 405, 413, 415).
pub async fn request_id(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = match req.headers().get(&REQUEST_ID) {
        Some(v) if sane_request_id(v) => v.clone(),
        _ => HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap_or(HeaderValue::from_static("-")),
    };
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let span = tracing::info_span!("request", request_id = %id.to_str().unwrap_or("-"));
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let xff = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = peer.map(|p| crate::net::client_ip(p, xff, &st.trusted_proxies));
    let ctx = RequestCtx { request_id: id.to_str().unwrap_or("-").to_owned(), ip };
    let mut res = REQUEST.scope(ctx, tracing::Instrument::instrument(next.run(req), span)).await;
    let rid = id.to_str().unwrap_or("-").to_owned();
    if res.extensions().get::<ErrorBody>().is_some() {
        res = with_request_id(res, Some(&rid));
    } else if (res.status().is_client_error() || res.status().is_server_error()) && !is_json(&res) {
        res = bare_error(res.status()).into_response();
        res = with_request_id(res, Some(&rid));
    }
    res.headers_mut().insert(REQUEST_ID, id);
    res
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

/// Security headers on every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let tls = req.uri().scheme_str() == Some("https");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if tls {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    res
}

/// The fallback for unknown routes.
pub async fn not_found() -> Response {
    bare_error(StatusCode::NOT_FOUND).into_response()
}

/// Most header bytes (names + values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields a request may carry.
pub const MAX_HEADERS: usize = 100;

/// Refuses requests with oversized or too many headers: 431 in the API error shape.
pub async fn header_limits(req: Request, next: Next) -> Response {
    let h = req.headers();
    let bytes: usize = h.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if h.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return ErrorBody::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("request headers exceed {MAX_HEADERS} fields or {MAX_HEADER_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}
