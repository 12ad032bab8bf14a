//! A router-level guard: authenticate every request and require scopes, accumulating with
//! the handlers' own [`crate::Scoped`] requirements.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use gatehouse_axum::{AuthState, RequireScopesLayer};
//! # fn state() -> AuthState { unimplemented!() }
//! # fn build() {
//! let auth: AuthState = state();
//! let admin: Router = Router::new()
//!     .route("/admin/users", get(|| async { "ok" }))
//!     .layer(RequireScopesLayer::new(auth, &["admin"]));
//! # }
//! ```

mod layer;
mod service;

pub use layer::RequireScopesLayer;
pub use service::RequireScopes;
