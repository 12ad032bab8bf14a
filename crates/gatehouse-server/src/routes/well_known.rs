//! Discovery: JWKS (RFC 7517) and authorization server metadata (RFC 8414 / OIDC discovery).

use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::state::AppState;

/// `GET /.well-known/jwks.json`
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery", operation_id = "jwks", responses((status = 200, description = "Public signing keys (RFC 7517)")))]
pub async fn jwks(State(st): State<AppState>) -> Response {
    let body = st.keys.current().jwks.to_string();
    let mut res = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    res
}

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery", operation_id = "metadata", responses((status = 200, description = "RFC 8414 metadata (also at /.well-known/openid-configuration)")))]
pub async fn metadata(State(st): State<AppState>) -> Response {
    let iss = &st.settings.issuer;
    let known = match st.roles().await {
        Ok(g) => g.known_scopes().to_vec(),
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    Json(json!({
        "issuer": iss,
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{iss}/token/revoke"),
        "introspection_endpoint": format!("{iss}/token/introspect"),
        "grant_types_supported": ["password", "refresh_token", "client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": known,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [st.settings.jwt_alg.as_str()],
        "access_token_signing_alg_values_supported": [st.settings.jwt_alg.as_str()],
        "service_documentation": format!("{iss}/docs"),
    }))
    .into_response()
}
