#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api_key;
mod authenticated;
mod authenticator;
mod basic;
mod credential;
mod error_body;
mod rejection;
mod require_scopes;
mod scopes;
mod secure_router;

#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub mod jwks;
#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub mod openapi;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use api_key::{ApiKey, ApiKeyLocation, ApiKeySource};
pub use authenticated::{authenticate, Authenticated};
pub use authenticator::{AuthError, AuthState, Authenticator, BoxFuture, Credential, JwtAuthenticator};
pub use basic::{BasicAuth, BasicRealm, DefaultRealm};
pub use credential::{cookie_value, parse_bearer, BearerToken, MAX_CREDENTIAL_LEN};
pub use error_body::{attach_request_id, with_request_id, ErrorBody};
pub use gatehouse_core::{Principal, ScopeSet, Subject};
pub use rejection::{AuthRejection, Challenge};
pub use require_scopes::{RequireScopes, RequireScopesLayer};
pub use scopes::{NoScopes, RequiredScopes, ScopeRequirement, Scoped};
pub use secrecy::{ExposeSecret, SecretString};
pub use secure_router::{Access, RouteSecurity, SecureRouter};

/// Compile-time checks used by the declaration macros. Not public API.
#[doc(hidden)]
pub mod __private {
    /// Whether `s` is a non-empty RFC 9110 token (header, cookie and parameter names).
    pub const fn is_token(s: &str) -> bool {
        let b = s.as_bytes();
        if b.is_empty() {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let ok = c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                );
            if !ok {
                return false;
            }
            i += 1;
        }
        true
    }

    /// Whether `s` can sit inside a quoted-string as is: printable ASCII without `"` or `\`.
    pub const fn is_quotable(s: &str) -> bool {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c < 0x20 || c > 0x7e || c == b'"' || c == b'\\' {
                return false;
            }
            i += 1;
        }
        true
    }
}
