//! A bounded cache of verified access tokens. The same token is usually presented many
//! times; its signature is checked once per keyring generation. Expiry (`exp`/`nbf`/`iat`)
//! and revocation are still checked on every request, so caching weakens neither. Only
//! tokens that verified are cached: forged tokens cannot fill it.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hasher},
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
/// foldhash (randomly seeded per process) over their last [`HASHED_TAIL`] bytes only
/// ([`TailHash`]); a match still compares the whole token. Only verified tokens are ever
/// inserted, so an attacker cannot choose the keys the table holds.
#[derive(Debug)]
pub struct VerifiedCache {
    /// Keyed by the token's bytes: a request's token is looked up before its characters are
    /// checked (a byte-for-byte match with a verified token needs no check).
    map: RwLock<HashMap<Box<[u8]>, Entry, TailHash>>,
    max_entries: usize,
}

/// How many trailing bytes of a token its hash covers: 32 base64url characters, 192 bits of
/// its signature (a JWT ends with its signature, which differs between any two tokens the
/// server signs).
const HASHED_TAIL: usize = 32;

/// Hashes a byte-string key by its last [`HASHED_TAIL`] bytes (and its length). A token is
/// ~800 bytes and is hashed on every request: all of it cost ≈ 1.5% of a `/users/me`
/// request's instructions (docs/PERFORMANCE.md). Distinct keys with the same tail share a
/// bucket and are told apart by the full comparison; the table only ever holds verified
/// tokens, whose tails are distinct signatures, so a caller cannot pile keys into one bucket.
#[derive(Debug, Clone, Default)]
struct TailHash(foldhash::fast::RandomState);

impl BuildHasher for TailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

/// The hasher of [`TailHash`].
#[derive(Clone)]
struct TailHasher(foldhash::fast::FoldHasher);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
    }
    fn write_usize(&mut self, n: usize) {
        self.0.write_usize(n);
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
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

    #[test]
    fn tokens_sharing_their_hashed_tail_are_told_apart() {
        let tail = "s".repeat(HASHED_TAIL);
        let (a, b) = (format!("head.a.{tail}"), format!("head.b.{tail}"));
        let hasher = TailHash::default();
        assert_eq!(hasher.hash_one(a.as_bytes()), hasher.hash_one(b.as_bytes()), "only the tail is hashed");
        assert_ne!(hasher.hash_one(a.as_bytes()), hasher.hash_one(format!("{a}x").as_bytes()));

        let c = VerifiedCache::new(8);
        c.insert(&a, 1, claims(100), principal(), 0);
        assert!(c.get(a.as_bytes(), 1).is_some());
        assert!(c.get(b.as_bytes(), 1).is_none(), "same tail, different token: not the cached one");
        let mut other = (*principal()).clone();
        other.subject = Subject::User("2".into());
        c.insert(&b, 1, claims(100), Arc::new(other), 0);
        let subject = |t: &str| c.get(t.as_bytes(), 1).map(|(_, p)| p.subject.clone());
        assert_eq!(subject(&a), Some(Subject::User("1".into())));
        assert_eq!(subject(&b), Some(Subject::User("2".into())));
        assert_eq!(c.len(), 2);
    }
}
