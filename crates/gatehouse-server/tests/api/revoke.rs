//! RFC 7009 revocation, logout, sessions, password change: each takes effect at once.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

fn at(v: &Value) -> String {
    v["access_token"].as_str().unwrap().to_owned()
}
fn rt(v: &Value) -> String {
    v["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_family_and_unknown_tokens_are_200() {
    let app = spawn_app().await;
    let t = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let r = app.post_form("/token/revoke", &[("token", &rt(&t)), ("token_type_hint", "refresh_token")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.refresh(&rt(&t), None).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/users/me", Some(&at(&t))).await.status(),
        StatusCode::UNAUTHORIZED,
        "the family's access token too"
    );
    let r = app.post_form("/token/revoke", &[("token", "never-issued")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.post_form("/token/revoke", &[("token_type_hint", "refresh_token")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "token is required");
}

#[tokio::test]
async fn revoking_an_access_token_denylists_only_that_token() {
    let app = spawn_app().await;
    let a = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let b = app.tokens("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(app.post_form("/token/revoke", &[("token", &at(&a))]).await.status(), StatusCode::OK);
    let r = app.get("/users/me", Some(&at(&a))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_auth(&r), r#"Bearer error="invalid_token""#);
    assert_eq!(app.get("/users/me", Some(&at(&b))).await.status(), StatusCode::OK, "other tokens unaffected");
    assert_eq!(app.refresh(&rt(&a), None).await.status(), StatusCode::OK, "its refresh family lives on");
    // The denylist survives a restart of the view (it is stored).
    let s = &app.state;
    let fresh = gatehouse_server::revocation::Revocations::load(
        s.store.as_ref(),
        gatehouse_core::Clock::now(app.clock.as_ref()),
    )
    .await
    .unwrap();
    let claims = jwt_part(&at(&a), 1);
    let p = gatehouse_core::Principal {
        subject: gatehouse_core::Subject::parse(claims["sub"].as_str().unwrap()),
        scopes: Default::default(),
        client_id: "gatehouse".into(),
        session_id: None,
        credential_id: Some(claims["jti"].as_str().unwrap().to_owned()),
        issued_at: claims["iat"].as_i64().unwrap(),
        expires_at: claims["exp"].as_i64().unwrap(),
        kind: gatehouse_core::CredentialKind::AccessToken,
    };
    assert!(fresh.check(&p).is_err());
}

#[tokio::test]
async fn logout_ends_this_session_and_logout_all_ends_every_session() {
    let app = spawn_app().await;
    let one = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let two = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let three = app.tokens("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(app.post_empty("/logout", &at(&one)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get("/users/me", Some(&at(&one))).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&rt(&one), None).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/users/me", Some(&at(&two))).await.status(), StatusCode::OK);
    app.clock.advance(1);
    assert_eq!(app.post_empty("/logout/all", &at(&two)).await.status(), StatusCode::NO_CONTENT);
    for t in [&two, &three] {
        assert_eq!(app.get("/users/me", Some(&at(t))).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.refresh(&rt(t), None).await.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(app.http.post(app.url("/logout")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // a new login works
    let again = app.tokens("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(app.get("/users/me", Some(&at(&again))).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sessions_are_listed_with_their_sid_and_deletable_only_by_their_owner() {
    let app = spawn_app().await;
    let admin = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let other = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let v: Value = app.get("/users/me/sessions", Some(&at(&admin))).await.json().await.unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let mine = jwt_part(&at(&admin), 1)["sid"].as_str().unwrap().to_owned();
    let theirs = jwt_part(&at(&other), 1)["sid"].as_str().unwrap().to_owned();
    let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], mine.as_str());

    let admin_token = at(&admin);
    app.create_user(&admin_token, "sam", &["user"]).await;
    let sam = app.tokens("sam", PASSWORD, None).await;
    let r = app.delete(&format!("/users/me/sessions/{theirs}"), &at(&sam)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "another user's session is invisible");
    assert_eq!(app.get("/users/me", Some(&at(&other))).await.status(), StatusCode::OK, "and untouched");
    assert_eq!(app.delete("/users/me/sessions/no-such", &at(&sam)).await.status(), StatusCode::NOT_FOUND);

    assert_eq!(
        app.delete(&format!("/users/me/sessions/{theirs}"), &admin_token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get("/users/me", Some(&at(&other))).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&rt(&other), None).await.status(), StatusCode::BAD_REQUEST);
    let v: Value = app.get("/users/me/sessions", Some(&admin_token)).await.json().await.unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn password_change_ends_other_sessions_and_earlier_access_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "tess", &["user"]).await;
    let here = app.tokens("tess", PASSWORD, None).await;
    let elsewhere = app.tokens("tess", PASSWORD, None).await;
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let r =
        app.send_json(Method::POST, "/users/me/password", &at(&here), &change("wrong", "a brand new passphrase")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "current_password");
    let r = app.send_json(Method::POST, "/users/me/password", &at(&here), &change(PASSWORD, "short")).await;
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "new_password");
    assert_eq!(
        app.get("/users/me", Some(&at(&elsewhere))).await.status(),
        StatusCode::OK,
        "refused changes change nothing"
    );

    let r = app
        .send_json(Method::POST, "/users/me/password", &at(&here), &change(PASSWORD, "a brand new passphrase"))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/users/me", Some(&at(&here))).await.status(),
        StatusCode::UNAUTHORIZED,
        "the token used ends too"
    );
    assert_eq!(app.get("/users/me", Some(&at(&elsewhere))).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&rt(&elsewhere), None).await.status(), StatusCode::BAD_REQUEST, "other sessions end");
    assert_eq!(app.refresh(&rt(&here), None).await.status(), StatusCode::OK, "this session's refresh token lives on");
    assert_eq!(app.login("tess", PASSWORD, None).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.login("tess", "a brand new passphrase", None).await.status(), StatusCode::OK);
}
