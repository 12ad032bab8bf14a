//! `ApiJson<T>`: JSON bodies whose failures use the API error shape (415/400/422 naming the field).

use axum::{
    extract::{rejection::JsonRejection, FromRequest, Request},
    http::StatusCode,
    Json,
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

fn field_of(msg: &str) -> String {
    // serde: "missing field `username`", "unknown field `x`, expected ..."
    for marker in ["missing field `", "unknown field `"] {
        if let Some(i) = msg.find(marker) {
            let rest = &msg[i + marker.len()..];
            if let Some(end) = rest.find('`') {
                return rest[..end].to_owned();
            }
        }
    }
    // axum + serde_path_to_error: "...target type: roles[0]: invalid type..."
    if let Some(i) = msg.find("target type: ") {
        let rest = &msg[i + 13..];
        if let Some(end) = rest.find(": ") {
            let path = &rest[..end];
            if path != "." {
                return path.split(['[', '.']).next().unwrap_or(path).to_owned();
            }
        }
    }
    "body".to_owned()
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                let msg = e.body_text();
                let field = field_of(&msg);
                let detail = msg.rsplit(": ").next().unwrap_or("invalid value").to_owned();
                Err(ApiError::invalid(field, detail))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::BadRequest("Content-Type must be application/json".into()))
            }
            Err(JsonRejection::JsonSyntaxError(_)) => Err(ApiError::BadRequest("the body is not valid JSON".into())),
            // A body cut off at the size limit (one sent without `Content-Length`).
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::PayloadTooLarge),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn finds_fields() {
        assert_eq!(field_of("Failed to deserialize: missing field `username` at line 1"), "username");
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: roles[0]: invalid type"),
            "roles"
        );
        assert_eq!(field_of("whatever"), "body");
    }
}
