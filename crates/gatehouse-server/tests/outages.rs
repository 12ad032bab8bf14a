//! Outages and recovery, with real processes (docs/DEPLOYMENT.md, "When a dependency is down").
//!
//! - Redis: two gatehouse instances on one PostgreSQL share a `redis-server` this test starts
//!   and kills. While it is down: `/readyz` 503 naming redis, logins fail closed (503 +
//!   `Retry-After`), issued tokens keep working, a logout still ends its token here. When it
//!   returns on the same port: ready again, logins work, the revocation made during the outage
//!   reaches the other instance (resync from the database on reconnect), fan-out is live again.
//! - PostgreSQL: one instance on a throw-away cluster (`initdb` + `postgres` as child processes,
//!   run as the `postgres` user when the test runs as root) that is stopped and started again.
//!   While it is down: `/readyz` 503 naming the database, data endpoints and logins 503 +
//!   `Retry-After` in the documented error shapes (never 500), token verification still refuses
//!   revoked and forged tokens from memory, JWKS and discovery keep answering. After restart:
//!   everything works again without restarting gatehouse.
//!
//! Needs GATEHOUSE_TEST_DATABASE_URL (CI sets it) plus `redis-server` / the PostgreSQL server
//! binaries; otherwise each test prints why it is skipped. Every child process is killed by a
//! Drop guard, every wait is bounded.
#![allow(clippy::unwrap_used, missing_docs)]

use std::{
    fs::File,
    io::{Read as _, Write as _},
    net::TcpStream,
    os::unix::{fs::MetadataExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{header::HeaderMap, RequestBuilder, StatusCode};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const ADMIN_PW: &str = "outage admin passphrase";
/// Bound on each whole test: a hang fails the test (and the guards clean up) instead of wedging CI.
const TEST_BUDGET: Duration = Duration::from_secs(120);

// ------------------------------------------------------------------------------------------
// Skips

fn database_url(test: &str) -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("SKIPPED {test}: set GATEHOUSE_TEST_DATABASE_URL to run the outage tests (CI sets it)");
            None
        }
    }
}

/// `name` in a directory of `PATH`, then in `extra` directories.
fn find_binary(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(extra.iter().cloned()).map(|d| d.join(name)).find(|p| p.is_file())
}

// ------------------------------------------------------------------------------------------
// Processes

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits for `child` at most `limit`; kills it if it is still running then.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A running gatehouse; killed on drop.
struct Gatehouse {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gatehouse {
    async fn start(dir: &Path, name: &str, env: &[(&str, String)]) -> Self {
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env_clear()
            .env("GATEHOUSE_BIND", format!("127.0.0.1:{port}"))
            .env("GATEHOUSE_DATA_DIR", dir)
            .env("GATEHOUSE_ISSUER", "http://gatehouse.test")
            .env("GATEHOUSE_AUDIENCE", "api")
            .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PW)
            .env("GATEHOUSE_ARGON2_MEMORY_KIB", "1024")
            .env("GATEHOUSE_ARGON2_ITERATIONS", "1")
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut g = Self { child: cmd.spawn().unwrap(), base: format!("http://127.0.0.1:{port}"), log };
        let http = client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", g.base)).send().await {
                if r.status() == 200 {
                    return g;
                }
            }
            if let Ok(Some(s)) = g.child.try_wait() {
                panic!("{name} exited during start-up ({s}):\n{}", tail(&g.log));
            }
            assert!(Instant::now() < deadline, "{name} not ready after 30 s:\n{}", tail(&g.log));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process is still up and never panicked.
    fn assert_healthy(&mut self) {
        assert!(matches!(self.child.try_wait(), Ok(None)), "gatehouse exited:\n{}", tail(&self.log));
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(!log.contains("panicked"), "gatehouse panicked:\n{}", tail(&self.log));
    }
}

/// A `redis-server` on a fixed port (so it can come back where the instances expect it),
/// without persistence; killed on drop.
struct RedisServer {
    bin: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl RedisServer {
    fn start(bin: PathBuf, port: u16, dir: &Path) -> Self {
        let mut r = Self { bin, port, dir: dir.to_owned(), child: None };
        r.restart();
        r
    }

    fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server already running");
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.pong() {
            assert!(Instant::now() < deadline, "redis-server on :{} did not answer PING in 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pong(&self) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_millis(200))
        else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// SIGKILL: the abrupt way Redis goes away (crash, OOM kill, network loss).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A throw-away PostgreSQL cluster in a temporary directory. Stopped (fast shutdown, then
/// SIGKILL if need be) on drop; the directory goes with it.
struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// uid/gid to run as (`postgres` refuses to run as root).
    owner: Option<(u32, u32)>,
    child: Option<Child>,
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn id_of(flag: &str, user: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, user]).output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok().filter(|_| out.status.success())
}

impl PgCluster {
    /// `initdb` into a fresh directory; `Err` says why the test cannot run here.
    fn init() -> Result<Self, String> {
        let mut extra: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin")).collect())
            .unwrap_or_default();
        extra.sort();
        extra.reverse(); // newest major version first
        let initdb = find_binary("initdb", &extra).ok_or("no `initdb` on PATH or under /usr/lib/postgresql")?;
        let bin = initdb.parent().unwrap().to_owned();
        if !bin.join("postgres").is_file() {
            return Err(format!("no `postgres` next to {}", initdb.display()));
        }
        let running_as_root = std::fs::metadata("/proc/self").map_or(true, |m| m.uid() == 0);
        let owner = if running_as_root {
            match (id_of("-u", "postgres"), id_of("-g", "postgres")) {
                (Some(u), Some(g)) => Some((u, g)),
                _ => return Err("running as root and there is no `postgres` user to run initdb as".into()),
            }
        } else {
            None
        };
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        if let Some((u, g)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(u), Some(g)).map_err(|e| format!("chown temp dir: {e}"))?;
        }
        let mut cmd = Command::new(&initdb);
        cmd.arg("-D")
            .arg(dir.path().join("data"))
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(File::create(dir.path().join("initdb.log")).map_err(|e| e.to_string())?);
        if let Some((u, g)) = owner {
            cmd.uid(u).gid(g);
        }
        let mut child = cmd.spawn().map_err(|e| format!("initdb: {e}"))?;
        match wait_bounded(&mut child, Duration::from_secs(60)) {
            Some(s) if s.success() => {}
            other => return Err(format!("initdb failed ({other:?}):\n{}", tail(&dir.path().join("initdb.log")))),
        }
        Ok(Self { bin, dir, port: free_port(), owner, child: None })
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server on its port and waits until it accepts queries.
    async fn start(&mut self) {
        assert!(self.child.is_none(), "postgres already running");
        let log = File::options().create(true).append(true).open(self.dir.path().join("postgres.log")).unwrap();
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .arg("-k")
            .arg(self.dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some((u, g)) = self.owner {
            cmd.uid(u).gid(g);
        }
        self.child = Some(cmd.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(s) = gatehouse_store::SqlStore::connect(&self.url(), 1).await {
                let ok = s.ping().await.is_ok();
                s.close().await;
                if ok {
                    return;
                }
            }
            if let Some(Ok(Some(s))) = self.child.as_mut().map(Child::try_wait) {
                panic!("postgres exited ({s}):\n{}", tail(&self.dir.path().join("postgres.log")));
            }
            assert!(Instant::now() < deadline, "postgres not up after 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Fast shutdown (SIGINT: clients are disconnected at once), SIGKILL after 15 s.
    fn stop(&mut self) {
        let Some(mut c) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-INT", &c.id().to_string()]).status();
        if wait_bounded(&mut c, Duration::from_secs(15)).is_none() {
            eprintln!("postgres did not stop in 15 s; killed");
        }
    }
}

// ------------------------------------------------------------------------------------------
// HTTP

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap()
}

/// What a client sees.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// 503 with a `Retry-After` of at least one second.
    fn assert_unavailable(&self, what: &str) {
        assert_eq!(self.status, 503, "{what}: {self:?}");
        let secs: u64 = self.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or(0);
        assert!(secs >= 1, "{what}: no Retry-After: {self:?}");
    }

    /// 503 + `Retry-After` in the API error shape `{"error","detail","request_id"}`.
    fn assert_api_unavailable(&self, what: &str) {
        self.assert_unavailable(what);
        assert_eq!(self.body["error"], "unavailable", "{what}: {self:?}");
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {self:?}");
        assert_eq!(self.body["request_id"].as_str(), self.header("x-request-id"), "{what}: {self:?}");
    }

    /// 503 + `Retry-After` in the RFC 6749 shape, not cacheable.
    fn assert_oauth_unavailable(&self, what: &str) {
        self.assert_unavailable(what);
        assert_eq!(self.body["error"], "temporarily_unavailable", "{what}: {self:?}");
        assert!(self.body["error_description"].is_string(), "{what}: {self:?}");
        assert_eq!(self.header("cache-control"), Some("no-store"), "{what}: {self:?}");
    }
}

/// Sends `req`; a 5xx other than 503 fails the test wherever it happens.
async fn call(req: RequestBuilder) -> Reply {
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    let reply = Reply { status, headers, body };
    assert!(!status.is_server_error() || status == 503, "a 5xx other than 503: {reply:?} {text}");
    reply
}

fn form(http: &reqwest::Client, url: String, body: String) -> RequestBuilder {
    http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body)
}

async fn login(http: &reqwest::Client, g: &Gatehouse, user: &str, pw: &str) -> Reply {
    let body = format!("grant_type=password&username={user}&password={}", pw.replace(' ', "+"));
    call(form(http, g.url("/token"), body)).await
}

/// Logs in as admin; the access token.
async fn admin_token(http: &reqwest::Client, g: &Gatehouse) -> String {
    let r = login(http, g, "admin", ADMIN_PW).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["access_token"].as_str().unwrap().to_owned()
}

async fn me(http: &reqwest::Client, g: &Gatehouse, token: &str) -> Reply {
    call(http.get(g.url("/users/me")).bearer_auth(token)).await
}

async fn readyz(http: &reqwest::Client, g: &Gatehouse) -> Reply {
    call(http.get(g.url("/readyz"))).await
}

/// Polls until `pred` holds for `/readyz`; returns that reply. Fails after `limit`.
async fn ready_until(http: &reqwest::Client, g: &Gatehouse, limit: Duration, pred: impl Fn(&Reply) -> bool) -> Reply {
    let start = Instant::now();
    loop {
        let r = readyz(http, g).await;
        if pred(&r) {
            return r;
        }
        assert!(start.elapsed() < limit, "/readyz still {r:?} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `/users/me` with `token` until it is refused (401); how long that took.
async fn time_until_refused(http: &reqwest::Client, g: &Gatehouse, token: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let r = me(http, g, token).await;
        if r.status == 401 {
            return start.elapsed();
        }
        assert_eq!(r.status, 200, "{r:?}");
        assert!(start.elapsed() < limit, "token still accepted after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A fresh database on the test server (dropped at the end of a passing test; `gh_api_*`
/// leftovers of failed runs are dropped by scripts/pg-drop-test-dbs.sh).
struct ScratchDb {
    admin: gatehouse_store::SqlStore,
    name: String,
    url: String,
}

impl ScratchDb {
    async fn create(server_url: &str) -> Self {
        let name = format!("gh_api_{}", uuid::Uuid::new_v4().simple());
        let admin = gatehouse_store::SqlStore::connect(server_url, 1).await.unwrap();
        admin.execute_raw(&format!("CREATE DATABASE {name}")).await.unwrap();
        let url = format!("{}/{name}", server_url.rsplit_once('/').unwrap().0);
        Self { admin, name, url }
    }

    async fn drop_db(self) {
        self.admin.execute_raw(&format!("DROP DATABASE {} WITH (FORCE)", self.name)).await.unwrap();
        self.admin.close().await;
    }
}

// ------------------------------------------------------------------------------------------
// Redis

#[tokio::test]
async fn redis_outage_fails_logins_closed_keeps_tokens_and_resyncs_on_return() {
    const NAME: &str = "redis_outage_fails_logins_closed_keeps_tokens_and_resyncs_on_return";
    let Some(pg) = database_url(NAME) else { return };
    let Some(redis_bin) = find_binary("redis-server", &[]) else {
        eprintln!("SKIPPED {NAME}: no `redis-server` on PATH");
        return;
    };
    tokio::time::timeout(TEST_BUDGET, redis_outage(pg, redis_bin)).await.expect("test exceeded its time budget");
}

async fn redis_outage(pg: String, redis_bin: PathBuf) {
    let db = ScratchDb::create(&pg).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut redis = RedisServer::start(redis_bin, port, dir.path());
    let env = [
        ("GATEHOUSE_DATABASE_URL", db.url.clone()),
        ("GATEHOUSE_REDIS_URL", format!("redis://127.0.0.1:{port}")),
        ("GATEHOUSE_REDIS_PREFIX", format!("gh-test-{}:", uuid::Uuid::new_v4().simple())),
        // No periodic resync during the test: a revocation can reach the other instance
        // only through Redis — live, or by the resync when the subscription comes back.
        ("GATEHOUSE_KEY_RELOAD_SECS", "3600".to_owned()),
    ];
    let mut a = Gatehouse::start(dir.path(), "a", &env).await;
    let mut b = Gatehouse::start(dir.path(), "b", &env).await;
    let http = client();

    let kept = admin_token(&http, &a).await;
    let victim = admin_token(&http, &a).await;
    for g in [&a, &b] {
        assert_eq!(me(&http, g, &kept).await.status, 200);
        assert_eq!(me(&http, g, &victim).await.status, 200);
    }

    // ---- Redis goes away.
    redis.kill();
    let down = Instant::now();
    for g in [&a, &b] {
        let r = ready_until(&http, g, Duration::from_secs(10), |r| r.status == 503).await;
        r.assert_unavailable("/readyz");
        assert_eq!(r.body["checks"]["redis"], "down", "{r:?}");
        assert_eq!(r.body["checks"]["database"], "ok", "{r:?}");
    }
    // Logins fail closed: throttling cannot be enforced, so no password is even checked.
    login(&http, &a, "admin", ADMIN_PW).await.assert_oauth_unavailable("login on A");
    login(&http, &b, "admin", "a wrong guess").await.assert_oauth_unavailable("failed login on B");
    let r =
        call(form(&http, a.url("/session"), format!("username=admin&password={}", ADMIN_PW.replace(' ', "+")))).await;
    r.assert_api_unavailable("browser login");
    // RFC 7009 revocation is rate-limited through Redis too, so it fails closed as well…
    let r = call(form(&http, a.url("/token/revoke"), format!("token={victim}"))).await;
    r.assert_oauth_unavailable("/token/revoke");
    // …while issued tokens keep working on both instances (verification is local).
    for g in [&a, &b] {
        let r = me(&http, g, &kept).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["username"], "admin");
    }
    // A logout still ends its token here (database + memory); the other instance cannot hear
    // of it until Redis is back.
    let r = call(http.post(a.url("/logout")).bearer_auth(&victim)).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(me(&http, &a, &victim).await.status, 401);
    assert_eq!(me(&http, &b, &victim).await.status, 200, "B cannot know yet: nothing carries the revocation");

    // ---- Redis returns on the same port (empty: no persistence).
    redis.restart();
    eprintln!("redis was down for {:?}", down.elapsed());
    let back = Instant::now();
    for g in [&a, &b] {
        ready_until(&http, g, Duration::from_secs(15), |r| r.status == 200).await;
    }
    eprintln!("both instances ready {:?} after redis returned", back.elapsed());
    // The resync on reconnect applies what was missed.
    time_until_refused(&http, &b, &victim, Duration::from_secs(15)).await;
    eprintln!("revocation made during the outage refused on B {:?} after redis returned", back.elapsed());
    // Logins work again, on both.
    let fresh = admin_token(&http, &b).await;
    admin_token(&http, &a).await;
    // Live fan-out works again: revoked on A, refused on B within a second.
    assert_eq!(me(&http, &b, &fresh).await.status, 200);
    let r = call(form(&http, a.url("/token/revoke"), format!("token={fresh}"))).await;
    assert_eq!(r.status, 200, "{r:?}");
    let took = time_until_refused(&http, &b, &fresh, Duration::from_secs(5)).await;
    eprintln!("after recovery: revoke on A -> refused on B in {took:?}");
    assert!(took < Duration::from_secs(1), "fan-out after recovery took {took:?}");
    assert_eq!(me(&http, &b, &kept).await.status, 200, "unrelated tokens unaffected");

    a.assert_healthy();
    b.assert_healthy();
    drop((a, b));
    db.drop_db().await;
}

// ------------------------------------------------------------------------------------------
// PostgreSQL

#[tokio::test]
async fn postgres_outage_answers_503_keeps_verifying_and_recovers() {
    const NAME: &str = "postgres_outage_answers_503_keeps_verifying_and_recovers";
    if database_url(NAME).is_none() {
        return;
    }
    let cluster = match PgCluster::init() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("SKIPPED {NAME}: cannot run a throw-away PostgreSQL here: {why}");
            return;
        }
    };
    tokio::time::timeout(TEST_BUDGET, postgres_outage(cluster)).await.expect("test exceeded its time budget");
}

async fn postgres_outage(mut pg: PgCluster) {
    pg.start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("GATEHOUSE_DATABASE_URL", pg.url()), ("GATEHOUSE_DB_MAX_CONNECTIONS", "4".to_owned())];
    let mut g = Gatehouse::start(dir.path(), "pg", &env).await;
    let http = client();

    let kept = admin_token(&http, &g).await;
    let revoked = admin_token(&http, &g).await;
    let r = call(http.post(g.url("/logout")).bearer_auth(&revoked)).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(me(&http, &g, &kept).await.status, 200);
    let users = call(http.get(g.url("/admin/users")).bearer_auth(&kept)).await;
    assert_eq!(users.status, 200, "{users:?}");

    // ---- PostgreSQL goes away (fast shutdown: every connection is closed).
    pg.stop();
    let down = Instant::now();
    let r = ready_until(&http, &g, Duration::from_secs(10), |r| r.status == 503).await;
    r.assert_unavailable("/readyz");
    assert_eq!(r.body["checks"]["database"], "down", "{r:?}");
    // The requests that need the database wait at most the pool's acquire timeout, so run
    // them side by side.
    let forged = {
        // One character in the middle of the signature changed.
        let mut t = kept.clone().into_bytes();
        let i = kept.rfind('.').unwrap() + 20;
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    };
    let (me_kept, login_r, admin_r, me_revoked, me_forged, jwks, meta, health) = tokio::join!(
        me(&http, &g, &kept),
        login(&http, &g, "admin", ADMIN_PW),
        call(http.get(g.url("/admin/users")).bearer_auth(&kept)),
        me(&http, &g, &revoked),
        me(&http, &g, &forged),
        call(http.get(g.url("/.well-known/jwks.json"))),
        call(http.get(g.url("/.well-known/openid-configuration"))),
        call(http.get(g.url("/healthz"))),
    );
    eprintln!("database outage checks answered {:?} after the stop", down.elapsed());
    // Data endpoints: 503 + Retry-After in the error shape, never 500 …
    admin_r.assert_api_unavailable("/admin/users");
    // … except what is answered from memory: the caller's profile (read before the outage)
    // and the role graph.
    assert_eq!(me_kept.status, 200, "/users/me from the user cache: {me_kept:?}");
    assert_eq!(me_kept.body["username"], "admin");
    login_r.assert_oauth_unavailable("login");
    // Verification needs no database: revoked and forged tokens are still refused (401, not 503).
    for (what, r) in [("revoked token", &me_revoked), ("forged token", &me_forged)] {
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert!(r.header("www-authenticate").is_some_and(|h| h.contains("invalid_token")), "{what}: {r:?}");
    }
    // Resource servers keep verifying: the JWKS is served from memory.
    assert_eq!(jwks.status, 200, "{jwks:?}");
    assert!(jwks.body["keys"].as_array().is_some_and(|k| !k.is_empty()), "{jwks:?}");
    // Discovery lists `scopes_supported` from the role graph, last known while the database is away.
    assert_eq!(meta.status, 200, "{meta:?}");
    assert!(meta.body["scopes_supported"].as_array().is_some_and(|s| s.contains(&json!("admin"))), "{meta:?}");
    assert_eq!(health.status, 200, "{health:?}");
    g.assert_healthy();

    // ---- PostgreSQL returns; gatehouse reconnects by itself.
    pg.start().await;
    let back = Instant::now();
    let r = ready_until(&http, &g, Duration::from_secs(15), |r| r.status == 200).await;
    assert_eq!(r.body["checks"], json!({"database": "ok"}));
    eprintln!("ready {:?} after the database returned", back.elapsed());
    let r = me(&http, &g, &kept).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["username"], "admin");
    assert_eq!(me(&http, &g, &revoked).await.status, 401, "still revoked");
    let fresh = admin_token(&http, &g).await;
    let r = call(http.get(g.url("/admin/users")).bearer_auth(&fresh)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["items"], users.body["items"], "same data after the restart");
    g.assert_healthy();
}
