#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod clock;
mod error;
mod keys;
mod password;
mod principal;
mod scope;
mod token;
mod username;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ErrorKind, Result};
pub use keys::{jwks, Algorithm, SigningKey, VerifyingKey};
pub use password::{check_stored_hash, hash_scheme, Argon2Params, PasswordHasher, Verified};
pub use principal::{CredentialKind, Principal, Subject};
pub use scope::{is_valid_scope_token, ScopeSet};
pub use token::{
    inspect_header, AccessClaims, Audience, CheckedHeader, TokenSigner, TokenVerifier, Validation, ACCESS_TOKEN_TYP,
};
pub use username::{username_key, username_problem, MAX_USERNAME_CHARS};
