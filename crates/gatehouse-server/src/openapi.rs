//! `/openapi.json` (OpenAPI 3.1) and `/docs` (Swagger UI from vendored assets).
//!
//! Per-operation scopes come from the same [`ScopeRequirement`] types the router enforces
//! (`Scoped<Me>` in handlers, `RequireScopesLayer::new(.., Admin::SCOPES)` on `/admin`):
//! [`SECURED`] maps each operation to one of them, and a test checks that every documented
//! requirement is what the server answers with in its 403 challenge.

use axum::{extract::State, response::IntoResponse, Json};
use gatehouse_axum::ScopeRequirement;
use utoipa::{
    openapi::{
        path::Operation,
        security::{Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement, SecurityScheme},
        OpenApi as Doc,
    },
    OpenApi, ToSchema,
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    routes::{Admin, Me},
    state::AppState,
};

/// Error body outside the token endpoint.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ApiErrorBody {
    /// Machine-readable code.
    error: String,
    /// Explanation.
    detail: String,
    /// The request id (also in `X-Request-Id`).
    request_id: String,
    /// For 422: the offending field.
    field: Option<String>,
}

/// RFC 6749 §5.2 error.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `invalid_scope`, `unsupported_grant_type` …
    error: String,
    /// Explanation.
    error_description: String,
}

/// `POST /token` form fields.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// `password` or `refresh_token`.
    grant_type: String,
    /// For `password`.
    username: Option<String>,
    /// For `password`.
    #[schema(format = Password)]
    password: Option<String>,
    /// For `refresh_token`.
    refresh_token: Option<String>,
    /// Space-separated scopes (default: all allowed).
    scope: Option<String>,
}

/// RFC 6749 §5.1 token response.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenResponse {
    /// RFC 9068 JWT.
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds.
    expires_in: i64,
    /// Opaque; rotates on every use.
    refresh_token: Option<String>,
    /// Granted scopes, space-separated.
    scope: String,
}

/// A role.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RoleView {
    /// Name.
    name: String,
    /// Scopes granted directly.
    scopes: Vec<String>,
    /// Included roles.
    includes: Vec<String>,
    /// Built-in roles cannot be deleted.
    builtin: bool,
}

/// A page of users.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UserPage {
    /// Users.
    items: Vec<crate::accounts::UserView>,
    /// Cursor for the next page, or null.
    next_cursor: Option<String>,
}

/// All roles.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RolePage {
    /// Roles.
    items: Vec<RoleView>,
    /// Always null.
    next_cursor: Option<String>,
}

/// The static part of the document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "gatehouse",
        description = "OAuth 2.0 authorization server. Use **Authorize** to log in with the password flow."
    ),
    paths(
        crate::routes::token::token,
        crate::routes::users::get_me,
        crate::routes::users::patch_me,
        crate::routes::users::register,
        crate::routes::revocation::revoke,
        crate::routes::revocation::introspect,
        crate::routes::browser::create,
        crate::routes::browser::delete,
        crate::routes::revocation::logout,
        crate::routes::revocation::logout_all,
        crate::routes::account::list_sessions,
        crate::routes::account::delete_session,
        crate::routes::account::change_password,
        crate::routes::account::create_api_key,
        crate::routes::account::list_api_keys,
        crate::routes::account::delete_api_key,
        crate::routes::clients::create,
        crate::routes::clients::list,
        crate::routes::clients::delete,
        crate::routes::admin::list_users,
        crate::routes::admin::create,
        crate::routes::admin::get_user,
        crate::routes::admin::patch_user,
        crate::routes::admin::delete_user,
        crate::routes::admin::revoke_sessions,
        crate::routes::admin::list_roles,
        crate::routes::admin::audit,
        crate::routes::admin::put_role,
        crate::routes::admin::delete_role,
        crate::routes::well_known::jwks,
        crate::routes::well_known::metadata,
        crate::routes::health::healthz,
        crate::routes::health::readyz,
    ),
    components(schemas(ApiErrorBody, OAuthErrorBody, TokenRequest, TokenResponse, RoleView, UserPage, RolePage))
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Which operations need which scopes — by the scope types the routes use.
pub const SECURED: &[(&str, &str, &[&str])] = &[
    ("/users/me", "get", Me::SCOPES),
    ("/users/me", "patch", Me::SCOPES),
    ("/admin/users", "get", Admin::SCOPES),
    ("/admin/users", "post", Admin::SCOPES),
    ("/admin/users/{id}", "get", Admin::SCOPES),
    ("/admin/users/{id}", "patch", Admin::SCOPES),
    ("/admin/users/{id}", "delete", Admin::SCOPES),
    ("/admin/users/{id}/revoke-sessions", "post", Admin::SCOPES),
    ("/users/me/sessions", "get", Me::SCOPES),
    ("/users/me/sessions/{id}", "delete", Me::SCOPES),
    ("/users/me/password", "post", Me::SCOPES),
    ("/users/me/api-keys", "get", Me::SCOPES),
    ("/users/me/api-keys", "post", Me::SCOPES),
    ("/users/me/api-keys/{id}", "delete", Me::SCOPES),
    ("/logout", "post", &[]),
    ("/session", "delete", &[]),
    ("/logout/all", "post", &[]),
    ("/admin/clients", "get", Admin::SCOPES),
    ("/admin/clients", "post", Admin::SCOPES),
    ("/admin/clients/{id}", "delete", Admin::SCOPES),
    ("/admin/roles", "get", Admin::SCOPES),
    ("/admin/audit", "get", Admin::SCOPES),
    ("/admin/roles/{name}", "put", Admin::SCOPES),
    ("/admin/roles/{name}", "delete", Admin::SCOPES),
];

fn operation<'a>(doc: &'a mut Doc, path: &str, method: &str) -> Option<&'a mut Operation> {
    let item = doc.paths.paths.get_mut(path)?;
    match method {
        "get" => item.get.as_mut(),
        "post" => item.post.as_mut(),
        "put" => item.put.as_mut(),
        "patch" => item.patch.as_mut(),
        "delete" => item.delete.as_mut(),
        _ => None,
    }
}

/// The full document: security schemes (OAuth2 password flow listing every known scope,
/// bearer JWT) and each operation's required scopes.
pub fn document(known_scopes: &[(String, String)]) -> Doc {
    let mut doc = ApiDoc::openapi();
    let scopes = Scopes::from_iter(known_scopes.iter().map(|(s, d)| (s.clone(), d.clone())));
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "oauth2",
        SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new("/token", scopes))])),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
    );
    components.add_security_scheme(
        "api_key",
        SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
            utoipa::openapi::security::ApiKeyValue::with_description(
                "X-API-Key",
                "A key from POST /users/me/api-keys; acts with its own scopes",
            ),
        )),
    );
    for (path, method, needed) in SECURED {
        if let Some(op) = operation(&mut doc, path, method) {
            op.security = Some(vec![
                SecurityRequirement::new("oauth2", needed.iter().copied()),
                SecurityRequirement::new("bearer", needed.iter().copied()),
                SecurityRequirement::new("api_key", needed.iter().copied()),
            ]);
        }
    }
    doc
}

/// `GET /openapi.json`
pub async fn openapi_json(State(st): State<AppState>) -> axum::response::Response {
    let graph = match st.roles().await {
        Ok(g) => g,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let known: Vec<(String, String)> = graph
        .known_scopes()
        .iter()
        .map(|s| {
            let roles: Vec<&str> =
                graph.all().filter(|r| r.scopes.iter().any(|x| x == s)).map(|r| r.name.as_str()).collect();
            (s.to_owned(), format!("granted by role {}", roles.join(", ")))
        })
        .collect();
    Json(document(&known)).into_response()
}

/// Swagger UI at `/docs`, reading `/openapi.json`; assets are compiled in (no network).
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs")
        .config(utoipa_swagger_ui::Config::from("/openapi.json").persist_authorization(false))
        .oauth(utoipa_swagger_ui::oauth::Config::new().client_id("gatehouse").client_secret(""))
}
