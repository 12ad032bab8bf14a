//! Generating and checking high-entropy secrets (refresh tokens, client secrets, API keys,
//! cookie secrets). They carry ≥ 256 random bits, so a fast one-way hash (SHA-256) is
//! enough to store them; comparisons are constant-time.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 256 random bits, base64url without padding (43 characters).
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// SHA-256 of a secret, lowercase hex: the stored form.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `presented` hashes to `stored_hash`, in constant time.
pub fn verify_secret(presented: &str, stored_hash: &str) -> bool {
    hash_secret(presented).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_verify_only_themselves() {
        let a = random_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_secret());
        let h = hash_secret(&a);
        assert!(verify_secret(&a, &h));
        assert!(!verify_secret("nope", &h));
        assert!(!verify_secret(&a, ""));
    }
}
