//! The stored-hash formats [`PasswordHasher`](super::PasswordHasher) verifies.
//!
//! Each format is a [`Scheme`]: it recognises its strings by their prefix, parses them,
//! refuses costs outside its limits, and verifies a password in constant time with a
//! RustCrypto (or `bcrypt` crate) primitive. The verifier picks the scheme by prefix, the
//! way RustCrypto's `password-hash` picks a verifier by a PHC string's algorithm.
//!
//! | name | format | limits |
//! |---|---|---|
//! | `argon2` | PHC `$argon2id$v=19$m=…,t=…,p=…$salt$hash` (also `argon2i`, `argon2d`; argon2-cffi, pwdlib, passlib) | m ≤ 4 GiB, t ≤ 64, p ≤ 64 |
//! | `bcrypt` | `$2b$`, `$2a$`, `$2y$` + cost + 53 chars (pyca bcrypt, passlib, pwdlib) | cost ≤ 15 |
//! | `passlib-pbkdf2-sha256` / `-sha512` | `$pbkdf2-sha256$rounds$salt$hash`, salt and hash in passlib's adapted base64 | 1 000 ≤ rounds ≤ 10 000 000 |
//! | `django-pbkdf2-sha256` | `pbkdf2_sha256$iterations$salt$base64 hash` (Django, passlib's `django_pbkdf2_sha256`) | 1 000 ≤ iterations ≤ 10 000 000 |

use std::fmt;

use argon2::{password_hash::PasswordHash, Argon2, Params, Version};
use base64::{
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD},
    Engine as _,
};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq as _;

/// Largest argon2 memory cost accepted in a stored hash, in KiB (4 GiB).
pub(crate) const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// Most argon2 work (memory KiB × passes) one stored hash may demand: 1 GiB-passes. Covers
/// pwdlib's and argon2-cffi's defaults (64 MiB × 3) with room; bounds a planted hash's cost.
pub(crate) const MAX_ARGON2_WORK: u64 = 1024 * 1024;
/// Largest argon2 pass count accepted in a stored hash.
pub(crate) const MAX_ARGON2_ITERATIONS: u32 = 64;
/// Largest argon2 lane count accepted in a stored hash.
pub(crate) const MAX_ARGON2_PARALLELISM: u32 = 64;
/// Largest bcrypt cost accepted (2^15 rounds: about two seconds).
pub(crate) const MAX_BCRYPT_COST: u32 = 15;
/// Fewest PBKDF2 iterations accepted: below this a hash is too weak to trust.
pub(crate) const MIN_PBKDF2_ITERATIONS: u32 = 1_000;
/// Most PBKDF2 iterations accepted (Django 5.2 uses 1 000 000).
pub(crate) const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Longest PBKDF2 salt accepted, in bytes.
const MAX_SALT_BYTES: usize = 1024;

/// Why a stored hash cannot be verified. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused(String);

impl Refused {
    fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One stored-hash format.
pub(crate) trait Scheme: Sync {
    /// The name [`check_stored_hash`](super::check_stored_hash) reports.
    fn name(&self) -> &'static str;

    /// Whether `stored` is written in this format (by its prefix; says nothing of validity).
    fn recognises(&self, stored: &str) -> bool;

    /// Parses `stored` and checks its costs against the limits, without hashing anything.
    fn check(&self, stored: &str) -> Result<(), Refused>;

    /// Verifies `password` against `stored` in constant time. `Err` when `stored` is
    /// malformed or over the limits: nothing was hashed, so the caller spends dummy work.
    fn verify(&self, password: &[u8], stored: &str) -> Result<bool, Refused>;

    /// Whether a successful login should re-hash at gatehouse's current parameters no
    /// matter what. `false` only for the scheme gatehouse itself writes.
    fn is_legacy(&self) -> bool {
        true
    }
}

/// Every scheme, tried in order.
pub(crate) const SCHEMES: &[&dyn Scheme] = &[
    &Argon2Phc,
    &Bcrypt,
    &Pbkdf2 {
        name: "passlib-pbkdf2-sha256",
        prefix: "$pbkdf2-sha256$",
        format: Pbkdf2Format::Passlib,
        digest: Digest::Sha256,
    },
    &Pbkdf2 {
        name: "passlib-pbkdf2-sha512",
        prefix: "$pbkdf2-sha512$",
        format: Pbkdf2Format::Passlib,
        digest: Digest::Sha512,
    },
    &Pbkdf2 {
        name: "django-pbkdf2-sha256",
        prefix: "pbkdf2_sha256$",
        format: Pbkdf2Format::Django,
        digest: Digest::Sha256,
    },
];

/// The scheme whose format `stored` is in.
pub(crate) fn scheme_for(stored: &str) -> Option<&'static dyn Scheme> {
    SCHEMES.iter().copied().find(|s| s.recognises(stored))
}

/// argon2 PHC strings, gatehouse's own format and that of argon2-cffi, pwdlib and passlib.
struct Argon2Phc;

impl Argon2Phc {
    fn parse(stored: &str) -> Result<PasswordHash<'_>, Refused> {
        let parsed = PasswordHash::new(stored).map_err(|e| Refused::new(format!("malformed argon2 hash: {e}")))?;
        if parsed.hash.is_none() || parsed.salt.is_none() {
            return Err(Refused::new("malformed argon2 hash: no salt or hash"));
        }
        let params = Params::try_from(&parsed).map_err(|e| Refused::new(format!("bad argon2 parameters: {e}")))?;
        if params.m_cost() > MAX_ARGON2_MEMORY_KIB {
            return Err(Refused::new(format!(
                "argon2 memory {} KiB is above the limit of {MAX_ARGON2_MEMORY_KIB} KiB",
                params.m_cost()
            )));
        }
        if params.t_cost() > MAX_ARGON2_ITERATIONS {
            return Err(Refused::new(format!(
                "argon2 iterations {} is above the limit of {MAX_ARGON2_ITERATIONS}",
                params.t_cost()
            )));
        }
        if u64::from(params.m_cost()) * u64::from(params.t_cost()) > MAX_ARGON2_WORK {
            return Err(Refused::new(format!(
                "argon2 work {} KiB x {} passes is above the limit of {MAX_ARGON2_WORK} KiB-passes",
                params.m_cost(),
                params.t_cost()
            )));
        }
        if params.p_cost() > MAX_ARGON2_PARALLELISM {
            return Err(Refused::new(format!(
                "argon2 parallelism {} is above the limit of {MAX_ARGON2_PARALLELISM}",
                params.p_cost()
            )));
        }
        Ok(parsed)
    }
}

/// Block memory kept per hashing thread between verifications: up to 64 MiB (the default
/// parameters need 19 MiB); larger stored parameters get a temporary allocation.
const KEEP_BLOCKS: usize = 64 * 1024;

thread_local! {
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Scheme for Argon2Phc {
    fn name(&self) -> &'static str {
        "argon2"
    }

    fn recognises(&self, stored: &str) -> bool {
        ["$argon2id$", "$argon2i$", "$argon2d$"].iter().any(|p| stored.starts_with(p))
    }

    fn check(&self, stored: &str) -> Result<(), Refused> {
        Self::parse(stored).map(|_| ())
    }

    fn verify(&self, password: &[u8], stored: &str) -> Result<bool, Refused> {
        let parsed = Self::parse(stored)?;
        // The algorithm, version and parameters of the stored hash (what `password-hash`'s
        // `verify_password` uses), computed into this thread's reusable block memory instead of
        // a fresh, zeroed and copied allocation per call; compared in constant time.
        fn refused(e: impl fmt::Display) -> Refused {
            Refused::new(format!("argon2: {e}"))
        }
        let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
            return Err(Refused::new("malformed argon2 hash: no salt or hash"));
        };
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm).map_err(refused)?;
        let version = parsed.version.map_or(Ok(Version::default()), Version::try_from).map_err(refused)?;
        let params = Params::try_from(&parsed).map_err(|e| Refused::new(format!("bad argon2 parameters: {e}")))?;
        let mut salt_buf = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_buf).map_err(refused)?;
        let blocks = params.block_count();
        let ctx = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        BLOCKS.with(|memory| {
            let mut memory = memory.borrow_mut();
            if memory.len() < blocks {
                memory.resize(blocks, argon2::Block::default());
            }
            let result = ctx.hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks]);
            if memory.len() > KEEP_BLOCKS {
                // A hash with unusual (large) parameters: do not keep its memory around.
                *memory = Vec::new();
            }
            result.map_err(refused)
        })?;
        Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
    }

    fn is_legacy(&self) -> bool {
        false
    }
}

/// bcrypt modular-crypt strings (`$2b$12$` + 22 salt + 31 hash characters).
///
/// Passwords are truncated to 72 bytes, as every bcrypt that produced these hashes did.
struct Bcrypt;

impl Bcrypt {
    fn parse(stored: &str) -> Result<(), Refused> {
        if stored.starts_with("$2x$") {
            return Err(Refused::new("bcrypt $2x$ hashes (crypt_blowfish's buggy mode) are not supported"));
        }
        let parts: bcrypt::HashParts =
            stored.parse().map_err(|e| Refused::new(format!("malformed bcrypt hash: {e}")))?;
        let cost = parts.get_cost();
        if !(4..=MAX_BCRYPT_COST).contains(&cost) {
            return Err(Refused::new(format!("bcrypt cost {cost} is outside 4..={MAX_BCRYPT_COST}")));
        }
        Ok(())
    }
}

impl Scheme for Bcrypt {
    fn name(&self) -> &'static str {
        "bcrypt"
    }

    fn recognises(&self, stored: &str) -> bool {
        ["$2a$", "$2b$", "$2y$", "$2x$"].iter().any(|p| stored.starts_with(p))
    }

    fn check(&self, stored: &str) -> Result<(), Refused> {
        Self::parse(stored)
    }

    fn verify(&self, password: &[u8], stored: &str) -> Result<bool, Refused> {
        Self::parse(stored)?;
        // `bcrypt::verify` compares with `subtle`.
        bcrypt::verify(password, stored).map_err(|e| Refused::new(format!("malformed bcrypt hash: {e}")))
    }
}

#[derive(Debug, Clone, Copy)]
enum Digest {
    Sha256,
    Sha512,
}

impl Digest {
    fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    fn derive(self, password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
        match self {
            Self::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, out),
            Self::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, rounds, out),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Pbkdf2Format {
    /// passlib: `$pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 hash>`; the salt is decoded.
    Passlib,
    /// Django: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`; the salt is used as text.
    Django,
}

/// Decodes passlib's "adapted base64": standard base64 with `.` for `+` and no padding
/// (like passlib's `ab64_decode`, a `+` is accepted too).
fn ab64_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(s.replace('.', "+")).ok()
}

/// PBKDF2-HMAC hashes as passlib and Django store them.
struct Pbkdf2 {
    name: &'static str,
    prefix: &'static str,
    format: Pbkdf2Format,
    digest: Digest,
}

/// A parsed PBKDF2 hash.
struct Pbkdf2Hash {
    rounds: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Pbkdf2 {
    fn parse(&self, stored: &str) -> Result<Pbkdf2Hash, Refused> {
        let name = self.name;
        let malformed = |what: &str| Refused::new(format!("malformed {name} hash: {what}"));
        let rest = stored.strip_prefix(self.prefix).ok_or_else(|| malformed("wrong prefix"))?;
        let mut fields = rest.split('$');
        let (Some(rounds), Some(salt), Some(hash), None) = (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(malformed("expected rounds, salt and hash separated by '$'"));
        };
        if rounds.is_empty() || !rounds.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("the iteration count is not a number"));
        }
        let rounds: u32 = rounds.parse().map_err(|_| {
            Refused::new(format!("{name} iteration count is above the limit of {MAX_PBKDF2_ITERATIONS}"))
        })?;
        if !(MIN_PBKDF2_ITERATIONS..=MAX_PBKDF2_ITERATIONS).contains(&rounds) {
            return Err(Refused::new(format!(
                "{name} iteration count {rounds} is outside {MIN_PBKDF2_ITERATIONS}..={MAX_PBKDF2_ITERATIONS}"
            )));
        }
        let (salt, hash) = match self.format {
            Pbkdf2Format::Passlib => (
                ab64_decode(salt).ok_or_else(|| malformed("the salt is not adapted base64"))?,
                ab64_decode(hash).ok_or_else(|| malformed("the hash is not adapted base64"))?,
            ),
            Pbkdf2Format::Django => {
                if salt.is_empty() {
                    return Err(malformed("empty salt"));
                }
                (salt.as_bytes().to_vec(), STANDARD.decode(hash).map_err(|_| malformed("the hash is not base64"))?)
            }
        };
        if salt.len() > MAX_SALT_BYTES {
            return Err(malformed("the salt is too long"));
        }
        if hash.len() != self.digest.len() {
            return Err(malformed("the hash has the wrong length"));
        }
        Ok(Pbkdf2Hash { rounds, salt, hash })
    }
}

impl Scheme for Pbkdf2 {
    fn name(&self) -> &'static str {
        self.name
    }

    fn recognises(&self, stored: &str) -> bool {
        stored.starts_with(self.prefix)
    }

    fn check(&self, stored: &str) -> Result<(), Refused> {
        self.parse(stored).map(|_| ())
    }

    fn verify(&self, password: &[u8], stored: &str) -> Result<bool, Refused> {
        let parsed = self.parse(stored)?;
        let mut out = vec![0u8; self.digest.len()];
        self.digest.derive(password, &parsed.salt, parsed.rounds, &mut out);
        Ok(out.ct_eq(&parsed.hash).into())
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};

    use super::*;

    #[test]
    fn argon2_with_reused_memory_agrees_with_the_crates_own_verify() {
        // Every variant and version, odd output and salt lengths, sizes growing and shrinking so
        // the thread's block memory is reused, regrown and dropped (over KEEP_BLOCKS).
        let cases = [
            (argon2::Algorithm::Argon2id, Version::V0x13, 64, 2, 1, Some(32)),
            (argon2::Algorithm::Argon2i, Version::V0x10, 256, 1, 2, Some(16)),
            (argon2::Algorithm::Argon2d, Version::V0x13, 8, 3, 1, Some(64)),
            (argon2::Algorithm::Argon2id, Version::V0x13, 80 * 1024, 1, 1, None),
            (argon2::Algorithm::Argon2id, Version::V0x10, 128, 1, 4, Some(24)),
        ];
        for (alg, ver, m, t, p, out) in cases {
            let params = Params::new(m, t, p, out).unwrap();
            let hasher = Argon2::new(alg, ver, params);
            let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
            let stored = hasher.hash_password(b"right password", &salt).unwrap().to_string();
            let parsed = PasswordHash::new(&stored).unwrap();
            for (pw, expect) in [(&b"right password"[..], true), (b"wrong password", false), (b"", false)] {
                assert_eq!(Argon2::default().verify_password(pw, &parsed).is_ok(), expect, "reference: {stored}");
                assert_eq!(Argon2Phc.verify(pw, &stored).unwrap(), expect, "ours: {stored}");
            }
            // One flipped output byte must fail.
            let mut tampered = stored.clone();
            let last = tampered.pop().unwrap();
            tampered.push(if last == 'A' { 'B' } else { 'A' });
            assert!(!Argon2Phc.verify(b"right password", &tampered).unwrap_or(false), "{tampered}");
        }
        BLOCKS.with(|m| assert!(m.borrow().len() <= KEEP_BLOCKS, "large parameters are not retained"));
    }

    #[test]
    fn adapted_base64_uses_a_dot_for_plus() {
        assert_eq!(ab64_decode("..8"), Some(vec![0xfb, 0xef]));
        assert_eq!(ab64_decode("..8"), ab64_decode("++8"));
        assert_eq!(ab64_decode("Gb5nN7EGoZTbGqP8y8mUgg").map(|s| s.len()), Some(16));
        assert_eq!(ab64_decode("YQ=="), None, "no padding");
        assert_eq!(ab64_decode("a*b"), None);
    }

    #[test]
    fn each_scheme_has_a_distinct_name_and_prefix() {
        let names: std::collections::BTreeSet<_> = SCHEMES.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), SCHEMES.len());
        assert_eq!(scheme_for("pbkdf2_sha256$1$a$b").map(|s| s.name()), Some("django-pbkdf2-sha256"));
        assert_eq!(scheme_for("$pbkdf2-sha512$1$a$b").map(|s| s.name()), Some("passlib-pbkdf2-sha512"));
        assert!(scheme_for("pbkdf2_sha1$1$a$b").is_none());
        assert!(scheme_for("$1$md5crypt").is_none());
    }
}
