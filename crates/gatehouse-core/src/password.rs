//! Password hashing: argon2id PHC strings, parameter upgrades, legacy schemes, dummy
//! verification.
//!
//! Verification recognises the stored hash's scheme by its prefix, parses it and verifies
//! with that scheme (see `schemes.rs`): argon2 PHC strings, and hashes imported from
//! passlib, pwdlib, Django or bcrypt. Hashes made with older parameters or another scheme
//! keep verifying and are reported as obsolete, so the caller re-hashes them at login.

mod schemes;

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString},
    Argon2, Params, Version,
};

use crate::{ErrorKind, Result};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB. Defaults to `19456` (OWASP's recommendation).
    pub memory_kib: u32,
    /// Passes. Defaults to `2`.
    pub iterations: u32,
    /// Lanes. Defaults to `1`.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self { memory_kib: 19456, iterations: 2, parallelism: 1 }
    }
}

impl Argon2Params {
    /// Smallest accepted memory (KiB); values below the defaults are for tests only.
    pub const MIN_MEMORY_KIB: u32 = 1024;
    /// Largest accepted memory (KiB): 256 MiB, the same ceiling stored hashes are held to.
    pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
    /// Largest accepted memory × iterations (KiB-passes).
    pub const MAX_WORK: u64 = 1024 * 1024;

    /// Checks the parameters are usable.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidParams`] naming the bad parameter.
    pub fn validate(&self) -> Result<()> {
        if self.memory_kib < Self::MIN_MEMORY_KIB || self.memory_kib > Self::MAX_MEMORY_KIB {
            return Err(ErrorKind::InvalidParams(format!(
                "memory must be between {} and {} KiB",
                Self::MIN_MEMORY_KIB,
                Self::MAX_MEMORY_KIB
            ))
            .into());
        }
        if self.iterations == 0 || self.iterations > 64 {
            return Err(ErrorKind::InvalidParams("iterations must be between 1 and 64".into()).into());
        }
        if u64::from(self.memory_kib) * u64::from(self.iterations) > Self::MAX_WORK {
            return Err(ErrorKind::InvalidParams(format!(
                "memory x iterations must be at most {} KiB-passes",
                Self::MAX_WORK
            ))
            .into());
        }
        if self.parallelism == 0 || self.parallelism > 64 {
            return Err(ErrorKind::InvalidParams("parallelism must be between 1 and 64".into()).into());
        }
        self.to_params().map(|_| ())
    }

    /// Whether these are weaker than the defaults (start-up warns).
    pub fn is_weaker_than_default(&self) -> bool {
        let d = Self::default();
        self.memory_kib < d.memory_kib || self.iterations < d.iterations
    }

    fn to_params(self) -> Result<Params> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| ErrorKind::InvalidParams(e.to_string()).into())
    }
}

/// The outcome of a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// The stored hash uses another algorithm or other parameters: re-hash on success.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords with argon2id at configured parameters.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Argon2Params,
    dummy: String,
}

impl PasswordHasher {
    /// A hasher at `params`. Computes a dummy hash used to equalise timing for unknown users.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidParams`] when the parameters are unusable.
    pub fn new(params: Argon2Params) -> Result<Self> {
        params.validate()?;
        let mut h = Self { params, dummy: String::new() };
        let random: [u8; 16] = rand::random();
        h.dummy = h.hash(&random)?;
        Ok(h)
    }

    /// The parameters new hashes use.
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    fn argon2(&self) -> Result<Argon2<'static>> {
        Ok(Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, self.params.to_params()?))
    }

    /// Hashes `password` into a PHC string with a fresh random salt.
    ///
    /// # Errors
    /// [`ErrorKind::PasswordHash`] if hashing fails.
    pub fn hash(&self, password: &[u8]) -> Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()?
            .hash_password(password, &salt)
            .map(|h| h.to_string())
            .map_err(|e| ErrorKind::PasswordHash(e.to_string()).into())
    }

    /// Verifies `password` against a stored hash in any scheme [`check_stored_hash`] accepts.
    ///
    /// A match on a legacy scheme (bcrypt, PBKDF2) or on argon2 with other parameters
    /// reports `needs_rehash: true`. A stored hash that is unparsable, of an unknown scheme
    /// or over the cost limits verifies as `ok: false` after spending one dummy
    /// verification's work, so it takes about as long as a real check.
    pub fn verify(&self, password: &[u8], stored: &str) -> Verified {
        const FAILED: Verified = Verified { ok: false, needs_rehash: false };
        let Some(scheme) = schemes::scheme_for(stored) else {
            self.verify_dummy(password);
            return FAILED;
        };
        match scheme.verify(password, stored) {
            Ok(true) => Verified { ok: true, needs_rehash: scheme.is_legacy() || self.is_obsolete(stored) },
            Ok(false) => FAILED,
            Err(_) => {
                self.verify_dummy(password);
                FAILED
            }
        }
    }

    /// Spends one verification's work on a dummy hash: use it for unknown users, so their
    /// timing matches known ones.
    pub fn verify_dummy(&self, password: &[u8]) {
        if let Ok(parsed) = PasswordHash::new(&self.dummy) {
            let _ = Argon2::default().verify_password(password, &parsed);
        }
    }

    fn is_obsolete(&self, stored: &str) -> bool {
        let Ok(h) = PasswordHash::new(stored) else { return true };
        if h.algorithm.as_str() != "argon2id" || h.version != Some(Version::V0x13 as u32) {
            return true;
        }
        match Params::try_from(&h) {
            Ok(p) => {
                p.m_cost() != self.params.memory_kib
                    || p.t_cost() != self.params.iterations
                    || p.p_cost() != self.params.parallelism
            }
            Err(_) => true,
        }
    }
}

/// The name of the scheme `stored` is written in, judged by its prefix only: `"argon2"`,
/// `"bcrypt"`, `"passlib-pbkdf2-sha256"`, `"passlib-pbkdf2-sha512"` or
/// `"django-pbkdf2-sha256"`. `None` for anything else. Use [`check_stored_hash`] to know
/// whether the hash can actually be verified.
pub fn hash_scheme(stored: &str) -> Option<&'static str> {
    schemes::scheme_for(stored).map(|s| s.name())
}

/// Checks that [`PasswordHasher::verify`] can verify `stored`: a recognised scheme, well
/// formed, with costs inside the limits. Hashes nothing. Returns the scheme's name (as
/// [`hash_scheme`]).
///
/// Supported, with the limits that keep one verification's work bounded:
///
/// | scheme | written by | limits |
/// |---|---|---|
/// | `argon2` — `$argon2id$`, `$argon2i$`, `$argon2d$` PHC strings | gatehouse, argon2-cffi, pwdlib, passlib | memory ≤ 4 GiB (4194304 KiB), iterations ≤ 64, parallelism ≤ 64 |
/// | `bcrypt` — `$2b$`, `$2a$`, `$2y$` | pyca bcrypt, passlib, pwdlib | cost 4 to 15 |
/// | `passlib-pbkdf2-sha256`, `passlib-pbkdf2-sha512` — `$pbkdf2-sha256$rounds$salt$hash` | passlib | 1 000 to 10 000 000 rounds |
/// | `django-pbkdf2-sha256` — `pbkdf2_sha256$iterations$salt$hash` | Django, passlib | 1 000 to 10 000 000 iterations |
///
/// bcrypt uses only the first 72 bytes of a password, as the libraries that wrote those
/// hashes did. `$2x$` hashes (crypt_blowfish's buggy mode) are refused.
///
/// # Errors
/// [`ErrorKind::PasswordHash`] saying why: unknown scheme, malformed, or over a limit.
///
/// # Example
/// ```
/// use gatehouse_core::check_stored_hash;
///
/// let passlib = "$pbkdf2-sha256$1000$U8q5V0pJCWHMeY/xfm8thQ$hzsIxqSdYkT0tCO.XPVBMtZphFoniIQ6DzpImVmCoEI";
/// assert_eq!(check_stored_hash(passlib)?, "passlib-pbkdf2-sha256");
/// assert!(check_stored_hash("$2b$31$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_err());
/// assert!(check_stored_hash("md5:5f4dcc3b5aa765d61d8327deb882cf99").is_err());
/// # Ok::<(), gatehouse_core::Error>(())
/// ```
pub fn check_stored_hash(stored: &str) -> Result<&'static str> {
    let scheme = schemes::scheme_for(stored)
        .ok_or_else(|| ErrorKind::PasswordHash("not a recognised password hash format".into()))?;
    scheme.check(stored).map_err(|e| ErrorKind::PasswordHash(e.to_string()))?;
    Ok(scheme.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Argon2Params {
        Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 }
    }

    #[test]
    fn hash_then_verify() {
        let h = PasswordHasher::new(fast()).unwrap();
        let phc = h.hash(b"hunter2 hunter2").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(h.verify(b"hunter2 hunter2", &phc), Verified { ok: true, needs_rehash: false });
        assert!(!h.verify(b"hunter3 hunter3", &phc).ok);
    }

    #[test]
    fn old_parameters_ask_for_rehash() {
        let old = PasswordHasher::new(fast()).unwrap();
        let phc = old.hash(b"pw pw pw pw").unwrap();
        let new = PasswordHasher::new(Argon2Params { memory_kib: 2048, ..fast() }).unwrap();
        assert_eq!(new.verify(b"pw pw pw pw", &phc), Verified { ok: true, needs_rehash: true });
        // a failed login never asks for a rehash
        assert_eq!(new.verify(b"wrong", &phc), Verified { ok: false, needs_rehash: false });
    }

    #[test]
    fn garbage_hash_is_a_failed_verification() {
        let h = PasswordHasher::new(fast()).unwrap();
        assert!(!h.verify(b"x", "not a phc string").ok);
        assert!(!h.verify(b"x", "$unknown$v=1$abc").ok);
        assert!(!h.verify(b"x", "").ok);
    }

    #[test]
    fn bad_params_are_refused() {
        assert!(Argon2Params { memory_kib: 512, ..fast() }.validate().is_err());
        assert!(Argon2Params { iterations: 0, ..fast() }.validate().is_err());
        assert!(Argon2Params { parallelism: 0, ..fast() }.validate().is_err());
        assert!(Argon2Params::default().validate().is_ok());
        assert!(fast().is_weaker_than_default());
    }
}
