//! JWKS and metadata; an outside verifier (the jsonwebtoken crate) checks our tokens through
//! the JWKS; key rotation; operational endpoints and headers.

use std::sync::Arc;

use gatehouse_core::Clock as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// Verifies `token` the way any third party would: fetch the JWKS, pick the key by `kid`,
/// pin the algorithm, check iss/aud/exp.
async fn outside_verify(app: &TestApp, token: &str) -> Result<Value, String> {
    let jwks: jsonwebtoken::jwk::JwkSet =
        app.get("/.well-known/jwks.json", None).await.json().await.map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("kid not in JWKS")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[&app.base]);
    v.set_audience(&[&app.base]);
    jsonwebtoken::decode::<Value>(token, &key, &v).map(|d| d.claims).map_err(|e| e.to_string())
}

#[tokio::test]
async fn third_party_verifies_tokens_through_jwks_for_every_asymmetric_algorithm() {
    for alg in ["RS256", "ES256", "EdDSA"] {
        let app = spawn_app_with(&[("GATEHOUSE_JWT_ALG", alg)]).await;
        let at = app.admin_token().await;
        assert_eq!(jwt_part(&at, 0)["alg"], alg);
        let claims = outside_verify(&app, &at).await.unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims["scope"], "admin me");
        let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
        for k in jwks["keys"].as_array().unwrap() {
            assert!(k.get("d").is_none() && k.get("p").is_none(), "private material in JWKS");
            assert_eq!(k["alg"], alg);
            assert_eq!(k["use"], "sig");
        }
    }
}

#[tokio::test]
async fn hs256_uses_the_configured_secret_and_publishes_nothing() {
    let app = spawn_app_with(&[
        ("GATEHOUSE_JWT_ALG", "HS256"),
        ("GATEHOUSE_JWT_SECRET", "an hs256 secret of at least 32 bytes!!"),
    ])
    .await;
    let at = app.admin_token().await;
    assert_eq!(jwt_part(&at, 0)["alg"], "HS256");
    assert_eq!(app.get("/users/me", Some(&at)).await.status(), StatusCode::OK);
    let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 0);
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&[&app.base]);
    let key = jsonwebtoken::DecodingKey::from_secret(b"an hs256 secret of at least 32 bytes!!");
    assert!(jsonwebtoken::decode::<Value>(&at, &key, &v).is_ok());
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_switches_signing_after_propagation() {
    let app = spawn_app().await;
    let old_token = app.admin_token().await;
    let old_kid = jwt_part(&old_token, 0)["kid"].as_str().unwrap().to_owned();
    let s = &app.state;
    let grace = s.settings.access_token_ttl + s.settings.clock_leeway;
    let new_kid =
        gatehouse_server::keys::rotate(s.store.as_ref(), s.settings.jwt_alg, app.clock.now(), grace).await.unwrap();
    s.keys.reload().await.unwrap();
    let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()), "both published: {kids:?}");
    // Not yet settled: the old key still signs, so no instance sees an unknown kid.
    assert_eq!(jwt_part(&app.admin_token().await, 0)["kid"], old_kid.as_str());
    app.clock.advance(s.settings.key_reload_secs as i64 + 1);
    s.keys.reload().await.unwrap();
    let fresh = app.admin_token().await;
    assert_eq!(jwt_part(&fresh, 0)["kid"], new_kid.as_str());
    assert_eq!(app.get("/users/me", Some(&old_token)).await.status(), StatusCode::OK, "old token still valid");
    assert!(outside_verify(&app, &fresh).await.is_ok());
    // Once every token of the old key has expired, it leaves the JWKS.
    app.clock.advance(grace + 1);
    s.keys.reload().await.unwrap();
    let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    let kids: Vec<String> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kids, vec![new_kid]);
}

#[tokio::test]
async fn metadata_describes_the_server() {
    let app = spawn_app().await;
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let v: Value = app.get(path, None).await.json().await.unwrap();
        assert_eq!(v["issuer"], app.base);
        assert_eq!(v["token_endpoint"], format!("{}/token", app.base));
        assert_eq!(v["jwks_uri"], format!("{}/.well-known/jwks.json", app.base));
        assert_eq!(v["response_types_supported"], serde_json::json!([]));
        assert!(v.get("authorization_endpoint").is_none());
        assert!(v["scopes_supported"].as_array().unwrap().iter().any(|s| s == "me"));
        assert!(v["grant_types_supported"].as_array().unwrap().iter().any(|s| s == "password"));
    }
}

#[tokio::test]
async fn health_readiness_request_ids_and_security_headers() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let r = app.http.get(app.url("/healthz")).header("x-request-id", "trace-abc.123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc.123");
    let r = app.http.get(app.url("/nowhere")).header("x-request-id", "bad id with spaces").send().await.unwrap();
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(rid, "bad id with spaces");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["request_id"], rid.as_str());
    let r = app.http.delete(app.url("/token")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "method_not_allowed");

    // readiness goes red when the database is gone
    app.state.sql.close().await;
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    let _ = Arc::clone(&app.state.0);
}

#[tokio::test]
async fn bootstrap_admin_is_created_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let v: Value = app.get("/admin/users", Some(&admin)).await.json().await.unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["roles"], serde_json::json!(["admin"]));
}
