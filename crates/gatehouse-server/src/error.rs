//! The server's errors and how they map to HTTP (the only place that knows status codes,
//! together with gatehouse-axum's rejections).

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use gatehouse_axum::ErrorBody;
use gatehouse_store::StoreError;

use crate::hashing::PoolBusy;

/// `Retry-After` seconds while the database or Redis is down.
pub const DEPENDENCY_RETRY_AFTER: u64 = 5;

/// An API error outside the token endpoint; rendered as `{"error","detail","request_id"}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: a field failed validation.
    #[error("{field}: {detail}")]
    Validation {
        /// The offending field.
        field: String,
        /// What is wrong.
        detail: String,
    },
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 413: the request body is over the size limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 403: authenticated but not allowed.
    #[error("{1}")]
    Forbidden(&'static str, String),
    /// 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 503: the hashing pool is saturated.
    #[error("service busy")]
    Busy,
    /// 503: the database or Redis is unreachable (an outage, not a bug); retry later.
    #[error("a backing service is unavailable")]
    Unavailable,
    /// 429 with `Retry-After` seconds.
    #[error("too many attempts")]
    Throttled(i64),
    /// 500; the cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A validation error on `field`.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), detail: detail.into() }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => Self::NotFound(what),
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, source = ?std::error::Error::source(&other), "backing service unavailable");
                Self::Unavailable
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<PoolBusy> for ApiError {
    fn from(_: PoolBusy) -> Self {
        Self::Busy
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match &self {
            Self::Validation { field, detail } => {
                ErrorBody::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", format!("{field}: {detail}"))
                    .with_field(field.clone())
            }
            Self::BadRequest(d) => ErrorBody::new(StatusCode::BAD_REQUEST, "bad_request", d.clone()),
            Self::PayloadTooLarge => {
                ErrorBody::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
            }
            Self::Forbidden(code, d) => ErrorBody::new(StatusCode::FORBIDDEN, *code, d.clone()),
            Self::NotFound(what) => ErrorBody::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found")),
            Self::Conflict(d) => ErrorBody::new(StatusCode::CONFLICT, "conflict", d.clone()),
            Self::Throttled(_) => ErrorBody::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many failed attempts; retry later",
            ),
            Self::Busy => {
                ErrorBody::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the server is busy; retry shortly")
            }
            Self::Unavailable => ErrorBody::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a backing service is temporarily unavailable; retry shortly",
            ),
            Self::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error");
                ErrorBody::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "an internal error occurred")
            }
        };
        let mut res = body.into_response();
        match self {
            Self::Busy => {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Unavailable => {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(DEPENDENCY_RETRY_AFTER));
            }
            Self::Throttled(secs) => {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            _ => {}
        }
        res
    }
}

/// An RFC 6749 §5.2 error from the token endpoint: `{"error","error_description"}`.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// HTTP status.
    pub status: StatusCode,
    /// RFC 6749 error code.
    pub error: &'static str,
    /// Human-readable description.
    pub description: String,
    /// For 429/503: seconds to wait.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into(), retry_after: None }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }

    /// 400 `invalid_grant` — one body for every bad-credential case.
    pub fn invalid_grant() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", "the credentials or grant are invalid, expired or revoked")
    }

    /// 400 `invalid_scope`.
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }

    /// 400 `unsupported_grant_type`.
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", d)
    }

    /// 400 `unauthorized_client`.
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", d)
    }

    /// 401 `invalid_client` (+ `WWW-Authenticate: Basic`).
    pub fn invalid_client() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed")
    }

    /// 503 with `Retry-After`.
    pub fn busy() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "the server is busy; retry shortly")
        }
    }

    /// 503 `temporarily_unavailable` with `Retry-After`: the database or Redis is down.
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(DEPENDENCY_RETRY_AFTER),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "a backing service is temporarily unavailable; retry shortly",
            )
        }
    }

    /// 429 with `Retry-After`.
    pub fn throttled(secs: i64) -> Self {
        Self {
            retry_after: Some(secs.max(1) as u64),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "too many failed attempts; retry later")
        }
    }

    /// 500 `server_error`; logs the cause.
    pub fn server_error(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "token endpoint internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "an internal error occurred")
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "backing service unavailable");
            return Self::unavailable();
        }
        Self::server_error(format!("{e}: {:?}", std::error::Error::source(&e)))
    }
}

impl From<PoolBusy> for OAuthError {
    fn from(_: PoolBusy) -> Self {
        Self::busy()
    }
}

/// Headers every credential response carries (RFC 6749 §5.1).
pub fn no_store(res: &mut Response) {
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut res =
            (self.status, Json(serde_json::json!({"error": self.error, "error_description": self.description})))
                .into_response();
        no_store(&mut res);
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="gatehouse""#));
        }
        if let Some(s) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}
