//! OAuth client authentication (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`,
//! or the implicit public client `gatehouse` with no secret.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use gatehouse_store::ClientRecord;
use percent_encoding::percent_decode_str;

use crate::{error::OAuthError, secrets::verify_secret, state::AppState, tokens::DEFAULT_CLIENT_ID};

/// Who is calling the token endpoint.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    /// The client id (`gatehouse` for the public client).
    pub id: String,
    /// The registered client, when it authenticated with a secret.
    pub confidential: Option<ClientRecord>,
}

impl ClientAuth {
    /// Whether this client may use `grant`.
    pub fn allows_grant(&self, grant: &str) -> bool {
        match &self.confidential {
            Some(c) => c.grant_types.iter().any(|g| g == grant),
            None => matches!(grant, "password" | "refresh_token"),
        }
    }
}

/// A stored hash no secret matches, compared against when the client does not exist, so
/// unknown and known client ids take the same time.
const ABSENT: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let v = v.to_str().map_err(|_| OAuthError::invalid_client())?;
    let (scheme, b64) = v.split_once(' ').ok_or_else(OAuthError::invalid_client)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client());
    }
    let raw = STANDARD.decode(b64.trim()).map_err(|_| OAuthError::invalid_client())?;
    let raw = String::from_utf8(raw).map_err(|_| OAuthError::invalid_client())?;
    let (id, secret) = raw.split_once(':').ok_or_else(OAuthError::invalid_client)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded inside the header.
    let dec = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8().map(|c| c.into_owned());
    Ok(Some((
        dec(id).map_err(|_| OAuthError::invalid_client())?,
        dec(secret).map_err(|_| OAuthError::invalid_client())?,
    )))
}

/// Authenticates the client of a token-endpoint request.
///
/// # Errors
/// `invalid_client` (401) for a wrong or unknown secret or unknown client; `invalid_request`
/// when credentials are sent in two places.
pub async fn authenticate_client(
    st: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<ClientAuth, OAuthError> {
    let basic = basic_credentials(headers)?;
    let post_secret = form.get("client_secret").filter(|s| !s.is_empty());
    let (id, secret) = match (basic, post_secret) {
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request("client credentials sent in two places")),
        (Some((id, secret)), None) => {
            if form.get("client_id").is_some_and(|c| c != &id) {
                return Err(OAuthError::invalid_request("client_id differs between header and body"));
            }
            (id, Some(secret).filter(|s| !s.is_empty()))
        }
        (None, secret) => (form.get("client_id").cloned().unwrap_or_default(), secret.cloned()),
    };
    let Some(secret) = secret else {
        return match id.as_str() {
            "" | DEFAULT_CLIENT_ID => Ok(ClientAuth { id: DEFAULT_CLIENT_ID.to_owned(), confidential: None }),
            _ => Err(OAuthError::invalid_client()),
        };
    };
    if id.len() > 128 || secret.len() > 256 {
        return Err(OAuthError::invalid_client());
    }
    let record = st.store.client(&id).await?;
    let ok = verify_secret(&secret, record.as_ref().map_or(ABSENT, |c| c.secret_hash.as_str()));
    match record {
        Some(c) if ok => Ok(ClientAuth { id, confidential: Some(c) }),
        _ => {
            tracing::info!(reason = "bad_client_credentials", "client authentication failed");
            Err(OAuthError::invalid_client())
        }
    }
}
