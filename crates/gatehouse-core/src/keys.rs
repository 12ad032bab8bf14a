//! Signing keys: generation, PEM storage form, public JWKs, and the `kid`.

use std::{fmt, str::FromStr};

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeySize, PublicKeyComponents},
    signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use jsonwebtoken::{DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{ErrorKind, Result};

/// The signing algorithms gatehouse supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys. The default.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
    /// HMAC-SHA256 with a shared secret of at least 32 bytes (never published in the JWKS).
    HS256,
}

impl Algorithm {
    /// The JOSE name (`"RS256"` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
        }
    }

    /// Whether keys of this algorithm are asymmetric (and so published in the JWKS).
    pub fn is_asymmetric(self) -> bool {
        !matches!(self, Self::HS256)
    }

    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Self::HS256 => jsonwebtoken::Algorithm::HS256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "RS256" => Ok(Self::RS256),
            "ES256" => Ok(Self::ES256),
            "EdDSA" => Ok(Self::EdDSA),
            "HS256" => Ok(Self::HS256),
            other => Err(ErrorKind::AlgorithmNotAllowed(other.chars().take(16).collect()).into()),
        }
    }
}

/// A key that signs access tokens. Its private half never prints.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    /// For RS256: the key parsed once. jsonwebtoken's aws-lc backend parses and checks the
    /// RSA key on every signature: ≈ 40% of a login's CPU time on the request thread
    /// (1.33 → 0.81 ms per login; docs/PERFORMANCE.md).
    rsa: Option<RsaKeyPair>,
    verifying: VerifyingKey,
    private_pem: Option<SecretString>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private", &"[redacted]")
            .finish()
    }
}

/// The public (verifying) half of a key, with its `kid` and pinned algorithm.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: String,
    alg: Algorithm,
    decoding: DecodingKey,
    jwk: Option<Value>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey").field("kid", &self.kid).field("alg", &self.alg).finish()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn pem_wrap(label: &str, der: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn key_err(e: impl fmt::Display) -> crate::Error {
    ErrorKind::InvalidKey(e.to_string()).into()
}

/// RFC 7638 thumbprint of the required members, used as `kid`.
fn thumbprint_kid(jwk: &Value) -> String {
    let members: &[&str] = match jwk["kty"].as_str() {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => &["kty"],
    };
    let mut canon = serde_json::Map::new();
    for m in members {
        canon.insert((*m).to_owned(), jwk[*m].clone());
    }
    let digest = Sha256::digest(Value::Object(canon).to_string().as_bytes());
    b64(&digest[..16])
}

impl SigningKey {
    /// Generates a fresh asymmetric key (`RS256` is 2048-bit RSA).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`] for `HS256` (use [`SigningKey::hmac`]) or a generator failure.
    pub fn generate(alg: Algorithm) -> Result<Self> {
        let (der, jwk) = match alg {
            Algorithm::RS256 => {
                let kp = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(key_err)?;
                let der = kp.as_der().map_err(key_err)?.as_ref().to_vec();
                let pc = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
                (der, json!({"kty": "RSA", "n": b64(&pc.n), "e": b64(&pc.e)}))
            }
            Algorithm::ES256 => {
                let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(key_err)?;
                let der = kp.to_pkcs8v1().map_err(key_err)?.as_ref().to_vec();
                (der, ec_jwk(kp.public_key().as_ref())?)
            }
            Algorithm::EdDSA => {
                let kp = Ed25519KeyPair::generate().map_err(key_err)?;
                let der = kp.to_pkcs8v1().map_err(key_err)?.as_ref().to_vec();
                (der, json!({"kty": "OKP", "crv": "Ed25519", "x": b64(kp.public_key().as_ref())}))
            }
            Algorithm::HS256 => return Err(key_err("HS256 keys come from a configured secret")),
        };
        let pem = pem_wrap("PRIVATE KEY", &der);
        Self::from_parts(None, alg, &pem, jwk)
    }

    /// Rebuilds a key from its stored form: PKCS#8 PEM plus the public JWK it was stored with.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`] when the PEM or JWK does not parse or does not fit `alg`.
    pub fn from_stored(kid: &str, alg: Algorithm, private_pem: &str, public_jwk: &Value) -> Result<Self> {
        let mut jwk = public_jwk.clone();
        if let Some(obj) = jwk.as_object_mut() {
            obj.retain(|k, _| matches!(k.as_str(), "kty" | "n" | "e" | "crv" | "x" | "y"));
        }
        Self::from_parts(Some(kid.to_owned()), alg, private_pem, jwk)
    }

    fn from_parts(kid: Option<String>, alg: Algorithm, pem: &str, mut jwk: Value) -> Result<Self> {
        let encoding = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            Algorithm::HS256 => return Err(key_err("HS256 keys come from a configured secret")),
        }
        .map_err(key_err)?;
        let kid = kid.unwrap_or_else(|| thumbprint_kid(&jwk));
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), kid.clone().into());
            obj.insert("alg".into(), alg.as_str().into());
            obj.insert("use".into(), "sig".into());
        }
        let verifying = VerifyingKey::from_jwk(&jwk)?;
        // Prove the pair belongs together before we ever sign with it.
        let probe = jsonwebtoken::encode(&jsonwebtoken::Header::new(alg.to_jwt()), &json!({"probe": true}), &encoding)
            .map_err(key_err)?;
        let mut v = jsonwebtoken::Validation::new(alg.to_jwt());
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v.validate_aud = false;
        jsonwebtoken::decode::<Value>(&probe, &verifying.decoding, &v)
            .map_err(|_| key_err("private key does not match its public JWK"))?;
        // The same parse jsonwebtoken's aws-lc backend makes per signature, made once.
        let rsa = match alg {
            Algorithm::RS256 => Some(RsaKeyPair::from_der(encoding.inner()).map_err(key_err)?),
            _ => None,
        };
        Ok(Self { kid, alg, encoding, rsa, verifying, private_pem: Some(SecretString::from(pem.to_owned())) })
    }

    /// An HS256 key from a shared secret of at least 32 bytes. Its `kid` is derived from the
    /// secret by a one-way hash, so tokens name the key without revealing it.
    ///
    /// # Errors
    /// [`ErrorKind::WeakSecret`] when the secret is shorter than 32 bytes.
    pub fn hmac(secret: &[u8]) -> Result<Self> {
        if secret.len() < 32 {
            return Err(ErrorKind::WeakSecret("HS256 secret must be at least 32 bytes".into()).into());
        }
        let mut h = Sha256::new();
        h.update(b"gatehouse-hs256-kid:");
        h.update(secret);
        let kid = format!("hs-{}", b64(&h.finalize()[..12]));
        let verifying = VerifyingKey {
            kid: kid.clone(),
            alg: Algorithm::HS256,
            decoding: DecodingKey::from_secret(secret),
            jwk: None,
        };
        Ok(Self {
            kid,
            alg: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            rsa: None,
            verifying,
            private_pem: None,
        })
    }

    /// The key id carried in token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The verifying half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// The PKCS#8 PEM to store (None for HS256, whose secret lives in configuration).
    pub fn private_pem(&self) -> Option<&str> {
        self.private_pem.as_ref().map(|s| s.expose_secret())
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The parsed RSA key pair (RS256 keys only).
    pub(crate) fn rsa(&self) -> Option<&RsaKeyPair> {
        self.rsa.as_ref()
    }
}

fn ec_jwk(point: &[u8]) -> Result<Value> {
    if point.len() != 65 || point[0] != 4 {
        return Err(key_err("unexpected P-256 public key encoding"));
    }
    Ok(json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])}))
}

impl VerifyingKey {
    /// A verifying key from a public JWK that carries `kid` and `alg` (RSA, EC P-256, OKP Ed25519).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`] for missing members, a key type that does not fit `alg`, or
    /// an algorithm gatehouse does not support.
    pub fn from_jwk(jwk: &Value) -> Result<Self> {
        let s = |k: &str| jwk.get(k).and_then(Value::as_str);
        let kid = s("kid").ok_or_else(|| key_err("JWK has no kid"))?.to_owned();
        let alg: Algorithm = s("alg").ok_or_else(|| key_err("JWK has no alg"))?.parse()?;
        let need = |k: &str| s(k).ok_or_else(|| key_err(format!("JWK lacks {k}")));
        let decoding = match (alg, s("kty")) {
            (Algorithm::RS256, Some("RSA")) => DecodingKey::from_rsa_components(need("n")?, need("e")?),
            (Algorithm::ES256, Some("EC")) if s("crv") == Some("P-256") => {
                DecodingKey::from_ec_components(need("x")?, need("y")?)
            }
            (Algorithm::EdDSA, Some("OKP")) if s("crv") == Some("Ed25519") => {
                DecodingKey::from_ed_components(need("x")?)
            }
            _ => return Err(key_err("JWK key type does not fit its algorithm")),
        }
        .map_err(key_err)?;
        let mut public = serde_json::Map::new();
        for k in ["kty", "use", "alg", "kid", "n", "e", "crv", "x", "y"] {
            if let Some(v) = jwk.get(k) {
                public.insert(k.to_owned(), v.clone());
            }
        }
        public.entry("use").or_insert_with(|| "sig".into());
        Ok(Self { kid, alg, decoding, jwk: Some(Value::Object(public)) })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK (None for HS256).
    pub fn jwk(&self) -> Option<&Value> {
        self.jwk.as_ref()
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

/// Builds a JWKS document (`{"keys":[...]}`) from verifying keys, skipping symmetric ones.
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a VerifyingKey>) -> Value {
    json!({"keys": keys.into_iter().filter_map(VerifyingKey::jwk).cloned().collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_storage() {
        for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let k = SigningKey::generate(alg).unwrap();
            let jwk = k.verifying_key().jwk().unwrap().clone();
            assert_eq!(jwk["alg"], alg.as_str());
            assert!(jwk.get("d").is_none(), "private member leaked into JWK");
            let again = SigningKey::from_stored(k.kid(), alg, k.private_pem().unwrap(), &jwk).unwrap();
            assert_eq!(again.kid(), k.kid());
        }
    }

    #[test]
    fn mismatched_pair_is_refused() {
        let a = SigningKey::generate(Algorithm::ES256).unwrap();
        let b = SigningKey::generate(Algorithm::ES256).unwrap();
        let err =
            SigningKey::from_stored("x", Algorithm::ES256, a.private_pem().unwrap(), b.verifying_key().jwk().unwrap());
        assert!(err.is_err());
    }

    #[test]
    fn short_hmac_secret_is_refused() {
        assert!(SigningKey::hmac(&[7u8; 31]).is_err());
        let k = SigningKey::hmac(&[7u8; 32]).unwrap();
        assert!(k.verifying_key().jwk().is_none());
        assert!(!k.kid().is_empty());
    }

    #[test]
    fn debug_redacts_private_key() {
        let k = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let dbg = format!("{k:?}");
        assert!(dbg.contains("[redacted]"));
        assert!(!dbg.contains("PRIVATE KEY"));
    }
}
