//! The in-memory revocation view every request checks: denylisted token ids, revoked
//! sessions, and per-user "credentials void before" times and disabled flags. Loaded from
//! the database at start; updated by this instance's own revocations. Entries expire with
//! the tokens they cover, so the maps stay bounded.

use std::{collections::HashMap, sync::RwLock};

use gatehouse_core::Principal;
use gatehouse_store::Storage;

#[derive(Debug, Default, Clone, Copy)]
struct UserState {
    void_before: i64,
    disabled: bool,
}

/// The denylist entry that voids every token of a deleted client.
pub fn client_marker(client_id: &str) -> String {
    format!("client:{client_id}")
}

/// A revocation, as sent between instances.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum RevocationEvent {
    /// A token id (or client marker) is denylisted until `exp`.
    Jti {
        /// Token id.
        id: String,
        /// Until.
        exp: i64,
    },
    /// A session is revoked (until its absolute expiry `exp`).
    Session {
        /// Session id.
        id: String,
        /// Until.
        exp: i64,
    },
    /// Credentials of a user issued before `at` are void.
    VoidUser {
        /// User id.
        id: String,
        /// Cut-off.
        at: i64,
    },
    /// A user was disabled or enabled.
    Disabled {
        /// User id.
        id: String,
        /// Disabled?
        disabled: bool,
    },
}

/// Revocation state, checked per request with read locks only.
///
/// The maps are hashed with foldhash (randomly seeded) rather than SipHash: their keys are ids
/// the server generated (token ids, session ids, user ids) or an admin's client ids, never a
/// caller's choice, and every request hashes two of them.
#[derive(Debug, Default)]
pub struct Revocations {
    publisher: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<RevocationEvent>>,
    jtis: RwLock<Map<i64>>,
    sessions: RwLock<Map<i64>>,
    users: RwLock<Map<UserState>>,
}

/// Id → state.
type Map<V> = HashMap<String, V, foldhash::fast::RandomState>;

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Revocations {
    /// Loads the view from storage.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn load(store: &dyn Storage, now: i64) -> anyhow::Result<Self> {
        let r = Self::default();
        r.sync(store, now).await?;
        Ok(r)
    }

    /// Merges in what storage knows (revocations made by the CLI or another instance).
    /// Denylists only grow (until entries expire); per-user state follows the database,
    /// which every revocation is written to before memory.
    ///
    /// # Errors
    /// Storage failures; the view is left as it was.
    pub async fn sync(&self, store: &dyn Storage, now: i64) -> anyhow::Result<()> {
        let jtis = store.revoked_jtis(now).await?;
        let sessions = store.revoked_sessions(now).await?;
        let users = store.user_validity().await?;
        for (id, exp) in jtis {
            self.apply(&RevocationEvent::Jti { id, exp });
        }
        for (id, exp) in sessions {
            self.apply(&RevocationEvent::Session { id, exp });
        }
        let fresh: Map<UserState> =
            users.into_iter().map(|(id, void_before, disabled)| (id, UserState { void_before, disabled })).collect();
        *write(&self.users) = fresh;
        Ok(())
    }

    /// Why `p` is no longer valid, if it is not.
    pub fn check(&self, p: &Principal) -> Result<(), &'static str> {
        if let Some(jti) = &p.credential_id {
            if read(&self.jtis).contains_key(jti) {
                return Err("revoked");
            }
        }
        if let Some(sid) = &p.session_id {
            if read(&self.sessions).contains_key(sid) {
                return Err("session_revoked");
            }
        }
        if let gatehouse_core::Subject::Client(id) = &p.subject {
            if read(&self.jtis).contains_key(&client_marker(id)) {
                return Err("client_deleted");
            }
        }
        if let Some(uid) = p.subject.user_id() {
            if let Some(u) = read(&self.users).get(uid) {
                if u.disabled {
                    return Err("account_disabled");
                }
                if p.issued_at < u.void_before {
                    return Err("revoked");
                }
            }
        }
        Ok(())
    }

    /// Whether a session is not known to be revoked.
    pub fn check_session(&self, sid: &str) -> bool {
        !read(&self.sessions).contains_key(sid)
    }

    /// Sends every local revocation from now on to `tx` (the fan-out to other instances).
    pub fn publish_to(&self, tx: tokio::sync::mpsc::UnboundedSender<RevocationEvent>) {
        let _ = self.publisher.set(tx);
    }

    fn publish(&self, e: RevocationEvent) {
        if let Some(tx) = self.publisher.get() {
            let _ = tx.send(e);
        }
    }

    /// Applies a revocation made elsewhere (not published again).
    pub fn apply(&self, e: &RevocationEvent) {
        match e {
            RevocationEvent::Jti { id, exp } => {
                write(&self.jtis).insert(id.clone(), *exp);
            }
            RevocationEvent::Session { id, exp } => {
                write(&self.sessions).insert(id.clone(), *exp);
            }
            RevocationEvent::VoidUser { id, at } => {
                let mut users = write(&self.users);
                let u = users.entry(id.clone()).or_default();
                u.void_before = u.void_before.max(*at);
            }
            RevocationEvent::Disabled { id, disabled } => {
                write(&self.users).entry(id.clone()).or_default().disabled = *disabled;
            }
        }
    }

    fn local(&self, e: RevocationEvent) {
        self.apply(&e);
        self.publish(e);
    }

    /// Denylists a token id until `exp`.
    pub fn revoke_jti(&self, jti: &str, exp: i64) {
        self.local(RevocationEvent::Jti { id: jti.to_owned(), exp });
    }

    /// Marks a session revoked until `exp` (its absolute expiry).
    pub fn revoke_session(&self, sid: &str, exp: i64) {
        self.local(RevocationEvent::Session { id: sid.to_owned(), exp });
    }

    /// Voids every credential of `user_id` issued before `t`.
    pub fn void_user_before(&self, user_id: &str, t: i64) {
        self.local(RevocationEvent::VoidUser { id: user_id.to_owned(), at: t });
    }

    /// Sets whether `user_id` is disabled (deleted users count as disabled).
    pub fn set_disabled(&self, user_id: &str, disabled: bool) {
        self.local(RevocationEvent::Disabled { id: user_id.to_owned(), disabled });
    }

    /// Drops entries whose tokens have expired by `now`.
    pub fn prune(&self, now: i64) {
        write(&self.jtis).retain(|_, exp| *exp > now);
        write(&self.sessions).retain(|_, exp| *exp > now);
    }

    /// Number of entries (for metrics).
    pub fn len(&self) -> usize {
        read(&self.jtis).len() + read(&self.sessions).len() + read(&self.users).len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
