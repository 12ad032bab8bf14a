#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authenticated;
mod authenticator;
mod credential;
mod error_body;
mod rejection;
mod require_scopes;
mod scopes;

#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub mod jwks;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use authenticated::{authenticate, Authenticated};
pub use authenticator::{AuthError, AuthState, Authenticator, BoxFuture, Credential, JwtAuthenticator};
pub use credential::{cookie_value, parse_bearer, BearerToken, MAX_CREDENTIAL_LEN};
pub use error_body::{attach_request_id, with_request_id, ErrorBody};
pub use gatehouse_core::{Principal, ScopeSet, Subject};
pub use rejection::AuthRejection;
pub use require_scopes::{RequireScopes, RequireScopesLayer};
pub use scopes::{NoScopes, RequiredScopes, ScopeRequirement, Scoped};
