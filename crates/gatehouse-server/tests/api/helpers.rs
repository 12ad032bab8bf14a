//! `spawn_app()`: a real server on port 0 with a fresh SQLite database and a clock the
//! test controls, plus one method per endpoint.

use std::{collections::BTreeMap, sync::Arc};

use gatehouse_core::{Clock, ManualClock, SystemClock};
use gatehouse_server::{settings::Settings, startup::Application, state::AppState};
use reqwest::{header, Response, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_PASSWORD: &str = "admin password for tests";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub _dir: tempfile::TempDir,
}

/// Builder-ish: extra GATEHOUSE_* settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env: BTreeMap<String, String> = [
        ("GATEHOUSE_BIND", "127.0.0.1:0"),
        ("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("GATEHOUSE_ARGON2_MEMORY_KIB", "1024"),
        ("GATEHOUSE_ARGON2_ITERATIONS", "1"),
        ("GATEHOUSE_HASH_WORKERS", "2"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.insert("GATEHOUSE_DATA_DIR".into(), dir.path().display().to_string());
    if let Some(url) = postgres_database().await {
        env.insert("GATEHOUSE_DATABASE_URL".into(), url);
        // The PostgreSQL pass also shares throttling and revocations through Redis.
        if let Ok(redis) = std::env::var("GATEHOUSE_TEST_REDIS_URL") {
            env.insert("GATEHOUSE_REDIS_URL".into(), redis);
            env.insert("GATEHOUSE_REDIS_PREFIX".into(), format!("gh-test-{}:", uuid::Uuid::new_v4().simple()));
        }
    }
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let settings = Settings::from_sources(None, &env).expect("settings");
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = Application::build_with_clock(settings, clock.clone() as Arc<dyn Clock>).await.expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp { base, http: reqwest::Client::new(), clock, state, _dir: dir }
}

/// With `GATEHOUSE_TEST_BACKEND=postgres`, every test gets a fresh PostgreSQL database
/// (named `gh_api_<uuid>`) on the server at `GATEHOUSE_TEST_DATABASE_URL`.
async fn postgres_database() -> Option<String> {
    if std::env::var("GATEHOUSE_TEST_BACKEND").as_deref() != Ok("postgres") {
        return None;
    }
    let admin_url = std::env::var("GATEHOUSE_TEST_DATABASE_URL")
        .expect("GATEHOUSE_TEST_BACKEND=postgres needs GATEHOUSE_TEST_DATABASE_URL");
    let db = format!("gh_api_{}", uuid::Uuid::new_v4().simple());
    let admin = gatehouse_store::SqlStore::connect(&admin_url, 1).await.expect("postgres reachable");
    admin.execute_raw(&format!("CREATE DATABASE {db}")).await.expect("create database");
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').expect("URL with a database");
    Some(format!("{base}/{db}"))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Response {
        let body: String = form_urlencoded(pairs);
        self.http
            .post(self.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn login(&self, username: &str, password: &str, scope: Option<&str>) -> Response {
        let mut pairs = vec![("grant_type", "password"), ("username", username), ("password", password)];
        if let Some(s) = scope {
            pairs.push(("scope", s));
        }
        self.post_form("/token", &pairs).await
    }

    /// Logs in and returns the token response body; panics unless 200.
    pub async fn tokens(&self, username: &str, password: &str, scope: Option<&str>) -> Value {
        let r = self.login(username, password, scope).await;
        assert_eq!(r.status(), StatusCode::OK, "login of {username} failed");
        r.json().await.expect("json")
    }

    pub async fn admin_token(&self) -> String {
        self.tokens("admin", ADMIN_PASSWORD, None).await["access_token"].as_str().expect("token").to_owned()
    }

    pub async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> Response {
        let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
        if let Some(s) = scope {
            pairs.push(("scope", s));
        }
        self.post_form("/token", &pairs).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut r = self.http.get(self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    pub async fn send_json(&self, method: reqwest::Method, path: &str, token: &str, body: &Value) -> Response {
        self.http.request(method, self.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.http.delete(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    pub async fn post_empty(&self, path: &str, token: &str) -> Response {
        self.http.post(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    /// Creates a user through the admin API; returns its JSON.
    pub async fn create_user(&self, admin: &str, username: &str, roles: &[&str]) -> Value {
        let r = self
            .send_json(
                reqwest::Method::POST,
                "/admin/users",
                admin,
                &json!({"username": username, "password": PASSWORD, "roles": roles}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "creating {username}");
        r.json().await.expect("json")
    }
}

pub fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes a JWT segment (0 = header, 1 = claims) without verifying.
pub fn jwt_part(token: &str, i: usize) -> Value {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    let seg = token.split('.').nth(i).expect("segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg).expect("b64")).expect("json")
}

pub fn www_auth(r: &Response) -> String {
    r.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}
