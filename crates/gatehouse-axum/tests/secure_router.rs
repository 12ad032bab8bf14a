//! Default-deny routing through a real `Router`: undeclared routes need authentication,
//! public ones are reachable, and scopes accumulate across router, nesting, an enclosing
//! `RequireScopesLayer` and the handler's own `Scoped<R>`.

#![allow(clippy::unwrap_used)]

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
    routing::{get, post},
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use gatehouse_axum::{
    api_key, basic_realm, scopes, testing::TestKeys, Access, ApiKey, ApiKeyLocation, AuthState, Authenticated,
    BasicAuth, RequireScopesLayer, RouteSecurity, Scoped, SecureRouter,
};
use serde_json::Value;
use tower::ServiceExt;

scopes! {
    /// Admin area.
    pub Admin = ["admin"];
    /// Reports.
    pub ReportsRead = ["reports:read"];
    /// Own account.
    pub Me = ["me"];
}
basic_realm! {
    /// The scraper's realm.
    pub Metrics = "metrics";
}
api_key! {
    /// Partner keys.
    pub PartnerKey = header("X-Partner-Key");
}

fn secure(auth: &AuthState) -> SecureRouter<AuthState> {
    let admin = SecureRouter::new(auth.clone())
        .require::<Admin>()
        .route("/stats", get(|| async { "stats" }))
        .scoped::<ReportsRead>("/reports", get(|| async { "reports" }))
        .public("/ping", get(|| async { "pong" }));
    SecureRouter::new(auth.clone())
        .public("/healthz", get(|| async { "ok" }))
        .route("/whoami", get(|a: Authenticated| async move { a.subject.to_string() }))
        .route("/plain", get(|| async { "no extractor, still guarded" }))
        .scoped::<Me>("/me", get(|u: Scoped<ReportsRead>| async move { u.subject.to_string() }))
        .basic::<Metrics>("/metrics", get(|c: BasicAuth<Metrics>| async move { c.username }))
        .api_key::<PartnerKey>("/partner", get(|_: ApiKey<PartnerKey>| async { "partner" }))
        .declare(RouteSecurity::new("/session", Access::public()).on([Method::POST]), post(|| async { "login" }))
        .declare(
            RouteSecurity::new("/session", Access::authenticated()).on([Method::DELETE]),
            axum::routing::delete(|| async { "logout" }),
        )
        .nest("/admin", admin)
        .merge_public(Router::new().route("/docs", get(|| async { "docs" })))
}

fn app(auth: &AuthState) -> Router {
    secure(auth).into_router().with_state(auth.clone())
}

#[derive(Debug)]
struct Res {
    status: StatusCode,
    challenge: Option<String>,
    text: String,
}

async fn call(auth: &AuthState, method: Method, path: &str, credential: Option<(&str, String)>) -> Res {
    call_on(app(auth), method, path, credential).await.0
}

/// The response, and its `x-layer` header.
async fn call_on(router: Router, method: Method, path: &str, credential: Option<(&str, String)>) -> (Res, bool) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some((name, value)) = credential {
        req = req.header(name, value);
    }
    let res = router.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let layered = res.headers().contains_key("x-layer");
    let status = res.status();
    let challenge = res.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (Res { status, challenge, text: String::from_utf8(bytes.to_vec()).unwrap() }, layered)
}

/// A credential header to send, if any.
type Sent = Option<(&'static str, String)>;

fn bearer(token: &str) -> Sent {
    Some(("authorization", format!("Bearer {token}")))
}

fn insufficient(scopes: &str) -> Option<String> {
    Some(format!(r#"Bearer error="insufficient_scope", scope="{scopes}""#))
}

#[tokio::test]
async fn a_route_added_without_a_declaration_needs_authentication() {
    let keys = TestKeys::new();
    let auth = keys.auth_state();
    for path in ["/whoami", "/plain"] {
        let r = call(&auth, Method::GET, path, None).await;
        assert_eq!((r.status, r.challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some("Bearer")), "{path}");
        let body: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(body["error"], "not_authenticated");
    }
    let r = call(&auth, Method::GET, "/plain", bearer("not-a-jwt")).await;
    assert_eq!((r.status, r.challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some(r#"Bearer error="invalid_token""#)));
    let r = call(&auth, Method::GET, "/whoami", bearer(&keys.mint("user:ann", &[]))).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "user:ann"));
}

#[tokio::test]
async fn public_routes_are_reachable_anonymously() {
    let auth = TestKeys::new().auth_state();
    for (path, body) in [("/healthz", "ok"), ("/admin/ping", "pong"), ("/docs", "docs")] {
        let r = call(&auth, Method::GET, path, None).await;
        assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, body), "{path}");
    }
    // A public route ignores a broken credential: it is not looked at.
    assert_eq!(call(&auth, Method::GET, "/healthz", bearer("garbage")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn router_route_and_handler_scopes_accumulate() {
    let keys = TestKeys::new();
    let auth = keys.auth_state();
    let with = |scopes: &[&str]| bearer(&keys.mint("user:x", scopes));

    // Router-level `admin` applies to a plain route of the nested router...
    let r = call(&auth, Method::GET, "/admin/stats", with(&["me"])).await;
    assert_eq!((r.status, r.challenge), (StatusCode::FORBIDDEN, insufficient("admin")));
    assert_eq!(call(&auth, Method::GET, "/admin/stats", with(&["admin"])).await.status, StatusCode::OK);

    // ...and together with the route's own scope; the 403 names both, whichever is missing.
    for held in [&["admin"][..], &["reports:read"], &[]] {
        let r = call(&auth, Method::GET, "/admin/reports", with(held)).await;
        assert_eq!((r.status, r.challenge), (StatusCode::FORBIDDEN, insufficient("admin reports:read")), "{held:?}");
    }
    let r = call(&auth, Method::GET, "/admin/reports", with(&["admin", "reports:read"])).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "reports"));

    // The route declares `me`; the handler's `Scoped<ReportsRead>` adds to it.
    let r = call(&auth, Method::GET, "/me", with(&["me"])).await;
    assert_eq!((r.status, r.challenge), (StatusCode::FORBIDDEN, insufficient("me reports:read")));
    assert_eq!(call(&auth, Method::GET, "/me", with(&["me", "reports:read"])).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_enclosing_require_scopes_layer_accumulates_too() {
    let keys = TestKeys::new();
    let auth = keys.auth_state();
    let inner = SecureRouter::new(auth.clone()).scoped::<ReportsRead>("/reports", get(|| async { "r" }));
    let app = Router::new()
        .nest("/area", inner.into_router())
        .route_layer(RequireScopesLayer::new(auth.clone(), &["admin"]))
        .with_state(auth.clone());
    let send = |scopes: &[&str]| {
        let req = Request::get("/area/reports")
            .header("authorization", format!("Bearer {}", keys.mint("user:y", scopes)))
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(req)
    };
    let res = send(&["admin"]).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer error="insufficient_scope", scope="admin reports:read""#
    );
    assert_eq!(send(&["admin", "reports:read"]).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn basic_and_api_key_routes_require_a_well_formed_credential() {
    let auth = TestKeys::new().auth_state();
    let r = call(&auth, Method::GET, "/metrics", None).await;
    assert_eq!(
        (r.status, r.challenge.as_deref()),
        (StatusCode::UNAUTHORIZED, Some(r#"Basic realm="metrics", charset="UTF-8""#))
    );
    let r = call(&auth, Method::GET, "/metrics", Some(("authorization", "Basic ***".into()))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text.contains("invalid_base64"), "{}", r.text);
    let ok = format!("Basic {}", STANDARD.encode("scraper:pw"));
    let r = call(&auth, Method::GET, "/metrics", Some(("authorization", ok))).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "scraper"));

    let r = call(&auth, Method::GET, "/partner", None).await;
    assert_eq!(
        (r.status, r.challenge.as_deref()),
        (StatusCode::UNAUTHORIZED, Some(r#"ApiKey in="header", name="X-Partner-Key""#))
    );
    let r = call(&auth, Method::GET, "/partner", Some(("x-partner-key", String::new()))).await;
    assert!(r.status == StatusCode::UNAUTHORIZED && r.text.contains("empty_api_key"), "{r:?}");
    assert_eq!(call(&auth, Method::GET, "/partner", Some(("x-partner-key", "k".into()))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn methods_of_one_path_can_differ() {
    let keys = TestKeys::new();
    let auth = keys.auth_state();
    assert_eq!(call(&auth, Method::POST, "/session", None).await.status, StatusCode::OK);
    assert_eq!(call(&auth, Method::DELETE, "/session", None).await.status, StatusCode::UNAUTHORIZED);
    let token = keys.mint("user:z", &[]);
    assert_eq!(call(&auth, Method::DELETE, "/session", bearer(&token)).await.status, StatusCode::OK);
}

#[test]
fn declarations_list_what_is_enforced() {
    let auth = TestKeys::new().auth_state();
    let admin = SecureRouter::<()>::new(auth.clone())
        .require::<Admin>()
        .scoped::<ReportsRead>("/reports", get(|| async { "" }))
        .public("/", get(|| async { "" }));
    let router = SecureRouter::new(auth)
        .require::<Me>()
        .route("/a", get(|| async { "" }))
        .basic::<Metrics>("/m", get(|| async { "" }))
        .api_key::<PartnerKey>("/p", get(|| async { "" }))
        .nest("/admin/", admin);
    let decls = router.declarations();
    let find =
        |p: &str| decls.iter().find(|d| d.path == p).unwrap_or_else(|| panic!("{p} in {decls:?}")).access.clone();
    assert_eq!(find("/a"), Access::Authenticated { scopes: vec!["me"] });
    assert_eq!(find("/admin/reports"), Access::Authenticated { scopes: vec!["me", "admin", "reports:read"] });
    assert_eq!(find("/admin"), Access::Public);
    assert_eq!(find("/m"), Access::Basic { realm: "metrics" });
    assert_eq!(find("/p"), Access::ApiKey { location: ApiKeyLocation::Header, name: "X-Partner-Key" });
    assert_eq!(decls.len(), 5);
    assert!(format!("{router:?}").contains("/admin/reports"));
}

#[tokio::test]
async fn nested_routes_enforce_outer_router_scopes() {
    let keys = TestKeys::new();
    let auth = keys.auth_state();
    let inner = SecureRouter::new(auth.clone()).route("/x", get(|| async { "x" }));
    let app: Router =
        SecureRouter::new(auth.clone()).require::<Admin>().nest("/n", inner).into_router().with_state(auth);
    let req = |scopes: &[&str]| {
        Request::get("/n/x")
            .header("authorization", format!("Bearer {}", keys.mint("user:n", scopes)))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(app.clone().oneshot(req(&[])).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(app.oneshot(req(&["admin"])).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn into_router_with_puts_the_layer_on_every_route_and_keeps_every_guard() {
    let keys = TestKeys::new();
    let auth = keys.auth_state();
    let mark = tower::util::MapResponseLayer::new(|mut res: axum::response::Response| {
        res.headers_mut().insert("x-layer", header::HeaderValue::from_static("1"));
        res
    });
    let layered = || secure(&auth).into_router_with(mark.clone()).with_state(auth.clone());
    let ann = bearer(&keys.mint("user:ann", &["me"]));
    let admin = bearer(&keys.mint("user:root", &["admin", "reports:read"]));
    let cases: Vec<(Method, &str, Sent)> = vec![
        (Method::GET, "/healthz", None),
        (Method::GET, "/docs", None),
        (Method::GET, "/admin/ping", None),
        (Method::POST, "/session", None),
        (Method::DELETE, "/session", None),
        (Method::GET, "/whoami", None),
        (Method::GET, "/whoami", bearer("not-a-jwt")),
        (Method::GET, "/whoami", ann.clone()),
        (Method::GET, "/me", ann.clone()),
        (Method::GET, "/admin/stats", ann.clone()),
        (Method::GET, "/admin/reports", admin.clone()),
        (Method::GET, "/metrics", None),
        (Method::GET, "/partner", None),
    ];
    for (method, path, credential) in cases {
        let plain = call(&auth, method.clone(), path, credential.clone()).await;
        let (with, marked) = call_on(layered(), method.clone(), path, credential).await;
        // The same answer as without the layer (guards, scopes, challenges, bodies)...
        assert_eq!(
            (with.status, &with.challenge, &with.text),
            (plain.status, &plain.challenge, &plain.text),
            "{method} {path}"
        );
        // ...and the layer ran on it, refused or not.
        assert!(marked, "{method} {path} ({}) did not pass the layer", with.status);
    }
    // Unknown paths are the fallback's, not a route's.
    let (missing, marked) = call_on(layered(), Method::GET, "/nowhere", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(!marked);
}

#[tokio::test]
async fn into_router_with_each_gives_every_route_its_own_declaration() {
    let keys = TestKeys::new();
    let auth = keys.auth_state();
    // Each route's layer stamps the response with the declaration it was made from.
    let layered = secure(&auth)
        .into_router_with_each(|decl| {
            let stamp = match decl {
                Some(d) => format!("{} {:?}", d.path, d.access.scopes_required()),
                None => "undeclared".to_owned(),
            };
            let stamp = header::HeaderValue::from_str(&stamp).unwrap();
            tower::util::MapResponseLayer::new(move |mut res: axum::response::Response| {
                res.headers_mut().insert("x-route", stamp.clone());
                res
            })
        })
        .with_state(auth.clone());
    let ann = bearer(&keys.mint("user:ann", &["me"]));
    let cases: Vec<(Method, &str, Sent, StatusCode, &str)> = vec![
        (Method::GET, "/healthz", None, StatusCode::OK, "/healthz []"),
        (Method::GET, "/docs", None, StatusCode::OK, "undeclared"),
        // Nesting prefix and the nested router's own scopes are in the declaration.
        (
            Method::GET,
            "/admin/reports",
            ann.clone(),
            StatusCode::FORBIDDEN,
            r#"/admin/reports ["admin", "reports:read"]"#,
        ),
        (Method::GET, "/admin/ping", None, StatusCode::OK, "/admin/ping []"),
        (Method::GET, "/me", ann.clone(), StatusCode::FORBIDDEN, r#"/me ["me"]"#),
        (Method::GET, "/whoami", None, StatusCode::UNAUTHORIZED, "/whoami []"),
        (Method::POST, "/session", None, StatusCode::OK, "/session []"),
    ];
    for (method, path, credential, status, stamp) in cases {
        let mut req = Request::builder().method(method.clone()).uri(path);
        if let Some((name, value)) = credential {
            req = req.header(name, value);
        }
        let res = layered.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), status, "{method} {path}");
        assert_eq!(res.headers().get("x-route").map(|v| v.to_str().unwrap()), Some(stamp), "{method} {path}");
    }
    let missing = layered.oneshot(Request::get("/nowhere").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().get("x-route").is_none());
}

#[tokio::test]
async fn scopes_added_after_the_guard_admitted_are_checked_again() {
    use axum::{extract::Request as AxRequest, middleware::Next, response::Response};
    // A layer between the guard and the handler that raises the bar: the guard's admission
    // no longer covers the list, so the handler's `Scoped<R>` must check the caller again.
    async fn also_extra(mut req: AxRequest, next: Next) -> Response {
        if let Some(required) = req.extensions_mut().get_mut::<gatehouse_axum::RequiredScopes>() {
            required.extend(&["extra"]);
        }
        next.run(req).await
    }
    let keys = TestKeys::new();
    let auth = keys.auth_state();
    let app: Router = SecureRouter::new(auth.clone())
        .scoped::<Me>(
            "/me",
            get(|u: Scoped<Me>| async move { u.subject.to_string() })
                .route_layer(axum::middleware::from_fn(also_extra)),
        )
        .scoped::<Me>("/plain-me", get(|u: Scoped<Me>| async move { u.subject.to_string() }))
        .into_router()
        .with_state(auth);
    let get_as = |path: &'static str, scopes: &[&str]| {
        Request::get(path)
            .header("authorization", format!("Bearer {}", keys.mint("user:eve", scopes)))
            .body(Body::empty())
            .unwrap()
    };
    let res = app.clone().oneshot(get_as("/me", &["me"])).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "the guard's admission must not cover the added scope");
    let challenge = res.headers().get(header::WWW_AUTHENTICATE).unwrap().to_str().unwrap().to_owned();
    assert!(challenge.contains("me extra"), "{challenge}");
    assert_eq!(app.clone().oneshot(get_as("/me", &["me", "extra"])).await.unwrap().status(), StatusCode::OK);
    // Without the extra layer, the guard's admission stands.
    assert_eq!(app.clone().oneshot(get_as("/plain-me", &["me"])).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.oneshot(get_as("/plain-me", &["other"])).await.unwrap().status(), StatusCode::FORBIDDEN);
}
