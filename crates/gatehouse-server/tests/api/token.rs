//! `POST /token`: the password grant, RFC 6749 errors, bad input.

use reqwest::{header, StatusCode};
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn password_grant_returns_rfc6749_response_with_no_store() {
    let app = spawn_app().await;
    let r = app.login("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.headers()[header::PRAGMA], "no-cache");
    assert!(r.headers().contains_key("x-request-id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "admin me");
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(refresh.len() >= 22, "refresh token carries at least 128 bits");
    assert!(!refresh.contains('.'), "refresh token is opaque, not a JWT");
}

#[tokio::test]
async fn access_token_follows_rfc9068() {
    let app = spawn_app().await;
    let body = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let at = body["access_token"].as_str().unwrap();
    let h = jwt_part(at, 0);
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(h["alg"], "RS256");
    assert!(h["kid"].as_str().is_some_and(|k| !k.is_empty()));
    let c = jwt_part(at, 1);
    assert_eq!(c["iss"], app.base);
    assert_eq!(c["aud"], app.base);
    assert!(c["sub"].as_str().unwrap().starts_with("user:"));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(c["client_id"], "gatehouse");
    assert_eq!(c["scope"], "admin me");
    assert!(c["sid"].as_str().is_some_and(|s| !s.is_empty()));
    for secretish in ["password", "password_hash", "email"] {
        assert!(c.get(secretish).is_none());
    }
}

#[tokio::test]
async fn bad_password_unknown_user_and_disabled_account_look_identical() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let bob = app.create_user(&admin, "bob", &["user"]).await;
    let r = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/admin/users/{}", bob["id"].as_str().unwrap()),
            &admin,
            &serde_json::json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let wrong = app.login("admin", "not the password", None).await;
    let unknown = app.login("nobody-here", "whatever password", None).await;
    let disabled = app.login("bob", PASSWORD, None).await;
    let mut bodies = Vec::new();
    for r in [wrong, unknown, disabled] {
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        bodies.push(r.text().await.unwrap());
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "bodies differ: {bodies:?}");
    let v: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(v["error"], "invalid_grant");
}

#[tokio::test]
async fn usernames_match_after_nfkc_and_case_folding() {
    let app = spawn_app().await;
    assert_eq!(app.login("ADMIN", ADMIN_PASSWORD, None).await.status(), StatusCode::OK);
    assert_eq!(app.login("ａｄｍｉｎ", ADMIN_PASSWORD, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn granted_scope_is_requested_intersected_with_allowed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "carol", &["user"]).await;
    let all = app.tokens("carol", PASSWORD, None).await;
    assert_eq!(all["scope"], "me");
    let asked = app.tokens("carol", PASSWORD, Some("me admin")).await;
    assert_eq!(asked["scope"], "me", "admin is known but not allowed: dropped");
    let r = app.login("carol", PASSWORD, Some("me bogus")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let r = app.login("carol", PASSWORD, Some("bad\"scope")).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
}

async fn raw(app: &TestApp, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    app.http.post(app.url("/token")).header(header::CONTENT_TYPE, content_type).body(body).send().await.unwrap()
}

async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let s = r.status();
    let v: Value = r.json().await.unwrap();
    (s, v["error"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn malformed_requests_get_rfc6749_errors() {
    let app = spawn_app().await;
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (form, b"username=admin&password=x".to_vec(), StatusCode::BAD_REQUEST, "invalid_request"),
        (form, b"grant_type=implicit".to_vec(), StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        (form, b"grant_type=password&username=admin".to_vec(), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            form,
            b"grant_type=password&grant_type=password&username=admin&password=x".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (form, b"grant_type=password&username=%ff%fe&password=x".to_vec(), StatusCode::BAD_REQUEST, "invalid_request"),
        ("application/json", br#"{"grant_type":"password"}"#.to_vec(), StatusCode::BAD_REQUEST, "invalid_request"),
        ("text/plain", b"grant_type=password".to_vec(), StatusCode::BAD_REQUEST, "invalid_request"),
        (form, b"grant_type=refresh_token".to_vec(), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            form,
            b"grant_type=refresh_token&refresh_token=not-a-real-one".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            form,
            b"grant_type=password&username=admin&password=x&client_secret=s3cret".to_vec(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            form,
            b"grant_type=password&username=admin&password=x&client_id=someone-else".to_vec(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
    ];
    for (ct, body, status, code) in cases {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let (s, e) = error_of(raw(&app, ct, body).await).await;
        assert_eq!((s, e.as_str()), (status, code), "for {ct} {shown}");
    }
}

#[tokio::test]
async fn invalid_client_carries_basic_challenge() {
    let app = spawn_app().await;
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth("some-client", Some("some-secret"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=password&username=admin&password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(www_auth(&r).starts_with("Basic"));
}

#[tokio::test]
async fn oversized_body_is_refused_before_parsing() {
    let app = spawn_app().await;
    let huge = format!("grant_type=password&username=admin&password={}", "x".repeat(100_000));
    let r = raw(&app, "application/x-www-form-urlencoded", huge.into_bytes()).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "payload_too_large");
    assert!(v["request_id"].is_string());
}

#[tokio::test]
async fn a_login_upgrades_a_hash_made_with_old_parameters() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dave = app.create_user(&admin, "dave", &["user"]).await;
    let id = dave["id"].as_str().unwrap();
    // Store a hash made with other (older) parameters, as an earlier deployment would have.
    let old = gatehouse_core::PasswordHasher::new(gatehouse_core::Argon2Params {
        memory_kib: 2048,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap()
    .hash(PASSWORD.as_bytes())
    .unwrap();
    app.state.store.set_password_hash(id, &old, app.clock.now_secs(), None).await.unwrap();
    assert_eq!(app.login("dave", PASSWORD, None).await.status(), StatusCode::OK);
    let stored = app.state.store.user_by_id(id).await.unwrap().unwrap().password_hash;
    assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "not upgraded: {stored}");
    assert_eq!(app.login("dave", PASSWORD, None).await.status(), StatusCode::OK);
}

trait NowSecs {
    fn now_secs(&self) -> i64;
}
impl NowSecs for gatehouse_core::ManualClock {
    fn now_secs(&self) -> i64 {
        gatehouse_core::Clock::now(self)
    }
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/healthz")).header("x-filler", "a".repeat(20_000)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "headers_too_large");
    assert!(v["request_id"].is_string());
    let mut req = app.http.get(app.url("/healthz"));
    for i in 0..120 {
        req = req.header(format!("x-h{i}"), "v");
    }
    assert_eq!(req.send().await.unwrap().status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let huge_token = format!("Bearer {}", "a".repeat(10_000));
    let r = app.http.get(app.url("/users/me")).header("authorization", huge_token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "an oversized token is a 401, not a 5xx");
}

/// Sends `head` and then `body` in chunks of `Transfer-Encoding: chunked` (no
/// `Content-Length`) over a raw connection; returns the status and the response text.
async fn chunked(app: &TestApp, head: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{head}Host: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").into_bytes();
    for part in body.chunks(4096) {
        req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        req.extend_from_slice(part);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before it has read everything; a failed write is fine.
    let _ = s.write_all(&req).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn an_oversized_body_without_content_length_is_refused_and_a_small_one_accepted() {
    let app = spawn_app().await;
    // Over the server-wide 64 KiB limit, on a JSON endpoint that reads its body.
    let admin = app.admin_token().await;
    let huge = format!(r#"{{"username":"bob","password":"{}"}}"#, "x".repeat(100_000));
    let head =
        format!("POST /admin/users HTTP/1.1\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\n");
    let (status, text) = chunked(&app, &head, huge.as_bytes()).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains(r#""error":"payload_too_large""#), "{text}");
    assert!(text.contains(r#""request_id""#), "{text}");
    // Nothing was created.
    let r = app.get("/admin/users", Some(&admin)).await;
    assert!(!r.text().await.unwrap().contains(r#""username":"bob""#));
    // Over the 16 KiB limit of /token.
    let form = format!("grant_type=password&username=admin&password={}", "x".repeat(20_000));
    let head = "POST /token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n";
    let (status, text) = chunked(&app, head, form.as_bytes()).await;
    assert_eq!(status, 413, "{text}");
    // A body of unknown length within the limit is read as usual.
    let form = form_urlencoded(&[("grant_type", "password"), ("username", "admin"), ("password", ADMIN_PASSWORD)]);
    let (status, text) = chunked(&app, head, form.as_bytes()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("access_token"), "{text}");
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_on_any_route_before_the_handler() {
    let app = spawn_app().await;
    let r = app
        .http
        .post(app.url("/users"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(vec![b' '; 70_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // /healthz never reads a body; the declared length alone is refused.
    let r = app.http.get(app.url("/healthz")).body(vec![b' '; 70_000]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "payload_too_large");
    let r = app.http.get(app.url("/healthz")).body(vec![b' '; 1_000]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_body_limit_above_axums_default_is_honoured() {
    // 3 MiB configured: a 2.5 MB body is within it, though over axum's own 2 MiB default.
    let app = spawn_app_with(&[("GATEHOUSE_MAX_BODY_BYTES", "3145728")]).await;
    let admin = app.admin_token().await;
    let body = serde_json::json!({"username": "bob", "password": "x".repeat(2_500_000)});
    let r = app.send_json(reqwest::Method::POST, "/admin/users", &admin, &body).await;
    // Read and judged (the password is far too long), not refused for size.
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text().await.unwrap());
    let r = app
        .http
        .post(app.url("/users"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(vec![b' '; 3_200_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
