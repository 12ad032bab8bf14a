//! Typed rejections with RFC 6750 / RFC 7617 challenges.

use std::fmt;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use crate::{ApiKeyLocation, ErrorBody};

/// Which `WWW-Authenticate` challenge a 401 carries, so a client learns how to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Challenge {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `Basic realm="…", charset="UTF-8"` (RFC 7617).
    Basic {
        /// The protection space, from [`BasicRealm::REALM`](crate::BasicRealm::REALM).
        realm: &'static str,
    },
    /// `ApiKey in="header", name="X-API-Key"`: there is no registered scheme for API keys,
    /// so this names where the key goes, the way OpenAPI's `apiKey` scheme does.
    ApiKey {
        /// Header, query parameter or cookie.
        location: ApiKeyLocation,
        /// The header, parameter or cookie name.
        name: &'static str,
    },
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer => f.write_str("Bearer"),
            Self::Basic { realm } => write!(f, r#"Basic realm="{realm}", charset="UTF-8""#),
            Self::ApiKey { location, name } => write!(f, r#"ApiKey in="{}", name="{name}""#, location.as_str()),
        }
    }
}

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
    /// No credential of the kind the extractor wants (HTTP Basic, an API key) was sent:
    /// 401, `WWW-Authenticate: <challenge>`, error code `not_authenticated`.
    MissingCredential {
        /// What to ask for.
        challenge: Challenge,
    },
    /// A Basic or API-key credential was sent but is malformed (bad base64, no colon,
    /// oversized, sent twice …): 401, `WWW-Authenticate: <challenge>`, error code
    /// `invalid_credential`.
    InvalidCredential {
        /// What to ask for instead.
        challenge: Challenge,
        /// Short, loggable reason (`"invalid_base64"`, `"missing_colon"` …).
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
            Self::Missing
            | Self::InvalidToken { .. }
            | Self::MissingCredential { .. }
            | Self::InvalidCredential { .. } => StatusCode::UNAUTHORIZED,
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
            Self::MissingCredential { challenge } => Some(challenge.to_string()),
            Self::InvalidCredential { challenge: Challenge::Bearer, .. } => {
                Some(r#"Bearer error="invalid_token""#.into())
            }
            Self::InvalidCredential { challenge, .. } => Some(challenge.to_string()),
            Self::InsufficientScope { required } => {
                Some(format!(r#"Bearer error="insufficient_scope", scope="{required}""#))
            }
            Self::Unavailable | Self::Misconfigured(_) => None,
        }
    }

    /// The error body.
    pub fn body(&self) -> ErrorBody {
        let (code, detail) = match self {
            Self::Missing | Self::MissingCredential { .. } => {
                ("not_authenticated", "authentication required".to_owned())
            }
            Self::InvalidToken { reason } => ("invalid_token", format!("the credential is not valid ({reason})")),
            Self::InvalidCredential { reason, .. } => {
                ("invalid_credential", format!("the credential is not valid ({reason})"))
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_render() {
        assert_eq!(Challenge::Basic { realm: "r" }.to_string(), r#"Basic realm="r", charset="UTF-8""#);
        let k = Challenge::ApiKey { location: ApiKeyLocation::Query, name: "api_key" };
        assert_eq!(k.to_string(), r#"ApiKey in="query", name="api_key""#);
        let r = AuthRejection::InvalidCredential { challenge: k, reason: "empty_api_key" };
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.body().error, "invalid_credential");
    }
}
