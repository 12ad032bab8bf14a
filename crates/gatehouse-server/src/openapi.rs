//! `/openapi.json` (OpenAPI 3.1) and `/docs` (Swagger UI from vendored assets).
//!
//! Security comes from `gatehouse-axum`'s `openapi` feature: schemes from the declared
//! types ([`XApiKey`], the scope types), and each operation's requirement from
//! [`declarations`], written with the same [`ScopeRequirement`](gatehouse_axum::ScopeRequirement)
//! types the router enforces. Tests check that every documented operation is declared and
//! that every documented requirement is what the server answers with in its 403 challenge.

use axum::{extract::State, http::Method, response::IntoResponse, Json};
use gatehouse_axum::{
    openapi::{Coverage, SecuritySchemes},
    Access, RouteSecurity,
};
use utoipa::{openapi::OpenApi as Doc, OpenApi, ToSchema};
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

gatehouse_axum::api_key! {
    /// The personal API keys of `POST /users/me/api-keys`, accepted wherever a bearer token is.
    pub XApiKey = header("X-API-Key");
}

/// Who may call each documented operation, by the [`ScopeRequirement`](gatehouse_axum::ScopeRequirement)
/// types the routes enforce (`Scoped<Me>` in handlers, `RequireScopesLayer` with `Admin` on
/// `/admin`). [`coverage`] (and a test) insist every documented operation is declared here.
pub fn declarations() -> Vec<RouteSecurity> {
    let public = |p: &str| RouteSecurity::new(p, Access::public());
    let authenticated = |p: &str| RouteSecurity::new(p, Access::authenticated());
    let me = |p: &str| RouteSecurity::new(p, Access::scopes::<Me>());
    let admin = |p: &str| RouteSecurity::new(p, Access::scopes::<Admin>());
    vec![
        public("/token"),
        public("/token/revoke"),
        public("/token/introspect"),
        public("/users"),
        public("/.well-known/jwks.json"),
        public("/.well-known/oauth-authorization-server"),
        public("/healthz"),
        public("/readyz"),
        public("/session").on([Method::POST]),
        authenticated("/session").on([Method::DELETE]),
        authenticated("/logout"),
        authenticated("/logout/all"),
        me("/users/me"),
        me("/users/me/sessions"),
        me("/users/me/sessions/{id}"),
        me("/users/me/password"),
        me("/users/me/api-keys"),
        me("/users/me/api-keys/{id}"),
        admin("/admin/users"),
        admin("/admin/users/{id}"),
        admin("/admin/users/{id}/revoke-sessions"),
        admin("/admin/clients"),
        admin("/admin/clients/{id}"),
        admin("/admin/roles"),
        admin("/admin/roles/{name}"),
        admin("/admin/audit"),
    ]
}

/// The security schemes: OAuth2 password flow listing `known_scopes` (plus any scope a
/// declaration requires), bearer JWT, and the [`XApiKey`] header.
pub fn schemes(known_scopes: &[(String, String)]) -> SecuritySchemes {
    SecuritySchemes::new()
        .oauth2_password("oauth2", "/token", known_scopes.iter().cloned())
        .bearer("bearer", Some("JWT"))
        .api_key::<XApiKey>("api_key")
        .describe("api_key", "A key from POST /users/me/api-keys; acts with its own scopes")
}

/// How [`declarations`] cover the static document (a test asserts it is complete).
pub fn coverage() -> Coverage {
    schemes(&[]).apply(&mut ApiDoc::openapi(), &declarations())
}

/// The full document: security schemes and each operation's required scopes.
pub fn document(known_scopes: &[(String, String)]) -> Doc {
    let mut doc = ApiDoc::openapi();
    let coverage = schemes(known_scopes).apply(&mut doc, &declarations());
    if !coverage.is_complete() {
        tracing::warn!(?coverage, "OpenAPI operations without a security declaration");
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

/// Where the Swagger UI is mounted (also its metrics label: its routes are not declared).
pub const DOCS_PATH: &str = "/docs";

/// Swagger UI at `/docs`, reading `/openapi.json`; assets are compiled in (no network).
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new(DOCS_PATH)
        .config(utoipa_swagger_ui::Config::from("/openapi.json").persist_authorization(false))
        .oauth(utoipa_swagger_ui::oauth::Config::new().client_id("gatehouse").client_secret(""))
}
