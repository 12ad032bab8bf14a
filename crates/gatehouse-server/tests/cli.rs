//! The `gatehouse` binary: configuration errors, `config check`, user and key commands
//! against a real data directory, and a server that uses what they created.
#![allow(clippy::unwrap_used, missing_docs)]

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

fn gatehouse(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATA_DIR", dir)
        .env("GATEHOUSE_ARGON2_MEMORY_KIB", "1024")
        .env("GATEHOUSE_ARGON2_ITERATIONS", "1")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn invalid_configuration_names_the_setting_and_exits_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    for (k, v) in [
        ("GATEHOUSE_ACCESS_TOKEN_TTL", "forever"),
        ("GATEHOUSE_JWT_ALG", "HS512"),
        ("GATEHOUSE_BIND", "not-an-address"),
        ("GATEHOUSE_CORS_CREDENTIALS", "true"),
        ("GATEHOUSE_HASH_PREEMPT_US", "50"),
        ("GATEHOUSE_REQUEST_SLICE_US", "99"),
    ] {
        let extra: &[(&str, &str)] =
            if k == "GATEHOUSE_CORS_CREDENTIALS" { &[(k, v), ("GATEHOUSE_CORS_ORIGINS", "*")] } else { &[(k, v)] };
        let o = gatehouse(dir.path(), &["serve"], extra, None);
        assert!(!o.status.success(), "{k}={v} should fail");
        assert!(text(&o).contains(k), "{k} not named in: {}", text(&o));
    }
    let o = gatehouse(
        dir.path(),
        &["serve"],
        &[("GATEHOUSE_JWT_ALG", "HS256"), ("GATEHOUSE_JWT_SECRET", "too-short")],
        None,
    );
    assert!(text(&o).contains("GATEHOUSE_JWT_SECRET"));
}

#[test]
fn config_check_prints_effective_config_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("gatehouse.toml");
    std::fs::write(&toml, "access_token_ttl = 600\naudience = [\"api\", \"tasks\"]\n").unwrap();
    let o = gatehouse(
        dir.path(),
        &["--config", toml.to_str().unwrap(), "config", "check"],
        &[
            ("GATEHOUSE_ADMIN_PASSWORD", "very-secret-admin-pw"),
            ("GATEHOUSE_DATABASE_URL", "postgres://gh:db-secret-pw@db.internal/gh"),
        ],
        None,
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("access_token_ttl = 600"));
    assert!(out.contains(r#"audience = ["api", "tasks"]"#));
    assert!(!out.contains("very-secret-admin-pw") && !out.contains("db-secret-pw"), "{out}");
    assert!(out.contains("[redacted]"));
}

#[test]
fn user_and_key_commands_work_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let o = gatehouse(p, &["migrate"], &[], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = gatehouse(
        p,
        &["user", "create", "Zoe", "--role", "admin", "--password-stdin"],
        &[],
        Some("zoe's long passphrase\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("zoe's long passphrase"), "password echoed");
    let o = gatehouse(p, &["user", "create", "zoe", "--password-stdin"], &[], Some("another passphrase\n"));
    assert!(!o.status.success(), "case-folded duplicate must fail");
    let o = gatehouse(p, &["user", "create", "yan", "--password-stdin"], &[], Some("short\n"));
    assert!(!o.status.success() && text(&o).contains("password"), "{}", text(&o));
    let o = gatehouse(p, &["user", "create", "yan"], &[], None);
    assert!(o.status.success() && text(&o).contains("shown once"), "{}", text(&o));
    let o = gatehouse(p, &["user", "grant-role", "yan", "nonexistent"], &[], None);
    assert!(!o.status.success());
    let o = gatehouse(p, &["user", "grant-role", "yan", "admin"], &[], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = gatehouse(p, &["user", "disable", "yan"], &[], None);
    assert!(o.status.success());
    let o = gatehouse(p, &["user", "set-password", "nobody"], &[], None);
    assert!(!o.status.success());

    // Keys: the first `keys list` creates none; rotation adds an active key.
    let o = gatehouse(p, &["keys", "rotate"], &[], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = gatehouse(p, &["keys", "rotate"], &[], None);
    assert!(o.status.success());
    let list = text(&gatehouse(p, &["keys", "list"], &[], None));
    assert_eq!(list.matches(" active ").count(), 1, "{list}");
    assert_eq!(list.matches(" retiring ").count(), 1, "{list}");
    let active_kid =
        list.lines().find(|l| l.contains(" active ")).unwrap().split_whitespace().next().unwrap().to_owned();
    let o = gatehouse(p, &["keys", "retire", &active_kid], &[], None);
    assert!(!o.status.success(), "retiring the only active key is refused");
    let o = gatehouse(p, &["keys", "retire", "no-such-kid"], &[], None);
    assert!(!o.status.success());
}

#[test]
fn client_and_apikey_commands_print_secrets_once_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let o = gatehouse(p, &["user", "create", "ann", "--password-stdin"], &[], Some("ann's long passphrase\n"));
    assert!(o.status.success(), "{}", text(&o));
    let o = gatehouse(
        p,
        &["client", "create", "reporting", "--scope", "reports:read", "--grant", "client_credentials"],
        &[],
        None,
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("client_id: gh-") && out.contains("client_secret (shown once): "), "{out}");
    let o = gatehouse(p, &["client", "create", "bad", "--grant", "implicit"], &[], None);
    assert!(!o.status.success() && text(&o).contains("grant_types"));
    let o = gatehouse(p, &["apikey", "create", "ann", "--name", "laptop", "--scope", "me"], &[], None);
    let out = text(&o);
    assert!(o.status.success() && out.contains("key (shown once): gh_"), "{out}");
    let o = gatehouse(p, &["apikey", "create", "ann", "--name", "laptop", "--scope", "admin"], &[], None);
    assert!(!o.status.success() && text(&o).contains("scopes"), "ann has no admin scope");
    let o = gatehouse(p, &["apikey", "create", "nobody", "--name", "x", "--scope", "me"], &[], None);
    assert!(!o.status.success());
}
