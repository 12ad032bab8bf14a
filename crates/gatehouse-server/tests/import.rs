//! `gatehouse import`: the real binary imports users with hashes made by passlib, pwdlib,
//! bcrypt and Django (from the core crate's fixture vectors), reports bad rows, is
//! idempotent; then a server on the same data directory logs those users in with their
//! original passwords and upgrades their hashes to argon2id.
#![allow(clippy::unwrap_used, missing_docs)]

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Output, Stdio},
};

use gatehouse_core::username_key;
use gatehouse_server::{settings::Settings, startup::Application, state::AppState};
use reqwest::StatusCode;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const UPGRADED: &str = "$argon2id$v=19$m=1024,t=1,p=1$";

fn gatehouse(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATA_DIR", dir)
        .env("GATEHOUSE_ARGON2_MEMORY_KIB", "1024")
        .env("GATEHOUSE_ARGON2_ITERATIONS", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fixture vector: a hash made by a real Python library, and its password.
#[derive(Debug, Clone)]
struct Fixture {
    password: String,
    hash: String,
}

/// The first vector whose hash starts with `prefix` (and, if given, whose source mentions `source`).
fn fixture(prefix: &str, source: &str) -> Fixture {
    let doc: Value =
        serde_json::from_str(include_str!("../../gatehouse-core/tests/vectors/legacy_hashes.json")).unwrap();
    let v = doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["hash"].as_str().unwrap().starts_with(prefix) && v["source"].as_str().unwrap().contains(source))
        .unwrap_or_else(|| panic!("no vector {prefix} from {source}"));
    Fixture { password: v["password"].as_str().unwrap().to_owned(), hash: v["hash"].as_str().unwrap().to_owned() }
}

/// The users every test imports: (username, fixture).
fn legacy_users() -> Vec<(&'static str, Fixture)> {
    vec![
        ("bea-bcrypt", fixture("$2b$04$", "passlib")),
        ("pat-passlib", fixture("$pbkdf2-sha256$1000$", "passlib")),
        ("dj-django", fixture("pbkdf2_sha256$1000$", "Django")),
        ("pia-pwdlib", fixture("$argon2id$v=19$m=65536,t=3,p=4$", "pwdlib")),
        ("yves-bcrypt-2y", fixture("$2y$", "passlib")),
    ]
}

fn jsonl(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

/// A server on `dir`'s database, as `gatehouse serve` would run it.
struct Server {
    base: String,
    state: AppState,
    http: reqwest::Client,
}

async fn serve(dir: &Path) -> Server {
    let env: BTreeMap<String, String> = [
        ("GATEHOUSE_BIND", "127.0.0.1:0".to_owned()),
        ("GATEHOUSE_DATA_DIR", dir.display().to_string()),
        ("GATEHOUSE_ARGON2_MEMORY_KIB", "1024".to_owned()),
        ("GATEHOUSE_ARGON2_ITERATIONS", "1".to_owned()),
        ("GATEHOUSE_ADMIN_PASSWORD", "admin password for tests".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let app = Application::build(Settings::from_sources(None, &env).unwrap()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    Server { base, state, http: reqwest::Client::new() }
}

impl Server {
    async fn login(&self, username: &str, password: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/token", self.base))
            .form(&[("grant_type", "password"), ("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn stored_hash(&self, username: &str) -> String {
        self.state.store.user_by_key(&username_key(username)).await.unwrap().unwrap().password_hash
    }
}

#[tokio::test]
async fn imported_legacy_hashes_log_in_and_are_upgraded_and_reimport_skips_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let users = legacy_users();
    let bcrypt = &users[0].1.hash;
    let mut rows: Vec<Value> = users
        .iter()
        .map(|(name, f)| json!({"username": name, "email": format!("{name}@example.com"), "password_hash": f.hash, "roles": ["user"]}))
        .collect();
    let good = jsonl(&rows);
    // Bad rows follow the five good ones: lines 6 to 11.
    rows.extend([
        json!({"username": "mo-md5", "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"}),
        json!({"username": "ron-role", "password_hash": bcrypt, "roles": ["ops"]}),
        json!({"username": "BEA-BCRYPT", "password_hash": bcrypt}),
        json!({"username": "cy-cost", "password_hash": bcrypt.replacen("$04$", "$31$", 1)}),
        json!({"username": "has:colon", "password_hash": bcrypt}),
        json!({"username": "pw-plain", "password": "plaintext is not imported"}),
    ]);
    let mixed = jsonl(&rows);
    std::fs::write(p.join("users.jsonl"), &mixed).unwrap();
    std::fs::write(p.join("good.jsonl"), good).unwrap();

    // A dry run reports everything and writes nothing.
    let o = gatehouse(p, &["import", "users.jsonl", "--dry-run"]);
    assert_eq!(o.status.code(), Some(1), "rejected rows make the exit status 1: {}", stderr(&o));
    assert_eq!(stdout(&o).matches(": would import ").count(), 5, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("dry run, nothing written: 5 imported, 0 skipped (exist), 6 rejected"),
        "{}",
        stdout(&o)
    );

    // The real run imports the good rows and reports each bad one with its line and reason.
    let o = gatehouse(p, &["import", "users.jsonl"]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    for (line, (name, _)) in users.iter().enumerate() {
        assert!(out.contains(&format!("line {}: imported {name:?} (", line + 1)), "{name} not imported: {out}{err}");
    }
    assert!(out.contains(r#"line 1: imported "bea-bcrypt" (bcrypt)"#), "{out}");
    assert!(out.contains(r#"line 3: imported "dj-django" (django-pbkdf2-sha256)"#), "{out}");
    assert!(out.contains("5 imported, 0 skipped (exist), 6 rejected"), "{out}");
    for expected in [
        r#"line 6: rejected "mo-md5": password_hash: not a recognised password hash format"#,
        r#"line 7: rejected "ron-role": roles: unknown role "ops""#,
        r#"line 8: rejected "BEA-BCRYPT": username: same name as line 1"#,
        r#"line 9: rejected "cy-cost": password_hash: bcrypt cost 31 is outside 4..=15"#,
        r#"line 10: rejected "has:colon": username: must not contain ':'"#,
        r#"line 11: rejected "pw-plain": password_hash: missing"#,
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("6 row(s) rejected"), "{err}");
    assert!(!out.contains(bcrypt.as_str()) && !err.contains(bcrypt.as_str()), "hashes are not echoed");

    // Re-running the valid rows changes nothing and succeeds.
    let o = gatehouse(p, &["import", "good.jsonl"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert_eq!(out.matches(": exists").count(), 5, "{out}");
    assert!(out.contains(r#"line 2: skipped "pat-passlib": exists"#), "{out}");
    assert!(out.contains("0 imported, 5 skipped (exist), 0 rejected"), "{out}");
    // The same name in other case, with another hash and role, is skipped, not overwritten.
    std::fs::write(
        p.join("other.jsonl"),
        jsonl(&[json!({"username": "PAT-PASSLIB", "password_hash": bcrypt, "roles": ["admin"]})]),
    )
    .unwrap();
    let o = gatehouse(p, &["import", "other.jsonl"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(r#"line 1: skipped "PAT-PASSLIB": exists"#), "{}", stdout(&o));

    // A server on that database logs each user in with the original password, and the
    // stored hash becomes argon2id at the server's parameters.
    let server = serve(p).await;
    for (name, f) in &users {
        assert_eq!(server.stored_hash(name).await, f.hash, "{name}: stored as imported");
        let (status, body) = server.login(name, &f.password).await;
        assert_eq!(status, StatusCode::OK, "{name} could not log in: {body}");
        assert_eq!(body["scope"], "me", "{name}: role user grants scope me");
        let upgraded = server.stored_hash(name).await;
        assert!(upgraded.starts_with(UPGRADED), "{name} not upgraded: {upgraded}");
        let (status, _) = server.login(name, &f.password).await;
        assert_eq!(status, StatusCode::OK, "{name}: the upgraded hash verifies");
        let (status, body) = server.login(name, "not the password at all").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(body["error"], "invalid_grant");
    }
    let pat = server.state.store.user_by_key(&username_key("pat-passlib")).await.unwrap().unwrap();
    assert_eq!(pat.roles, ["user"], "a skipped row never changes the existing user");
    assert_eq!(pat.email.as_deref(), Some("pat-passlib@example.com"));
    assert_eq!(server.state.store.count_users().await.unwrap(), 5, "no duplicates, no rejected rows");
}

#[tokio::test]
async fn csv_import_with_roles_and_quoted_fields() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let bcrypt = fixture("$2b$04$", "passlib");
    let django = fixture("pbkdf2_sha256$29000$", "passlib");
    let sha512 = fixture("$pbkdf2-sha512$", "passlib");
    let csv = format!(
        "username,email,hashed_password,roles,disabled\n\
         ann,ann@example.com,{},admin;user,false\n\
         \"Zoë, Jr.\",,\"{}\",user,\n\
         ola,,{},user,true\n\
         bad,not-an-email,{},user,\n",
        bcrypt.hash, django.hash, sha512.hash, bcrypt.hash
    );
    std::fs::write(p.join("users.csv"), &csv).unwrap();
    let o = gatehouse(p, &["import", "users.csv"]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains(r#"line 2: imported "ann" (bcrypt)"#), "{out}");
    assert!(out.contains(r#"line 3: imported "Zoë, Jr." (django-pbkdf2-sha256)"#), "{out}");
    assert!(out.contains(r#"line 4: imported "ola" (passlib-pbkdf2-sha512)"#), "{out}");
    assert!(err.contains(r#"line 5: rejected "bad": email: is not a valid e-mail address"#), "{err}");

    // Without the bad row, the same file imports nothing new and exits 0; --format csv
    // works whatever the file is called.
    let fixed: String = csv.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(p.join("users.txt"), fixed).unwrap();
    let o = gatehouse(p, &["import", "--format", "csv", "users.txt"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("0 imported, 3 skipped (exist), 0 rejected"), "{}", stdout(&o));

    let server = serve(p).await;
    let (status, body) = server.login("ann", &bcrypt.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let scopes: Vec<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    assert!(scopes.contains(&"admin") && scopes.contains(&"me"), "roles admin;user: {body}");
    let (status, body) = server.login("zoë, jr.", &django.password).await;
    assert_eq!(status, StatusCode::OK, "case-folded name logs in: {body}");
    assert!(server.stored_hash("Zoë, Jr.").await.starts_with(UPGRADED));
    let (status, _) = server.login("ola", &sha512.password).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "imported disabled");
    let ann = server.state.store.user_by_key("ann").await.unwrap().unwrap();
    assert_eq!(ann.roles, ["admin", "user"]);
    assert_eq!(ann.email.as_deref(), Some("ann@example.com"));
}

#[test]
fn unreadable_or_headerless_files_import_nothing_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let o = gatehouse(p, &["import", "missing.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.jsonl"), "{}", stderr(&o));
    std::fs::write(p.join("users.csv"), "name,hash\nann,$2b$04$x\n").unwrap();
    let o = gatehouse(p, &["import", "users.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("must name the columns `username` and `password_hash`"), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing imported"), "{}", stderr(&o));
    let o = gatehouse(p, &["import", "--help"]);
    assert!(stdout(&o).contains("Exit status"), "{}", stdout(&o));
}
