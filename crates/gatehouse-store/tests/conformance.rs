//! One storage suite, run against every backend: SQLite always, PostgreSQL when
//! `GATEHOUSE_TEST_DATABASE_URL` is set (each run in a fresh database it creates and drops).
#![allow(clippy::unwrap_used, missing_docs)]

use gatehouse_store::{
    KeyRecord, KeyStatus, KeyStore, RefreshRecord, RevocationStore, RoleRecord, RoleStore, SessionRecord, SessionStore,
    SqlStore, StoreError, UserPatch, UserRecord, UserStore,
};

fn user(id: &str, name: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        username: name.into(),
        username_key: name.to_lowercase(),
        email: None,
        password_hash: "$argon2id$stub".into(),
        roles: vec!["user".into()],
        disabled: false,
        created_at: 100,
        updated_at: 100,
        tokens_valid_after: 0,
    }
}

fn refresh(hash: &str, sid: &str) -> RefreshRecord {
    RefreshRecord {
        token_hash: hash.into(),
        session_id: sid.into(),
        user_id: "u1".into(),
        client_id: "gatehouse".into(),
        scope: "me".into(),
        created_at: 100,
        expires_at: 1000,
        used_at: None,
    }
}

async fn suite(s: &SqlStore) {
    s.migrate().await.unwrap();
    s.migrate().await.unwrap(); // idempotent

    // users
    s.create_user(&user("u1", "Alice")).await.unwrap();
    s.create_user(&user("u2", "bob")).await.unwrap();
    assert!(matches!(s.create_user(&user("u3", "ALICE")).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.count_users().await.unwrap(), 2);
    assert_eq!(s.user_by_key("alice").await.unwrap().unwrap().id, "u1");
    assert!(s.user_by_id("nope").await.unwrap().is_none());
    let page = s.list_users(None, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    let rest = s.list_users(Some(&page[0].id), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    let patched = s
        .update_user(
            "u1",
            &UserPatch {
                roles: Some(vec!["admin".into()]),
                disabled: Some(true),
                email: Some(Some("a@x.io".into())),
                tokens_valid_after: Some(50),
            },
            200,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (patched.roles.clone(), patched.disabled, patched.tokens_valid_after),
        (vec!["admin".to_owned()], true, 50)
    );
    assert_eq!(s.user_by_id("u1").await.unwrap().unwrap(), patched);
    assert!(s.update_user("nope", &UserPatch::default(), 1).await.unwrap().is_none());
    assert!(s.set_password_hash("u1", "$new", 300, Some(40)).await.unwrap());
    assert_eq!(s.user_by_id("u1").await.unwrap().unwrap().tokens_valid_after, 50, "never moves back");
    assert_eq!(s.user_validity().await.unwrap(), vec![("u1".to_owned(), 50, true)]);

    // roles
    let roles = s.list_roles().await.unwrap();
    assert_eq!(roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["admin", "user"]);
    assert!(roles.iter().all(|r| r.builtin));
    let editor = RoleRecord {
        name: "editor".into(),
        scopes: vec!["posts:write".into()],
        includes: vec!["user".into()],
        builtin: false,
    };
    s.put_role(&editor, 1).await.unwrap();
    s.put_role(&RoleRecord { scopes: vec!["posts:write".into(), "x".into()], ..editor.clone() }, 2).await.unwrap();
    assert_eq!(s.list_roles().await.unwrap().iter().find(|r| r.name == "editor").unwrap().scopes.len(), 2);
    assert!(!s.delete_role("user").await.unwrap(), "built-in roles stay");
    assert!(s.delete_role("editor").await.unwrap());

    // sessions and refresh rotation
    let sess = SessionRecord {
        id: "s1".into(),
        user_id: "u1".into(),
        client_id: "gatehouse".into(),
        kind: "token".into(),
        created_at: 100,
        last_used_at: 100,
        expires_at: 5000,
        revoked_at: None,
        secret_hash: Some("cookie-hash".into()),
    };
    s.create_session(&sess, Some(&refresh("h1", "s1"))).await.unwrap();
    assert_eq!(s.refresh_token("h1").await.unwrap().unwrap().session_id, "s1");
    assert!(s.rotate_refresh("h1", &refresh("h2", "s1"), 150).await.unwrap());
    assert!(!s.rotate_refresh("h1", &refresh("h3", "s1"), 151).await.unwrap(), "second rotation loses");
    assert!(s.refresh_token("h3").await.unwrap().is_none(), "loser's token not stored");
    assert_eq!(s.refresh_token("h1").await.unwrap().unwrap().used_at, Some(150));
    assert_eq!(s.session("s1").await.unwrap().unwrap().last_used_at, 150);
    assert_eq!(s.live_sessions("u1", 200).await.unwrap().len(), 1);
    assert_eq!(s.session_by_secret("cookie-hash").await.unwrap().unwrap().id, "s1");
    assert!(s.session_by_secret("other").await.unwrap().is_none());
    s.create_session(&SessionRecord { id: "s2".into(), secret_hash: None, ..sess.clone() }, None).await.unwrap();
    let revoked = s.revoke_user_sessions("u1", Some("s2"), 300).await.unwrap();
    assert_eq!(revoked, vec![("s1".to_owned(), 5000)]);
    assert_eq!(s.revoked_sessions(300).await.unwrap(), vec![("s1".to_owned(), 5000)]);
    assert!(s.revoked_sessions(6000).await.unwrap().is_empty());
    assert!(s.revoke_session("s2", 301).await.unwrap());
    assert!(!s.revoke_session("s2", 302).await.unwrap());

    // keys
    let k = KeyRecord {
        kid: "k1".into(),
        alg: "RS256".into(),
        private_pem: "pem".into(),
        public_jwk: "{}".into(),
        created_at: 1,
        status: KeyStatus::Active,
        retire_at: None,
    };
    s.insert_key(&k).await.unwrap();
    assert!(matches!(s.insert_key(&k).await, Err(StoreError::Conflict(_))));
    assert!(s.set_key_status("k1", KeyStatus::Retiring, Some(99)).await.unwrap());
    let keys = s.list_keys().await.unwrap();
    assert_eq!((keys[0].status, keys[0].retire_at), (KeyStatus::Retiring, Some(99)));

    // denylist
    s.revoke_jti("j1", 500).await.unwrap();
    s.revoke_jti("j1", 500).await.unwrap();
    s.revoke_jti("j2", 50).await.unwrap();
    assert_eq!(s.revoked_jtis(100).await.unwrap(), vec![("j1".to_owned(), 500)]);

    // deleting a user takes their sessions and tokens along
    assert!(s.delete_user("u1").await.unwrap());
    assert!(s.session("s1").await.unwrap().is_none());
    assert!(s.refresh_token("h2").await.unwrap().is_none());
    assert!(!s.delete_user("u1").await.unwrap());
    s.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let s = SqlStore::connect(&url, 4).await.unwrap();
    suite(&s).await;
}

#[tokio::test]
async fn postgres_backend() {
    let Ok(admin_url) = std::env::var("GATEHOUSE_TEST_DATABASE_URL") else {
        eprintln!("SKIPPED postgres_backend: set GATEHOUSE_TEST_DATABASE_URL=postgres://… to run it");
        return;
    };
    let db = format!("gh_store_{}", uuid::Uuid::new_v4().simple());
    let admin = SqlStore::connect(&admin_url, 1).await.unwrap();
    admin.execute_raw(&format!("CREATE DATABASE {db}")).await.unwrap();
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => panic!("GATEHOUSE_TEST_DATABASE_URL needs a database path"),
    };
    let s = SqlStore::connect(&url, 4).await.unwrap();
    suite(&s).await;
    s.close().await;
    admin.execute_raw(&format!("DROP DATABASE {db} WITH (FORCE)")).await.unwrap();
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    assert!(SqlStore::connect("mysql://x/y", 1).await.is_err());
}
