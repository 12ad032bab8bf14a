//! API keys: shown once, stored hashed, scoped, revocable, and stopped by a disabled owner.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

async fn with_key(app: &TestApp, path: &str, key: &str) -> reqwest::Response {
    app.http.get(app.url(path)).header("x-api-key", key).send().await.unwrap()
}

#[tokio::test]
async fn api_key_lifecycle() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let r = app
        .send_json(
            Method::POST,
            "/users/me/api-keys",
            &admin,
            &json!({"name": "ci", "scopes": ["me"], "expires_in": 3600}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gh_") && key.len() >= 40);
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));

    let me = with_key(&app, "/users/me", &key).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "admin");
    let r = with_key(&app, "/admin/users", &key).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "the key acts with its own scopes, not the owner's");

    let list: Value = app.get("/users/me/api-keys", Some(&admin)).await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("key").is_none() && !list.to_string().contains(&key), "never shown again");
    // Use is recorded in the background, off the request path: poll for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let list: Value = app.get("/users/me/api-keys", Some(&admin)).await.json().await.unwrap();
        if list["items"][0]["last_used_at"].is_string() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "use is recorded");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // a key cannot mint keys or change the password
    let r = app
        .http
        .post(app.url("/users/me/api-keys"))
        .header("x-api-key", &key)
        .json(&json!({"name": "x", "scopes": ["me"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let id = created["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/users/me/api-keys/{id}"), &admin).await.status(), StatusCode::NO_CONTENT);
    let r = with_key(&app, "/users/me", &key).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.delete(&format!("/users/me/api-keys/{id}"), &admin).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn keys_are_bounded_by_the_owner_and_die_with_the_owner() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let uma = app.create_user(&admin, "uma", &["user"]).await;
    let uma_at = app.tokens("uma", PASSWORD, None).await["access_token"].as_str().unwrap().to_owned();
    for (body, field) in [
        (json!({"name": "x", "scopes": ["admin"]}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "", "scopes": ["me"]}), "name"),
        (json!({"name": "x", "scopes": ["me"], "expires_in": 5}), "expires_in"),
    ] {
        let r = app.send_json(Method::POST, "/users/me/api-keys", &uma_at, &body).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.json::<Value>().await.unwrap()["field"], field);
    }
    let k: Value = app
        .send_json(
            Method::POST,
            "/users/me/api-keys",
            &uma_at,
            &json!({"name": "k", "scopes": ["me"], "expires_in": 60}),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = k["key"].as_str().unwrap().to_owned();
    assert_eq!(with_key(&app, "/users/me", &key).await.status(), StatusCode::OK);
    // another user cannot revoke it
    assert_eq!(
        app.delete(&format!("/users/me/api-keys/{}", k["id"].as_str().unwrap()), &admin).await.status(),
        StatusCode::NOT_FOUND
    );
    app.clock.advance(61);
    assert_eq!(with_key(&app, "/users/me", &key).await.status(), StatusCode::UNAUTHORIZED, "expired");

    let uma_at = app.tokens("uma", PASSWORD, None).await["access_token"].as_str().unwrap().to_owned();
    let k: Value = app
        .send_json(Method::POST, "/users/me/api-keys", &uma_at, &json!({"name": "k2", "scopes": ["me"]}))
        .await
        .json()
        .await
        .unwrap();
    let key = k["key"].as_str().unwrap().to_owned();
    let uid = uma["id"].as_str().unwrap();
    app.send_json(Method::PATCH, &format!("/admin/users/{uid}"), &admin, &json!({"disabled": true})).await;
    assert_eq!(
        with_key(&app, "/users/me", &key).await.status(),
        StatusCode::UNAUTHORIZED,
        "a disabled owner disables the key"
    );
    for bogus in ["gh_not-a-real-key", "no-prefix", &"gh_x".repeat(100)] {
        assert_eq!(with_key(&app, "/users/me", bogus).await.status(), StatusCode::UNAUTHORIZED);
    }
}
