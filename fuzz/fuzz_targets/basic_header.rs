//! `Authorization` (and neighbouring) header values, as an attacker sends them.
//!
//! - `gatehouse_axum::parse_bearer`: never panics; what it accepts is a non-empty RFC 6750
//!   `b64token` that came after a case-insensitive `Bearer ` scheme.
//! - `gatehouse_axum::BasicAuth::parse`: never panics; what it accepts came after a
//!   case-insensitive `Basic` scheme, fits `MAX_CREDENTIAL_LEN`, and is exactly the standard
//!   base64 of `username:password` with no control characters and no `:` in the username.
//! - `cookie_value` and `net::client_ip` (X-Forwarded-For through trusted proxies) on the same bytes.
//! - The real server router, built once over a temporary SQLite database with one
//!   confidential client (`fuzz-client` / `fuzz-secret`): `POST /token` with the header as
//!   HTTP Basic client authentication (the private `client_auth::basic_credentials`, then
//!   the grant) and `GET /users/me` with it as a credential. Never a 5xx; `/token` answers
//!   200 only to exactly the registered credentials; `/users/me` never 200s.
//!
//! Input layout: `[mode, header bytes…]`; `mode` picks the form body sent with the header.
#![no_main]

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    sync::OnceLock,
};

use axum::{
    body::Body,
    http::{header, HeaderValue, Request, StatusCode},
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use gatehouse_axum::{cookie_value, parse_bearer, BasicAuth, ExposeSecret as _, MAX_CREDENTIAL_LEN};
use gatehouse_core::{Clock, SystemClock};
use gatehouse_server::{
    net::{client_ip, parse_cidr},
    secrets::hash_secret,
    settings::Settings,
    startup::{router, Application},
};
use gatehouse_store::ClientRecord;
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use tower::ServiceExt as _;

const CLIENT_ID: &str = "fuzz-client";
const CLIENT_SECRET: &str = "fuzz-secret";

const BODIES: [&str; 4] = [
    "grant_type=client_credentials",
    "grant_type=client_credentials&client_id=fuzz-client",
    "grant_type=client_credentials&client_secret=fuzz-secret",
    "grant_type=password&username=nobody&password=not+the+password",
];

struct Fixture {
    rt: tokio::runtime::Runtime,
    app: Router,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let env: BTreeMap<String, String> = [
            ("GATEHOUSE_BIND", "127.0.0.1:0"),
            ("GATEHOUSE_ADMIN_PASSWORD", "fuzz admin password"),
            ("GATEHOUSE_ARGON2_MEMORY_KIB", "1024"),
            ("GATEHOUSE_ARGON2_ITERATIONS", "1"),
            ("GATEHOUSE_HASH_WORKERS", "1"),
            ("GATEHOUSE_JWT_ALG", "EdDSA"),
            // Every input fails from the same (unknown) IP: keep throttling out of the way.
            ("GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP", "1000000000"),
            ("GATEHOUSE_LOGIN_MAX_FAILURES_PER_USER", "1000000000"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([("GATEHOUSE_DATA_DIR".to_owned(), dir.path().display().to_string())])
        .collect();
        let settings = Settings::from_sources(None, &env).expect("settings");
        let app = rt.block_on(async {
            let app = Application::build(settings).await.expect("build");
            let client = ClientRecord {
                id: CLIENT_ID.into(),
                name: "fuzz".into(),
                secret_hash: hash_secret(CLIENT_SECRET),
                scopes: vec![],
                grant_types: vec!["client_credentials".into()],
                created_at: SystemClock.now(),
            };
            app.state().store.create_client(&client).await.expect("client");
            router(app.state().clone()).expect("router")
        });
        Fixture { rt, app, _dir: dir }
    })
}

/// An independent reading of RFC 6749 §2.3.1 Basic client credentials.
fn basic_creds(value: &str) -> Option<(String, String)> {
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let dec = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8().ok().map(|c| c.into_owned());
    Some((dec(id)?, dec(secret)?))
}

fn check_bearer(data: &[u8]) {
    if let Ok(token) = parse_bearer(data) {
        assert!(data.len() <= MAX_CREDENTIAL_LEN);
        assert!(!token.is_empty());
        assert!(token.bytes().all(|c| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c)), "bad token {token:?}");
        assert!(data[..7].eq_ignore_ascii_case(b"bearer "), "accepted without the Bearer scheme");
        assert!(data.ends_with(token.as_bytes()));
    }
}

fn check_basic(data: &[u8]) {
    if let Ok(Some(b)) = BasicAuth::<gatehouse_axum::DefaultRealm>::parse(data) {
        assert!(data.len() <= MAX_CREDENTIAL_LEN);
        assert!(data.len() > 6 && data[..6].eq_ignore_ascii_case(b"basic "), "accepted without the Basic scheme");
        // RFC 7617 base64, padding optional (as the extractor documents).
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let decoded = lenient.decode(data[6..].trim_ascii()).expect("accepted non-base64");
        let (user, pass) = (b.username.as_str(), b.password.expose_secret());
        assert_eq!(decoded, format!("{user}:{pass}").into_bytes());
        assert!(!user.contains(':'));
        assert!(!user.chars().chain(pass.chars()).any(char::is_control));
    }
}

fn check_neighbours(text: &str) {
    // Cookie header: whatever is found is a substring of the header, without `;`.
    let req = Request::builder()
        .header(header::COOKIE, HeaderValue::from_str(text).ok().unwrap_or(HeaderValue::from_static("")));
    let (parts, ()) = req.body(()).expect("request").into_parts();
    for name in ["__Host-gatehouse_session", "gatehouse_csrf", ""] {
        if let Some(v) = cookie_value(&parts, name) {
            assert!(text.contains(v) && !v.contains(';'));
        }
    }
    // X-Forwarded-For through a trusted proxy: the answer is the peer or one of the hops.
    let trusted: Vec<_> = ["127.0.0.0/8", "::1", "10.0.0.0/8"].iter().filter_map(|c| parse_cidr(c)).collect();
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let ip = client_ip(peer, Some(text), &trusted);
    assert!(ip == peer || text.split(',').any(|h| h.trim().parse::<IpAddr>() == Ok(ip)));
    let _ = parse_cidr(text);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, value)) = data.split_first() else { return };
    check_bearer(value);
    check_basic(value);
    let text = String::from_utf8_lossy(value);
    check_neighbours(&text);

    let Ok(hv) = HeaderValue::from_bytes(value) else { return };
    let f = fixture();
    let body = BODIES[usize::from(mode) % BODIES.len()];
    let (token_status, me_status) = f.rt.block_on(async {
        let token = Request::post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, hv.clone())
            .body(Body::from(body))
            .expect("request");
        let me =
            Request::get("/users/me").header(header::AUTHORIZATION, hv.clone()).body(Body::empty()).expect("request");
        let a = f.app.clone().oneshot(token).await.expect("infallible").status();
        let b = f.app.clone().oneshot(me).await.expect("infallible").status();
        (a, b)
    });
    assert!(
        matches!(token_status.as_u16(), 200 | 400 | 401 | 429),
        "/token answered {token_status} to Authorization {:?}",
        hv
    );
    if token_status == StatusCode::OK {
        let creds = hv.to_str().ok().and_then(basic_creds);
        assert_eq!(
            creds,
            Some((CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned())),
            "/token accepted other credentials: {hv:?}"
        );
    }
    assert!(matches!(me_status.as_u16(), 400 | 401), "/users/me answered {me_status} to Authorization {hv:?}");
});
