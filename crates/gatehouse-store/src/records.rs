//! Plain records exchanged with storage.

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// UUID (v7, so ids sort by creation).
    pub id: String,
    /// The name as the user typed it.
    pub username: String,
    /// NFKC + case-folded name; unique.
    pub username_key: String,
    /// Optional e-mail.
    pub email: Option<String>,
    /// PHC password hash.
    pub password_hash: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Disabled users cannot log in, refresh or use any credential.
    pub disabled: bool,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Last updated, Unix seconds.
    pub updated_at: i64,
    /// Credentials issued before this time (Unix seconds) are void.
    pub tokens_valid_after: i64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .field("password_hash", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New role list.
    pub roles: Option<Vec<String>>,
    /// New disabled flag.
    pub disabled: Option<bool>,
    /// New e-mail (`Some(None)` clears it).
    pub email: Option<Option<String>>,
    /// Move `tokens_valid_after` to this time (void earlier credentials).
    pub tokens_valid_after: Option<i64>,
}

/// A role: scopes it grants and roles it includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    /// Name (a scope-token-like identifier).
    pub name: String,
    /// Scopes granted directly.
    pub scopes: Vec<String>,
    /// Roles whose scopes this role also grants.
    pub includes: Vec<String>,
    /// Built-in roles (`user`, `admin`) cannot be deleted.
    pub builtin: bool,
}

/// A login session: the family of refresh tokens issued from one authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Session id (`sid` in access tokens).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Client it was issued to.
    pub client_id: String,
    /// `token` (refresh family) or `cookie` (browser session).
    pub kind: String,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Last refresh, Unix seconds.
    pub last_used_at: i64,
    /// Absolute cap, Unix seconds.
    pub expires_at: i64,
    /// When revoked, if revoked.
    pub revoked_at: Option<i64>,
    /// For browser sessions: SHA-256 (hex) of the cookie secret.
    pub secret_hash: Option<String>,
}

/// A refresh token, stored only by hash.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Family.
    pub session_id: String,
    /// Owner.
    pub user_id: String,
    /// Client.
    pub client_id: String,
    /// Granted scope (space-separated).
    pub scope: String,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Sliding expiry, Unix seconds.
    pub expires_at: i64,
    /// Set once rotated; presenting it again is reuse.
    pub used_at: Option<i64>,
}

impl std::fmt::Debug for RefreshRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRecord")
            .field("session_id", &self.session_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// Lifecycle of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Signs new tokens (the newest active key is used).
    Active,
    /// No longer signs; still published until `retire_at`.
    Retiring,
    /// Gone from the JWKS.
    Retired,
}

impl KeyStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "retiring" => Some(Self::Retiring),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A stored signing key.
#[derive(Clone)]
pub struct KeyRecord {
    /// Key id.
    pub kid: String,
    /// JOSE algorithm name.
    pub alg: String,
    /// PKCS#8 PEM of the private key.
    pub private_pem: String,
    /// Public JWK, JSON.
    pub public_jwk: String,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Lifecycle state.
    pub status: KeyStatus,
    /// For retiring keys: when they leave the JWKS.
    pub retire_at: Option<i64>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("status", &self.status)
            .field("retire_at", &self.retire_at)
            .field("private_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A confidential OAuth client.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// Client id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// SHA-256 (hex) of the secret.
    pub secret_hash: String,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
    /// Grant types it may use.
    pub grant_types: Vec<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
}

impl std::fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("grant_types", &self.grant_types)
            .finish_non_exhaustive()
    }
}

/// An API key; the key itself is stored only as a hash.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Key id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Owner's label.
    pub name: String,
    /// The first characters of the key, for recognition.
    pub prefix: String,
    /// SHA-256 (hex) of the key.
    pub key_hash: String,
    /// Scopes the key acts with.
    pub scopes: Vec<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Expiry, if any.
    pub expires_at: Option<i64>,
    /// Last use (updated at most once a minute).
    pub last_used_at: Option<i64>,
    /// When revoked.
    pub revoked_at: Option<i64>,
}

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("prefix", &self.prefix)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// UUID v7 (sorts by time).
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    /// Event type, e.g. `login.failed`.
    pub kind: String,
    /// Whom it concerns (`user:<id>`, `client:<id>`).
    pub subject: Option<String>,
    /// Who did it, when not the subject.
    pub actor: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
    /// JSON object with details; never secrets.
    pub detail: String,
}

/// Filters for reading the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this event type.
    pub kind: Option<String>,
    /// Only events about this subject.
    pub subject: Option<String>,
    /// Only events at or after this time.
    pub since: Option<i64>,
    /// Only events with an id greater than this (pagination).
    pub after: Option<String>,
    /// At most this many.
    pub limit: u32,
}
