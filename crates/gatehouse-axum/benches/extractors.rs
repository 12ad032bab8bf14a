//! What authentication costs per request: token verification per algorithm, scope checks on
//! their own, and the extractor chain (bearer → verify → scopes) against the same handler
//! without auth.
//! Run with `cargo bench -p gatehouse-axum --features testing --bench extractors`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use axum::{body::Body, http::Request, routing::get, Router};
use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_axum::{scopes, testing::TestKeys, RequireScopesLayer, Scoped};
use gatehouse_core::{Algorithm, ScopeSet, SystemClock};
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

/// The scope work of one request, apart: parsing a token's `scope` claim, and checking a
/// route's required scopes against it (one scope, as `Scoped<Me>`; three, as a router-level
/// requirement on top), both ways round (held and not held).
fn scope_checks(c: &mut Criterion) {
    let claim = "me users:read users:write clients:read audit:read admin";
    let held = ScopeSet::parse(claim).unwrap();
    let one = ScopeSet::parse("me").unwrap();
    let three = ScopeSet::parse("users:read users:write admin").unwrap();
    let missing = ScopeSet::parse("users:read keys:rotate").unwrap();
    let mut g = c.benchmark_group("scopes");
    g.bench_function("parse_six_scope_claim", |b| b.iter(|| ScopeSet::parse(black_box(claim)).unwrap()));
    g.bench_function("require_one_held", |b| b.iter(|| black_box(&held).is_superset(black_box(&one))));
    g.bench_function("require_three_held", |b| b.iter(|| black_box(&held).is_superset(black_box(&three))));
    g.bench_function("require_two_one_missing", |b| b.iter(|| black_box(&held).is_superset(black_box(&missing))));
    g.finish();
    assert!(held.is_superset(&one) && held.is_superset(&three) && !held.is_superset(&missing));
}

criterion_group!(benches, verify_per_algorithm, scope_checks, extractor_chain);
criterion_main!(benches);
