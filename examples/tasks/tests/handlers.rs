//! Handler tests: the app in-process with `Router::oneshot`, credentials from
//! `gatehouse_axum::testing` — real minted tokens, or the principal overridden outright.

#![allow(clippy::unwrap_used)]

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
    Router,
};
use gatehouse_axum::testing::{self, OverridePrincipalLayer, TestKeys};
use serde_json::{json, Value};
use tasks::{app, TaskStore};
use tower::ServiceExt;

struct Response {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(app: &Router, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Response { status, headers, body }
}

#[tokio::test]
async fn each_user_sees_only_their_own_tasks() {
    let keys = TestKeys::new();
    let app = app(keys.auth_state(), TaskStore::default());
    let alice = keys.mint("user:alice", &["tasks:read", "tasks:write"]);
    let bob = keys.mint("user:bob", &["tasks:read", "tasks:write"]);

    let created = send(&app, Method::POST, "/tasks", Some(&alice), Some(json!({"title": "write tests"}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["title"], "write tests");
    assert_eq!(created.body["owner"], "user:alice");
    let id = created.body["id"].as_str().unwrap().to_owned();

    let mine = send(&app, Method::GET, "/tasks", Some(&alice), None).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.body["items"], json!([created.body]));
    assert_eq!(mine.body["next_cursor"], Value::Null);

    let theirs = send(&app, Method::GET, "/tasks", Some(&bob), None).await;
    assert_eq!(theirs.body["items"], json!([]));
    for method in [Method::GET, Method::DELETE] {
        let r = send(&app, method, &format!("/tasks/{id}"), Some(&bob), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.body["error"], "not_found");
    }

    assert_eq!(send(&app, Method::GET, &format!("/tasks/{id}"), Some(&alice), None).await.status, StatusCode::OK);
    assert_eq!(
        send(&app, Method::DELETE, &format!("/tasks/{id}"), Some(&alice), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, Method::GET, &format!("/tasks/{id}"), Some(&alice), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(&app, Method::GET, "/tasks/not-a-uuid", Some(&alice), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn scopes_and_credentials_are_enforced() {
    let keys = TestKeys::new();
    let app = app(keys.auth_state(), TaskStore::default());

    let none = send(&app, Method::GET, "/tasks", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(none.body["error"], "not_authenticated");

    let garbage = send(&app, Method::GET, "/tasks", Some("garbage"), None).await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    assert_eq!(garbage.headers[header::WWW_AUTHENTICATE], r#"Bearer error="invalid_token""#);

    let reader = keys.mint("user:r", &["tasks:read"]);
    assert_eq!(send(&app, Method::GET, "/tasks", Some(&reader), None).await.status, StatusCode::OK);
    let denied = send(&app, Method::POST, "/tasks", Some(&reader), Some(json!({"title": "x"}))).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.headers[header::WWW_AUTHENTICATE], r#"Bearer error="insufficient_scope", scope="tasks:write""#);

    let me_only = keys.mint("user:m", &["me"]);
    assert_eq!(send(&app, Method::GET, "/tasks", Some(&me_only), None).await.status, StatusCode::FORBIDDEN);

    // Authentication is checked before the body is even parsed.
    let r = send(&app, Method::POST, "/tasks", None, Some(json!({"nope": 1}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn titles_are_validated_with_422_naming_the_field() {
    let keys = TestKeys::new();
    let app = app(keys.auth_state(), TaskStore::default());
    let t = keys.mint("user:alice", &["tasks:write"]);

    for bad in [json!({"title": ""}), json!({"title": "   "}), json!({"title": "x".repeat(201)})] {
        let r = send(&app, Method::POST, "/tasks", Some(&t), Some(bad)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.body["error"], "validation_error");
        assert_eq!(r.body["field"], "title");
        assert!(r.body["detail"].as_str().unwrap().contains("200"));
        // Request ids tie an error to the logs.
        let rid = r.headers["x-request-id"].to_str().unwrap();
        assert_eq!(r.body["request_id"], rid);
    }
    let r = send(&app, Method::POST, "/tasks", Some(&t), Some(json!({"titel": "typo"}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body["detail"].as_str().unwrap().contains("title"), "{}", r.body);

    // 200 characters (not bytes) is fine.
    let r = send(&app, Method::POST, "/tasks", Some(&t), Some(json!({"title": "é".repeat(200)}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn lists_paginate_with_a_cursor() {
    let keys = TestKeys::new();
    let app = app(keys.auth_state(), TaskStore::default());
    let t = keys.mint("user:alice", &["tasks:read", "tasks:write"]);
    for i in 0..5 {
        let r = send(&app, Method::POST, "/tasks", Some(&t), Some(json!({"title": format!("t{i}")}))).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let mut titles = Vec::new();
    let mut path = "/tasks?limit=2".to_owned();
    loop {
        let page = send(&app, Method::GET, &path, Some(&t), None).await;
        assert_eq!(page.status, StatusCode::OK);
        for item in page.body["items"].as_array().unwrap() {
            titles.push(item["title"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/tasks?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(titles, ["t0", "t1", "t2", "t3", "t4"]);
    assert_eq!(
        send(&app, Method::GET, "/tasks?limit=0", Some(&t), None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        send(&app, Method::GET, "/tasks?cursor=zzz", Some(&t), None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn the_principal_can_be_overridden_like_dependency_overrides() {
    // The real verifier stays configured; the override answers before it.
    let store = TaskStore::default();
    let carol = testing::principal("user:carol", &["tasks:read", "tasks:write"]);
    let app_as_carol = app(TestKeys::new().auth_state(), store.clone()).layer(OverridePrincipalLayer::new(carol));

    let r = send(&app_as_carol, Method::POST, "/tasks", None, Some(json!({"title": "no token needed"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["owner"], "user:carol");

    // Scopes still apply to the overridden principal.
    let reader = testing::principal("user:carol", &["tasks:read"]);
    let app_as_reader = app(TestKeys::new().auth_state(), store.clone()).layer(OverridePrincipalLayer::new(reader));
    assert_eq!(
        send(&app_as_reader, Method::GET, "/tasks", None, None).await.body["items"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        send(&app_as_reader, Method::POST, "/tasks", None, Some(json!({"title": "x"}))).await.status,
        StatusCode::FORBIDDEN
    );

    // Or keep the credential check and fix who it resolves to.
    let fixed = app(gatehouse_axum::AuthState::fixed(testing::principal("user:dave", &["tasks:read"])), store);
    assert_eq!(send(&fixed, Method::GET, "/tasks", Some("any-token"), None).await.status, StatusCode::OK);
    assert_eq!(send(&fixed, Method::GET, "/tasks", None, None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let app = app(TestKeys::new().auth_state(), TaskStore::default());
    let r = send(&app, Method::GET, "/nope", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"], "not_found");
    assert_eq!(send(&app, Method::GET, "/healthz", None, None).await.status, StatusCode::OK);
}
