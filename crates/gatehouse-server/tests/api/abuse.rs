//! Abuse resistance: a password-guessing loop is throttled within a bounded number of
//! attempts while other users keep logging in; per-IP limits; spoofed X-Forwarded-For.

use reqwest::{header, StatusCode};
use serde_json::Value;

use crate::helpers::*;

async fn login_from(app: &TestApp, ip: &str, user: &str, pw: &str) -> reqwest::Response {
    app.http
        .post(app.url("/token"))
        .header("x-forwarded-for", ip)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_urlencoded(&[("grant_type", "password"), ("username", user), ("password", pw)]))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn guessing_loop_is_throttled_while_others_log_in_and_the_victim_recovers() {
    let app = spawn_app_with(&[("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "victim", &["user"]).await;
    app.create_user(&admin, "bystander", &["user"]).await;
    let attacker = "203.0.113.66";
    let mut throttled_at = None;
    for attempt in 1..=30 {
        let r = login_from(&app, attacker, "victim", &format!("guess number {attempt}")).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: i64 = r.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
            assert!(retry > 0 && retry <= 15 * 60, "Retry-After {retry}");
            assert_eq!(r.json::<Value>().await.unwrap()["error"], "too_many_requests");
            throttled_at = Some(attempt);
            break;
        }
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let n = throttled_at.expect("never throttled");
    assert!(n <= 11, "throttled only after {n} attempts");
    // Even the right password is refused while locked: guessing cannot continue.
    assert_eq!(login_from(&app, attacker, "victim", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // A legitimate user elsewhere is unaffected.
    assert_eq!(login_from(&app, "198.51.100.7", "bystander", PASSWORD).await.status(), StatusCode::OK);
    // Unknown usernames are throttled the same way.
    for _ in 0..10 {
        login_from(&app, attacker, "no-such-user", "x-password").await;
    }
    assert_eq!(login_from(&app, attacker, "no-such-user", "x").await.status(), StatusCode::TOO_MANY_REQUESTS);
    // The back-off is temporary: the victim gets in after it, which resets the count.
    app.clock.advance(31);
    assert_eq!(login_from(&app, "198.51.100.8", "victim", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(login_from(&app, attacker, "victim", "one more guess").await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn per_ip_failure_window() {
    let app = spawn_app_with(&[
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP", "5"),
        ("GATEHOUSE_LOGIN_FAILURE_WINDOW", "600"),
    ])
    .await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "yara", &["user"]).await;
    for i in 0..5 {
        let r = login_from(&app, "203.0.113.9", &format!("spray{i}"), "Winter2026!").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = login_from(&app, "203.0.113.9", "yara", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the spraying IP is blocked, whatever it tries");
    assert_eq!(login_from(&app, "203.0.113.10", "yara", PASSWORD).await.status(), StatusCode::OK);
    app.clock.advance(601);
    assert_eq!(login_from(&app, "203.0.113.9", "yara", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let app = spawn_app_with(&[("GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP", "5")]).await;
    for i in 0..5 {
        // rotating a spoofed header does not buy fresh per-IP budgets
        login_from(&app, &format!("192.0.2.{i}"), &format!("spray{i}"), "guess").await;
    }
    assert_eq!(login_from(&app, "192.0.2.200", "admin", ADMIN_PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn browser_logins_share_the_throttle() {
    let app = spawn_app().await;
    for _ in 0..10 {
        let r = app
            .http
            .post(app.url("/session"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("username=admin&password=wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = app
        .http
        .post(app.url("/session"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_urlencoded(&[("username", "admin"), ("password", ADMIN_PASSWORD)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD, None).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "one counter for both endpoints"
    );
}

#[tokio::test]
async fn a_stolen_token_cannot_guess_the_password_through_password_change() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "rita", &["user"]).await;
    let stolen = app.tokens("rita", PASSWORD, None).await["access_token"].as_str().unwrap().to_owned();
    let change = |current: &str| {
        let body = serde_json::json!({"current_password": current, "new_password": "a brand new passphrase 42"});
        let (app, stolen) = (&app, &stolen);
        async move { app.send_json(reqwest::Method::POST, "/users/me/password", stolen, &body).await }
    };
    let mut throttled_at = None;
    for attempt in 1..=20 {
        let r = change(&format!("guess number {attempt}")).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key(header::RETRY_AFTER));
            assert_eq!(r.json::<Value>().await.unwrap()["error"], "too_many_requests");
            throttled_at = Some(attempt);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "attempt {attempt}");
    }
    let n = throttled_at.expect("wrong current passwords were never throttled");
    assert!(n <= 11, "throttled only after {n} attempts");
    // Locked: even the right current password is refused, and so is a login (one budget).
    assert_eq!(change(PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.login("rita", PASSWORD, None).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Nothing changed while locked; after the back-off the owner changes it normally.
    app.clock.advance(31);
    assert_eq!(change(PASSWORD).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login("rita", "a brand new passphrase 42", None).await.status(), StatusCode::OK);
}
