//! What the server spends on one authenticated request, in process (no sockets, no logging):
//! the whole `/users/me` stack (middleware, bearer → verified-token cache → revocation check →
//! scopes → cached user → JSON) against a bare axum `/hello`, and the revocation check alone
//! with a populated denylist, so its share of a request can be read off directly.
//! Run with `cargo bench -p gatehouse-server --bench request_path`. With
//! `GATEHOUSE_BENCH_LOGS=text` (or `json`) the server's real log subscriber is installed, so
//! the access log is part of the measured cost; its lines go to stderr (`2>/dev/null`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeMap, hint::black_box, net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, StatusCode},
    routing::get,
    Router,
};
use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_core::{Clock, CredentialKind, Principal, ScopeSet, Subject, SystemClock};
use gatehouse_server::{
    accounts::{create_user, NewUser},
    revocation::Revocations,
    settings::{LogFormat, Settings},
    startup::{router, Application},
};
use tower::ServiceExt as _;

const PASSWORD: &str = "bench-password-Correct-Horse-7";

fn request(method: &str, uri: &str, token: Option<&str>, body: Body) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    let mut req = r.body(body).unwrap();
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    req
}

fn users_me(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env: BTreeMap<String, String> = [
        ("GATEHOUSE_BIND", "127.0.0.1:0".to_owned()),
        ("GATEHOUSE_ADMIN_PASSWORD", PASSWORD.to_owned()),
        ("GATEHOUSE_ARGON2_MEMORY_KIB", "1024".to_owned()),
        ("GATEHOUSE_ARGON2_ITERATIONS", "1".to_owned()),
        ("GATEHOUSE_DATA_DIR", dir.path().display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let (app, token) = rt.block_on(async {
        let app = Application::build(Settings::from_sources(None, &env).unwrap()).await.unwrap();
        let st = app.state().clone();
        let user = NewUser { username: "alice".into(), password: PASSWORD.to_owned().into(), email: None, roles: None };
        create_user(st.store.as_ref(), &st.hasher, st.clock.now(), user).await.unwrap();
        let app_router = router(st).unwrap();
        let form = format!("grant_type=password&username=alice&password={PASSWORD}&scope=me");
        let mut req = request("POST", "/token", None, Body::from(form));
        req.headers_mut().insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
        let res = app_router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (app_router, v["access_token"].as_str().unwrap().to_owned())
    });
    let hello: Router = Router::new().route("/hello", get(|| async { "hello" }));
    rt.block_on(async {
        let res = app.clone().oneshot(request("GET", "/users/me", Some(&token), Body::empty())).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "the benchmark must measure the success path");
    });
    let _logs = std::env::var("GATEHOUSE_BENCH_LOGS")
        .ok()
        .map(|f| gatehouse_server::telemetry::init(if f == "json" { LogFormat::Json } else { LogFormat::Text }));
    let mut g = c.benchmark_group("in_process");
    g.bench_function("hello_bare_axum", |b| {
        b.to_async(&rt).iter(|| hello.clone().oneshot(request("GET", "/hello", None, Body::empty())))
    });
    g.bench_function("users_me_full_stack", |b| {
        b.to_async(&rt).iter(|| app.clone().oneshot(request("GET", "/users/me", Some(&token), Body::empty())))
    });
    g.finish();
}

fn revocation_check(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
    let revocations = rt.block_on(async {
        let store = gatehouse_store::SqlStore::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        Revocations::load(&store, SystemClock.now()).await.unwrap()
    });
    // A busy denylist: 10,000 revoked tokens, 1,000 ended sessions, 1,000 voided users.
    let far = SystemClock.now() + 3600;
    for i in 0..10_000 {
        revocations.revoke_jti(&format!("jti-{i}"), far);
    }
    for i in 0..1_000 {
        revocations.revoke_session(&format!("sid-{i}"), far);
        revocations.void_user_before(&format!("user-{i}"), 100);
    }
    let p = Arc::new(Principal {
        subject: Subject::User("user-500".into()),
        scopes: ScopeSet::parse("me").unwrap(),
        client_id: "gatehouse".into(),
        session_id: Some("sid-live".into()),
        credential_id: Some("jti-live".into()),
        issued_at: 200,
        expires_at: far,
        kind: CredentialKind::AccessToken,
    });
    assert!(revocations.check(&p).is_ok());
    c.bench_function("revocation_check_busy_denylist", |b| b.iter(|| revocations.check(black_box(&p))));
}

criterion_group!(benches, users_me, revocation_check);
criterion_main!(benches);
