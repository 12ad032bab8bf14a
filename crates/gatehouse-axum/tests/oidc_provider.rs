//! Interop with an identity provider nobody here wrote: the npm package `oidc-provider` (v8,
//! the certified OpenID Connect provider for Node) issues JWT access tokens by client
//! credentials and resource indicators; `JwksAuthenticator` verifies them through discovery.
//!
//! Needs `node` and `npm` and the npm registry; otherwise the test prints `SKIPPED: …` and
//! passes. The package is installed once under Cargo's `CARGO_TARGET_TMPDIR` and reused.

#![allow(clippy::unwrap_used)]

use std::{
    fs,
    io::{Read, Seek, SeekFrom, Write as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    routing::get,
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use gatehouse_axum::{jwks::JwksAuthenticator, scopes, AuthError, AuthState, Scoped, Subject};
use gatehouse_core::{Clock, ManualClock, SystemClock};
use serde_json::Value;
use tower::ServiceExt;

const PACKAGE: &str = "oidc-provider@8";
const AUDIENCE: &str = "urn:gatehouse:test-api";
const CLIENT_ID: &str = "reporting-service";
const CLIENT_SECRET: &str = "a-client-secret-that-is-long-enough-for-hs256-0123456789";

/// The provider: one confidential client (client credentials only), one resource server
/// whose access tokens are RS256 JWTs. A fresh RSA key (random `kid`) on every start.
const PROVIDER_JS: &str = r#"
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT);
const audience = process.env.OP_AUDIENCE;
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [{
    client_id: process.env.OP_CLIENT_ID,
    client_secret: process.env.OP_CLIENT_SECRET,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: 'api:read',
  }],
  scopes: ['api:read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api:read',
        audience,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`READY ${issuer} kid=${jwk.kid}`));
"#;

scopes! {
    /// What the resource server requires.
    pub ApiRead = ["api:read"];
}

/// Runs a command to completion within `limit`, output to `log`.
fn run_bounded(cmd: &mut Command, limit: Duration, log: &Path) -> Result<(), String> {
    let out = fs::File::create(log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("{:?} exited with {status}: {}", cmd.get_program(), tail(log)))
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{:?} did not finish within {limit:?}", cmd.get_program()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tail(log: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(log) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(1500)));
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// Installs `oidc-provider` once into a cache directory; `Err` says why it cannot be used.
fn install_provider() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oidc-provider-v8");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let probe = dir.join("probe.log");
    run_bounded(Command::new("node").arg("--version"), Duration::from_secs(30), &probe)
        .map_err(|e| format!("node is not available ({e})"))?;
    run_bounded(Command::new("npm").arg("--version"), Duration::from_secs(30), &probe)
        .map_err(|e| format!("npm is not available ({e})"))?;
    let marker = dir.join("installed.ok");
    if !marker.exists() {
        run_bounded(
            Command::new("npm")
                .args(["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error"])
                .args(["--fetch-retries=2", "--fetch-timeout=60000"])
                .arg("--prefix")
                .arg(&dir)
                .arg(PACKAGE)
                .current_dir(&dir),
            Duration::from_secs(300),
            &dir.join("npm-install.log"),
        )
        .map_err(|e| format!("`npm install {PACKAGE}` failed: {e}"))?;
        fs::write(&marker, PACKAGE).map_err(|e| e.to_string())?;
    }
    fs::write(dir.join("provider.mjs"), PROVIDER_JS).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// A running provider; killed on drop.
struct NodeProvider {
    child: Child,
    log: PathBuf,
}

impl Drop for NodeProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProvider {
    async fn start(dir: &Path, port: u16, run: u32) -> NodeProvider {
        let log = dir.join(format!("provider-{port}-{run}.log"));
        let out = fs::File::create(&log).unwrap();
        let child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(dir)
            .env("OP_PORT", port.to_string())
            .env("OP_AUDIENCE", AUDIENCE)
            .env("OP_CLIENT_ID", CLIENT_ID)
            .env("OP_CLIENT_SECRET", CLIENT_SECRET)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawning node");
        let mut p = NodeProvider { child, log };
        let url = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!("oidc-provider exited with {status}: {}", tail(&p.log));
            }
            if let Ok(res) = http.get(&url).timeout(Duration::from_secs(2)).send().await {
                if res.status().is_success() {
                    return p;
                }
            }
            assert!(Instant::now() < deadline, "oidc-provider did not come up: {}", tail(&p.log));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn client_credentials_token(issuer: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "api:read"), ("resource", AUDIENCE)])
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().unwrap().to_owned()
}

fn header_of(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

fn with_kid(token: &str, kid: &str) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    let mut h = header_of(token);
    h["kid"] = kid.into();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(h.to_string()))
}

fn reason(r: Result<impl std::fmt::Debug, AuthError>) -> &'static str {
    match r {
        Err(AuthError::Invalid { reason }) => reason,
        other => panic!("expected an invalid-token error, got {other:?}"),
    }
}

async fn status_of(auth: &JwksAuthenticator, token: &str) -> StatusCode {
    let app: Router = Router::new()
        .route("/reports", get(|u: Scoped<ApiRead>| async move { u.subject.to_string() }))
        .with_state(AuthState::new(Arc::new(auth.clone())));
    app.oneshot(
        Request::get("/reports").header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap(),
    )
    .await
    .unwrap()
    .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_oidc_provider_verify_through_discovery() {
    let started = Instant::now();
    let dir = match tokio::task::spawn_blocking(install_provider).await.unwrap() {
        Ok(dir) => dir,
        Err(why) => {
            // Straight to stderr: libtest would swallow `eprintln!` of a passing test.
            let _ = writeln!(std::io::stderr(), "SKIPPED: oidc-provider interop test: {why}");
            return;
        }
    };
    let installed = started.elapsed();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    let provider = NodeProvider::start(&dir, port, 1).await;
    let first_start = t.elapsed();

    let token = client_credentials_token(&issuer).await;
    let h = header_of(&token);
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["typ"], "at+jwt", "oidc-provider sends RFC 9068 tokens");

    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let auth = JwksAuthenticator::builder(&issuer).audience(AUDIENCE).clock(clock.clone()).build().unwrap();

    // Accepted, through discovery + JWKS, and mapped to a principal.
    let p = auth.verify(&token).await.unwrap();
    assert_eq!(p.subject, Subject::Other(CLIENT_ID.into()));
    assert_eq!(p.client_id, CLIENT_ID);
    assert!(p.scopes.contains("api:read"), "{:?}", p.scopes);
    assert_eq!(status_of(&auth, &token).await, StatusCode::OK);

    // A verifier for another audience refuses it.
    let other = JwksAuthenticator::builder(&issuer).audience("urn:someone-else").clock(clock.clone()).build().unwrap();
    assert_eq!(reason(other.verify(&token).await), "invalid_audience");
    drop(other);

    // A kid the provider never published.
    let forged = with_kid(&token, "kid-nobody-published");
    assert_eq!(reason(auth.verify(&forged).await), "unknown_key");
    assert_eq!(status_of(&auth, &forged).await, StatusCode::UNAUTHORIZED);

    // Key rotation: the provider restarts with a new key on the same issuer URL.
    drop(provider);
    let t = Instant::now();
    let _provider = NodeProvider::start(&dir, port, 2).await;
    let second_start = t.elapsed();
    let rotated = client_credentials_token(&issuer).await;
    assert_ne!(header_of(&rotated)["kid"], h["kid"], "the provider did not rotate");

    // Past the rate-limit window, the unknown kid triggers one refresh and is accepted...
    clock.advance(11);
    let p = auth.verify(&rotated).await.unwrap();
    assert_eq!(p.subject, Subject::Other(CLIENT_ID.into()));
    assert_eq!(status_of(&auth, &rotated).await, StatusCode::OK);
    // ...and the old token, whose key the provider no longer publishes, is refused.
    assert_eq!(reason(auth.verify(&token).await), "unknown_key");
    assert_eq!(status_of(&auth, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(auth.key_ids(), [h_kid(&rotated)]);

    eprintln!(
        "oidc-provider interop: install/cache check {installed:?}, first start {first_start:?}, \
         restart {second_start:?}, total {:?}",
        started.elapsed()
    );
}

fn h_kid(token: &str) -> String {
    header_of(token)["kid"].as_str().unwrap().to_owned()
}
