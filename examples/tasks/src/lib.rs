//! `tasks`: a small resource server that shows gatehouse from the outside.
//!
//! It shares no secret and no database with gatehouse. All it is told is the issuer URL and
//! its own audience; it discovers the issuer's JWKS (`/.well-known/openid-configuration` →
//! `jwks_uri`) and verifies access tokens locally with
//! [`JwksAuthenticator`](gatehouse_axum::jwks::JwksAuthenticator).
//! Run it with `TASKS_ISSUER=http://127.0.0.1:8000 TASKS_AUDIENCE=tasks cargo run -p tasks`
//! (see `main.rs`).
//!
//! | route | scope | |
//! |---|---|---|
//! | `POST /tasks {"title"}` | `tasks:write` | 201 `{"id","title","owner"}`; `owner` is the caller's `sub` |
//! | `GET /tasks?limit=&cursor=` | `tasks:read` | `{"items":[…],"next_cursor"}`: the caller's own tasks |
//! | `GET /tasks/{id}` | `tasks:read` | another user's task is 404 |
//! | `DELETE /tasks/{id}` | `tasks:write` | 204; another user's task is 404 |
//! | `GET /healthz` | — | `ok` |
//!
//! Errors are `{"error","detail","request_id"}` ([`ErrorBody`]); authentication failures are
//! RFC 6750 401/403 with `WWW-Authenticate`.

#![forbid(unsafe_code)]

mod routes;
mod settings;
mod store;

use std::sync::Arc;

use anyhow::Context as _;
use axum::{extract::FromRef, http::header, middleware, Router};
use gatehouse_axum::{attach_request_id, AuthState, ErrorBody};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::TraceLayer,
};

pub use routes::{TasksRead, TasksWrite};
pub use settings::{Settings, SettingsError};
pub use store::{Task, TaskStore, MAX_TASKS_PER_OWNER, MAX_TITLE_CHARS};

/// Everything the handlers need.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    /// How credentials are verified (the JWKS authenticator in production).
    pub auth: AuthState,
    /// The tasks.
    pub store: TaskStore,
}

/// The application: routes plus request ids, tracing and error rendering. Tests pass any
/// [`AuthState`] — e.g. one from `gatehouse_axum::testing`.
pub fn app(auth: AuthState, store: TaskStore) -> Router {
    routes::router().with_state(AppState { auth, store }).layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(TraceLayer::new_for_http())
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(middleware::from_fn(attach_request_id)),
    )
}

/// Builds the authenticator, binds, and serves until Ctrl-C.
///
/// # Errors
/// An unusable setting (naming the variable), or a socket that cannot be bound.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let jwks = settings.authenticator()?;
    // Not fatal: gatehouse may start after us; keys are also loaded on the first token.
    match jwks.refresh().await {
        Ok(n) => tracing::info!(issuer = %settings.issuer, keys = n, "loaded the issuer's JWKS"),
        Err(e) => tracing::warn!(issuer = %settings.issuer, error = %e, "could not load the JWKS yet; will retry"),
    }
    let app = app(AuthState::new(Arc::new(jwks)), TaskStore::default());
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("cannot bind TASKS_BIND={}", settings.bind))?;
    tracing::info!(addr = %listener.local_addr()?, "tasks listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("server error")
}

/// The JSON 404 for unknown routes and for tasks the caller cannot see.
fn not_found(what: &str) -> ErrorBody {
    ErrorBody::new(axum::http::StatusCode::NOT_FOUND, "not_found", what)
}
