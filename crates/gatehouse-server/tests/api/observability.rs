//! The audit trail and Prometheus metrics.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn audit_records_security_events_with_request_id_and_ip() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let zed = app.create_user(&admin, "zed", &["user"]).await;
    let zed_id = zed["id"].as_str().unwrap();
    let failed = app.login("zed", "not the password", None).await;
    let failed_rid = failed.headers()["x-request-id"].to_str().unwrap().to_owned();
    let t = app.tokens("zed", PASSWORD, None).await;
    let rt = t["refresh_token"].as_str().unwrap();
    app.refresh(rt, None).await;
    app.refresh(rt, None).await; // reuse
    let q = |path: String| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let r = app.get(&path, Some(&admin)).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    let v = q("/admin/audit?type=login.failed".into()).await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["subject"], format!("user:{zed_id}"));
    assert_eq!(items[0]["ip"], "127.0.0.1");
    assert_eq!(items[0]["request_id"], failed_rid.as_str());
    let v = q(format!("/admin/audit?subject=user:{zed_id}")).await;
    let kinds: Vec<&str> = v["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    for k in ["user.created", "login.failed", "login.succeeded"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let v = q("/admin/audit?type=refresh.reuse_detected".into()).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let created = q("/admin/audit?type=user.created".into()).await;
    assert!(created["items"][0]["actor"].as_str().unwrap().starts_with("user:"), "the admin is the actor");
    // nothing secret in the trail
    let all = q("/admin/audit?limit=200".into()).await.to_string();
    for secret in [PASSWORD, ADMIN_PASSWORD, "not the password", rt] {
        assert!(!all.contains(secret), "audit leaks {secret}");
    }
    // pagination and filters
    let first = q("/admin/audit?limit=2".into()).await;
    let next = first["next_cursor"].as_str().unwrap();
    let second = q(format!("/admin/audit?limit=2&cursor={next}")).await;
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    let future = q("/admin/audit?since=2999-01-01T00:00:00Z".into()).await;
    assert_eq!(future["items"].as_array().unwrap().len(), 0);
    let r = app.get("/admin/audit?since=yesterday", Some(&admin)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let zed_token = t["access_token"].as_str().unwrap();
    let r = app.get("/admin/audit", Some(zed_token)).await;
    assert!(r.status() == StatusCode::FORBIDDEN || r.status() == StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn metrics_count_requests_logins_and_state() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // The first request of a label set creates its series; later ones reuse the handles.
    for _ in 0..3 {
        app.get("/users/me", Some(&admin)).await;
    }
    app.get("/users/me", None).await;
    // Labels are route templates, nesting prefixes included, never raw paths; the Swagger
    // UI's routes (merged, not declared) count under its mount point; unknown paths not at all.
    app.get("/admin/users/no-such-user", Some(&admin)).await;
    app.get("/docs/", None).await;
    app.get("/nowhere", None).await;
    app.login("admin", "wrong password", None).await;
    app.send_json(Method::POST, "/token/revoke", &admin, &json!({})).await;
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains(r#"gatehouse_http_requests_total{route="/users/me",method="GET",status="200"} 3"#), "{text}");
    assert!(text.contains(r#"gatehouse_http_requests_total{route="/users/me",method="GET",status="401"} 1"#), "{text}");
    assert!(
        text.contains(
            r#"gatehouse_http_request_duration_seconds_count{route="/users/me",method="GET",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"gatehouse_http_requests_total{route="/admin/users/{id}",method="GET",status="#), "{text}");
    assert!(!text.contains("no-such-user"), "{text}");
    assert!(text.contains(r#"gatehouse_http_requests_total{route="/docs",method="GET",status="#), "{text}");
    assert!(!text.contains("nowhere"), "{text}");
    assert!(text.contains(r#"gatehouse_logins_total{outcome="ok"} 1"#), "{text}");
    assert!(text.contains(r#"gatehouse_logins_total{outcome="failed"} 1"#), "{text}");
    assert!(text.contains("gatehouse_http_request_duration_seconds_bucket"));
    assert!(text.contains("gatehouse_hash_queue_depth"));
    assert!(text.contains("gatehouse_revocation_entries"));
    assert!(!text.contains(&admin), "no tokens in metrics");
}
