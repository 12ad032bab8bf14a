//! Times argon2id hash verification (the work one gatehouse login does) with the given
//! parameters. Usage: argon2-time [M_KIB T P N]  (default 19456 2 1 15). Prints median and
//! min milliseconds over N verifications after one warm-up.
use argon2::{password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString}, Algorithm, Argon2, Params, Version};
use std::time::Instant;

fn main() {
    let a: Vec<u32> = std::env::args().skip(1).map(|s| s.parse().expect("numeric argument")).collect();
    let (m, t, p, n) = (*a.first().unwrap_or(&19456), *a.get(1).unwrap_or(&2), *a.get(2).unwrap_or(&1), *a.get(3).unwrap_or(&15));
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(m, t, p, None).expect("params"));
    let salt = SaltString::encode_b64(b"bench-salt-16byt").expect("salt");
    let stored = argon.hash_password(b"correct horse battery staple", &salt).expect("hash").to_string();
    let parsed = PasswordHash::new(&stored).expect("parse");
    argon.verify_password(b"correct horse battery staple", &parsed).expect("warm-up verify");
    let mut ms: Vec<f64> = (0..n)
        .map(|_| {
            let t0 = Instant::now();
            argon.verify_password(b"correct horse battery staple", &parsed).expect("verify");
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(|x, y| x.partial_cmp(y).expect("finite"));
    println!("argon2id m={m} t={t} p={p}: median {:.2} ms min {:.2} ms over {n}", ms[ms.len() / 2], ms[0]);
}
