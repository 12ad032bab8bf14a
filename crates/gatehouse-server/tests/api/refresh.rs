//! Refresh-token rotation, reuse detection, expiry, and re-reading the user.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn err(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn every_refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let first = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let r1 = first["refresh_token"].as_str().unwrap();

    let second: Value = app.refresh(r1, None).await.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2, "refresh token rotated");
    let at2 = second["access_token"].as_str().unwrap();
    assert_eq!(app.get("/users/me", Some(at2)).await.status(), StatusCode::OK);
    assert_eq!(jwt_part(at2, 1)["sid"], jwt_part(first["access_token"].as_str().unwrap(), 1)["sid"]);

    // The attacker replays the old token: refused, and the whole family dies.
    let replay = app.refresh(r1, None).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(err(replay).await, "invalid_grant");
    assert_eq!(err(app.refresh(r2, None).await).await, "invalid_grant", "the legitimate successor is revoked too");
    let me = app.get("/users/me", Some(at2)).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "access tokens of the family stop at once");
    // Other sessions are untouched.
    let other = app.tokens("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(app.refresh(other["refresh_token"].as_str().unwrap(), None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_may_narrow_but_never_widen_scope() {
    let app = spawn_app().await;
    let t = app.tokens("admin", ADMIN_PASSWORD, Some("me")).await;
    let rt = t["refresh_token"].as_str().unwrap();
    let wide = app.refresh(rt, Some("me admin")).await;
    assert_eq!(err(wide).await, "invalid_scope");
    // a refused widening does not consume the token
    let narrow: Value = app.refresh(rt, Some("me")).await.json().await.unwrap();
    assert_eq!(narrow["scope"], "me");
}

#[tokio::test]
async fn refresh_rereads_the_user_roles_and_disabled_flag() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let erin = app.create_user(&admin, "erin", &["admin"]).await;
    let id = erin["id"].as_str().unwrap().to_owned();
    let t = app.tokens("erin", PASSWORD, None).await;
    assert_eq!(t["scope"], "admin me");

    let r =
        app.send_json(reqwest::Method::PATCH, &format!("/admin/users/{id}"), &admin, &json!({"roles": ["user"]})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let t2: Value = app.refresh(t["refresh_token"].as_str().unwrap(), None).await.json().await.unwrap();
    assert_eq!(t2["scope"], "me", "the lost role's scope is gone");

    let r =
        app.send_json(reqwest::Method::PATCH, &format!("/admin/users/{id}"), &admin, &json!({"disabled": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(err(app.refresh(t2["refresh_token"].as_str().unwrap(), None).await).await, "invalid_grant");
}

#[tokio::test]
async fn sliding_expiry_and_absolute_session_cap() {
    let app = spawn_app().await;
    let t = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let mut rt = t["refresh_token"].as_str().unwrap().to_owned();
    // Unused for longer than 14 days: expired.
    let idle = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let day = 86_400;
    // Keep one session alive by refreshing every 10 days; the absolute cap (30 days) still ends it.
    for _ in 0..2 {
        app.clock.advance(10 * day);
        let next: Value = app.refresh(&rt, None).await.json().await.unwrap();
        rt = next["refresh_token"].as_str().expect("refresh within the sliding window works").to_owned();
    }
    assert_eq!(
        err(app.refresh(idle["refresh_token"].as_str().unwrap(), None).await).await,
        "invalid_grant",
        "idle 20 days > 14"
    );
    app.clock.advance(10 * day + 1);
    assert_eq!(err(app.refresh(&rt, None).await).await, "invalid_grant", "past the 30-day cap");
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_have_one_winner() {
    let app = spawn_app().await;
    let t = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let rt = t["refresh_token"].as_str().unwrap();
    let (a, b) = tokio::join!(app.refresh(rt, None), app.refresh(rt, None));
    let oks = [a.status(), b.status()].iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(oks, 1, "exactly one concurrent refresh wins");
}
