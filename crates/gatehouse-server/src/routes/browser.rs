//! Browser transport: `POST /session` sets an HttpOnly session cookie backed by a
//! server-side session plus a readable CSRF cookie; `DELETE /session` logs out. Unsafe
//! requests authenticated by the cookie must echo the CSRF token in `X-CSRF-Token`
//! ([`csrf_guard`]). The CSRF token is derived from the session secret, so it cannot be
//! forged without the HttpOnly cookie, and it binds to exactly one session.

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use gatehouse_axum::{Authenticated, ErrorBody};
use gatehouse_core::username_key;
use gatehouse_store::SessionRecord;
use secrecy::SecretString;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::revocation::end_current;
use crate::{
    error::ApiError,
    form::parse_form,
    secrets,
    settings::Settings,
    state::AppState,
    throttle::{ClientIp, Throttled},
};

/// Cookie names: `__Host-` prefixed (Secure, host-only, Path=/) unless
/// `GATEHOUSE_COOKIE_SECURE=false` (plain-http development), where browsers refuse the prefix.
pub fn cookie_names(settings: &Settings) -> (&'static str, &'static str) {
    if settings.cookie_secure {
        ("__Host-gatehouse_session", "__Host-gatehouse_csrf")
    } else {
        ("gatehouse_session", "gatehouse_csrf")
    }
}

/// The CSRF token for a session secret.
pub fn csrf_token_for(session_secret: &str) -> String {
    let d = Sha256::digest(format!("gatehouse-csrf:{session_secret}").as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..24])
}

fn set_cookie(res: &mut Response, name: &str, value: &str, max_age: i64, http_only: bool, secure: bool) {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// `POST /session` (form `username`, `password`) → 200 `{"csrf_token","session_id","expires_in"}`
/// with the cookies set.
#[utoipa::path(post, path = "/session", tag = "sessions", operation_id = "create_session",
    request_body(content_type = "application/x-www-form-urlencoded", description = "username, password"),
    responses((status = 200, description = "Logged in; session and CSRF cookies set"),
        (status = 400, description = "Bad credentials or malformed form", body = crate::openapi::ApiErrorBody),
        (status = 503, description = "Hashing pool saturated, or the database or Redis unavailable (Retry-After)", body = crate::openapi::ApiErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(ApiError::BadRequest("Content-Type must be application/x-www-form-urlencoded".into()));
    }
    let form = parse_form(&body).map_err(ApiError::BadRequest)?;
    let field = |k: &str| form.get(k).filter(|v| !v.is_empty()).ok_or_else(|| ApiError::invalid(k, "is required"));
    let (username, password) = (field("username")?, field("password")?);
    let bad =
        || ErrorBody::new(StatusCode::BAD_REQUEST, "invalid_credentials", "the username or password is incorrect");
    if username.len() > 256 || password.len() > 1024 {
        return Ok(bad().into_response());
    }
    let ukey = username_key(username);
    let unavailable = |e: gatehouse_store::StoreError| {
        tracing::warn!(error = %e, "throttle store unavailable; refusing logins");
        ApiError::Busy
    };
    if let Err(Throttled(secs)) = st.throttle.check(ip, Some(&ukey)).await.map_err(unavailable)? {
        st.metrics.throttled("session");
        st.metrics.login("throttled");
        return Err(ApiError::Throttled(secs));
    }
    // Refused before the user lookup: under a flood, a refusal should cost next to nothing.
    st.hasher.ensure_room()?;
    let user = st.store.user_by_key(&ukey).await?;
    let verified =
        st.hasher.verify(SecretString::from(password.clone()), user.as_ref().map(|u| u.password_hash.clone())).await?;
    let subject = user.as_ref().map(|u| format!("user:{}", u.id));
    let Some(user) = user.filter(|u| verified.ok && !u.disabled) else {
        tracing::info!(reason = "bad_credentials", "browser login failed");
        crate::audit::record(&st, "login.failed", subject, None, serde_json::json!({"method": "session"})).await;
        st.throttle.failure(ip, Some(&ukey)).await.map_err(unavailable)?;
        st.metrics.login("failed");
        return Ok(bad().into_response());
    };
    st.throttle.success(&ukey).await.map_err(unavailable)?;
    if verified.needs_rehash {
        super::token::rehash(&st, &user, password).await;
    }
    st.metrics.login("ok");
    let now = st.clock.now();
    let secret = secrets::random_secret();
    let ttl = st.settings.refresh_token_ttl;
    let session = SessionRecord {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user.id.clone(),
        client_id: "browser".into(),
        kind: "cookie".into(),
        created_at: now,
        last_used_at: now,
        expires_at: now + ttl,
        revoked_at: None,
        secret_hash: Some(secrets::hash_secret(&secret)),
    };
    st.store.create_session(&session, None).await?;
    let csrf = csrf_token_for(&secret);
    let (session_cookie, csrf_cookie) = cookie_names(&st.settings);
    let secure = st.settings.cookie_secure;
    let mut res = Json(json!({"csrf_token": csrf, "session_id": session.id, "expires_in": ttl})).into_response();
    set_cookie(&mut res, session_cookie, &secret, ttl, true, secure);
    set_cookie(&mut res, csrf_cookie, &csrf, ttl, false, secure);
    crate::error::no_store(&mut res);
    tracing::info!(user = %user.id, sid = %session.id, "browser login succeeded");
    crate::audit::record(
        &st,
        "login.succeeded",
        Some(format!("user:{}", user.id)),
        None,
        serde_json::json!({"method": "session", "sid": session.id}),
    )
    .await;
    Ok(res)
}

/// `DELETE /session` → 204: the cookie session ends and both cookies are cleared.
#[utoipa::path(delete, path = "/session", tag = "sessions", operation_id = "delete_session_cookie",
    responses((status = 204, description = "Logged out; cookies cleared"),
        (status = 401, description = "Not authenticated", body = crate::openapi::ApiErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::openapi::ApiErrorBody)))]
pub async fn delete(State(st): State<AppState>, who: Authenticated) -> Result<Response, ApiError> {
    end_current(&st, &who).await?;
    let (session_cookie, csrf_cookie) = cookie_names(&st.settings);
    let mut res = StatusCode::NO_CONTENT.into_response();
    set_cookie(&mut res, session_cookie, "", 0, true, st.settings.cookie_secure);
    set_cookie(&mut res, csrf_cookie, "", 0, false, st.settings.cookie_secure);
    Ok(res)
}

/// The CSRF rule: an unsafe request whose credential is the session cookie (no
/// `Authorization`, no `X-API-Key`) must carry `X-CSRF-Token` matching its session. Returns
/// the 403 for a request that breaks it.
pub fn csrf_refusal(settings: &Settings, req: &Request) -> Option<Response> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE);
    let other_credential = req.headers().contains_key(header::AUTHORIZATION) || req.headers().contains_key("x-api-key");
    let login = req.method() == Method::POST && req.uri().path() == "/session";
    if safe || other_credential || login {
        return None;
    }
    let (session_cookie, _) = cookie_names(settings);
    let secret = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == session_cookie)
        .map(|(_, v)| v)?;
    let expected = csrf_token_for(secret);
    let sent = req.headers().get("x-csrf-token").map(|v| v.as_bytes()).unwrap_or_default();
    if bool::from(sent.ct_eq(expected.as_bytes())) {
        return None;
    }
    tracing::info!(reason = "csrf_failed", "unsafe cookie request without a valid CSRF token");
    Some(
        ErrorBody::new(StatusCode::FORBIDDEN, "csrf_failed", "X-CSRF-Token is missing or does not match the session")
            .into_response(),
    )
}

/// Layer applying [`csrf_refusal`] to every request. A plain service (the inner future is
/// returned as it is) rather than a `from_fn` middleware, which cost a boxed future and a
/// service clone per request.
#[derive(Debug, Clone)]
pub struct CsrfGuardLayer(pub AppState);

impl<S> tower::Layer<S> for CsrfGuardLayer {
    type Service = CsrfGuard<S>;
    fn layer(&self, inner: S) -> CsrfGuard<S> {
        CsrfGuard { inner, state: self.0.clone() }
    }
}

/// The service made by [`CsrfGuardLayer`].
#[derive(Debug, Clone)]
pub struct CsrfGuard<S> {
    inner: S,
    state: AppState,
}

impl<S> tower::Service<Request> for CsrfGuard<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures_util::future::Either<std::future::Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match csrf_refusal(&self.state.settings, &req) {
            Some(refused) => futures_util::future::Either::Left(std::future::ready(Ok(refused))),
            None => futures_util::future::Either::Right(self.inner.call(req)),
        }
    }
}
