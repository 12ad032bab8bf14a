//! The SQL implementation over sqlx's `Any` driver (SQLite and PostgreSQL).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{
    any::{AnyPoolOptions, AnyRow},
    AnyPool, Executor, Row,
};

use crate::{
    ApiKeyRecord, ApiKeyStore, AuditFilter, AuditRecord, AuditStore, ClientRecord, ClientStore, KeyRecord, KeyStatus,
    KeyStore, RefreshRecord, RevocationStore, RoleRecord, RoleStore, SessionRecord, SessionStore, StoreError,
    StoreResult, UserPatch, UserRecord, UserStore,
};

/// Which SQL engine is behind the pool; looked at only when connecting and migrating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (embedded).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Storage on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
}

fn join(v: &[String]) -> String {
    v.join(" ")
}

fn split(s: &str) -> Vec<String> {
    s.split(' ').filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl SqlStore {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) with at most `max_connections`.
    /// SQLite connections get WAL, foreign keys, `synchronous=NORMAL` and a busy timeout, and
    /// are not pinged before each use (PostgreSQL connections are).
    ///
    /// # Errors
    /// [`StoreError::Database`] when the database cannot be reached or the URL is not supported.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                "database URL must start with sqlite: or postgres:".into(),
            )));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            // sqlx pings an idle connection before handing it out, to find one whose server
            // hung up. A SQLite connection is a file in this process: nothing can hang up, and
            // the ping is a round trip to the connection's worker thread before every query
            // (two context switches; a login makes three such acquisitions). PostgreSQL keeps
            // the check.
            .test_before_acquire(dialect == Dialect::Postgres)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    match dialect {
                        Dialect::Sqlite => {
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; \
                                 PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
                            )
                            .await?;
                        }
                        Dialect::Postgres => {
                            conn.execute("SET statement_timeout = 10000").await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        Ok(Self { pool, dialect })
    }

    /// Applies the embedded migrations for this dialect.
    ///
    /// # Errors
    /// [`StoreError::Migrate`] when a migration fails or the database has unknown ones.
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Dialect::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator.run(&self.pool).await.map_err(StoreError::Migrate)
    }

    /// The engine behind this store.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Round-trips to the database (readiness).
    ///
    /// # Errors
    /// [`StoreError::Database`] when unreachable.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Runs one statement outside the typed API (test and admin tooling: creating a
    /// scratch database, for instance).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub async fn execute_raw(&self, sql: &str) -> StoreResult<()> {
        sqlx::raw_sql(sql).execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn user_from_row(r: &AnyRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        username_key: r.try_get("username_key")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        roles: split(&r.try_get::<String, _>("roles")?),
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        tokens_valid_after: r.try_get("tokens_valid_after")?,
    })
}

fn session_from_row(r: &AnyRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        client_id: r.try_get("client_id")?,
        kind: r.try_get("kind")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        secret_hash: r.try_get("secret_hash")?,
    })
}

fn refresh_from_row(r: &AnyRow) -> StoreResult<RefreshRecord> {
    Ok(RefreshRecord {
        token_hash: r.try_get("token_hash")?,
        session_id: r.try_get("session_id")?,
        user_id: r.try_get("user_id")?,
        client_id: r.try_get("client_id")?,
        scope: r.try_get("scope")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
    })
}

const USER_COLS: &str =
    "id, username, username_key, email, password_hash, roles, disabled, created_at, updated_at, tokens_valid_after";
const SESSION_COLS: &str =
    "id, user_id, client_id, kind, created_at, last_used_at, expires_at, revoked_at, secret_hash";
const REFRESH_COLS: &str = "token_hash, session_id, user_id, client_id, scope, created_at, expires_at, used_at";

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, u: &UserRecord) -> StoreResult<()> {
        let q = format!("INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        sqlx::query(&q)
            .bind(&u.id)
            .bind(&u.username)
            .bind(&u.username_key)
            .bind(&u.email)
            .bind(&u.password_hash)
            .bind(join(&u.roles))
            .bind(i64::from(u.disabled))
            .bind(u.created_at)
            .bind(u.updated_at)
            .bind(u.tokens_valid_after)
            .execute(&self.pool)
            .await
            .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("username") } else { e.into() })?;
        Ok(())
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        let q = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        sqlx::query(&q).bind(id).fetch_optional(&self.pool).await?.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_key(&self, key: &str) -> StoreResult<Option<UserRecord>> {
        let q = format!("SELECT {USER_COLS} FROM users WHERE username_key = $1");
        sqlx::query(&q).bind(key).fetch_optional(&self.pool).await?.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<UserRecord>> {
        let q = format!("SELECT {USER_COLS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
        sqlx::query(&q)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn update_user(&self, id: &str, p: &UserPatch, now: i64) -> StoreResult<Option<UserRecord>> {
        let mut tx = self.pool.begin().await?;
        let q = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        let Some(row) = sqlx::query(&q).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let mut u = user_from_row(&row)?;
        if let Some(roles) = &p.roles {
            u.roles.clone_from(roles);
        }
        if let Some(d) = p.disabled {
            u.disabled = d;
        }
        if let Some(e) = &p.email {
            u.email.clone_from(e);
        }
        if let Some(t) = p.tokens_valid_after {
            u.tokens_valid_after = u.tokens_valid_after.max(t);
        }
        u.updated_at = now;
        sqlx::query(
            "UPDATE users SET roles = $1, disabled = $2, email = $3, tokens_valid_after = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(join(&u.roles))
        .bind(i64::from(u.disabled))
        .bind(&u.email)
        .bind(u.tokens_valid_after)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(u))
    }

    async fn set_password_hash(&self, id: &str, hash: &str, now: i64, void_before: Option<i64>) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2, \
             tokens_valid_after = CASE WHEN $3 > tokens_valid_after THEN $3 ELSE tokens_valid_after END WHERE id = $4",
        )
        .bind(hash)
        .bind(now)
        .bind(void_before.unwrap_or(0))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
        let r = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool).await?.try_get("n")?)
    }

    async fn user_validity(&self) -> StoreResult<Vec<(String, i64, bool)>> {
        sqlx::query("SELECT id, tokens_valid_after, disabled FROM users WHERE tokens_valid_after > 0 OR disabled <> 0")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("tokens_valid_after")?, r.try_get::<i64, _>("disabled")? != 0)))
            .collect()
    }
}

#[async_trait]
impl RoleStore for SqlStore {
    async fn list_roles(&self) -> StoreResult<Vec<RoleRecord>> {
        sqlx::query("SELECT name, scopes, includes, builtin FROM roles ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(RoleRecord {
                    name: r.try_get("name")?,
                    scopes: split(&r.try_get::<String, _>("scopes")?),
                    includes: split(&r.try_get::<String, _>("includes")?),
                    builtin: r.try_get::<i64, _>("builtin")? != 0,
                })
            })
            .collect()
    }

    async fn put_role(&self, role: &RoleRecord, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO roles (name, scopes, includes, builtin, updated_at) VALUES ($1, $2, $3, 0, $4) \
             ON CONFLICT (name) DO UPDATE SET scopes = excluded.scopes, includes = excluded.includes, \
             updated_at = excluded.updated_at",
        )
        .bind(&role.name)
        .bind(join(&role.scopes))
        .bind(join(&role.includes))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_role(&self, name: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM roles WHERE name = $1 AND builtin = 0").bind(name).execute(&self.pool).await?;
        Ok(r.rows_affected() == 1)
    }
}

async fn insert_refresh<'c, E>(ex: E, t: &RefreshRecord) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let q = format!("INSERT INTO refresh_tokens ({REFRESH_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    sqlx::query(&q)
        .bind(&t.token_hash)
        .bind(&t.session_id)
        .bind(&t.user_id)
        .bind(&t.client_id)
        .bind(&t.scope)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.used_at)
        .execute(ex)
        .await?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, s: &SessionRecord, first: Option<&RefreshRecord>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let q = format!("INSERT INTO sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
        sqlx::query(&q)
            .bind(&s.id)
            .bind(&s.user_id)
            .bind(&s.client_id)
            .bind(&s.kind)
            .bind(s.created_at)
            .bind(s.last_used_at)
            .bind(s.expires_at)
            .bind(s.revoked_at)
            .bind(&s.secret_hash)
            .execute(&mut *tx)
            .await?;
        if let Some(t) = first {
            insert_refresh(&mut *tx, t).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        let q = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1");
        sqlx::query(&q).bind(id).fetch_optional(&self.pool).await?.as_ref().map(session_from_row).transpose()
    }

    async fn live_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionRecord>> {
        let q = format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at, id"
        );
        sqlx::query(&q).bind(user_id).bind(now).fetch_all(&self.pool).await?.iter().map(session_from_row).collect()
    }

    async fn refresh_token(&self, hash: &str) -> StoreResult<Option<RefreshRecord>> {
        let q = format!("SELECT {REFRESH_COLS} FROM refresh_tokens WHERE token_hash = $1");
        sqlx::query(&q).bind(hash).fetch_optional(&self.pool).await?.as_ref().map(refresh_from_row).transpose()
    }

    async fn rotate_refresh(&self, old_hash: &str, next: &RefreshRecord, now: i64) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(now)
            .bind(old_hash)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_refresh(&mut *tx, next).await?;
        sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&next.session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_session(&self, id: &str, now: i64) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        now: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3 \
             RETURNING id, expires_at",
        )
        .bind(now)
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("expires_at")?)))
        .collect()
    }

    async fn session_by_secret(&self, secret_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let q = format!("SELECT {SESSION_COLS} FROM sessions WHERE secret_hash = $1");
        sqlx::query(&q).bind(secret_hash).fetch_optional(&self.pool).await?.as_ref().map(session_from_row).transpose()
    }

    async fn revoked_sessions(&self, now: i64) -> StoreResult<Vec<(String, i64)>> {
        sqlx::query("SELECT id, expires_at FROM sessions WHERE revoked_at IS NOT NULL AND expires_at > $1")
            .bind(now)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("expires_at")?)))
            .collect()
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        sqlx::query(
            "SELECT kid, alg, private_pem, public_jwk, created_at, status, retire_at FROM signing_keys \
             ORDER BY created_at DESC, kid",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let status: String = r.try_get("status")?;
            Ok(KeyRecord {
                kid: r.try_get("kid")?,
                alg: r.try_get("alg")?,
                private_pem: r.try_get("private_pem")?,
                public_jwk: r.try_get("public_jwk")?,
                created_at: r.try_get("created_at")?,
                status: KeyStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("key status {status:?}")))?,
                retire_at: r.try_get("retire_at")?,
            })
        })
        .collect()
    }

    async fn insert_key(&self, k: &KeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_pem, public_jwk, created_at, status, retire_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.private_pem)
        .bind(&k.public_jwk)
        .bind(k.created_at)
        .bind(k.status.as_str())
        .bind(k.retire_at)
        .execute(&self.pool)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("key") } else { e.into() })?;
        Ok(())
    }

    async fn set_key_status(&self, kid: &str, status: KeyStatus, retire_at: Option<i64>) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE signing_keys SET status = $1, retire_at = $2 WHERE kid = $3")
            .bind(status.as_str())
            .bind(retire_at)
            .bind(kid)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}

#[async_trait]
impl RevocationStore for SqlStore {
    async fn revoke_jti(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoked_jtis(&self, now: i64) -> StoreResult<Vec<(String, i64)>> {
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1").bind(now).execute(&self.pool).await?;
        sqlx::query("SELECT jti, expires_at FROM revoked_tokens")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("jti")?, r.try_get("expires_at")?)))
            .collect()
    }
}

fn client_from_row(r: &AnyRow) -> StoreResult<ClientRecord> {
    Ok(ClientRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        secret_hash: r.try_get("secret_hash")?,
        scopes: split(&r.try_get::<String, _>("scopes")?),
        grant_types: split(&r.try_get::<String, _>("grant_types")?),
        created_at: r.try_get("created_at")?,
    })
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn create_client(&self, c: &ClientRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO clients (id, name, secret_hash, scopes, grant_types, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(join(&c.scopes))
        .bind(join(&c.grant_types))
        .bind(c.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("client") } else { e.into() })?;
        Ok(())
    }

    async fn client(&self, id: &str) -> StoreResult<Option<ClientRecord>> {
        sqlx::query("SELECT id, name, secret_hash, scopes, grant_types, created_at FROM clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        sqlx::query("SELECT id, name, secret_hash, scopes, grant_types, created_at FROM clients ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(client_from_row)
            .collect()
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        Ok(sqlx::query("DELETE FROM clients WHERE id = $1").bind(id).execute(&self.pool).await?.rows_affected() == 1)
    }
}

const API_KEY_COLS: &str =
    "id, user_id, name, prefix, key_hash, scopes, created_at, expires_at, last_used_at, revoked_at";

fn api_key_from_row(r: &AnyRow) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        key_hash: r.try_get("key_hash")?,
        scopes: split(&r.try_get::<String, _>("scopes")?),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

#[async_trait]
impl ApiKeyStore for SqlStore {
    async fn create_api_key(&self, k: &ApiKeyRecord) -> StoreResult<()> {
        let q = format!("INSERT INTO api_keys ({API_KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        sqlx::query(&q)
            .bind(&k.id)
            .bind(&k.user_id)
            .bind(&k.name)
            .bind(&k.prefix)
            .bind(&k.key_hash)
            .bind(join(&k.scopes))
            .bind(k.created_at)
            .bind(k.expires_at)
            .bind(k.last_used_at)
            .bind(k.revoked_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let q = format!("SELECT {API_KEY_COLS} FROM api_keys WHERE key_hash = $1");
        sqlx::query(&q).bind(key_hash).fetch_optional(&self.pool).await?.as_ref().map(api_key_from_row).transpose()
    }

    async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        let q = format!(
            "SELECT {API_KEY_COLS} FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC"
        );
        sqlx::query(&q).bind(user_id).fetch_all(&self.pool).await?.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(&self, user_id: &str, id: &str, now: i64) -> StoreResult<bool> {
        let r =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, e: &AuditRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, at, kind, subject, actor, ip, request_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.id)
        .bind(e.at)
        .bind(&e.kind)
        .bind(&e.subject)
        .bind(&e.actor)
        .bind(&e.ip)
        .bind(&e.request_id)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn query_audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        // Unset filters bind values that match everything, so the SQL stays static.
        sqlx::query(
            "SELECT id, at, kind, subject, actor, ip, request_id, detail FROM audit_events \
             WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR subject = $2) AND at >= $3 AND id > $4 \
             ORDER BY id LIMIT $5",
        )
        .bind(f.kind.clone().unwrap_or_default())
        .bind(f.subject.clone().unwrap_or_default())
        .bind(f.since.unwrap_or(i64::MIN))
        .bind(f.after.clone().unwrap_or_default())
        .bind(i64::from(f.limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AuditRecord {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                subject: r.try_get("subject")?,
                actor: r.try_get("actor")?,
                ip: r.try_get("ip")?,
                request_id: r.try_get("request_id")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
    }

    async fn purge_audit(&self, before: i64) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
