//! `PasswordHasher::verify(password, stored)` with an arbitrary stored string (what a
//! database row or an `import` file may hold): never panics; says `ok` only for a string
//! `check_stored_hash` accepts; asks for a rehash only after a success.
//!
//! Input layout: `[password_len, password[password_len % 65], stored…]`; the stored part is
//! capped at 256 bytes (hash strings are short; longer inputs only slow the fuzzer down).
//!
//! Work budget: the cost of a verification comes from the stored string. gatehouse-core
//! bounds it (argon2 m ≤ 4 GiB, t ≤ 64, p ≤ 64; bcrypt cost ≤ 15; PBKDF2 ≤ 10 000 000
//! rounds), but those bounds still let one 90-byte string cost 4 GiB and seconds to minutes
//! per login — finding F1 in `fuzz/README.md`, reproducer in `fuzz/artifacts-found/phc_parse/`.
//! To keep this target exploring the parsers instead of re-finding F1 (as an out-of-memory
//! or a timeout) every run, strings over a small budget are skipped unless
//! `GATEHOUSE_FUZZ_KNOWN_FINDINGS=1` is set.
#![no_main]

use std::sync::OnceLock;

use argon2::{password_hash::PasswordHash, Params};
use gatehouse_core::{check_stored_hash, hash_scheme, Argon2Params, PasswordHasher};
use libfuzzer_sys::fuzz_target;

const MAX_STORED: usize = 256;
const MAX_ARGON2_M_KIB: u32 = 65_536;
const MAX_ARGON2_T: u32 = 4;
const MAX_ARGON2_P: u32 = 4;
const MAX_BCRYPT_COST: u32 = 6;
const MAX_PBKDF2_ROUNDS: u32 = 20_000;

struct Fixture {
    hasher: PasswordHasher,
    real: String,
    unbounded: bool,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let hasher =
            PasswordHasher::new(Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 }).expect("hasher");
        let real = hasher.hash(b"fuzz").expect("hash");
        let unbounded = std::env::var("GATEHOUSE_FUZZ_KNOWN_FINDINGS").is_ok_and(|v| v == "1");
        Fixture { hasher, real, unbounded }
    })
}

/// Whether verifying `stored` would cost more than this target's budget (see F1).
fn over_budget(stored: &str) -> bool {
    let field = |i: usize| stored.split('$').nth(i).and_then(|n| n.trim().parse::<u32>().ok());
    if stored.starts_with("$argon2") {
        let Ok(parsed) = PasswordHash::new(stored) else { return false };
        return Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() > MAX_ARGON2_M_KIB || p.t_cost() > MAX_ARGON2_T || p.p_cost() > MAX_ARGON2_P);
    }
    if stored.starts_with("$2") {
        return field(2).is_some_and(|cost| cost > MAX_BCRYPT_COST);
    }
    if stored.starts_with("$pbkdf2") {
        return field(2).is_some_and(|rounds| rounds > MAX_PBKDF2_ROUNDS);
    }
    if stored.starts_with("pbkdf2") {
        return field(1).is_some_and(|rounds| rounds > MAX_PBKDF2_ROUNDS);
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&len, rest)) = data.split_first() else { return };
    let (password, stored) = rest.split_at(usize::from(len % 65).min(rest.len()));
    let stored = String::from_utf8_lossy(&stored[..stored.len().min(MAX_STORED)]);
    if !f.unbounded && over_budget(&stored) {
        return;
    }
    let v = f.hasher.verify(password, &stored);
    if v.needs_rehash {
        assert!(v.ok, "rehash requested after a failed verification");
    }
    if v.ok {
        assert!(check_stored_hash(&stored).is_ok(), "verified a hash check_stored_hash refuses: {stored:?}");
    }
    if hash_scheme(&stored).is_none() {
        assert!(!v.ok, "a string in no known scheme verified: {stored:?}");
    }
    // The real hash still verifies with its password and refuses the fuzzed one.
    if password != b"fuzz" && stored == f.real {
        assert!(!v.ok, "wrong password accepted");
    }
});
