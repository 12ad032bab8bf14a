//! The HTTP Basic and API-key extractors through a real `Router` (`oneshot`, no sockets):
//! status, `WWW-Authenticate`, the JSON error body, and hostile input.

#![allow(clippy::unwrap_used)]

use axum::{
    body::Body,
    http::{header, HeaderValue, Request, StatusCode},
    middleware::from_fn,
    routing::get,
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use gatehouse_axum::{
    api_key, attach_request_id, basic_realm, testing, ApiKey, AuthState, Authenticated, BasicAuth, ExposeSecret,
    MAX_CREDENTIAL_LEN,
};
use serde_json::Value;
use tower::ServiceExt;

basic_realm! {
    /// A realm with a space in it.
    pub Ops = "ops area";
}

api_key! {
    /// `X-API-Key: …`
    pub HeaderKey = header("X-API-Key");
    /// `?api_key=…`
    pub QueryKey = query("api_key");
    /// `Cookie: key=…`
    pub CookieKey = cookie("key");
}

const BASIC_DEFAULT: &str = r#"Basic realm="gatehouse", charset="UTF-8""#;

fn app() -> Router {
    Router::new()
        .route("/basic", get(|c: BasicAuth| async move { format!("{}|{}", c.username, c.password.expose_secret()) }))
        .route("/ops", get(|c: BasicAuth<Ops>| async move { c.username }))
        .route(
            "/maybe-basic",
            get(|c: Option<BasicAuth>| async move { c.map_or("anonymous".to_owned(), |c| c.username) }),
        )
        .route("/header", get(|k: ApiKey<HeaderKey>| async move { k.expose_secret().to_owned() }))
        .route("/query", get(|k: ApiKey<QueryKey>| async move { k.expose_secret().to_owned() }))
        .route("/cookie", get(|k: ApiKey<CookieKey>| async move { k.expose_secret().to_owned() }))
        .route(
            "/maybe-key",
            get(|k: Option<ApiKey<HeaderKey>>| async move {
                k.map_or("anonymous".to_owned(), |k| k.expose_secret().to_owned())
            }),
        )
}

/// A response, read out.
#[derive(Debug)]
struct Res {
    status: StatusCode,
    challenge: Option<String>,
    text: String,
}

impl Res {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }

    /// 401, the expected challenge, and `{"error": code, "detail": …reason…}`.
    fn assert_401(&self, challenge: &str, code: &str, reason: Option<&str>) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{self:?}");
        assert_eq!(self.challenge.as_deref(), Some(challenge), "{self:?}");
        let body = self.json();
        assert_eq!(body["error"], code, "{self:?}");
        let detail = body["detail"].as_str().unwrap();
        if let Some(reason) = reason {
            assert!(detail.contains(reason), "detail {detail:?} should name {reason}");
        }
    }
}

async fn send(router: Router, req: Request<Body>) -> Res {
    read(router.oneshot(req).await.unwrap()).await
}

async fn read(res: axum::response::Response) -> Res {
    let status = res.status();
    let challenge = res.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    Res { status, challenge, text: String::from_utf8(bytes.to_vec()).unwrap() }
}

async fn get_with(uri: &str, headers: &[(&str, &[u8])]) -> Res {
    let mut req = Request::get(uri);
    for (name, value) in headers {
        req = req.header(*name, HeaderValue::from_bytes(value).unwrap());
    }
    send(app(), req.body(Body::empty()).unwrap()).await
}

fn basic(user_pass: &str) -> Vec<u8> {
    format!("Basic {}", STANDARD.encode(user_pass)).into_bytes()
}

// ---------------------------------------------------------------- HTTP Basic

#[tokio::test]
async fn basic_yields_username_and_password() {
    let r = get_with("/basic", &[("authorization", &basic("alice:open:sesame"))]).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "alice|open:sesame"));
    // Scheme is case-insensitive; UTF-8 user-ids are allowed.
    let r = get_with("/basic", &[("authorization", format!("bAsIc {}", STANDARD.encode("zoë:pw")).as_bytes())]).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "zoë|pw"));
}

#[tokio::test]
async fn basic_missing_is_401_with_the_default_realm() {
    let r = get_with("/basic", &[]).await;
    r.assert_401(BASIC_DEFAULT, "not_authenticated", None);
    assert_eq!(r.json()["detail"], "authentication required");
}

#[tokio::test]
async fn basic_realm_comes_from_the_type() {
    let r = get_with("/ops", &[]).await;
    r.assert_401(r#"Basic realm="ops area", charset="UTF-8""#, "not_authenticated", None);
    let r = get_with("/ops", &[("authorization", &basic("op:pw"))]).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "op"));
}

#[tokio::test]
async fn basic_with_another_scheme_is_asked_for_basic() {
    let r = get_with("/basic", &[("authorization", b"Bearer abc.def.ghi")]).await;
    r.assert_401(BASIC_DEFAULT, "not_authenticated", None);
}

#[tokio::test]
async fn malformed_basic_is_401_invalid_credential_with_the_reason() {
    let cases: &[(&[u8], &str)] = &[
        (b"Basic", "malformed_authorization"),
        (b"Basic %%%%", "invalid_base64"),
        (b"Basic YWxpY2U=", "missing_colon"),     // "alice"
        (b"Basic /w==", "not_utf8"),              // 0xff
        (b"Basic YTpiAGM=", "control_character"), // "a:b\0c"
        (b"Basic \xff\xfe", "invalid_base64"),    // obs-text in the header itself
    ];
    for (value, reason) in cases {
        let r = get_with("/basic", &[("authorization", value)]).await;
        r.assert_401(BASIC_DEFAULT, "invalid_credential", Some(reason));
    }
}

#[tokio::test]
async fn oversized_basic_is_refused_before_decoding() {
    let mut value = b"Basic ".to_vec();
    value.extend(STANDARD.encode(format!("u:{}", "p".repeat(MAX_CREDENTIAL_LEN))).bytes());
    let r = get_with("/basic", &[("authorization", &value)]).await;
    r.assert_401(BASIC_DEFAULT, "invalid_credential", Some("credential_too_large"));
    // Just under the limit is fine.
    let r = get_with("/basic", &[("authorization", &basic(&format!("u:{}", "p".repeat(6000))))]).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn two_authorization_headers_are_ambiguous() {
    let r = get_with("/basic", &[("authorization", &basic("a:1")), ("authorization", &basic("b:2"))]).await;
    r.assert_401(BASIC_DEFAULT, "invalid_credential", Some("duplicate_authorization"));
}

#[tokio::test]
async fn optional_basic_is_none_when_absent_and_still_rejects_malformed() {
    assert_eq!(get_with("/maybe-basic", &[]).await.text, "anonymous");
    assert_eq!(get_with("/maybe-basic", &[("authorization", b"Bearer t")]).await.text, "anonymous");
    assert_eq!(get_with("/maybe-basic", &[("authorization", &basic("bob:x"))]).await.text, "bob");
    let r = get_with("/maybe-basic", &[("authorization", b"Basic !!")]).await;
    r.assert_401(BASIC_DEFAULT, "invalid_credential", Some("invalid_base64"));
}

#[tokio::test]
async fn rejections_carry_the_request_id_when_the_app_adds_it() {
    let app = app().layer(from_fn(attach_request_id));
    let req = Request::get("/basic").header("x-request-id", "req-42").body(Body::empty()).unwrap();
    let r = send(app, req).await;
    r.assert_401(BASIC_DEFAULT, "not_authenticated", None);
    assert_eq!(r.json()["request_id"], "req-42");
}

#[test]
fn debug_never_shows_secrets() {
    let b = BasicAuth::<Ops>::new("alice", "hunter2");
    let k = ApiKey::<HeaderKey>::new("sk_live_123");
    let shown = format!("{b:?} {k:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("sk_live_123"), "{shown}");
    assert!(shown.contains("alice") && shown.contains("X-API-Key"), "{shown}");
}

// ---------------------------------------------------------------- API keys

const HEADER_CHALLENGE: &str = r#"ApiKey in="header", name="X-API-Key""#;
const QUERY_CHALLENGE: &str = r#"ApiKey in="query", name="api_key""#;
const COOKIE_CHALLENGE: &str = r#"ApiKey in="cookie", name="key""#;

#[tokio::test]
async fn api_key_from_a_header_any_case() {
    assert_eq!(get_with("/header", &[("x-api-key", b"k1")]).await.text, "k1");
    assert_eq!(get_with("/header", &[("X-Api-KEY", b"k2")]).await.text, "k2");
}

#[tokio::test]
async fn api_key_from_the_query_is_percent_decoded() {
    let r = get_with("/query?x=1&api_key=a%2Bb%20c&y=2", &[]).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "a+b c"));
}

#[tokio::test]
async fn api_key_from_a_cookie_among_others() {
    let r = get_with("/cookie", &[("cookie", b"theme=dark; key=ck-9; other=1")]).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "ck-9"));
    // A cookie whose name merely ends in the key name is not it.
    get_with("/cookie", &[("cookie", b"apikey=nope")]).await.assert_401(COOKIE_CHALLENGE, "not_authenticated", None);
}

#[tokio::test]
async fn missing_api_key_names_where_it_goes() {
    get_with("/header", &[]).await.assert_401(HEADER_CHALLENGE, "not_authenticated", None);
    get_with("/query?apikey=x", &[]).await.assert_401(QUERY_CHALLENGE, "not_authenticated", None);
    get_with("/cookie", &[]).await.assert_401(COOKIE_CHALLENGE, "not_authenticated", None);
    // A bearer token is not an API key.
    get_with("/header", &[("authorization", b"Bearer t")]).await.assert_401(
        HEADER_CHALLENGE,
        "not_authenticated",
        None,
    );
}

#[tokio::test]
async fn empty_api_keys_are_malformed_not_absent() {
    for (uri, headers, challenge) in [
        ("/header", vec![("x-api-key", &b""[..])], HEADER_CHALLENGE),
        ("/query?api_key=", vec![], QUERY_CHALLENGE),
        ("/cookie", vec![("cookie", &b"key="[..])], COOKIE_CHALLENGE),
        ("/maybe-key", vec![("x-api-key", &b""[..])], HEADER_CHALLENGE),
    ] {
        get_with(uri, &headers).await.assert_401(challenge, "invalid_credential", Some("empty_api_key"));
    }
}

#[tokio::test]
async fn api_keys_sent_twice_are_refused() {
    let r = get_with("/header", &[("x-api-key", b"a"), ("x-api-key", b"b")]).await;
    r.assert_401(HEADER_CHALLENGE, "invalid_credential", Some("duplicate_api_key"));
    let r = get_with("/query?api_key=a&api_key=a", &[]).await;
    r.assert_401(QUERY_CHALLENGE, "invalid_credential", Some("duplicate_api_key"));
    let r = get_with("/cookie", &[("cookie", b"key=a"), ("cookie", b"key=b")]).await;
    r.assert_401(COOKIE_CHALLENGE, "invalid_credential", Some("duplicate_api_key"));
}

#[tokio::test]
async fn hostile_api_keys_are_refused() {
    let big = vec![b'k'; MAX_CREDENTIAL_LEN + 1];
    let r = get_with("/header", &[("x-api-key", &big)]).await;
    r.assert_401(HEADER_CHALLENGE, "invalid_credential", Some("credential_too_large"));
    let r = get_with("/header", &[("x-api-key", b"caf\xc3\xa9")]).await;
    r.assert_401(HEADER_CHALLENGE, "invalid_credential", Some("malformed_api_key"));
    let r = get_with("/query?api_key=a%0Ab", &[]).await;
    r.assert_401(QUERY_CHALLENGE, "invalid_credential", Some("malformed_api_key"));
    let at_limit = vec![b'k'; MAX_CREDENTIAL_LEN];
    assert_eq!(get_with("/header", &[("x-api-key", &at_limit)]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn optional_api_key_is_none_when_absent() {
    assert_eq!(get_with("/maybe-key", &[]).await.text, "anonymous");
    assert_eq!(get_with("/maybe-key", &[("x-api-key", b"k")]).await.text, "k");
}

#[tokio::test]
async fn api_keys_verify_through_the_apps_authenticator() {
    // The authenticator sees a `Credential::ApiKey`; a JWT-only one refuses it.
    let fixed = AuthState::fixed(testing::principal("user:kim", &["me"]));
    let who = ApiKey::<QueryKey>::new("k").authenticate(&fixed).await.unwrap();
    assert_eq!(who.subject.to_string(), "user:kim");

    let jwt_only = testing::TestKeys::new().auth_state();
    let err = ApiKey::<QueryKey>::new("k").authenticate(&jwt_only).await.unwrap_err();
    read(axum::response::IntoResponse::into_response(err)).await.assert_401(
        QUERY_CHALLENGE,
        "invalid_credential",
        Some("unsupported_credential"),
    );
}

#[tokio::test]
async fn authenticated_reads_the_key_source_declared_on_the_state() {
    let state =
        AuthState::new(std::sync::Arc::new(testing::OverrideAuthenticator::new(testing::principal("user:q", &[]))))
            .with_api_key::<QueryKey>();
    assert_eq!(state.api_key_source(), Some((gatehouse_axum::ApiKeyLocation::Query, "api_key")));
    let app = || {
        Router::new()
            .route("/me", get(|a: Authenticated| async move { a.subject.to_string() }))
            .with_state(state.clone())
    };
    let r = send(app(), Request::get("/me?api_key=abc").body(Body::empty()).unwrap()).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "user:q"));
    // The header is not where this state looks.
    let r = send(app(), Request::get("/me").header("x-api-key", "abc").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Malformed keys are refused before the authenticator is asked.
    let r = send(app(), Request::get("/me?api_key=").body(Body::empty()).unwrap()).await;
    r.assert_401(r#"Bearer error="invalid_token""#, "invalid_token", Some("empty_api_key"));
}
