//! Issuing access and refresh tokens.

use gatehouse_core::{AccessClaims, Audience, ScopeSet};
use gatehouse_store::{RefreshRecord, SessionRecord};

use crate::state::AppInner;

/// The implicit public client used when a request names none.
pub const DEFAULT_CLIENT_ID: &str = "gatehouse";

pub use crate::secrets::{hash_secret as hash_token, random_secret as new_refresh_token};

/// Signs an access token; returns it with its lifetime in seconds.
///
/// # Errors
/// When the signing backend refuses the key.
pub fn access_token(
    st: &AppInner,
    sub: String,
    scope: &ScopeSet,
    client_id: &str,
    sid: Option<&str>,
) -> Result<(String, i64), gatehouse_core::Error> {
    let now = st.clock.now();
    let ttl = st.settings.access_token_ttl;
    let claims = AccessClaims {
        iss: st.settings.issuer.clone(),
        sub,
        aud: Audience::from_list(&st.settings.audience),
        exp: now + ttl,
        iat: now,
        nbf: None,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: client_id.to_owned(),
        scope: scope.to_string(),
        sid: sid.map(str::to_owned),
    };
    Ok((st.keys.current().signer.sign(&claims)?, ttl))
}

/// A new session (refresh family) with its first refresh token; returns (session, token).
pub fn new_session(
    st: &AppInner,
    user_id: &str,
    client_id: &str,
    scope: &ScopeSet,
) -> (SessionRecord, RefreshRecord, String) {
    let now = st.clock.now();
    let session = SessionRecord {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        kind: "token".into(),
        created_at: now,
        last_used_at: now,
        expires_at: now + st.settings.session_max_ttl,
        revoked_at: None,
        secret_hash: None,
    };
    let (record, token) = next_refresh(st, &session.id, session.expires_at, user_id, client_id, scope);
    (session, record, token)
}

/// The next refresh token of a family, with sliding expiry capped by the session's.
pub fn next_refresh(
    st: &AppInner,
    session_id: &str,
    session_expires: i64,
    user_id: &str,
    client_id: &str,
    scope: &ScopeSet,
) -> (RefreshRecord, String) {
    let now = st.clock.now();
    let token = new_refresh_token();
    let record = RefreshRecord {
        token_hash: hash_token(&token),
        session_id: session_id.to_owned(),
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        scope: scope.to_string(),
        created_at: now,
        expires_at: (now + st.settings.refresh_token_ttl).min(session_expires),
        used_at: None,
    };
    (record, token)
}
