//! What authentication costs per request: token verification per algorithm, and the
//! extractor chain (bearer → verify → scopes) against the same handler without auth.
//! Run with `cargo bench -p gatehouse-axum --features testing --bench extractors`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use axum::{body::Body, http::Request, routing::get, Router};
use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_axum::{scopes, testing::TestKeys, RequireScopesLayer, Scoped};
use gatehouse_core::{Algorithm, SystemClock};
use tower::ServiceExt as _;

scopes! { pub Me = ["me"]; }

fn verify_per_algorithm(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let keys = TestKeys::with_algorithm(alg);
        let token = keys.mint("user:1", &["me"]);
        let verifier = keys.verifier();
        g.bench_function(alg.as_str(), |b| b.iter(|| verifier.verify(black_box(&token), &SystemClock).unwrap()));
    }
    g.finish();
}

fn extractor_chain(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let keys = TestKeys::with_algorithm(Algorithm::EdDSA);
    let token = keys.mint("user:1", &["me", "admin"]);
    let auth = keys.auth_state();
    let plain: Router = Router::new().route("/me", get(|| async { "ok" }));
    let scoped: Router = Router::new().route("/me", get(|_u: Scoped<Me>| async { "ok" })).with_state(auth.clone());
    let guarded: Router = Router::new()
        .route("/me", get(|_u: Scoped<Me>| async { "ok" }))
        .layer(RequireScopesLayer::new(auth.clone(), &["admin"]))
        .with_state(auth);
    let req = |t: Option<&str>| {
        let mut r = Request::builder().uri("/me");
        if let Some(t) = t {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(Body::empty()).unwrap()
    };
    let mut g = c.benchmark_group("request");
    g.bench_function("no_auth", |b| b.to_async(&rt).iter(|| plain.clone().oneshot(req(None))));
    g.bench_function("scoped_eddsa", |b| b.to_async(&rt).iter(|| scoped.clone().oneshot(req(Some(&token)))));
    g.bench_function("router_guard_plus_scoped_eddsa", |b| {
        b.to_async(&rt).iter(|| guarded.clone().oneshot(req(Some(&token))))
    });
    g.finish();
}

criterion_group!(benches, verify_per_algorithm, extractor_chain);
criterion_main!(benches);
