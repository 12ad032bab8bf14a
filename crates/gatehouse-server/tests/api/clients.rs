//! Confidential clients: registration, client_credentials, client authentication, introspection.

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

async fn register(app: &TestApp, admin: &str, body: Value) -> Value {
    let r = app.send_json(Method::POST, "/admin/clients", admin, &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn basic_form(app: &TestApp, path: &str, id: &str, secret: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .basic_auth(id, Some(secret))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_urlencoded(pairs))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn client_credentials_with_basic_and_post_authentication() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let c = register(
        &app,
        &admin,
        json!({"name": "reporter", "scopes": ["reports:read", "reports:write"], "grant_types": ["client_credentials"]}),
    )
    .await;
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    assert!(secret.len() >= 43);

    let r = basic_form(&app, "/token", id, secret, &[("grant_type", "client_credentials"), ("scope", "reports:read")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["scope"], "reports:read");
    assert!(v.get("refresh_token").is_none(), "no refresh token for client_credentials");
    let claims = jwt_part(v["access_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], format!("client:{id}"));
    assert_eq!(claims["client_id"], id);
    assert!(claims.get("sid").is_none());

    let r = app
        .post_form("/token", &[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)])
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["scope"], "reports:read reports:write", "omitted scope: everything the client may have");

    // listing never shows the secret
    let list: Value = app.get("/admin/clients", Some(&admin)).await.json().await.unwrap();
    assert_eq!(list["items"][0]["client_id"], id);
    assert!(list["items"][0].get("client_secret").is_none());
    assert!(!list.to_string().contains(secret));
}

#[tokio::test]
async fn wrong_secrets_unknown_clients_and_disallowed_grants_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let c = register(&app, &admin, json!({"name": "svc", "scopes": ["svc"]})).await;
    let id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();
    for (who, pw) in [(id, "wrong-secret"), ("gh-unknown", secret), (id, "")] {
        let r = basic_form(&app, "/token", who, pw, &[("grant_type", "client_credentials")]).await;
        let status = r.status();
        let challenge = r.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
        let v: Value = r.json().await.unwrap();
        if pw.is_empty() {
            // no secret: the named client is not the public one
            assert_eq!((status, v["error"].as_str().unwrap()), (StatusCode::UNAUTHORIZED, "invalid_client"));
        } else {
            assert_eq!((status, v["error"].as_str().unwrap()), (StatusCode::UNAUTHORIZED, "invalid_client"), "{who}");
            assert!(challenge.unwrap().starts_with("Basic"));
        }
    }
    // the public client cannot use client_credentials
    let r = app.post_form("/token", &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // a client registered for client_credentials only cannot use the password grant
    let r = basic_form(
        &app,
        "/token",
        id,
        secret,
        &[("grant_type", "password"), ("username", "admin"), ("password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    // credentials in two places
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(id, Some(secret))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_urlencoded(&[("grant_type", "client_credentials"), ("client_secret", secret)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    for bad in [
        json!({"name": ""}),
        json!({"name": "x", "grant_types": ["implicit"]}),
        json!({"name": "x", "scopes": ["a b"]}),
        json!({"name": "x", "secret": "mine"}),
    ] {
        let r = app.send_json(Method::POST, "/admin/clients", &admin, &bad).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

#[tokio::test]
async fn introspection_for_authenticated_clients() {
    let app = spawn_app().await;
    let admin_tokens = app.tokens("admin", ADMIN_PASSWORD, None).await;
    let admin = admin_tokens["access_token"].as_str().unwrap();
    let c = register(&app, admin, json!({"name": "gateway", "scopes": []})).await;
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let intro = |token: String| {
        let app = &app;
        async move {
            basic_form(app, "/token/introspect", id, secret, &[("token", &token)]).await.json::<Value>().await.unwrap()
        }
    };
    let v = intro(admin.to_owned()).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "access_token");
    assert_eq!(v["scope"], "admin me");
    assert_eq!(v["username"], "admin");
    let v = intro(admin_tokens["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "refresh_token");
    assert_eq!(intro("garbage".into()).await, json!({"active": false}));
    app.post_form("/token/revoke", &[("token", admin)]).await;
    assert_eq!(intro(admin.to_owned()).await, json!({"active": false}));
    // the public client may not introspect
    let r = app.post_form("/token/introspect", &[("token", admin)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleting_a_client_ends_its_tokens_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // a client allowed to read /users/me-like scopes is not needed: use introspection as the probe
    let probe = register(&app, &admin, json!({"name": "probe"})).await;
    let c = register(&app, &admin, json!({"name": "doomed", "scopes": ["svc"]})).await;
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let v: Value =
        basic_form(&app, "/token", id, secret, &[("grant_type", "client_credentials")]).await.json().await.unwrap();
    let token = v["access_token"].as_str().unwrap();
    let active = |t: String| {
        let app = &app;
        let (pid, ps) =
            (probe["client_id"].as_str().unwrap().to_owned(), probe["client_secret"].as_str().unwrap().to_owned());
        async move {
            basic_form(app, "/token/introspect", &pid, &ps, &[("token", &t)]).await.json::<Value>().await.unwrap()
                ["active"]
                .clone()
        }
    };
    assert_eq!(active(token.to_owned()).await, true);
    assert_eq!(app.delete(&format!("/admin/clients/{id}"), &admin).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(active(token.to_owned()).await, false);
    assert_eq!(
        basic_form(&app, "/token", id, secret, &[("grant_type", "client_credentials")]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.delete(&format!("/admin/clients/{id}"), &admin).await.status(), StatusCode::NOT_FOUND);
}
