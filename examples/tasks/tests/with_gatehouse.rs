//! End to end, as two real processes: gatehouse issues tokens; tasks — told only gatehouse's
//! URL and its own audience — verifies them through discovery + JWKS.
//!
//! The gatehouse binary is the workspace's `target/<profile>/gatehouse` (next to the `tasks`
//! binary under test, so `CARGO_TARGET_DIR` is honoured); `cargo test --workspace` builds it.
//! If it is missing, this test builds it with `cargo build -p gatehouse-server --bin gatehouse`.

#![allow(clippy::unwrap_used)]

use std::{
    fs,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use gatehouse_axum::testing::TestKeys;
use gatehouse_core::Algorithm;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "e2e-Admin-pass-4f9c2b7d1e";
const AUDIENCE: &str = "tasks-api";

/// A child process, killed when dropped.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, logs: &Path) -> Proc {
        let log = logs.join(format!("{name}.log"));
        let out = fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", cmd.get_program()));
        Proc { name, child, log }
    }

    fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(3000)));
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Polls `url` until it answers 200, failing fast if the process exits.
    async fn wait_until_healthy(&mut self, http: &reqwest::Client, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited with {status}:\n{}", self.name, self.log_tail());
            }
            if let Ok(res) = http.get(url).send().await {
                if res.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "{} not healthy at {url} within 60 s:\n{}", self.name, self.log_tail());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `target/<profile>/gatehouse`, built if missing.
fn gatehouse_binary() -> PathBuf {
    let tasks = PathBuf::from(env!("CARGO_BIN_EXE_tasks"));
    let profile_dir = tasks.parent().unwrap();
    let bin = profile_dir.join(format!("gatehouse{}", std::env::consts::EXE_SUFFIX));
    if bin.exists() {
        return bin;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target_dir = profile_dir.parent().unwrap();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "-p", "gatehouse-server", "--bin", "gatehouse"])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(&workspace);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("running cargo build");
    assert!(status.success(), "building gatehouse failed: {status}");
    assert!(bin.exists(), "cargo build did not produce {}", bin.display());
    bin
}

/// Both services, and a client for each.
struct Stack {
    // Fields drop in order: the processes are killed before their directories go.
    procs: Vec<Proc>,
    http: reqwest::Client,
    gatehouse: String,
    tasks: String,
    logs: tempfile::TempDir,
    _data: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Stack {
    async fn start() -> Stack {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        let logs = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();

        let gh_port = free_port();
        let gatehouse = format!("http://127.0.0.1:{gh_port}");
        let mut cmd = Command::new(gatehouse_binary());
        // Hermetic: nothing from the caller's GATEHOUSE_* environment leaks in.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GATEHOUSE_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("serve")
            .env("GATEHOUSE_BIND", format!("127.0.0.1:{gh_port}"))
            .env("GATEHOUSE_DATA_DIR", data.path())
            .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("GATEHOUSE_AUDIENCE", AUDIENCE)
            .env("GATEHOUSE_ARGON2_MEMORY_KIB", "1024")
            .env("GATEHOUSE_ARGON2_ITERATIONS", "1");
        let mut gh = Proc::spawn("gatehouse", cmd, logs.path());
        gh.wait_until_healthy(&http, &format!("{gatehouse}/healthz")).await;

        let mut stack = Stack { http, gatehouse, tasks: String::new(), logs, _data: data, procs: vec![gh] };
        let (tasks, proc) = stack.spawn_tasks("tasks", AUDIENCE).await;
        stack.tasks = tasks;
        stack.procs.push(proc);
        stack
    }

    /// Starts a tasks process trusting this gatehouse. Its environment holds nothing but
    /// the three public settings: no key, no secret, no database.
    async fn spawn_tasks(&self, name: &'static str, audience: &str) -> (String, Proc) {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tasks"));
        cmd.env_clear()
            .env("TASKS_BIND", format!("127.0.0.1:{port}"))
            .env("TASKS_ISSUER", &self.gatehouse)
            .env("TASKS_AUDIENCE", audience)
            .env("RUST_LOG", "info");
        let mut proc = Proc::spawn(name, cmd, self.logs.path());
        proc.wait_until_healthy(&self.http, &format!("{url}/healthz")).await;
        (url, proc)
    }

    async fn call(&self, method: Method, url: String, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, headers, body }
    }

    async fn tasks(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.call(method, format!("{}{path}", self.tasks), token, body).await
    }

    async fn gatehouse(&self, method: Method, path: &str, token: &str, body: Value) -> Reply {
        self.call(method, format!("{}{path}", self.gatehouse), Some(token), Some(body)).await
    }

    /// Password grant at gatehouse's `/token`.
    async fn login(&self, username: &str, password: &str) -> String {
        let res = self
            .http
            .post(format!("{}/token", self.gatehouse))
            .form(&[("grant_type", "password"), ("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn create_user(&self, admin: &str, username: &str, password: &str, roles: &[&str]) -> Value {
        let mut body = json!({"username": username, "password": password});
        if !roles.is_empty() {
            body["roles"] = json!(roles);
        }
        let r = self.gatehouse(Method::POST, "/admin/users", admin, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "create {username}: {}", r.body);
        r.body
    }
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_trusts_gatehouse_through_discovery_and_jwks_only() {
    let stack = Stack::start().await;

    // --- gatehouse: a role with the tasks scopes, two users who have it, one who does not.
    let admin = stack.login("admin", ADMIN_PASSWORD).await;
    let role = stack
        .gatehouse(
            Method::PUT,
            "/admin/roles/tasker",
            &admin,
            json!({"scopes": ["tasks:read", "tasks:write"], "includes": ["user"]}),
        )
        .await;
    assert!(role.status.is_success(), "{} {}", role.status, role.body);
    let alice_pw = "alice-Tasks-e2e-pass-8d3f1a";
    let bob_pw = "bob-Tasks-e2e-pass-5c7e2b";
    let carol_pw = "carol-Tasks-e2e-pass-9a4d6f";
    let alice_user = stack.create_user(&admin, "alice", alice_pw, &["tasker"]).await;
    stack.create_user(&admin, "bob", bob_pw, &["tasker"]).await;
    stack.create_user(&admin, "carol", carol_pw, &[]).await;

    let alice = stack.login("alice", alice_pw).await;
    let bob = stack.login("bob", bob_pw).await;
    let carol = stack.login("carol", carol_pw).await;
    let alice_sub = claims(&alice)["sub"].as_str().unwrap().to_owned();
    assert_eq!(alice_sub, format!("user:{}", alice_user["id"].as_str().unwrap()));
    assert!(claims(&alice)["scope"].as_str().unwrap().contains("tasks:write"));

    // --- 401 without a usable token.
    let r = stack.tasks(Method::GET, "/tasks", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    assert_eq!(r.body["error"], "not_authenticated");
    assert!(r.body["detail"].is_string());
    let r = stack.tasks(Method::GET, "/tasks", Some("garbage"), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], r#"Bearer error="invalid_token""#);
    assert_eq!(r.body["error"], "invalid_token");

    // --- 403: carol authenticated fine but her token lacks the tasks scopes.
    for (method, path) in [(Method::GET, "/tasks"), (Method::POST, "/tasks")] {
        let r = stack.tasks(method, path, Some(&carol), Some(json!({"title": "nope"}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert_eq!(r.body["error"], "insufficient_scope");
        assert!(r.headers["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    }

    // --- create / list / get / delete, each user seeing only their own.
    let created = stack.tasks(Method::POST, "/tasks", Some(&alice), Some(json!({"title": "ship the example"}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["title"], "ship the example");
    assert_eq!(created.body["owner"], alice_sub.as_str());
    let id = created.body["id"].as_str().unwrap().to_owned();
    let bobs = stack.tasks(Method::POST, "/tasks", Some(&bob), Some(json!({"title": "bob's"}))).await;
    assert_eq!(bobs.status, StatusCode::CREATED);

    let list = stack.tasks(Method::GET, "/tasks", Some(&alice), None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"], json!([created.body]));
    let list = stack.tasks(Method::GET, "/tasks", Some(&bob), None).await;
    assert_eq!(list.body["items"], json!([bobs.body]));

    let got = stack.tasks(Method::GET, &format!("/tasks/{id}"), Some(&alice), None).await;
    assert_eq!((got.status, &got.body), (StatusCode::OK, &created.body));
    for method in [Method::GET, Method::DELETE] {
        let r = stack.tasks(method, &format!("/tasks/{id}"), Some(&bob), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "bob must not see alice's task");
        assert_eq!(r.body["error"], "not_found");
        assert!(r.body["detail"].is_string());
    }
    let r = stack.tasks(Method::POST, "/tasks", Some(&alice), Some(json!({"title": ""}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"], "validation_error");

    let del = stack.tasks(Method::DELETE, &format!("/tasks/{id}"), Some(&alice), None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = stack.tasks(Method::GET, &format!("/tasks/{id}"), Some(&alice), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(stack.tasks(Method::GET, "/tasks", Some(&alice), None).await.body["items"], json!([]));

    // --- No shared secret: tasks knows only public keys from gatehouse's JWKS. A token
    // with the right issuer, audience, scopes and type, signed by any other key, is refused.
    let jwks: Value = stack
        .http
        .get(format!("{}/.well-known/jwks.json", stack.gatehouse))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in jwks["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "JWKS leaks `{private}`");
        }
    }
    let forger = TestKeys::with_algorithm(Algorithm::RS256).with_issuer(&stack.gatehouse).with_audience(AUDIENCE);
    let forged = forger.mint(&alice_sub, &["tasks:read", "tasks:write"]);
    let r = stack.tasks(Method::GET, "/tasks", Some(&forged), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);

    // --- Audience pinning: a tasks instance for another audience refuses gatehouse's
    // tokens for this one.
    let (other_tasks, _other) = stack.spawn_tasks("tasks-other-audience", "another-api").await;
    let r = stack.call(Method::GET, format!("{other_tasks}/tasks"), Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["detail"].as_str().unwrap().contains("invalid_audience"), "{}", r.body);
    drop(stack);
}

#[test]
fn tasks_refuses_to_start_without_its_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_tasks")).env_clear().env("TASKS_AUDIENCE", "x").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TASKS_ISSUER"));

    let out = Command::new(env!("CARGO_BIN_EXE_tasks"))
        .env_clear()
        .env("TASKS_ISSUER", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TASKS_AUDIENCE"));
}
