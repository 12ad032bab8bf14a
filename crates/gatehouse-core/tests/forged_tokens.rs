//! Black-box tests of access-token verification against forged, tampered and
//! otherwise hostile tokens. Every negative test pins the exact refusal
//! (`Error::kind()` and `Error::reason()`), and every family of forgeries has a
//! positive control built with the same forging helper, so a refusal cannot be
//! an accident of a broken helper.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

use std::sync::{Arc, OnceLock};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use gatehouse_core::{
    AccessClaims, Algorithm, Audience, Error, ErrorKind, ManualClock, SigningKey, TokenSigner, TokenVerifier,
    Validation,
};
use jsonwebtoken::EncodingKey;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const ISS: &str = "https://auth.example.test";
const AUD: &str = "https://api.example.test";
const NOW: i64 = 1_700_000_000;
const TTL: i64 = 300;
const LEEWAY: i64 = 30;
const HMAC_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-gatehouse";

const ASYMMETRIC: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];
const ALL: [Algorithm; 4] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256];

/// One cached key per algorithm (RSA generation is slow).
fn key(alg: Algorithm) -> Arc<SigningKey> {
    static RS: OnceLock<Arc<SigningKey>> = OnceLock::new();
    static ES: OnceLock<Arc<SigningKey>> = OnceLock::new();
    static ED: OnceLock<Arc<SigningKey>> = OnceLock::new();
    static HS: OnceLock<Arc<SigningKey>> = OnceLock::new();
    let cell = match alg {
        Algorithm::RS256 => &RS,
        Algorithm::ES256 => &ES,
        Algorithm::EdDSA => &ED,
        Algorithm::HS256 => &HS,
    };
    cell.get_or_init(|| {
        Arc::new(match alg {
            Algorithm::HS256 => SigningKey::hmac(HMAC_SECRET).unwrap(),
            other => SigningKey::generate(other).unwrap(),
        })
    })
    .clone()
}

/// The `jsonwebtoken` algorithm with the same JOSE name.
fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
    }
}

/// An attacker-side `jsonwebtoken` encoding key holding the same private material as `key`
/// (for HS256 the configured secret, which is what `key(HS256)` was built from).
fn encoding_key(key: &SigningKey) -> EncodingKey {
    match key.algorithm() {
        Algorithm::HS256 => EncodingKey::from_secret(HMAC_SECRET),
        alg => {
            let pem = key.private_pem().unwrap().as_bytes();
            match alg {
                Algorithm::RS256 => EncodingKey::from_rsa_pem(pem),
                Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
                Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
                Algorithm::HS256 => unreachable!(),
            }
            .unwrap()
        }
    }
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISS.to_owned(),
        sub: "user:0190c2a4-6f1e-7c3a-9b1d-2b5f8a9e4c11".to_owned(),
        aud: Audience::One(AUD.to_owned()),
        exp: NOW + TTL,
        iat: NOW,
        nbf: None,
        jti: "jti-123".to_owned(),
        client_id: "web-app".to_owned(),
        scope: "openid profile".to_owned(),
        sid: Some("sid-9".to_owned()),
    }
}

fn claims_json() -> Value {
    serde_json::to_value(claims()).unwrap()
}

fn validation(algs: &[Algorithm]) -> Validation {
    let mut v = Validation::new(ISS, vec![AUD.to_owned()], algs.to_vec());
    v.leeway = LEEWAY;
    v
}

/// A verifier pinning exactly `key`'s algorithm and knowing only `key`.
fn verifier_for(key: &SigningKey) -> TokenVerifier {
    TokenVerifier::new(validation(&[key.algorithm()]), [key.verifying_key().clone()])
}

fn clock() -> ManualClock {
    ManualClock::new(NOW)
}

/// Signs through the crate's own signer.
fn sign(key: &Arc<SigningKey>, claims: &AccessClaims) -> String {
    TokenSigner::new(key.clone()).sign(claims).unwrap()
}

fn verify(verifier: &TokenVerifier, token: &str) -> Result<AccessClaims, Error> {
    verifier.verify(token, &clock())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_json(v: &Value) -> String {
    b64(v.to_string().as_bytes())
}

/// The header the crate itself would put on a token from `key`.
fn std_header(key: &SigningKey) -> Value {
    json!({"alg": key.algorithm().as_str(), "typ": "at+jwt", "kid": key.kid()})
}

/// Builds `b64(header).b64(claims)` and signs it with `enc` under `alg`, exactly as an
/// attacker holding `enc` would. The header is taken verbatim, whatever it claims.
fn forge(header: &Value, claims: &Value, enc: &EncodingKey, alg: jsonwebtoken::Algorithm) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), enc, alg).unwrap();
    format!("{input}.{sig}")
}

/// Forges a token with `header`/`claims` and a *genuine* signature by `key`.
fn forge_with(key: &SigningKey, header: &Value, claims: &Value) -> String {
    forge(header, claims, &encoding_key(key), jwt_alg(key.algorithm()))
}

/// Signs two raw (already encoded, possibly garbage) segments genuinely with `key`.
fn sign_raw(key: &SigningKey, header_seg: &str, claims_seg: &str) -> String {
    let input = format!("{header_seg}.{claims_seg}");
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &encoding_key(key), jwt_alg(key.algorithm())).unwrap();
    format!("{input}.{sig}")
}

/// Replaces the named segment (0 = header, 1 = claims, 2 = signature) of a token.
fn replace_segment(token: &str, index: usize, new: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[index] = new.to_owned();
    parts.join(".")
}

#[track_caller]
fn expect_err(result: Result<AccessClaims, Error>, kind: &ErrorKind, reason: &str) {
    match result {
        Ok(c) => panic!("expected refusal {kind:?}, but the token verified: {c:?}"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "wrong refusal (display: {e})");
            assert_eq!(e.reason(), reason, "wrong reason for {kind:?}");
        }
    }
}

#[track_caller]
fn expect_ok(result: Result<AccessClaims, Error>) -> AccessClaims {
    match result {
        Ok(c) => c,
        Err(e) => panic!("expected the token to verify, got {:?} ({e})", e.kind()),
    }
}

// ---------------------------------------------------------------------------
// 1. Positive controls
// ---------------------------------------------------------------------------

#[test]
fn valid_token_verifies_and_claims_round_trip() {
    for alg in ALL {
        let k = key(alg);
        let token = sign(&k, &claims());
        let got = expect_ok(verify(&verifier_for(&k), &token));
        assert_eq!(got, claims(), "{alg}: claims did not round-trip");
        assert_eq!(got.scopes(), claims().scopes());
    }
}

#[test]
fn forged_token_with_genuine_key_and_standard_header_verifies() {
    // Control for every hand-forged negative below: the forging helper itself is sound.
    for alg in ALL {
        let k = key(alg);
        let token = forge_with(&k, &std_header(&k), &claims_json());
        assert_eq!(expect_ok(verify(&verifier_for(&k), &token)), claims(), "{alg}");
    }
}

#[test]
fn verifier_with_several_pinned_algorithms_picks_the_right_key() {
    let keys: Vec<_> = ALL.iter().map(|a| key(*a)).collect();
    let verifier = TokenVerifier::new(validation(&ALL), keys.iter().map(|k| k.verifying_key().clone()));
    for k in &keys {
        assert_eq!(expect_ok(verify(&verifier, &sign(k, &claims()))), claims());
    }
}

// ---------------------------------------------------------------------------
// 2. alg: none
// ---------------------------------------------------------------------------

#[test]
fn alg_none_with_empty_signature_is_refused() {
    for alg in ALL {
        let k = key(alg);
        for none in ["none", "None", "NONE", "nOnE"] {
            let header = json!({"alg": none, "typ": "at+jwt", "kid": k.kid()});
            let token = format!("{}.{}.", b64_json(&header), b64_json(&claims_json()));
            expect_err(
                verify(&verifier_for(&k), &token),
                &ErrorKind::AlgorithmNotAllowed(none.to_owned()),
                "algorithm_not_allowed",
            );
        }
    }
}

#[test]
fn alg_none_carrying_the_original_signature_is_refused() {
    for alg in ALL {
        let k = key(alg);
        let genuine = sign(&k, &claims());
        let header = json!({"alg": "none", "typ": "at+jwt", "kid": k.kid()});
        let token = replace_segment(&genuine, 0, &b64_json(&header));
        expect_err(
            verify(&verifier_for(&k), &token),
            &ErrorKind::AlgorithmNotAllowed("none".to_owned()),
            "algorithm_not_allowed",
        );
    }
}

#[test]
fn unpinned_or_unknown_algorithms_are_refused() {
    let k = key(Algorithm::RS256);
    for name in ["RS384", "RS512", "PS256", "HS512", "ES384", "rs256", ""] {
        let header = json!({"alg": name, "typ": "at+jwt", "kid": k.kid()});
        let token = replace_segment(&sign(&k, &claims()), 0, &b64_json(&header));
        expect_err(
            verify(&verifier_for(&k), &token),
            &ErrorKind::AlgorithmNotAllowed(name.to_owned()),
            "algorithm_not_allowed",
        );
    }
}

#[test]
fn missing_or_non_string_alg_is_malformed() {
    let k = key(Algorithm::EdDSA);
    for header in [
        json!({"typ": "at+jwt", "kid": k.kid()}),
        json!({"alg": null, "typ": "at+jwt", "kid": k.kid()}),
        json!({"alg": ["EdDSA"], "typ": "at+jwt", "kid": k.kid()}),
    ] {
        let token = replace_segment(&sign(&k, &claims()), 0, &b64_json(&header));
        expect_err(verify(&verifier_for(&k), &token), &ErrorKind::MalformedToken, "malformed");
    }
}

// ---------------------------------------------------------------------------
// 3. Algorithm confusion
// ---------------------------------------------------------------------------

/// Public material an attacker can read from the JWKS of an RSA key, as HMAC "secrets".
fn rsa_public_material(k: &SigningKey) -> Vec<Vec<u8>> {
    let jwk = k.verifying_key().jwk().unwrap();
    let n = jwk["n"].as_str().unwrap();
    vec![n.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(n).unwrap(), jwk.to_string().into_bytes()]
}

#[test]
fn hs256_signed_with_rsa_public_key_is_refused_by_rs256_verifier() {
    let rsa = key(Algorithm::RS256);
    let verifier = verifier_for(&rsa);
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": rsa.kid()});
    for secret in rsa_public_material(&rsa) {
        let token = forge(&header, &claims_json(), &EncodingKey::from_secret(&secret), jsonwebtoken::Algorithm::HS256);
        expect_err(
            verify(&verifier, &token),
            &ErrorKind::AlgorithmNotAllowed("HS256".to_owned()),
            "algorithm_not_allowed",
        );
    }
}

#[test]
fn hs256_signed_with_rsa_public_key_is_refused_even_when_hs256_is_pinned() {
    // Both RS256 and HS256 pinned, both keys known: the RSA kid must never verify HS256.
    let rsa = key(Algorithm::RS256);
    let hs = key(Algorithm::HS256);
    let verifier = TokenVerifier::new(
        validation(&[Algorithm::RS256, Algorithm::HS256]),
        [rsa.verifying_key().clone(), hs.verifying_key().clone()],
    );
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": rsa.kid()});
    for secret in rsa_public_material(&rsa) {
        let token = forge(&header, &claims_json(), &EncodingKey::from_secret(&secret), jsonwebtoken::Algorithm::HS256);
        expect_err(verify(&verifier, &token), &ErrorKind::UnknownKey, "unknown_key");
    }
    // Control: the genuine HS256 key still works in this verifier.
    assert_eq!(expect_ok(verify(&verifier, &sign(&hs, &claims()))), claims());
}

#[test]
fn header_alg_not_matching_the_kids_key_is_unknown_key() {
    // Every ordered pair of distinct algorithms: header says `signer`'s alg and carries the
    // kid of `victim`; the token is genuinely signed by `signer`. All algorithms pinned.
    let verifier = TokenVerifier::new(validation(&ALL), ALL.iter().map(|a| key(*a).verifying_key().clone()));
    for victim in ALL {
        for signer in ALL {
            if victim == signer {
                continue;
            }
            let (v, s) = (key(victim), key(signer));
            let header = json!({"alg": signer.as_str(), "typ": "at+jwt", "kid": v.kid()});
            let token = forge_with(&s, &header, &claims_json());
            expect_err(verify(&verifier, &token), &ErrorKind::UnknownKey, "unknown_key");
        }
    }
}

#[test]
fn es256_header_with_rs256_kid_is_unknown_key() {
    let rsa = key(Algorithm::RS256);
    let ec = key(Algorithm::ES256);
    let verifier = TokenVerifier::new(
        validation(&[Algorithm::RS256, Algorithm::ES256]),
        [rsa.verifying_key().clone(), ec.verifying_key().clone()],
    );
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": rsa.kid()});
    let token = forge_with(&ec, &header, &claims_json());
    expect_err(verify(&verifier, &token), &ErrorKind::UnknownKey, "unknown_key");
}

#[test]
fn token_of_an_unpinned_algorithm_is_refused_even_if_its_key_is_supplied() {
    // The verifier pins RS256 only; the EdDSA key handed to it must be ignored.
    let rsa = key(Algorithm::RS256);
    let ed = key(Algorithm::EdDSA);
    let verifier =
        TokenVerifier::new(validation(&[Algorithm::RS256]), [rsa.verifying_key().clone(), ed.verifying_key().clone()]);
    assert!(!verifier.knows_kid(ed.kid()));
    expect_err(
        verify(&verifier, &sign(&ed, &claims())),
        &ErrorKind::AlgorithmNotAllowed("EdDSA".to_owned()),
        "algorithm_not_allowed",
    );
}

// ---------------------------------------------------------------------------
// 4. Forbidden header parameters
// ---------------------------------------------------------------------------

fn forbidden_params(k: &SigningKey) -> Vec<(&'static str, Value)> {
    vec![
        ("jku", json!("https://evil.example.test/jwks.json")),
        ("x5u", json!("https://evil.example.test/cert.pem")),
        ("jwk", k.verifying_key().jwk().cloned().unwrap_or(json!({"kty": "oct", "k": "AAAA"}))),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUAAAA"])),
        ("crit", json!(["exp"])),
    ]
}

#[test]
fn forbidden_header_params_are_refused_despite_a_genuine_signature() {
    for alg in ALL {
        let k = key(alg);
        let verifier = verifier_for(&k);
        for (name, value) in forbidden_params(&k) {
            let mut header = std_header(&k);
            header[name] = value;
            let token = forge_with(&k, &header, &claims_json());
            expect_err(verify(&verifier, &token), &ErrorKind::ForbiddenHeader(name), "forbidden_header");
        }
    }
}

#[test]
fn embedded_attacker_jwk_is_refused() {
    // Classic key injection: attacker signs with their own key and embeds its JWK.
    for alg in ASYMMETRIC {
        let victim = key(alg);
        let attacker = SigningKey::generate(alg).unwrap();
        let mut header = std_header(&victim);
        header["jwk"] = attacker.verifying_key().jwk().unwrap().clone();
        let token = forge_with(&attacker, &header, &claims_json());
        expect_err(verify(&verifier_for(&victim), &token), &ErrorKind::ForbiddenHeader("jwk"), "forbidden_header");
    }
}

#[test]
fn forbidden_header_with_null_value_is_still_refused() {
    let k = key(Algorithm::ES256);
    for name in ["jku", "x5u", "jwk", "x5c", "crit"] {
        let mut header = std_header(&k);
        header[name] = Value::Null;
        let token = forge_with(&k, &header, &claims_json());
        expect_err(verify(&verifier_for(&k), &token), &ErrorKind::ForbiddenHeader(name), "forbidden_header");
    }
}

// ---------------------------------------------------------------------------
// 5. typ
// ---------------------------------------------------------------------------

#[test]
fn wrong_or_missing_typ_is_refused() {
    for alg in ALL {
        let k = key(alg);
        let verifier = verifier_for(&k);
        for typ in [json!("JWT"), json!("jwt"), json!("id_token+jwt"), json!(""), json!(null)] {
            let mut header = std_header(&k);
            header["typ"] = typ.clone();
            let token = forge_with(&k, &header, &claims_json());
            expect_err(verify(&verifier, &token), &ErrorKind::WrongTokenType, "wrong_token_type");
        }
        let mut header = std_header(&k);
        header.as_object_mut().unwrap().remove("typ");
        let token = forge_with(&k, &header, &claims_json());
        expect_err(verify(&verifier, &token), &ErrorKind::WrongTokenType, "wrong_token_type");
    }
}

#[test]
fn jsonwebtoken_default_header_typ_jwt_is_refused() {
    // A token minted by a stock JWT library (typ "JWT") with the genuine key.
    for alg in ALL {
        let k = key(alg);
        let mut header = jsonwebtoken::Header::new(jwt_alg(alg));
        header.kid = Some(k.kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims(), &encoding_key(&k)).unwrap();
        expect_err(verify(&verifier_for(&k), &token), &ErrorKind::WrongTokenType, "wrong_token_type");
    }
}

#[test]
fn equivalent_typ_spellings_are_accepted() {
    for alg in ALL {
        let k = key(alg);
        for typ in ["at+jwt", "application/at+jwt", "AT+JWT", "At+Jwt"] {
            let mut header = std_header(&k);
            header["typ"] = json!(typ);
            let token = forge_with(&k, &header, &claims_json());
            assert_eq!(expect_ok(verify(&verifier_for(&k), &token)), claims(), "{alg} typ {typ:?}");
        }
    }
}

#[test]
fn required_typ_none_accepts_plain_jwt() {
    let k = key(Algorithm::EdDSA);
    let mut v = validation(&[Algorithm::EdDSA]);
    v.required_typ = None;
    let verifier = TokenVerifier::new(v, [k.verifying_key().clone()]);
    let mut header = std_header(&k);
    header["typ"] = json!("JWT");
    let token = forge_with(&k, &header, &claims_json());
    assert_eq!(expect_ok(verify(&verifier, &token)), claims());
}

// ---------------------------------------------------------------------------
// 6. Time claims
// ---------------------------------------------------------------------------

#[test]
fn expiry_honours_leeway() {
    for alg in ALL {
        let k = key(alg);
        let verifier = verifier_for(&k);
        let token = sign(&k, &claims());
        let at = |now: i64| verifier.verify(&token, &ManualClock::new(now));
        let exp = NOW + TTL;
        // Expired, but within the leeway.
        expect_ok(at(exp));
        expect_ok(at(exp + LEEWAY - 1));
        // Expired beyond the leeway.
        expect_err(at(exp + LEEWAY), &ErrorKind::Expired, "expired");
        expect_err(at(exp + LEEWAY + 1), &ErrorKind::Expired, "expired");
        expect_err(at(exp + 86_400), &ErrorKind::Expired, "expired");
    }
}

#[test]
fn manual_clock_advance_expires_a_token() {
    let k = key(Algorithm::ES256);
    let verifier = verifier_for(&k);
    let token = sign(&k, &claims());
    let clock = clock();
    expect_ok(verifier.verify(&token, &clock));
    clock.advance(TTL + LEEWAY + 1);
    expect_err(verifier.verify(&token, &clock), &ErrorKind::Expired, "expired");
}

#[test]
fn token_already_expired_when_signed_is_refused() {
    for alg in ALL {
        let k = key(alg);
        let c = AccessClaims { iat: NOW - 3_600, exp: NOW - LEEWAY - 1, ..claims() };
        expect_err(verify(&verifier_for(&k), &sign(&k, &c)), &ErrorKind::Expired, "expired");
    }
}

#[test]
fn nbf_in_the_future_beyond_leeway_is_not_yet_valid() {
    for alg in ALL {
        let k = key(alg);
        let verifier = verifier_for(&k);
        let at_nbf = |nbf: i64| {
            let c = AccessClaims { nbf: Some(nbf), ..claims() };
            verify(&verifier, &sign(&k, &c))
        };
        expect_ok(at_nbf(NOW));
        expect_ok(at_nbf(NOW + LEEWAY));
        expect_err(at_nbf(NOW + LEEWAY + 1), &ErrorKind::NotYetValid, "not_yet_valid");
        expect_err(at_nbf(NOW + 3_600), &ErrorKind::NotYetValid, "not_yet_valid");
    }
}

#[test]
fn iat_in_the_future_beyond_leeway_is_not_yet_valid() {
    for alg in ALL {
        let k = key(alg);
        let verifier = verifier_for(&k);
        let at_iat = |iat: i64| {
            let c = AccessClaims { iat, exp: iat + TTL, ..claims() };
            verify(&verifier, &sign(&k, &c))
        };
        expect_ok(at_iat(NOW + LEEWAY));
        expect_err(at_iat(NOW + LEEWAY + 1), &ErrorKind::NotYetValid, "not_yet_valid");
        expect_err(at_iat(NOW + 86_400), &ErrorKind::NotYetValid, "not_yet_valid");
    }
}

#[test]
fn clock_before_issue_time_is_not_yet_valid() {
    let k = key(Algorithm::EdDSA);
    let verifier = verifier_for(&k);
    let token = sign(&k, &claims());
    let clock = clock();
    clock.set(NOW - LEEWAY - 1);
    expect_err(verifier.verify(&token, &clock), &ErrorKind::NotYetValid, "not_yet_valid");
    clock.advance(1);
    expect_ok(verifier.verify(&token, &clock));
}

#[test]
fn missing_exp_is_refused() {
    let k = key(Algorithm::EdDSA);
    let mut c = claims_json();
    c.as_object_mut().unwrap().remove("exp");
    let token = forge_with(&k, &std_header(&k), &c);
    expect_err(verify(&verifier_for(&k), &token), &ErrorKind::MalformedToken, "malformed");
}

// ---------------------------------------------------------------------------
// 7. Issuer and audience
// ---------------------------------------------------------------------------

#[test]
fn wrong_issuer_is_refused() {
    for alg in ALL {
        let k = key(alg);
        for iss in ["https://evil.example.test", "https://auth.example.test/", "HTTPS://AUTH.EXAMPLE.TEST", ""] {
            let c = AccessClaims { iss: iss.to_owned(), ..claims() };
            expect_err(verify(&verifier_for(&k), &sign(&k, &c)), &ErrorKind::InvalidIssuer, "invalid_issuer");
        }
    }
}

#[test]
fn issuer_as_array_or_missing_is_refused() {
    let k = key(Algorithm::ES256);
    let mut c = claims_json();
    c["iss"] = json!([ISS, "https://evil.example.test"]);
    let token = forge_with(&k, &std_header(&k), &c);
    expect_err(verify(&verifier_for(&k), &token), &ErrorKind::MalformedToken, "malformed");
    let mut c = claims_json();
    c.as_object_mut().unwrap().remove("iss");
    let token = forge_with(&k, &std_header(&k), &c);
    expect_err(verify(&verifier_for(&k), &token), &ErrorKind::MalformedToken, "malformed");
}

#[test]
fn wrong_audience_is_refused() {
    for alg in ALL {
        let k = key(alg);
        let verifier = verifier_for(&k);
        for aud in [
            Audience::One("https://other.example.test".to_owned()),
            Audience::One(format!("{AUD}/")),
            Audience::Many(vec!["https://other.example.test".to_owned(), "https://third.example.test".to_owned()]),
            Audience::Many(vec![]),
        ] {
            let c = AccessClaims { aud: aud.clone(), ..claims() };
            expect_err(verify(&verifier, &sign(&k, &c)), &ErrorKind::InvalidAudience, "invalid_audience");
        }
    }
}

#[test]
fn audience_array_containing_ours_is_accepted() {
    for alg in ALL {
        let k = key(alg);
        let c = AccessClaims {
            aud: Audience::Many(vec!["https://other.example.test".to_owned(), AUD.to_owned()]),
            ..claims()
        };
        assert_eq!(expect_ok(verify(&verifier_for(&k), &sign(&k, &c))), c);
    }
}

#[test]
fn missing_audience_is_refused() {
    let k = key(Algorithm::RS256);
    let mut c = claims_json();
    c.as_object_mut().unwrap().remove("aud");
    let token = forge_with(&k, &std_header(&k), &c);
    let err = verify(&verifier_for(&k), &token).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::MalformedToken | ErrorKind::InvalidAudience), "got {:?}", err.kind());
}

// ---------------------------------------------------------------------------
// 8. Tampering
// ---------------------------------------------------------------------------

#[test]
fn modified_claims_with_original_signature_are_refused() {
    for alg in ALL {
        let k = key(alg);
        let verifier = verifier_for(&k);
        let genuine = sign(&k, &claims());
        let tampers: [fn(&mut Value); 4] = [
            |c| c["scope"] = json!("openid profile admin"),
            |c| c["sub"] = json!("user:00000000-0000-0000-0000-000000000000"),
            |c| c["exp"] = json!(NOW + 10 * 365 * 86_400),
            |c| c["client_id"] = json!("evil-app"),
        ];
        for tamper in tampers {
            let mut c = claims_json();
            tamper(&mut c);
            let token = replace_segment(&genuine, 1, &b64_json(&c));
            expect_err(verify(&verifier, &token), &ErrorKind::InvalidSignature, "bad_signature");
        }
    }
}

#[test]
fn modified_header_with_original_signature_is_refused() {
    for alg in ALL {
        let k = key(alg);
        let genuine = sign(&k, &claims());
        let mut header = std_header(&k);
        header["cty"] = json!("x");
        let token = replace_segment(&genuine, 0, &b64_json(&header));
        expect_err(verify(&verifier_for(&k), &token), &ErrorKind::InvalidSignature, "bad_signature");
    }
}

#[test]
fn flipped_signature_character_is_refused() {
    for alg in ALL {
        let k = key(alg);
        let genuine = sign(&k, &claims());
        let sig = genuine.rsplit('.').next().unwrap();
        // The first character carries six significant bits, so any swap stays valid base64url.
        let first = if sig.starts_with('A') { "B" } else { "A" };
        let token = replace_segment(&genuine, 2, &format!("{first}{}", &sig[1..]));
        expect_err(verify(&verifier_for(&k), &token), &ErrorKind::InvalidSignature, "bad_signature");
    }
}

#[test]
fn signature_spliced_from_another_token_is_refused() {
    for alg in ALL {
        let k = key(alg);
        let a = sign(&k, &claims());
        let b = sign(&k, &AccessClaims { scope: "admin".to_owned(), ..claims() });
        let sig_a = a.rsplit('.').next().unwrap();
        let token = replace_segment(&b, 2, sig_a);
        expect_err(verify(&verifier_for(&k), &token), &ErrorKind::InvalidSignature, "bad_signature");
    }
}

#[test]
fn empty_or_zero_signature_is_refused() {
    for alg in ALL {
        let k = key(alg);
        let genuine = sign(&k, &claims());
        let sig_len = URL_SAFE_NO_PAD.decode(genuine.rsplit('.').next().unwrap()).unwrap().len();
        // Includes the ECDSA r = s = 0 "psychic signature" (CVE-2022-21449) for ES256.
        for sig in [String::new(), b64(&vec![0u8; sig_len])] {
            let token = replace_segment(&genuine, 2, &sig);
            expect_err(verify(&verifier_for(&k), &token), &ErrorKind::InvalidSignature, "bad_signature");
        }
    }
}

// ---------------------------------------------------------------------------
// 9. Another key under the same kid
// ---------------------------------------------------------------------------

#[test]
fn token_from_another_key_with_the_same_kid_is_refused() {
    for alg in ASYMMETRIC {
        let victim = key(alg);
        let other = SigningKey::generate(alg).unwrap();
        // The impostor, rebuilt from storage under the victim's kid.
        let impostor = Arc::new(
            SigningKey::from_stored(
                victim.kid(),
                alg,
                other.private_pem().unwrap(),
                other.verifying_key().jwk().unwrap(),
            )
            .unwrap(),
        );
        assert_eq!(impostor.kid(), victim.kid());
        let token = sign(&impostor, &claims());
        expect_err(verify(&verifier_for(&victim), &token), &ErrorKind::InvalidSignature, "bad_signature");
    }
}

#[test]
fn hs256_token_from_another_secret_with_the_same_kid_is_refused() {
    let victim = key(Algorithm::HS256);
    let other_secret = [0x5au8; 32];
    let token = forge(
        &std_header(&victim),
        &claims_json(),
        &EncodingKey::from_secret(&other_secret),
        jsonwebtoken::Algorithm::HS256,
    );
    expect_err(verify(&verifier_for(&victim), &token), &ErrorKind::InvalidSignature, "bad_signature");
}

#[test]
fn hs256_kid_does_not_reveal_the_secret_and_differs_per_secret() {
    let a = SigningKey::hmac(&[1u8; 32]).unwrap();
    let b = SigningKey::hmac(&[2u8; 32]).unwrap();
    assert_ne!(a.kid(), b.kid());
    assert!(!key(Algorithm::HS256).kid().contains(std::str::from_utf8(HMAC_SECRET).unwrap()));
    assert!(key(Algorithm::HS256).verifying_key().jwk().is_none());
    assert!(key(Algorithm::HS256).private_pem().is_none());
}

// ---------------------------------------------------------------------------
// 10. Size and shape
// ---------------------------------------------------------------------------

#[test]
fn oversized_token_is_refused_before_parsing() {
    for alg in ALL {
        let k = key(alg);
        let huge = AccessClaims { scope: "s ".repeat(5_000), ..claims() };
        let token = sign(&k, &huge);
        assert!(token.len() > 8192);
        expect_err(verify(&verifier_for(&k), &token), &ErrorKind::TokenTooLarge, "token_too_large");
        // Garbage that is merely long is refused for its size, not its shape.
        expect_err(verify(&verifier_for(&k), &"A".repeat(8193)), &ErrorKind::TokenTooLarge, "token_too_large");
    }
}

#[test]
fn max_token_len_boundary_is_exact() {
    let k = key(Algorithm::EdDSA);
    let token = sign(&k, &claims());
    let with_max = |max: usize| {
        let mut v = validation(&[Algorithm::EdDSA]);
        v.max_token_len = max;
        TokenVerifier::new(v, [k.verifying_key().clone()]).verify(&token, &clock())
    };
    expect_ok(with_max(token.len()));
    expect_err(with_max(token.len() - 1), &ErrorKind::TokenTooLarge, "token_too_large");
}

#[test]
fn malformed_tokens_are_refused() {
    for alg in ALL {
        let k = key(alg);
        let verifier = verifier_for(&k);
        let genuine = sign(&k, &claims());
        let (h, rest) = genuine.split_once('.').unwrap();
        let (c, s) = rest.split_once('.').unwrap();
        let cases = [
            String::new(),
            ".".to_owned(),
            "..".to_owned(),
            "...".to_owned(),
            h.to_owned(),
            format!("{h}.{c}"),
            format!("{genuine}."),
            format!("{genuine}.{s}"),
            format!("!!!.{c}.{s}"),
            format!("{h}=.{c}.{s}"),
            format!("{}.{c}.{s}", b64(b"not json")),
            format!("{}.{c}.{s}", b64(b"[\"alg\",\"RS256\"]")),
            format!("{}.{c}.{s}", b64(b"\"RS256\"")),
            format!("{}.{c}.{s}", b64(&[0xff, 0xfe, 0x00])),
            // Garbage claims under a genuine signature: the shape, not the signature, fails.
            sign_raw(&k, h, "!!!"),
            sign_raw(&k, h, &b64(b"not json")),
            sign_raw(&k, h, &b64(b"[1,2,3]")),
            format!("{h}.{c}.***"),
        ];
        for token in cases {
            expect_err(verify(&verifier, &token), &ErrorKind::MalformedToken, "malformed");
        }
    }
}

#[test]
fn header_as_standard_base64_with_padding_is_malformed() {
    use base64::engine::general_purpose::STANDARD;
    let k = key(Algorithm::ES256);
    let genuine = sign(&k, &claims());
    // Pad the header until standard encoding needs '=' padding.
    let mut header = std_header(&k);
    header["x"] = json!("");
    let mut pad = String::new();
    while !STANDARD.encode(header.to_string()).ends_with('=') {
        pad.push('a');
        header["x"] = json!(pad.clone());
    }
    let token = replace_segment(&genuine, 0, &STANDARD.encode(header.to_string()));
    expect_err(verify(&verifier_for(&k), &token), &ErrorKind::MalformedToken, "malformed");
}

// ---------------------------------------------------------------------------
// 11. kid
// ---------------------------------------------------------------------------

#[test]
fn unknown_kid_is_refused() {
    for alg in ALL {
        let k = key(alg);
        for kid in [json!("nope"), json!(""), json!(format!("{} ", k.kid())), json!("../../etc/passwd")] {
            let mut header = std_header(&k);
            header["kid"] = kid;
            let token = forge_with(&k, &header, &claims_json());
            expect_err(verify(&verifier_for(&k), &token), &ErrorKind::UnknownKey, "unknown_key");
        }
    }
}

#[test]
fn missing_or_non_string_kid_is_refused() {
    for alg in ALL {
        let k = key(alg);
        let mut header = std_header(&k);
        header.as_object_mut().unwrap().remove("kid");
        let token = forge_with(&k, &header, &claims_json());
        expect_err(verify(&verifier_for(&k), &token), &ErrorKind::UnknownKey, "unknown_key");
        for kid in [json!(null), json!(7), json!([k.kid()])] {
            let mut header = std_header(&k);
            header["kid"] = kid;
            let token = forge_with(&k, &header, &claims_json());
            expect_err(verify(&verifier_for(&k), &token), &ErrorKind::UnknownKey, "unknown_key");
        }
    }
}

#[test]
fn kid_of_a_key_the_verifier_does_not_hold_is_refused() {
    // Same algorithm, genuinely signed, but by a key the verifier was never given.
    for alg in ALL {
        let k = key(alg);
        let stranger = match alg {
            Algorithm::HS256 => Arc::new(SigningKey::hmac(&[9u8; 48]).unwrap()),
            other => Arc::new(SigningKey::generate(other).unwrap()),
        };
        expect_err(verify(&verifier_for(&k), &sign(&stranger, &claims())), &ErrorKind::UnknownKey, "unknown_key");
    }
}

// ---------------------------------------------------------------------------
// 12. HS256 secrets
// ---------------------------------------------------------------------------

#[test]
fn short_hmac_secret_is_refused() {
    for len in [0usize, 1, 16, 31] {
        let err = SigningKey::hmac(&vec![0x42u8; len]).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::WeakSecret(_)), "len {len}: got {:?}", err.kind());
        assert_eq!(err.reason(), "weak_secret");
    }
    for len in [32usize, 64] {
        let k = SigningKey::hmac(&vec![0x42u8; len]).unwrap();
        assert_eq!(k.algorithm(), Algorithm::HS256);
    }
}

#[test]
fn hs256_cannot_be_generated_as_an_asymmetric_key() {
    let err = SigningKey::generate(Algorithm::HS256).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidKey(_)), "{:?}", err.kind());
    assert_eq!(err.reason(), "invalid_key");
}
