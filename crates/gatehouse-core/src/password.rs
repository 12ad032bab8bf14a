//! Password hashing: argon2id PHC strings, parameter upgrades, dummy verification.
//!
//! Verification parses the stored PHC string and dispatches on its algorithm, so hashes
//! made with older parameters keep verifying and are reported as obsolete for re-hashing.

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

    /// Checks the parameters are usable.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidParams`] naming the bad parameter.
    pub fn validate(&self) -> Result<()> {
        if self.memory_kib < Self::MIN_MEMORY_KIB || self.memory_kib > 4 * 1024 * 1024 {
            return Err(ErrorKind::InvalidParams(format!(
                "memory must be between {} and 4194304 KiB",
                Self::MIN_MEMORY_KIB
            ))
            .into());
        }
        if self.iterations == 0 || self.iterations > 64 {
            return Err(ErrorKind::InvalidParams("iterations must be between 1 and 64".into()).into());
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

    /// Verifies `password` against a stored PHC string. An unparsable or unsupported stored
    /// hash verifies as `ok: false` after spending the same work as a real check.
    pub fn verify(&self, password: &[u8], stored: &str) -> Verified {
        let Ok(parsed) = PasswordHash::new(stored) else {
            self.verify_dummy(password);
            return Verified { ok: false, needs_rehash: false };
        };
        let ok = match parsed.algorithm.as_str() {
            "argon2id" | "argon2i" | "argon2d" => Argon2::default().verify_password(password, &parsed).is_ok(),
            _ => {
                self.verify_dummy(password);
                false
            }
        };
        Verified { ok, needs_rehash: ok && self.is_obsolete(&parsed) }
    }

    /// Spends one verification's work on a dummy hash: use it for unknown users, so their
    /// timing matches known ones.
    pub fn verify_dummy(&self, password: &[u8]) {
        if let Ok(parsed) = PasswordHash::new(&self.dummy) {
            let _ = Argon2::default().verify_password(password, &parsed);
        }
    }

    fn is_obsolete(&self, h: &PasswordHash<'_>) -> bool {
        if h.algorithm.as_str() != "argon2id" || h.version != Some(Version::V0x13 as u32) {
            return true;
        }
        match Params::try_from(h) {
            Ok(p) => {
                p.m_cost() != self.params.memory_kib
                    || p.t_cost() != self.params.iterations
                    || p.p_cost() != self.params.parallelism
            }
            Err(_) => true,
        }
    }
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
