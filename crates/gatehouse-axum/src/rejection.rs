//! Typed rejections with RFC 6750 challenges.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use crate::ErrorBody;

/// Why an auth extractor rejected a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No credential was sent: 401, `WWW-Authenticate: Bearer`.
    Missing,
    /// A credential was sent but is malformed, invalid, expired or revoked:
    /// 401, `WWW-Authenticate: Bearer error="invalid_token"`.
    InvalidToken {
        /// Short, loggable reason.
        reason: &'static str,
    },
    /// Authenticated but lacking scopes: 403, `Bearer error="insufficient_scope", scope="…"`.
    InsufficientScope {
        /// Every scope the route requires, space-separated.
        required: String,
    },
    /// Verification could not complete because a dependency is down: 503.
    Unavailable,
    /// The application state was not set up for authentication: 500.
    Misconfigured(&'static str),
}

impl AuthRejection {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::InvalidToken { .. } => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `WWW-Authenticate` challenge, if any.
    pub fn challenge(&self) -> Option<String> {
        match self {
            Self::Missing => Some("Bearer".into()),
            Self::InvalidToken { .. } => Some(r#"Bearer error="invalid_token""#.into()),
            Self::InsufficientScope { required } => {
                Some(format!(r#"Bearer error="insufficient_scope", scope="{required}""#))
            }
            _ => None,
        }
    }

    /// The error body.
    pub fn body(&self) -> ErrorBody {
        let (code, detail) = match self {
            Self::Missing => ("not_authenticated", "authentication required".to_owned()),
            Self::InvalidToken { reason } => ("invalid_token", format!("the credential is not valid ({reason})")),
            Self::InsufficientScope { required } => {
                ("insufficient_scope", format!("this operation requires scope: {required}"))
            }
            Self::Unavailable => ("unavailable", "authentication is temporarily unavailable".to_owned()),
            Self::Misconfigured(_) => ("internal_error", "an internal error occurred".to_owned()),
        };
        ErrorBody::new(self.status(), code, detail)
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        if let Self::Misconfigured(what) = &self {
            tracing::error!(what, "gatehouse-axum is not configured for this route");
        }
        let mut res = self.body().into_response();
        if let Some(c) = self.challenge().and_then(|c| HeaderValue::from_str(&c).ok()) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, c);
        }
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}
