//! Signing keys at run time: created on first start, stored in the database, reloaded
//! periodically and on an unknown `kid`, rotated and retired by the CLI.
//!
//! Rotation publishes a new key in the JWKS at once but signs with it only after
//! `key_reload_secs`, so every instance (and every JWKS cache that refreshes on unknown
//! `kid`) knows it before the first token it signs arrives. Retiring keys stay published
//! until every token they signed has expired.

use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use gatehouse_core::{jwks, Algorithm, Clock, SigningKey, TokenSigner, TokenVerifier, Validation};
use gatehouse_store::{KeyRecord, KeyStatus, Storage};
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

use crate::settings::Settings;

/// One consistent view of the keys: who signs, who verifies, what is published.
#[derive(Debug)]
pub struct Keyring {
    /// Signs new access tokens.
    pub signer: TokenSigner,
    /// Verifies access tokens.
    pub verifier: TokenVerifier,
    /// The JWKS document, serialised.
    pub jwks: Arc<str>,
    /// Distinguishes keyrings: caches of verified tokens are only valid for one generation.
    pub generation: u64,
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Owns the current [`Keyring`] and refreshes it from storage.
#[derive(Debug)]
pub struct KeyManager {
    store: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    current: RwLock<Arc<Keyring>>,
    last_reload: Mutex<i64>,
}

fn record_of(key: &SigningKey, now: i64) -> anyhow::Result<KeyRecord> {
    Ok(KeyRecord {
        kid: key.kid().to_owned(),
        alg: key.algorithm().as_str().to_owned(),
        private_pem: key.private_pem().context("asymmetric key without PEM")?.to_owned(),
        public_jwk: key.verifying_key().jwk().context("asymmetric key without JWK")?.to_string(),
        created_at: now,
        status: KeyStatus::Active,
        retire_at: None,
    })
}

/// Creates and stores a new active key of `alg`; demotes the other active keys to retiring
/// (published until `now + grace`). Returns the new kid.
///
/// # Errors
/// Storage or key generation failures.
pub async fn rotate(store: &dyn Storage, alg: Algorithm, now: i64, grace: i64) -> anyhow::Result<String> {
    let key = tokio::task::spawn_blocking(move || SigningKey::generate(alg)).await??;
    for k in store.list_keys().await? {
        if k.status == KeyStatus::Active {
            store.set_key_status(&k.kid, KeyStatus::Retiring, Some(now + grace)).await?;
        }
    }
    store.insert_key(&record_of(&key, now)?).await?;
    Ok(key.kid().to_owned())
}

impl KeyManager {
    /// Loads keys, generating the first one if there is none for the configured algorithm.
    ///
    /// # Errors
    /// Storage failures or unusable stored keys.
    pub async fn init(store: Arc<dyn Storage>, clock: Arc<dyn Clock>, settings: &Settings) -> anyhow::Result<Self> {
        if settings.jwt_alg.is_asymmetric() {
            let have = store
                .list_keys()
                .await?
                .iter()
                .any(|k| k.status == KeyStatus::Active && k.alg == settings.jwt_alg.as_str());
            if !have {
                let now = clock.now();
                // A first key signs at once: backdate it past the propagation delay.
                let alg = settings.jwt_alg;
                let key = tokio::task::spawn_blocking(move || SigningKey::generate(alg)).await??;
                let mut rec = record_of(&key, now - settings.key_reload_secs as i64 - 1)?;
                rec.created_at = now - settings.key_reload_secs as i64 - 1;
                store.insert_key(&rec).await?;
                tracing::info!(kid = key.kid(), alg = alg.as_str(), "generated signing key");
            }
        }
        let ring = build(store.as_ref(), clock.as_ref(), settings).await?;
        Ok(Self {
            store,
            clock: Arc::clone(&clock),
            settings: settings.clone(),
            current: RwLock::new(Arc::new(ring)),
            last_reload: Mutex::new(clock.now()),
        })
    }

    /// The keyring in force.
    pub fn current(&self) -> Arc<Keyring> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Reloads from storage.
    ///
    /// # Errors
    /// Storage failures; the old keyring stays in force.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let ring = Arc::new(build(self.store.as_ref(), self.clock.as_ref(), &self.settings).await?);
        match self.current.write() {
            Ok(mut g) => *g = ring,
            Err(p) => *p.into_inner() = ring,
        }
        *self.last_reload.lock().await = self.clock.now();
        Ok(())
    }

    /// Reloads unless that happened in the last 5 seconds (used on an unknown `kid`, so a
    /// flood of forged kids cannot hammer the database). True if a reload ran.
    pub async fn reload_if_stale(&self) -> bool {
        {
            let last = self.last_reload.lock().await;
            if self.clock.now() - *last < 5 {
                return false;
            }
        }
        match self.reload().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "key reload failed");
                false
            }
        }
    }
}

async fn build(store: &dyn Storage, clock: &dyn Clock, s: &Settings) -> anyhow::Result<Keyring> {
    let now = clock.now();
    let validation = {
        let mut v = Validation::new(s.issuer.clone(), s.audience.clone(), vec![s.jwt_alg]);
        v.leeway = s.clock_leeway;
        v
    };
    if s.jwt_alg == Algorithm::HS256 {
        let secret = s.jwt_secret.as_ref().context("GATEHOUSE_JWT_SECRET is required for HS256")?;
        let key = Arc::new(SigningKey::hmac(secret.expose_secret().as_bytes())?);
        let verifier = TokenVerifier::new(validation, [key.verifying_key().clone()]);
        return Ok(Keyring {
            signer: TokenSigner::new(key),
            verifier,
            jwks: Arc::from(r#"{"keys":[]}"#),
            generation: next_generation(),
        });
    }
    let mut published = Vec::new();
    // Signing preference: the newest settled active key; while a freshly rotated key is
    // still propagating, the key it replaced (now retiring); a brand-new deployment's only key.
    let mut settled: Option<(i64, Arc<SigningKey>)> = None;
    let mut previous: Option<(i64, Arc<SigningKey>)> = None;
    let mut newest: Option<(i64, Arc<SigningKey>)> = None;
    let newer = |slot: &Option<(i64, Arc<SigningKey>)>, t: i64| slot.as_ref().is_none_or(|(u, _)| t > *u);
    for rec in store.list_keys().await? {
        if rec.alg != s.jwt_alg.as_str() {
            continue;
        }
        let live = match rec.status {
            KeyStatus::Active => true,
            KeyStatus::Retiring => rec.retire_at.is_some_and(|t| t > now),
            KeyStatus::Retired => false,
        };
        if !live {
            continue;
        }
        let jwk: serde_json::Value = serde_json::from_str(&rec.public_jwk).context("stored JWK")?;
        let key = Arc::new(
            SigningKey::from_stored(&rec.kid, s.jwt_alg, &rec.private_pem, &jwk)
                .with_context(|| format!("stored key {}", rec.kid))?,
        );
        published.push(key.verifying_key().clone());
        let t = rec.created_at;
        let slot = match rec.status {
            KeyStatus::Active if t <= now - s.key_reload_secs as i64 => &mut settled,
            KeyStatus::Active => &mut newest,
            _ => &mut previous,
        };
        if newer(slot, t) {
            *slot = Some((t, key));
        }
    }
    let signer = settled.or(previous).or(newest).context("no active signing key; run `gatehouse keys rotate`")?.1;
    let jwks = Arc::from(jwks(&published).to_string());
    Ok(Keyring {
        signer: TokenSigner::new(signer),
        verifier: TokenVerifier::new(validation, published),
        jwks,
        generation: next_generation(),
    })
}
