//! Several instances on one PostgreSQL and one Redis: tokens work across instances,
//! revocation reaches the other instance within a second, throttling is shared, and a
//! refresh token raced on two instances has exactly one winner.
//! Needs GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL (CI sets both).
#![allow(clippy::unwrap_used, missing_docs)]

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const ADMIN_PW: &str = "scale-out admin passphrase";
const USER_PW: &str = "scale-out user passphrase";

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(db: &str, redis: &str, prefix: &str, dir: &std::path::Path) -> Instance {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("GATEHOUSE_BIND", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_DATA_DIR", dir)
        .env("GATEHOUSE_DATABASE_URL", db)
        .env("GATEHOUSE_REDIS_URL", redis)
        .env("GATEHOUSE_REDIS_PREFIX", prefix)
        .env("GATEHOUSE_ISSUER", "http://gatehouse.test")
        .env("GATEHOUSE_AUDIENCE", "api")
        .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PW)
        .env("GATEHOUSE_ARGON2_MEMORY_KIB", "1024")
        .env("GATEHOUSE_ARGON2_ITERATIONS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let inst = Instance { child, base: format!("http://127.0.0.1:{port}") };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{}/readyz", inst.base)).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "instance did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    inst
}

async fn login(http: &reqwest::Client, base: &str, user: &str, pw: &str) -> reqwest::Response {
    http.post(format!("{base}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=password&username={user}&password={}", pw.replace(' ', "+")))
        .send()
        .await
        .unwrap()
}

/// Polls `base/users/me` with `token` until it is refused; returns how long that took.
async fn time_until_refused(http: &reqwest::Client, base: &str, token: &str) -> Duration {
    let start = Instant::now();
    loop {
        let s = http.get(format!("{base}/users/me")).bearer_auth(token).send().await.unwrap().status();
        if s == 401 {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "never refused on the other instance");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn two_instances_share_tokens_revocations_throttling_and_refresh_rotation() {
    let (Ok(pg), Ok(redis)) = (std::env::var("GATEHOUSE_TEST_DATABASE_URL"), std::env::var("GATEHOUSE_TEST_REDIS_URL"))
    else {
        eprintln!("SKIPPED two_instances_…: set GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL to run it");
        return;
    };
    let dbname = format!("gh_api_{}", uuid::Uuid::new_v4().simple());
    let admin_db = gatehouse_store::SqlStore::connect(&pg, 1).await.unwrap();
    admin_db.execute_raw(&format!("CREATE DATABASE {dbname}")).await.unwrap();
    let db = format!("{}/{dbname}", pg.rsplit_once('/').unwrap().0);
    let prefix = format!("gh-test-{}:", uuid::Uuid::new_v4().simple());
    let dir = tempfile::tempdir().unwrap();
    let a = start(&db, &redis, &prefix, dir.path()).await;
    let b = start(&db, &redis, &prefix, dir.path()).await;
    let http = reqwest::Client::new();

    // A token from A works on B.
    let t: Value = login(&http, &a.base, "admin", ADMIN_PW).await.json().await.unwrap();
    let admin = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(http.get(format!("{}/users/me", b.base)).bearer_auth(&admin).send().await.unwrap().status(), 200);

    // Revoked on A → refused on B within a second.
    let victim: Value = login(&http, &a.base, "admin", ADMIN_PW).await.json().await.unwrap();
    let victim_at = victim["access_token"].as_str().unwrap().to_owned();
    assert_eq!(http.get(format!("{}/users/me", b.base)).bearer_auth(&victim_at).send().await.unwrap().status(), 200);
    let r = http
        .post(format!("{}/token/revoke", a.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={victim_at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let took = time_until_refused(&http, &b.base, &victim_at).await;
    eprintln!("revoke on A -> refused on B after {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // Disabling a user on B ends their token on A.
    let r = http
        .post(format!("{}/admin/users", b.base))
        .bearer_auth(&admin)
        .json(&json!({"username": "spread", "password": USER_PW}))
        .send()
        .await
        .unwrap();
    let uid = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let u: Value = login(&http, &a.base, "spread", USER_PW).await.json().await.unwrap();
    let user_at = u["access_token"].as_str().unwrap().to_owned();
    let user_rt = u["refresh_token"].as_str().unwrap().to_owned();

    // A refresh token raced on both instances: exactly one winner.
    let refresh = |base: String| {
        let (http, rt) = (http.clone(), user_rt.clone());
        async move {
            http.post(format!("{base}/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("grant_type=refresh_token&refresh_token={rt}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let (ra, rb) = tokio::join!(refresh(a.base.clone()), refresh(b.base.clone()));
    assert_eq!([ra, rb].iter().filter(|s| **s == 200).count(), 1, "A: {ra}, B: {rb}");

    tokio::time::sleep(Duration::from_millis(1100)).await; // a new second for the time-based void
    let r = http
        .patch(format!("{}/admin/users/{uid}", b.base))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let took = time_until_refused(&http, &a.base, &user_at).await;
    assert!(took < Duration::from_secs(1), "disable took {took:?}");

    // Failed logins spread over both instances are counted together.
    let mut throttled_at = None;
    for i in 0..20 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let s = login(&http, base, "admin", "wrong guess here").await.status();
        if s == 429 {
            throttled_at = Some(i + 1);
            break;
        }
    }
    let n = throttled_at.expect("never throttled across instances");
    assert!(n <= 11, "throttled only after {n} attempts");

    drop(a);
    drop(b);
    admin_db.execute_raw(&format!("DROP DATABASE {dbname} WITH (FORCE)")).await.unwrap();
}
