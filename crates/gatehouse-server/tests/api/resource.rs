//! Using access tokens: RFC 6750 401/403, forged and expired tokens, immediate revocation.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn missing_credential_is_401_with_bare_bearer_challenge() {
    let app = spawn_app().await;
    let r = app.get("/users/me", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_auth(&r), "Bearer");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "not_authenticated");
    assert!(v["request_id"].is_string() && v["detail"].is_string());
}

#[tokio::test]
async fn users_me_returns_the_user_object() {
    let app = spawn_app().await;
    let at = app.admin_token().await;
    let r = app.get("/users/me", Some(&at)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["username"], "admin");
    assert_eq!(v["roles"], json!(["admin"]));
    assert_eq!(v["scopes"], json!(["admin", "me"]));
    assert_eq!(v["disabled"], false);
    for k in ["id", "email", "created_at"] {
        assert!(v.get(k).is_some(), "{k} missing");
    }
    assert!(!v.to_string().contains("argon2"), "no hash in responses");
}

#[tokio::test]
async fn forged_malformed_and_expired_tokens_are_401_invalid_token() {
    let app = spawn_app().await;
    let good = app.admin_token().await;
    let header = jwt_part(&good, 0);
    let claims = jwt_part(&good, 1);
    let sig = good.rsplit('.').next().unwrap();

    let mut none_header = header.clone();
    none_header["alg"] = "none".into();
    let alg_none = format!("{}.{}.", b64(&none_header), b64(&claims));

    let mut more = claims.clone();
    more["scope"] = "admin me superuser".into();
    let tampered = format!("{}.{}.{sig}", b64(&header), b64(&more));

    // HS256 "signed" with the server's public key material: algorithm confusion.
    let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    let n = jwks["keys"][0]["n"].as_str().unwrap().to_owned();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = header["kid"].as_str().map(str::to_owned);
    let confused = jsonwebtoken::encode(&hs, &claims, &jsonwebtoken::EncodingKey::from_secret(n.as_bytes())).unwrap();

    // An ID-token-shaped JWT (typ JWT) is not an access token.
    let mut id_header = header.clone();
    id_header["typ"] = "JWT".into();
    let wrong_typ = format!("{}.{}.{sig}", b64(&id_header), b64(&claims));

    let mut jku = header.clone();
    jku["jku"] = "http://127.0.0.1:9/keys".into();
    let with_jku = format!("{}.{}.{sig}", b64(&jku), b64(&claims));

    let huge = format!("{}.{}.{sig}", b64(&header), "A".repeat(9000));
    for (name, token) in [
        ("alg none", alg_none),
        ("tampered claims", tampered),
        ("alg confusion", confused),
        ("wrong typ", wrong_typ),
        ("jku header", with_jku),
        ("oversized", huge),
        ("garbage", "not.a.jwt".to_owned()),
        (
            "refresh token as access token",
            app.tokens("admin", ADMIN_PASSWORD, None).await["refresh_token"].as_str().unwrap().to_owned(),
        ),
    ] {
        let r = app.get("/users/me", Some(&token)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(www_auth(&r), r#"Bearer error="invalid_token""#, "{name}");
    }
    let r = app.http.get(app.url("/users/me")).header("authorization", "Basic YWRtaW46eA==").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(app.get("/users/me", Some(&good)).await.status(), StatusCode::OK, "control");
    app.clock.advance(900 + 31);
    let r = app.get("/users/me", Some(&good)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "expired beyond the 30 s leeway");
}

#[tokio::test]
async fn missing_scope_is_403_naming_the_scope() {
    let app = spawn_app().await;
    let only_admin = app.tokens("admin", ADMIN_PASSWORD, Some("admin")).await;
    let r = app.get("/users/me", only_admin["access_token"].as_str()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(www_auth(&r), r#"Bearer error="insufficient_scope", scope="me""#);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "insufficient_scope");

    let admin = app.admin_token().await;
    app.create_user(&admin, "frank", &["user"]).await;
    let user = app.tokens("frank", PASSWORD, None).await;
    let r = app.get("/admin/users", user["access_token"].as_str()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(www_auth(&r), r#"Bearer error="insufficient_scope", scope="admin""#);
    assert_eq!(app.get("/admin/users", None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/admin/roles", None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn disabling_deleting_role_removal_and_admin_revoke_end_access_tokens_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (name, action) in [("gina", "disable"), ("hank", "delete"), ("ivy", "role"), ("jack", "revoke")] {
        let u = app.create_user(&admin, name, &["admin"]).await;
        let id = u["id"].as_str().unwrap();
        let t = app.tokens(name, PASSWORD, None).await;
        let at = t["access_token"].as_str().unwrap();
        assert_eq!(app.get("/users/me", Some(at)).await.status(), StatusCode::OK);
        // Revocation is by time in whole seconds: let a second pass so "before" is unambiguous.
        app.clock.advance(1);
        let status = match action {
            "disable" => app
                .send_json(reqwest::Method::PATCH, &format!("/admin/users/{id}"), &admin, &json!({"disabled": true}))
                .await
                .status(),
            "delete" => app.delete(&format!("/admin/users/{id}"), &admin).await.status(),
            "role" => app
                .send_json(reqwest::Method::PATCH, &format!("/admin/users/{id}"), &admin, &json!({"roles": ["user"]}))
                .await
                .status(),
            _ => app.post_empty(&format!("/admin/users/{id}/revoke-sessions"), &admin).await.status(),
        };
        assert!(status.is_success(), "{action}: {status}");
        let r = app.get("/users/me", Some(at)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{action} must end the access token at once");
        if action != "delete" {
            let rr = app.refresh(t["refresh_token"].as_str().unwrap(), None).await;
            if action == "role" {
                assert_eq!(rr.status(), StatusCode::OK, "a role change keeps the session, with fewer scopes");
            } else {
                assert_eq!(rr.status(), StatusCode::BAD_REQUEST, "{action} must end the refresh family");
            }
        }
    }
    assert_eq!(app.get("/users/me", Some(&admin)).await.status(), StatusCode::OK, "the admin is unaffected");
}

#[tokio::test]
async fn with_redis_down_tokens_still_verify_logins_fail_closed_and_readiness_is_red() {
    let down = spawn_app_with(&[("GATEHOUSE_REDIS_URL", "redis://127.0.0.1:1")]).await;
    let r = down.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json::<Value>().await.unwrap()["checks"]["redis"], "down");
    let r = down.login("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "login fails closed without shared throttling");
    assert!(r.headers().contains_key("retry-after"));
    // A token issued while Redis was up keeps verifying: the check is local.
    let admin = down.state.store.user_by_key("admin").await.unwrap().unwrap();
    let scopes = gatehouse_core::ScopeSet::parse("admin me").unwrap();
    let (token, _) =
        gatehouse_server::tokens::access_token(&down.state, format!("user:{}", admin.id), &scopes, "gatehouse", None)
            .unwrap();
    assert_eq!(down.get("/users/me", Some(&token)).await.status(), StatusCode::OK);
}
