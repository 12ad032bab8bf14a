//! The admin API and the caller's own account: shapes, validation, pagination, roles.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

async fn json_of(r: reqwest::Response) -> (StatusCode, Value) {
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn create_user_shape_and_validation() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (s, v) = json_of(
        app.send_json(
            Method::POST,
            "/admin/users",
            &admin,
            &json!({"username": "Kate", "password": PASSWORD, "email": "kate@example.com"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["username"], "Kate");
    assert_eq!(v["email"], "kate@example.com");
    assert_eq!(v["roles"], json!(["user"]));
    assert_eq!(v["scopes"], json!(["me"]));
    assert_eq!(v["disabled"], false);
    assert!(v["id"].is_string() && v["created_at"].is_string());
    assert!(!v.to_string().contains(PASSWORD) && !v.to_string().contains("argon2"));

    let cases = [
        (json!({"username": "KATE", "password": PASSWORD}), StatusCode::CONFLICT, None),
        (json!({"username": "ｋａｔｅ", "password": PASSWORD}), StatusCode::CONFLICT, None),
        (json!({"username": "liam", "password": "short"}), StatusCode::UNPROCESSABLE_ENTITY, Some("password")),
        (json!({"username": "liam", "password": "password123"}), StatusCode::UNPROCESSABLE_ENTITY, Some("password")),
        (json!({"username": "liam", "password": "Summer2026!"}), StatusCode::UNPROCESSABLE_ENTITY, Some("password")),
        (json!({"username": "liam", "password": "liamliam2026"}), StatusCode::UNPROCESSABLE_ENTITY, Some("password")),
        (
            json!({"username": "liam", "password": PASSWORD, "roles": ["wizard"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("roles"),
        ),
        (
            json!({"username": "liam", "password": PASSWORD, "email": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("email"),
        ),
        (json!({"username": "", "password": PASSWORD}), StatusCode::UNPROCESSABLE_ENTITY, Some("username")),
        (json!({"password": PASSWORD}), StatusCode::UNPROCESSABLE_ENTITY, Some("username")),
        (
            json!({"username": "liam", "password": PASSWORD, "is_superuser": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("is_superuser"),
        ),
        (json!({"username": 7, "password": PASSWORD}), StatusCode::UNPROCESSABLE_ENTITY, Some("username")),
    ];
    for (body, status, field) in cases {
        let (s, v) = json_of(app.send_json(Method::POST, "/admin/users", &admin, &body).await).await;
        assert_eq!(s, status, "{body}");
        if let Some(f) = field {
            assert_eq!(v["error"], "validation_error", "{body}");
            assert!(v["detail"].as_str().unwrap().contains(f) || v["field"] == f, "{body} -> {v}");
        }
        assert!(v["request_id"].is_string());
    }
    let r = app
        .http
        .post(app.url("/admin/users"))
        .bearer_auth(&admin)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app.http.post(app.url("/admin/users")).bearer_auth(&admin).body("{}").send().await.unwrap();
    assert!(r.status().is_client_error());
    // nothing half-created: only admin and Kate exist
    let (_, list) = json_of(app.get("/admin/users?limit=200", Some(&admin)).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn pagination_visits_every_user_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..5 {
        app.create_user(&admin, &format!("user{i}"), &["user"]).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/users?limit=2&cursor={c}"),
            None => "/admin/users?limit=2".to_owned(),
        };
        let (s, v) = json_of(app.get(&path, Some(&admin)).await).await;
        assert_eq!(s, StatusCode::OK);
        let items = v["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["username"].as_str().unwrap().to_owned()));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, vec!["admin", "user0", "user1", "user2", "user3", "user4"]);
    for bad in ["/admin/users?limit=0", "/admin/users?limit=abc", "/admin/users?limit=5000", "/admin/users?cursor=%%%"]
    {
        let (s, v) = json_of(app.get(bad, Some(&admin)).await).await;
        assert!(s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST, "{bad}: {s}");
        assert!(v["error"].is_string());
    }
}

#[tokio::test]
async fn invalid_patch_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let u = app.create_user(&admin, "mona", &["user"]).await;
    let path = format!("/admin/users/{}", u["id"].as_str().unwrap());
    for body in [
        json!({"roles": ["user", "ghost"]}),
        json!({"disabled": "yes"}),
        json!({"email": "bad"}),
        json!({"password_hash": "x"}),
    ] {
        let (s, _) = json_of(app.send_json(Method::PATCH, &path, &admin, &body).await).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let (_, now) = json_of(app.get(&path, Some(&admin)).await).await;
    assert_eq!(now, u);
    let (s, _) =
        json_of(app.send_json(Method::PATCH, "/admin/users/does-not-exist", &admin, &json!({"disabled": true})).await)
            .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.delete("/admin/users/does-not-exist", &admin).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admins_cannot_lock_themselves_out() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me: Value = app.get("/users/me", Some(&admin)).await.json().await.unwrap();
    let path = format!("/admin/users/{}", me["id"].as_str().unwrap());
    assert_eq!(
        app.send_json(Method::PATCH, &path, &admin, &json!({"disabled": true})).await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.send_json(Method::PATCH, &path, &admin, &json!({"roles": ["user"]})).await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(app.delete(&path, &admin).await.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn roles_form_a_hierarchy_and_grant_scopes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (s, v) = json_of(
        app.send_json(
            Method::PUT,
            "/admin/roles/editor",
            &admin,
            &json!({"scopes": ["posts:write"], "includes": ["user"]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"name": "editor", "scopes": ["posts:write"], "includes": ["user"], "builtin": false}));
    app.create_user(&admin, "nina", &["editor"]).await;
    let t = app.tokens("nina", PASSWORD, None).await;
    assert_eq!(t["scope"], "me posts:write");
    // posts:write is now a known scope; asking for it without the role yields nothing extra
    app.create_user(&admin, "otto", &["user"]).await;
    assert_eq!(app.tokens("otto", PASSWORD, Some("me posts:write")).await["scope"], "me");

    let (_, roles) = json_of(app.get("/admin/roles", Some(&admin)).await).await;
    let names: Vec<&str> = roles["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["admin", "editor", "user"]);

    let bad = [
        ("/admin/roles/user", json!({"scopes": ["me"], "includes": ["editor"]}), "includes"),
        ("/admin/roles/x", json!({"scopes": ["has space"]}), "scopes"),
        ("/admin/roles/x", json!({"includes": ["nope"]}), "includes"),
        ("/admin/roles/admin", json!({"scopes": ["me"]}), "scopes"),
    ];
    for (path, body, field) in bad {
        let (s, v) = json_of(app.send_json(Method::PUT, path, &admin, &body).await).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path} {body}");
        assert_eq!(v["field"], field);
    }
    assert_eq!(app.delete("/admin/roles/user", &admin).await.status(), StatusCode::CONFLICT);
    assert_eq!(app.delete("/admin/roles/ghost", &admin).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.delete("/admin/roles/editor", &admin).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn users_edit_their_own_email_but_nothing_else() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "pia", &["user"]).await;
    let at = app.tokens("pia", PASSWORD, None).await["access_token"].as_str().unwrap().to_owned();
    let (s, v) =
        json_of(app.send_json(Method::PATCH, "/users/me", &at, &json!({"email": "pia@example.com"})).await).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["email"], "pia@example.com");
    let (s, v) = json_of(app.send_json(Method::PATCH, "/users/me", &at, &json!({"roles": ["admin"]})).await).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["field"], "roles");
    let (_, me) = json_of(app.get("/users/me", Some(&at)).await).await;
    assert_eq!(me["roles"], json!(["user"]));
    assert_eq!(me["email"], "pia@example.com");
}

#[tokio::test]
async fn an_admin_edit_shows_in_the_users_own_profile_at_once() {
    // /users/me serves a cached record; a change made on this instance must not wait out the cache.
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let u = app.create_user(&admin, "quinn", &["user"]).await;
    let id = u["id"].as_str().unwrap();
    let at = app.tokens("quinn", PASSWORD, None).await["access_token"].as_str().unwrap().to_owned();
    let (_, before) = json_of(app.get("/users/me", Some(&at)).await).await;
    assert_eq!(before["email"], Value::Null);
    let path = format!("/admin/users/{id}");
    let (s, _) = json_of(app.send_json(Method::PATCH, &path, &admin, &json!({"email": "q@example.com"})).await).await;
    assert_eq!(s, StatusCode::OK);
    let (_, after) = json_of(app.get("/users/me", Some(&at)).await).await;
    assert_eq!(after["email"], "q@example.com");
    let (s, _) = json_of(app.send_json(Method::PATCH, &path, &admin, &json!({"roles": ["user", "admin"]})).await).await;
    assert_eq!(s, StatusCode::OK);
    // A new token carries the new scopes; the profile shows the new roles.
    let at = app.tokens("quinn", PASSWORD, None).await["access_token"].as_str().unwrap().to_owned();
    let (_, me) = json_of(app.get("/users/me", Some(&at)).await).await;
    assert_eq!(me["roles"], json!(["user", "admin"]));
    assert!(me["scopes"].as_array().unwrap().contains(&json!("admin")), "{me}");
}

#[tokio::test]
async fn self_registration_is_off_by_default_and_on_when_configured() {
    let closed = spawn_app().await;
    let r = closed
        .http
        .post(closed.url("/users"))
        .json(&json!({"username": "quinn", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let open = spawn_app_with(&[("GATEHOUSE_OPEN_REGISTRATION", "true")]).await;
    let r = open
        .http
        .post(open.url("/users"))
        .json(&json!({"username": "quinn", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["roles"], json!(["user"]));
    let r = open
        .http
        .post(open.url("/users"))
        .json(&json!({"username": "rita", "password": PASSWORD, "roles": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(open.tokens("quinn", PASSWORD, None).await["scope"], "me");
}
