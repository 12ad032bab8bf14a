//! `Settings::from_sources(toml_text, env)` with an arbitrary TOML file and arbitrary
//! `GATEHOUSE_*` values: never panics (a bad value is a `ConfigError` naming a setting), and
//! the effective configuration it renders (`gatehouse config check`) never shows a secret.
//!
//! Input layout: segments separated by `0x00`. The first is the TOML text (used when it is
//! non-empty; capped at 4 KiB). Each later segment is one environment entry: its first byte
//! picks a setting name from `settings::KEYS` (or, past the end, a raw name made of the
//! next bytes), the rest is the value.
//!
//! Open finding F2 (empty problem text) is only checked with `GATEHOUSE_FUZZ_KNOWN_FINDINGS=1`.
#![no_main]

use std::{collections::BTreeMap, sync::OnceLock};

use gatehouse_server::settings::{Settings, KEYS};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

const MAX_TOML: usize = 4096;

/// `GATEHOUSE_FUZZ_KNOWN_FINDINGS=1` also checks the open findings listed in fuzz/README.md.
fn check_known_findings() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("GATEHOUSE_FUZZ_KNOWN_FINDINGS").is_ok_and(|v| v == "1"))
}

fuzz_target!(|data: &[u8]| {
    let mut segments = data.split(|b| *b == 0);
    let toml = segments.next().map(String::from_utf8_lossy).filter(|t| !t.is_empty());
    let toml = toml.as_deref().map(|t| &t[..t.floor_char_boundary(MAX_TOML)]);
    let mut env = BTreeMap::new();
    for seg in segments {
        let Some((&pick, value)) = seg.split_first() else { continue };
        let value = String::from_utf8_lossy(value).into_owned();
        match KEYS.get(usize::from(pick)) {
            Some(k) => env.insert(format!("GATEHOUSE_{}", k.to_uppercase()), value),
            None => match value.split_once('=') {
                Some((k, v)) => env.insert(k.to_owned(), v.to_owned()),
                None => env.insert(value, String::new()),
            },
        };
    }
    let settings = match Settings::from_sources(toml, &env) {
        Ok(s) => s,
        Err(e) => {
            assert!(e.setting.starts_with("GATEHOUSE_"), "error names no setting: {e}");
            // F2 (open): a TOML syntax error such as `a = ` (no value) gives an empty problem,
            // because from_sources keeps only toml's `message()`, which is empty for it.
            if check_known_findings() || e.setting != "GATEHOUSE_CONFIG" {
                assert!(!e.problem.is_empty(), "configuration error without a problem: {e}");
            }
            return;
        }
    };
    let shown = settings.render();
    assert_eq!(format!("{settings:?}"), shown);
    // Change every secret: what is shown must not change.
    let mut other = settings.clone();
    let swap = |s: &Option<SecretString>| s.as_ref().map(|_| SecretString::from("x-different-secret-value"));
    other.jwt_secret = swap(&settings.jwt_secret);
    other.admin_password = swap(&settings.admin_password);
    assert_eq!(other.render(), shown, "a secret shows in the rendered configuration");
});
