//! Arbitrary bytes as an access token: `inspect_header` and `TokenVerifier::verify` must
//! never panic, must never accept a token our keys did not sign, and must never accept a
//! token they did sign unless every rule of `Validation` holds.
//!
//! Input layout (first byte = mode):
//! - even: the rest is the token itself (raw mode) — verification must fail.
//! - odd: `[mode, key, header_len, header_json[header_len], claims_json…]`: the target
//!   base64url-encodes both JSON parts and signs them with one of its real keys (RS256,
//!   ES256, EdDSA, HS256), so the fuzzer reaches claim parsing and the time/iss/aud checks
//!   behind a valid signature (`$KID` in the header stands for the signing key's `kid`).
//!   Whatever verifies must satisfy the policy.
#![no_main]

use std::sync::OnceLock;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use gatehouse_core::{inspect_header, Algorithm, ManualClock, SigningKey, TokenVerifier, Validation};
use jsonwebtoken::EncodingKey;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const ISSUER: &str = "https://issuer.fuzz";
const AUDIENCE: &str = "api://fuzz";
const NOW: i64 = 1_750_000_000;
const HS_SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret-0123456789";

struct Signer {
    alg: Algorithm,
    jwt_alg: jsonwebtoken::Algorithm,
    kid: String,
    key: EncodingKey,
}

struct Fixture {
    /// All four algorithms pinned, one key each, `typ` must be `at+jwt`.
    strict: TokenVerifier,
    /// RS256 and EdDSA only, any `typ`, no audience check (a remote-provider shape).
    lenient: TokenVerifier,
    signers: Vec<Signer>,
    clock: ManualClock,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut keys = Vec::new();
        let mut signers = Vec::new();
        for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let k = SigningKey::generate(alg).expect("generate key");
            let pem = k.private_pem().expect("pem").as_bytes().to_vec();
            let (jwt_alg, key) = match alg {
                Algorithm::RS256 => (jsonwebtoken::Algorithm::RS256, EncodingKey::from_rsa_pem(&pem)),
                Algorithm::ES256 => (jsonwebtoken::Algorithm::ES256, EncodingKey::from_ec_pem(&pem)),
                _ => (jsonwebtoken::Algorithm::EdDSA, EncodingKey::from_ed_pem(&pem)),
            };
            signers.push(Signer { alg, jwt_alg, kid: k.kid().to_owned(), key: key.expect("encoding key") });
            keys.push(k.verifying_key().clone());
        }
        let hs = SigningKey::hmac(HS_SECRET).expect("hmac key");
        signers.push(Signer {
            alg: Algorithm::HS256,
            jwt_alg: jsonwebtoken::Algorithm::HS256,
            kid: hs.kid().to_owned(),
            key: EncodingKey::from_secret(HS_SECRET),
        });
        keys.push(hs.verifying_key().clone());

        let all = vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256];
        let strict = TokenVerifier::new(Validation::new(ISSUER, vec![AUDIENCE.to_owned()], all), keys.clone());
        let mut v = Validation::new(ISSUER, vec![], vec![Algorithm::RS256, Algorithm::EdDSA]);
        v.required_typ = None;
        let lenient = TokenVerifier::new(v, keys);
        Fixture { strict, lenient, signers, clock: ManualClock::new(NOW) }
    })
}

/// What a verified token must satisfy under `verifier`'s policy, checked independently.
fn assert_policy(token: &str, verifier: &TokenVerifier, signer: &Signer, claims: &gatehouse_core::AccessClaims) {
    let v = verifier.validation();
    let header_b64 = token.split('.').next().unwrap_or_default();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).expect("verified header is base64"))
        .expect("verified header is JSON");
    assert_eq!(header["alg"].as_str(), Some(signer.alg.as_str()), "alg must name the key's own algorithm");
    assert!(v.algorithms.contains(&signer.alg), "a key outside the pinned set verified");
    assert_eq!(header["kid"].as_str(), Some(signer.kid.as_str()), "kid must select the signing key");
    for forbidden in ["crit", "jku", "x5u", "jwk", "x5c"] {
        assert!(header.get(forbidden).is_none(), "token with {forbidden} header verified");
    }
    if let Some(typ) = &v.required_typ {
        let got = header["typ"].as_str().unwrap_or("").to_ascii_lowercase();
        assert!(got == *typ || got == format!("application/{typ}"), "wrong typ {got:?} verified");
    }
    assert_eq!(claims.iss, v.issuer, "wrong issuer verified");
    if !v.audiences.is_empty() {
        assert!(claims.aud.iter().any(|a| v.audiences.iter().any(|x| x == a)), "wrong audience verified");
    }
    assert!(claims.exp > NOW - v.leeway, "expired token verified");
    assert!(claims.iat <= NOW + v.leeway, "token from the future verified");
    assert!(claims.nbf.is_none_or(|nbf| nbf <= NOW + v.leeway), "not-yet-valid token verified");
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        let token = String::from_utf8_lossy(rest);
        for verifier in [&f.strict, &f.lenient] {
            let _ = inspect_header(&token, verifier.validation());
            assert!(verifier.verify(&token, &f.clock).is_err(), "a token we never signed verified: {token:?}");
        }
        return;
    }
    let [key, header_len, body @ ..] = rest else { return };
    let signer = &f.signers[usize::from(*key) % f.signers.len()];
    let split = usize::from(*header_len).min(body.len());
    let (header_json, claims_json) = body.split_at(split);
    // Asymmetric kids are thumbprints of keys generated at start-up: `$KID` stands for the
    // signer's, so seeds and the fuzzer can name it.
    let header_json = String::from_utf8_lossy(header_json).replace("$KID", &signer.kid);
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header_json), URL_SAFE_NO_PAD.encode(claims_json));
    let Ok(signature) = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &signer.key, signer.jwt_alg) else {
        return;
    };
    let token = format!("{signing_input}.{signature}");
    for verifier in [&f.strict, &f.lenient] {
        let header = inspect_header(&token, verifier.validation());
        match verifier.verify(&token, &f.clock) {
            Ok(claims) => {
                assert!(header.is_ok(), "verify accepted a header inspect_header refuses");
                assert_policy(&token, verifier, signer, &claims);
            }
            Err(_) => {}
        }
    }
});
