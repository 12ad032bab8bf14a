//! A bounded cache of verified access tokens. The same token is usually presented many
//! times; its signature is checked once per keyring generation. Expiry (`exp`/`nbf`/`iat`)
//! and revocation are still checked on every request, so caching weakens neither. Only
//! tokens that verified are cached: forged tokens cannot fill it.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use gatehouse_core::{AccessClaims, Principal};

#[derive(Debug)]
struct Entry {
    generation: u64,
    claims: Arc<AccessClaims>,
    principal: Arc<Principal>,
}

/// Token → verified claims, for one keyring generation at a time. Keys are hashed with
/// foldhash (randomly seeded per process): a token is ~700 bytes and is hashed on every
/// request, where SipHash cost ~0.2 µs. Only verified tokens are ever inserted, so an
/// attacker cannot choose the keys the table holds.
#[derive(Debug)]
pub struct VerifiedCache {
    /// Keyed by the token's bytes: a request's token is looked up before its characters are
    /// checked (a byte-for-byte match with a verified token needs no check).
    map: RwLock<HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>>,
    max_entries: usize,
}

impl VerifiedCache {
    /// A cache holding at most `max_entries` tokens.
    pub fn new(max_entries: usize) -> Self {
        Self { map: RwLock::new(HashMap::default()), max_entries: max_entries.max(1) }
    }

    /// The cached claims and principal of `token`, if verified under `generation`.
    pub fn get(&self, token: &[u8], generation: u64) -> Option<(Arc<AccessClaims>, Arc<Principal>)> {
        let map = self.map.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(token).filter(|e| e.generation == generation).map(|e| (Arc::clone(&e.claims), Arc::clone(&e.principal)))
    }

    /// Remembers a token that verified under `generation`. When full, expired entries go
    /// first; if that is not enough, the cache starts over.
    pub fn insert(&self, token: &str, generation: u64, claims: AccessClaims, principal: Arc<Principal>, now: i64) {
        let mut map = self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::bounded::make_room(&mut map, self.max_entries, |_, e| e.generation == generation && e.claims.exp > now);
        map.insert(token.as_bytes().into(), Entry { generation, claims: Arc::new(claims), principal });
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_core::{Audience, CredentialKind, ScopeSet, Subject};

    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "i".into(),
            sub: "user:1".into(),
            aud: Audience::One("a".into()),
            exp,
            iat: 0,
            nbf: None,
            jti: "j".into(),
            client_id: "c".into(),
            scope: "me".into(),
            sid: None,
        }
    }

    fn principal() -> Arc<Principal> {
        Arc::new(Principal {
            subject: Subject::User("1".into()),
            scopes: ScopeSet::parse("me").unwrap(),
            client_id: "c".into(),
            session_id: None,
            credential_id: Some("j".into()),
            issued_at: 0,
            expires_at: 100,
            kind: CredentialKind::AccessToken,
        })
    }

    #[test]
    fn generation_scoped_and_bounded() {
        let c = VerifiedCache::new(2);
        c.insert("t1", 1, claims(100), principal(), 0);
        assert!(c.get(b"t1", 1).is_some());
        assert!(c.get(b"t1", 2).is_none(), "a new keyring invalidates");
        assert!(c.get(b"t2", 1).is_none());
        c.insert("t2", 1, claims(5), principal(), 0);
        c.insert("t3", 1, claims(100), principal(), 10);
        assert!(c.len() <= 2);
        assert!(c.get(b"t2", 1).is_none(), "the expired entry was evicted first");
    }
}
