//! The JSON error shape outside the token endpoint: `{"error","detail","request_id"}`.

use std::borrow::Cow;

use axum::{
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};

/// An error to show a client. Rendered as JSON; also left in the response extensions so
/// [`attach_request_id`] can add the request id.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code (`"invalid_token"`, `"validation_error"` …).
    pub error: Cow<'static, str>,
    /// Human-readable explanation. Never contains secrets.
    pub detail: String,
    /// The offending field, for validation errors.
    pub field: Option<String>,
}

impl ErrorBody {
    /// An error with a status, a code and a detail.
    pub fn new(status: StatusCode, error: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self { status, error: error.into(), detail: detail.into(), field: None }
    }

    /// Names the offending field (validation errors).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The JSON body.
    pub fn to_json(&self, request_id: Option<&str>) -> serde_json::Value {
        let mut v = serde_json::json!({"error": self.error, "detail": self.detail});
        if let Some(f) = &self.field {
            v["field"] = f.clone().into();
        }
        if let Some(id) = request_id {
            v["request_id"] = id.into();
        }
        v
    }
}

impl IntoResponse for ErrorBody {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.to_json(None))).into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// Middleware: re-renders every [`ErrorBody`] response with the request's `x-request-id`
/// (set it first, e.g. with tower-http's `SetRequestIdLayer`).
pub async fn attach_request_id(req: Request, next: Next) -> Response {
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let res = next.run(req).await;
    with_request_id(res, id.as_deref())
}

/// Re-renders an [`ErrorBody`] response with `request_id`, keeping status and headers.
pub fn with_request_id(res: Response, request_id: Option<&str>) -> Response {
    let Some(body) = res.extensions().get::<ErrorBody>().cloned() else {
        return res;
    };
    let (mut parts, _) = res.into_parts();
    let bytes = serde_json::to_vec(&body.to_json(request_id)).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
