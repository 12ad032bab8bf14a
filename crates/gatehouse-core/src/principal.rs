//! Who is calling: the verified identity behind a credential.

use std::fmt;

use crate::{AccessClaims, ScopeSet};

/// The subject of a credential, parsed from `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// `user:<id>`
    User(String),
    /// `client:<id>` (client-credentials tokens)
    Client(String),
    /// Any other `sub` (tokens from other providers).
    Other(String),
}

impl Subject {
    /// Parses a `sub` claim.
    pub fn parse(sub: &str) -> Self {
        if let Some(id) = sub.strip_prefix("user:") {
            Self::User(id.to_owned())
        } else if let Some(id) = sub.strip_prefix("client:") {
            Self::Client(id.to_owned())
        } else {
            Self::Other(sub.to_owned())
        }
    }

    /// The subject as the two parts of its `sub` form: the prefix (`user:`, `client:`, or
    /// empty) and the id. Writing both is its [`Display`](fmt::Display) form, without `fmt`.
    pub fn parts(&self) -> [&str; 2] {
        match self {
            Self::User(id) => ["user:", id],
            Self::Client(id) => ["client:", id],
            Self::Other(s) => ["", s],
        }
    }

    /// The user id, if the subject is a user.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::User(id) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [prefix, id] = self.parts();
        f.write_str(prefix)?;
        f.write_str(id)
    }
}

/// How the principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A bearer access token.
    AccessToken,
    /// An API key.
    ApiKey,
    /// A browser session cookie.
    SessionCookie,
}

/// A verified caller: subject, granted scopes and the session/token it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who.
    pub subject: Subject,
    /// What the credential grants.
    pub scopes: ScopeSet,
    /// The OAuth client the credential was issued to.
    pub client_id: String,
    /// Session id (`sid`), when the credential belongs to a session.
    pub session_id: Option<String>,
    /// Token id (`jti`) or key id, for revocation.
    pub credential_id: Option<String>,
    /// Issued at, Unix seconds.
    pub issued_at: i64,
    /// Expiry, Unix seconds (`i64::MAX` when the credential does not expire).
    pub expires_at: i64,
    /// The credential type.
    pub kind: CredentialKind,
}

impl Principal {
    /// The principal an access token describes.
    pub fn from_claims(c: &AccessClaims) -> Self {
        Self {
            subject: Subject::parse(&c.sub),
            scopes: c.scopes(),
            client_id: c.client_id.clone(),
            session_id: c.sid.clone(),
            credential_id: (!c.jti.is_empty()).then(|| c.jti.clone()),
            issued_at: c.iat,
            expires_at: c.exp,
            kind: CredentialKind::AccessToken,
        }
    }
}
