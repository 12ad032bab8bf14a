//! HTTP routes.

pub mod account;
pub mod admin;
pub mod browser;
pub mod clients;
pub mod health;
pub mod revocation;
pub mod token;
pub mod users;
pub mod well_known;

use serde::Deserialize;

use crate::error::ApiError;

gatehouse_axum::scopes! {
    /// Read and edit your own account.
    pub Me = ["me"];
    /// The admin API (applied to the whole `/admin` router).
    pub Admin = ["admin"];
}

/// `?limit=&cursor=` on list endpoints.
#[derive(Debug, Deserialize)]
pub struct Page {
    /// Items per page (1–200, default 50).
    pub limit: Option<String>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Page {
    /// Validated limit.
    ///
    /// # Errors
    /// 422 on `limit`.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match &self.limit {
            None => Ok(50),
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=200).contains(n))
                .ok_or_else(|| ApiError::invalid("limit", "must be an integer from 1 to 200")),
        }
    }

    /// Decoded cursor.
    ///
    /// # Errors
    /// 422 on `cursor`.
    pub fn cursor(&self) -> Result<Option<String>, ApiError> {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
        match &self.cursor {
            None => Ok(None),
            Some(c) if c.is_empty() => Ok(None),
            Some(c) => URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .map(Some)
                .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor this server issued")),
        }
    }

    /// Encodes a cursor.
    pub fn encode(last: &str) -> String {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
        URL_SAFE_NO_PAD.encode(last)
    }
}
