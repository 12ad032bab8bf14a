//! Storage traits, one per aggregate. The server holds an `Arc<dyn Storage>`.

use async_trait::async_trait;

use crate::{
    ApiKeyRecord, AuditFilter, AuditRecord, ClientRecord, KeyRecord, KeyStatus, RefreshRecord, RoleRecord,
    SessionRecord, StoreResult, UserPatch, UserRecord,
};

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user. [`crate::StoreError::Conflict`] when the username key is taken.
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()>;
    /// By id.
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>>;
    /// By canonical username key.
    async fn user_by_key(&self, username_key: &str) -> StoreResult<Option<UserRecord>>;
    /// Users with id greater than `after`, in id order, at most `limit`.
    async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<UserRecord>>;
    /// Applies a patch; returns the updated user, or None if absent.
    async fn update_user(&self, id: &str, patch: &UserPatch, now: i64) -> StoreResult<Option<UserRecord>>;
    /// Replaces the password hash; `void_before` also voids credentials issued before it.
    async fn set_password_hash(&self, id: &str, hash: &str, now: i64, void_before: Option<i64>) -> StoreResult<bool>;
    /// Deletes a user and, by cascade, their sessions. True if a user was deleted.
    async fn delete_user(&self, id: &str) -> StoreResult<bool>;
    /// Number of users.
    async fn count_users(&self) -> StoreResult<i64>;
    /// Every user's `(id, tokens_valid_after, disabled)`: loads the in-memory revocation view.
    async fn user_validity(&self) -> StoreResult<Vec<(String, i64, bool)>>;
}

/// Roles.
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// Every role, by name.
    async fn list_roles(&self) -> StoreResult<Vec<RoleRecord>>;
    /// Inserts or replaces a role (the builtin flag is kept).
    async fn put_role(&self, role: &RoleRecord, now: i64) -> StoreResult<()>;
    /// Deletes a non-builtin role; true if deleted.
    async fn delete_role(&self, name: &str) -> StoreResult<bool>;
}

/// Sessions and refresh-token families.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session and its first refresh token (if any) atomically.
    async fn create_session(&self, session: &SessionRecord, first: Option<&RefreshRecord>) -> StoreResult<()>;
    /// A session by id.
    async fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>>;
    /// A user's sessions that are not revoked and not past `now`.
    async fn live_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionRecord>>;
    /// A refresh token by hash.
    async fn refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshRecord>>;
    /// Marks `old_hash` used and stores `next`, atomically, only if `old_hash` was unused.
    /// Returns false when another request rotated it first (the caller treats that as reuse).
    async fn rotate_refresh(&self, old_hash: &str, next: &RefreshRecord, now: i64) -> StoreResult<bool>;
    /// Revokes one session; true if it was live.
    async fn revoke_session(&self, id: &str, now: i64) -> StoreResult<bool>;
    /// Revokes every session of a user except `keep`; returns the revoked ids.
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        now: i64,
    ) -> StoreResult<Vec<(String, i64)>>;
    /// A live-or-not browser session by the hash of its cookie secret.
    async fn session_by_secret(&self, secret_hash: &str) -> StoreResult<Option<SessionRecord>>;
    /// Revoked sessions not yet past their absolute expiry: `(id, expires_at)`.
    async fn revoked_sessions(&self, now: i64) -> StoreResult<Vec<(String, i64)>>;
}

/// Signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every key, newest first.
    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>>;
    /// Stores a key.
    async fn insert_key(&self, key: &KeyRecord) -> StoreResult<()>;
    /// Changes a key's state.
    async fn set_key_status(&self, kid: &str, status: KeyStatus, retire_at: Option<i64>) -> StoreResult<bool>;
}

/// Denylisted access-token ids.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Denylists `jti` until `expires_at`.
    async fn revoke_jti(&self, jti: &str, expires_at: i64) -> StoreResult<()>;
    /// Every denylist entry still in force at `now`.
    async fn revoked_jtis(&self, now: i64) -> StoreResult<Vec<(String, i64)>>;
}

/// Confidential OAuth clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Registers a client.
    async fn create_client(&self, client: &ClientRecord) -> StoreResult<()>;
    /// A client by id.
    async fn client(&self, id: &str) -> StoreResult<Option<ClientRecord>>;
    /// Every client, by id.
    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>>;
    /// Deletes a client; true if it existed.
    async fn delete_client(&self, id: &str) -> StoreResult<bool>;
}

/// API keys.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// A key by the hash of its secret.
    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// A user's keys that are not revoked, newest first.
    async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes a user's key; true if it was live and theirs.
    async fn revoke_api_key(&self, user_id: &str, id: &str, now: i64) -> StoreResult<bool>;
    /// Records use.
    async fn touch_api_key(&self, id: &str, now: i64) -> StoreResult<()>;
}

/// The audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event.
    async fn append_audit(&self, event: &AuditRecord) -> StoreResult<()>;
    /// Events matching the filter, oldest first.
    async fn query_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;
    /// Deletes events older than `before`; returns how many.
    async fn purge_audit(&self, before: i64) -> StoreResult<u64>;
}

/// Everything the server stores.
pub trait Storage:
    UserStore
    + RoleStore
    + SessionStore
    + KeyStore
    + RevocationStore
    + ClientStore
    + ApiKeyStore
    + AuditStore
    + std::fmt::Debug
{
}
impl<T> Storage for T where
    T: UserStore
        + RoleStore
        + SessionStore
        + KeyStore
        + RevocationStore
        + ClientStore
        + ApiKeyStore
        + AuditStore
        + std::fmt::Debug
{
}
