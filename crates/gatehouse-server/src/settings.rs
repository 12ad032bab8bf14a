//! Typed, validated configuration: TOML file (optional) → `GATEHOUSE_*` environment.
//!
//! Every setting has one name; the file uses it in lower case without the prefix
//! (`GATEHOUSE_ACCESS_TOKEN_TTL` ↔ `access_token_ttl`). Errors name the setting.

use std::{collections::BTreeMap, fmt, net::SocketAddr, path::PathBuf};

use gatehouse_core::{Algorithm, Argon2Params};
use secrecy::{ExposeSecret, SecretString};

/// A configuration problem, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {problem}")]
pub struct ConfigError {
    /// The environment name of the setting.
    pub setting: String,
    /// What is wrong.
    pub problem: String,
}

fn err(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError { setting: format!("GATEHOUSE_{}", setting.to_uppercase()), problem: problem.into() }
}

/// Every recognised setting (lower-case, unprefixed).
pub const KEYS: &[&str] = &[
    "bind",
    "data_dir",
    "database_url",
    "redis_url",
    "issuer",
    "audience",
    "jwt_alg",
    "jwt_secret",
    "access_token_ttl",
    "refresh_token_ttl",
    "session_max_ttl",
    "admin_password",
    "open_registration",
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_parallelism",
    "hash_workers",
    "hash_queue",
    "hash_nice",
    "hash_preempt_us",
    "request_slice_us",
    "cors_origins",
    "cors_credentials",
    "cookie_secure",
    "trusted_proxies",
    "clock_leeway",
    "log_format",
    "max_body_bytes",
    "db_max_connections",
    "key_reload_secs",
    "login_max_failures_per_user",
    "login_max_failures_per_ip",
    "login_failure_window",
    "audit_retention_days",
    "redis_prefix",
];

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The effective configuration.
#[derive(Clone)]
pub struct Settings {
    /// Listen address. Defaults to `127.0.0.1:8000`.
    pub bind: SocketAddr,
    /// Where SQLite and generated files live. Defaults to `./data`.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`. Defaults to `sqlite://<data_dir>/gatehouse.db`.
    pub database_url: SecretString,
    /// Redis for shared state across instances (optional).
    pub redis_url: Option<SecretString>,
    /// `iss` of tokens. Defaults to `http://<bind>`.
    pub issuer: String,
    /// `aud` of tokens. Defaults to `[issuer]`.
    pub audience: Vec<String>,
    /// Signing algorithm. Defaults to `RS256`.
    pub jwt_alg: Algorithm,
    /// HS256 secret (required for, and only for, HS256; ≥ 32 bytes).
    pub jwt_secret: Option<SecretString>,
    /// Access token lifetime, seconds. Defaults to `900`.
    pub access_token_ttl: i64,
    /// Refresh token sliding lifetime, seconds. Defaults to 14 days.
    pub refresh_token_ttl: i64,
    /// Absolute session cap, seconds. Defaults to 30 days.
    pub session_max_ttl: i64,
    /// Bootstrap admin password (else a random one is printed once).
    pub admin_password: Option<SecretString>,
    /// `POST /users` self-registration. Defaults to `false`.
    pub open_registration: bool,
    /// argon2id parameters. Defaults to m=19456 KiB, t=2, p=1.
    pub argon2: Argon2Params,
    /// Hashing threads. Defaults to the number of CPUs.
    pub hash_workers: usize,
    /// Hash jobs that may wait; beyond this, 503. Defaults to `32 × hash_workers`.
    pub hash_queue: usize,
    /// Niceness of the hashing threads (0–19; Linux). Defaults to 0 (hashing shares the CPU
    /// evenly with serving requests); higher values put token checks first during a login flood,
    /// at the cost of logins on a saturated core (docs/PERFORMANCE.md).
    pub hash_nice: i32,
    /// While a hash runs and request threads are busy, a companion thread wakes this often on
    /// its CPU so that the kernel can hand the core to waiting request threads between timer
    /// ticks (10× less often while they are idle). Defaults to 1 ms;
    /// `GATEHOUSE_HASH_PREEMPT_US=0` (`None`) turns it off. 100 µs to 100 ms.
    pub hash_preempt: Option<std::time::Duration>,
    /// The scheduling slice the threads that serve requests ask the kernel for (Linux 6.12 or
    /// later, EEVDF): a thread with a shorter slice than the one running takes the core as soon
    /// as a request wakes it, instead of waiting out the running thread's slice (a hash, during
    /// a login flood). Defaults to 100 µs; `GATEHOUSE_REQUEST_SLICE_US=0` (`None`) leaves the
    /// kernel's default. 100 µs to 100 ms.
    pub request_slice: Option<std::time::Duration>,
    /// Allowed CORS origins (`*` for any).
    pub cors_origins: Vec<String>,
    /// CORS with credentials. Defaults to `false`; refused with origin `*`.
    pub cors_credentials: bool,
    /// `Secure` on cookies. Defaults to `true`; `false` only for plain-http development.
    pub cookie_secure: bool,
    /// Proxies whose `X-Forwarded-For` is trusted (IPs or CIDRs).
    pub trusted_proxies: Vec<String>,
    /// Clock skew leeway for token times, seconds. Defaults to `30`.
    pub clock_leeway: i64,
    /// Log format. Defaults to `text`.
    pub log_format: LogFormat,
    /// Request body limit, bytes. Defaults to `65536`.
    pub max_body_bytes: usize,
    /// Database pool size. Defaults to `16`.
    pub db_max_connections: u32,
    /// How often to reload signing keys from the database, seconds. Defaults to `30`.
    pub key_reload_secs: u64,
    /// Consecutive failures for one username before 429 and back-off. Defaults to `10`.
    pub login_max_failures_per_user: u64,
    /// Failures from one client IP per window before 429. Defaults to `100`.
    pub login_max_failures_per_ip: u64,
    /// The per-IP failure window, seconds. Defaults to `600`.
    pub login_failure_window: i64,
    /// Audit events older than this many days are deleted. Defaults to `90`.
    pub audit_retention_days: i64,
    /// Prefix of every Redis key and channel. Defaults to `gatehouse:`.
    pub redis_prefix: String,
}

fn redact(s: &Option<SecretString>) -> &'static str {
    if s.is_some() {
        "[redacted]"
    } else {
        "(unset)"
    }
}

/// Hides credentials embedded in a URL (`postgres://user:pass@host` → `postgres://user:[redacted]@host`).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:[redacted]{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl Settings {
    /// The effective configuration as TOML-ish lines, secrets redacted (`config check`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: String| out.push_str(&format!("{k} = {v}\n"));
        line("bind", format!("{:?}", self.bind.to_string()));
        line("data_dir", format!("{:?}", self.data_dir.display().to_string()));
        line("database_url", format!("{:?}", redact_url(self.database_url.expose_secret())));
        line(
            "redis_url",
            self.redis_url.as_ref().map_or("(unset)".into(), |u| format!("{:?}", redact_url(u.expose_secret()))),
        );
        line("issuer", format!("{:?}", self.issuer));
        line("audience", format!("{:?}", self.audience));
        line("jwt_alg", format!("{:?}", self.jwt_alg.as_str()));
        line("jwt_secret", redact(&self.jwt_secret).into());
        line("access_token_ttl", self.access_token_ttl.to_string());
        line("refresh_token_ttl", self.refresh_token_ttl.to_string());
        line("session_max_ttl", self.session_max_ttl.to_string());
        line("admin_password", redact(&self.admin_password).into());
        line("open_registration", self.open_registration.to_string());
        line("argon2_memory_kib", self.argon2.memory_kib.to_string());
        line("argon2_iterations", self.argon2.iterations.to_string());
        line("argon2_parallelism", self.argon2.parallelism.to_string());
        line("hash_workers", self.hash_workers.to_string());
        line("hash_queue", self.hash_queue.to_string());
        line("hash_nice", self.hash_nice.to_string());
        line("hash_preempt_us", self.hash_preempt.map_or(0, |d| d.as_micros()).to_string());
        line("request_slice_us", self.request_slice.map_or(0, |d| d.as_micros()).to_string());
        line("cors_origins", format!("{:?}", self.cors_origins));
        line("cors_credentials", self.cors_credentials.to_string());
        line("cookie_secure", self.cookie_secure.to_string());
        line("trusted_proxies", format!("{:?}", self.trusted_proxies));
        line("clock_leeway", self.clock_leeway.to_string());
        line("log_format", format!("{:?}", if self.log_format == LogFormat::Json { "json" } else { "text" }));
        line("max_body_bytes", self.max_body_bytes.to_string());
        line("db_max_connections", self.db_max_connections.to_string());
        line("key_reload_secs", self.key_reload_secs.to_string());
        line("login_max_failures_per_user", self.login_max_failures_per_user.to_string());
        line("login_max_failures_per_ip", self.login_max_failures_per_ip.to_string());
        line("login_failure_window", self.login_failure_window.to_string());
        line("audit_retention_days", self.audit_retention_days.to_string());
        line("redis_prefix", format!("{:?}", self.redis_prefix));
        out
    }

    /// Loads from the TOML file named by `GATEHOUSE_CONFIG` (if set) and the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad setting.
    pub fn load() -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let file = match env.get("GATEHOUSE_CONFIG") {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| ConfigError { setting: "GATEHOUSE_CONFIG".into(), problem: e.to_string() })?,
            ),
            None => None,
        };
        Self::from_sources(file.as_deref(), &env)
    }

    /// Builds settings from TOML text (optional) and an environment map; the environment wins.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad setting, including unknown keys in the file.
    pub fn from_sources(toml_text: Option<&str>, env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut raw: BTreeMap<String, String> = BTreeMap::new();
        if let Some(text) = toml_text {
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
                setting: "GATEHOUSE_CONFIG".into(),
                problem: e.to_string().trim().to_owned(),
            })?;
            for (k, v) in table {
                if !KEYS.contains(&k.as_str()) {
                    return Err(ConfigError {
                        setting: "GATEHOUSE_CONFIG".into(),
                        problem: format!("unknown setting {k:?}"),
                    });
                }
                let s = match v {
                    toml::Value::String(s) => s,
                    toml::Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string()))
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                raw.insert(k, s);
            }
        }
        for k in KEYS {
            if let Some(v) = env.get(&format!("GATEHOUSE_{}", k.to_uppercase())) {
                raw.insert((*k).to_owned(), v.clone());
            }
        }
        Self::from_raw(&raw)
    }

    fn from_raw(raw: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| raw.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        fn num<T: std::str::FromStr>(raw: Option<&str>, k: &str, default: T) -> Result<T, ConfigError> {
            match raw {
                None => Ok(default),
                Some(s) => s.parse().map_err(|_| err(k, format!("{s:?} is not a valid number"))),
            }
        }
        let boolean = |k: &str, default: bool| -> Result<bool, ConfigError> {
            match get(k).map(str::to_ascii_lowercase).as_deref() {
                None => Ok(default),
                Some("1" | "true" | "yes" | "on") => Ok(true),
                Some("0" | "false" | "no" | "off") => Ok(false),
                Some(other) => Err(err(k, format!("{other:?} is not true or false"))),
            }
        };
        let list = |k: &str| -> Vec<String> {
            get(k)
                .map(|s| s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let secret = |k: &str| get(k).map(|s| SecretString::from(s.to_owned()));

        let bind: SocketAddr = match get("bind") {
            None => SocketAddr::from(([127, 0, 0, 1], 8000)),
            Some(s) => s.parse().map_err(|_| err("bind", format!("{s:?} is not an address like 127.0.0.1:8000")))?,
        };
        let data_dir = PathBuf::from(get("data_dir").unwrap_or("./data"));
        let database_url = match get("database_url") {
            Some(u) if u.starts_with("sqlite:") || u.starts_with("postgres:") || u.starts_with("postgresql:") => {
                u.to_owned()
            }
            Some(_) => return Err(err("database_url", "must start with sqlite: or postgres:")),
            None => format!("sqlite://{}?mode=rwc", data_dir.join("gatehouse.db").display()),
        };
        let redis_url = match get("redis_url") {
            Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => {
                Some(SecretString::from(u.to_owned()))
            }
            Some(_) => return Err(err("redis_url", "must start with redis:// or rediss://")),
            None => None,
        };
        let issuer =
            get("issuer").map(|s| s.trim_end_matches('/').to_owned()).unwrap_or_else(|| format!("http://{bind}"));
        if !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
            return Err(err("issuer", "must be an http(s) URL"));
        }
        let mut audience = list("audience");
        if audience.is_empty() {
            audience.push(issuer.clone());
        }
        let jwt_alg: Algorithm = match get("jwt_alg") {
            None => Algorithm::RS256,
            Some(s) => {
                s.parse().map_err(|_| err("jwt_alg", format!("{s:?} is not one of RS256, ES256, EdDSA, HS256")))?
            }
        };
        let jwt_secret = secret("jwt_secret");
        match (&jwt_alg, &jwt_secret) {
            (Algorithm::HS256, None) => return Err(err("jwt_secret", "is required when GATEHOUSE_JWT_ALG=HS256")),
            (Algorithm::HS256, Some(s)) if s.expose_secret().len() < 32 => {
                return Err(err("jwt_secret", "must be at least 32 bytes"))
            }
            (Algorithm::HS256, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(err("jwt_secret", "is only used with GATEHOUSE_JWT_ALG=HS256")),
        }
        let access_token_ttl = num(get("access_token_ttl"), "access_token_ttl", 900i64)?;
        if !(10..=86_400).contains(&access_token_ttl) {
            return Err(err("access_token_ttl", "must be between 10 and 86400 seconds"));
        }
        let refresh_token_ttl = num(get("refresh_token_ttl"), "refresh_token_ttl", 14 * 86_400i64)?;
        let session_max_ttl = num(get("session_max_ttl"), "session_max_ttl", 30 * 86_400i64)?;
        if refresh_token_ttl < 60 {
            return Err(err("refresh_token_ttl", "must be at least 60 seconds"));
        }
        if session_max_ttl < refresh_token_ttl {
            return Err(err("session_max_ttl", "must be at least GATEHOUSE_REFRESH_TOKEN_TTL"));
        }
        let argon2 = Argon2Params {
            memory_kib: num(get("argon2_memory_kib"), "argon2_memory_kib", 19456u32)?,
            iterations: num(get("argon2_iterations"), "argon2_iterations", 2u32)?,
            parallelism: num(get("argon2_parallelism"), "argon2_parallelism", 1u32)?,
        };
        if let Err(e) = argon2.validate() {
            let which = if argon2.iterations == 0 || argon2.iterations > 64 {
                "argon2_iterations"
            } else if argon2.parallelism == 0 || argon2.parallelism > 64 {
                "argon2_parallelism"
            } else {
                // memory out of range, or memory × iterations above the work ceiling
                "argon2_memory_kib"
            };
            return Err(err(which, e.to_string()));
        }
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let hash_workers = num(get("hash_workers"), "hash_workers", cpus)?;
        if !(1..=256).contains(&hash_workers) {
            return Err(err("hash_workers", "must be between 1 and 256"));
        }
        let hash_queue = num(get("hash_queue"), "hash_queue", 32 * hash_workers)?;
        if hash_queue > 100_000 {
            return Err(err("hash_queue", "must be at most 100000"));
        }
        let hash_nice = num(get("hash_nice"), "hash_nice", 0)?;
        if !(0..=19).contains(&hash_nice) {
            return Err(err("hash_nice", "must be between 0 and 19"));
        }
        // The two scheduling intervals: 0 turns the feature off, otherwise 100 µs to 100 ms.
        let micros_or_off = |k: &str, default: u64, off: &str| -> Result<Option<std::time::Duration>, ConfigError> {
            match num::<u64>(get(k), k, default)? {
                0 => Ok(None),
                us @ 100..=100_000 => Ok(Some(std::time::Duration::from_micros(us))),
                _ => Err(err(k, format!("must be 0 ({off}) or between 100 and 100000 microseconds"))),
            }
        };
        let hash_preempt = micros_or_off("hash_preempt_us", 1000, "off")?;
        let request_slice = micros_or_off("request_slice_us", 100, "kernel default")?;
        let cors_origins = list("cors_origins");
        let cors_credentials = boolean("cors_credentials", false)?;
        if cors_credentials && cors_origins.iter().any(|o| o == "*") {
            return Err(err("cors_credentials", "cannot be true while GATEHOUSE_CORS_ORIGINS contains \"*\""));
        }
        for o in &cors_origins {
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                return Err(err("cors_origins", format!("{o:?} is not an origin like https://app.example")));
            }
        }
        let trusted_proxies = list("trusted_proxies");
        for p in &trusted_proxies {
            if crate::net::parse_cidr(p).is_none() {
                return Err(err("trusted_proxies", format!("{p:?} is not an IP address or CIDR")));
            }
        }
        let clock_leeway = num(get("clock_leeway"), "clock_leeway", 30i64)?;
        if !(0..=300).contains(&clock_leeway) {
            return Err(err("clock_leeway", "must be between 0 and 300 seconds"));
        }
        let log_format = match get("log_format") {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(err("log_format", format!("{other:?} is not text or json"))),
        };
        let max_body_bytes = num(get("max_body_bytes"), "max_body_bytes", 65_536usize)?;
        if !(1024..=16 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(err("max_body_bytes", "must be between 1024 and 16777216"));
        }
        let db_max_connections = num(get("db_max_connections"), "db_max_connections", 16u32)?;
        if db_max_connections == 0 {
            return Err(err("db_max_connections", "must be at least 1"));
        }
        let key_reload_secs = num(get("key_reload_secs"), "key_reload_secs", 30u64)?;
        let login_max_failures_per_user =
            num(get("login_max_failures_per_user"), "login_max_failures_per_user", 10u64)?;
        let login_max_failures_per_ip = num(get("login_max_failures_per_ip"), "login_max_failures_per_ip", 100u64)?;
        let login_failure_window = num(get("login_failure_window"), "login_failure_window", 600i64)?;
        let audit_retention_days = num(get("audit_retention_days"), "audit_retention_days", 90i64)?;
        if !(1..=36_500).contains(&audit_retention_days) {
            return Err(err("audit_retention_days", "must be between 1 and 36500"));
        }
        if login_max_failures_per_user == 0 {
            return Err(err("login_max_failures_per_user", "must be at least 1"));
        }
        if login_max_failures_per_ip == 0 {
            return Err(err("login_max_failures_per_ip", "must be at least 1"));
        }
        if !(10..=86_400).contains(&login_failure_window) {
            return Err(err("login_failure_window", "must be between 10 and 86400 seconds"));
        }
        Ok(Self {
            bind,
            data_dir,
            database_url: SecretString::from(database_url),
            redis_url,
            issuer,
            audience,
            jwt_alg,
            jwt_secret,
            access_token_ttl,
            refresh_token_ttl,
            session_max_ttl,
            admin_password: secret("admin_password"),
            open_registration: boolean("open_registration", false)?,
            argon2,
            hash_workers,
            hash_queue,
            hash_nice,
            hash_preempt,
            request_slice,
            cors_origins,
            cors_credentials,
            cookie_secure: boolean("cookie_secure", true)?,
            trusted_proxies,
            clock_leeway,
            log_format,
            max_body_bytes,
            db_max_connections,
            key_reload_secs: key_reload_secs.max(1),
            login_max_failures_per_user,
            login_max_failures_per_ip,
            login_failure_window,
            audit_retention_days,
            redis_prefix: get("redis_prefix").unwrap_or("gatehouse:").to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults() {
        let s = Settings::from_sources(None, &env(&[])).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(s.issuer, "http://127.0.0.1:8000");
        assert_eq!(s.audience, vec!["http://127.0.0.1:8000"]);
        assert_eq!(s.jwt_alg, Algorithm::RS256);
        assert_eq!(s.access_token_ttl, 900);
        assert_eq!(s.argon2, Argon2Params::default());
        assert_eq!(s.hash_nice, 0);
        assert_eq!(s.hash_preempt, Some(std::time::Duration::from_millis(1)));
        assert_eq!(s.request_slice, Some(std::time::Duration::from_micros(100)));
        assert!(s.cookie_secure);
    }

    #[test]
    fn env_overrides_file() {
        let s = Settings::from_sources(
            Some("access_token_ttl = 60\naudience = [\"a\", \"b\"]\n"),
            &env(&[("GATEHOUSE_ACCESS_TOKEN_TTL", "120")]),
        )
        .unwrap();
        assert_eq!(s.access_token_ttl, 120);
        assert_eq!(s.audience, vec!["a", "b"]);
    }

    #[test]
    fn errors_name_the_setting() {
        let e = Settings::from_sources(None, &env(&[("GATEHOUSE_ACCESS_TOKEN_TTL", "soon")])).unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_ACCESS_TOKEN_TTL");
        let e =
            Settings::from_sources(None, &env(&[("GATEHOUSE_JWT_ALG", "HS256"), ("GATEHOUSE_JWT_SECRET", "short")]))
                .unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_JWT_SECRET");
        let e = Settings::from_sources(
            None,
            &env(&[("GATEHOUSE_CORS_ORIGINS", "*"), ("GATEHOUSE_CORS_CREDENTIALS", "true")]),
        )
        .unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_CORS_CREDENTIALS");
        let e = Settings::from_sources(Some("nonsense = 1"), &env(&[])).unwrap_err();
        assert!(e.problem.contains("nonsense"));
        // fuzz finding F2: a key with no value used to give an empty problem
        let e = Settings::from_sources(Some("a = "), &env(&[])).unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_CONFIG");
        assert!(!e.problem.is_empty());
        let e = Settings::from_sources(None, &env(&[("GATEHOUSE_ARGON2_MEMORY_KIB", "8")])).unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_ARGON2_MEMORY_KIB");
        for bad in ["20", "-1", "low"] {
            let e = Settings::from_sources(None, &env(&[("GATEHOUSE_HASH_NICE", bad)])).unwrap_err();
            assert_eq!(e.setting, "GATEHOUSE_HASH_NICE", "{bad}");
        }
        assert_eq!(Settings::from_sources(None, &env(&[("GATEHOUSE_HASH_NICE", "19")])).unwrap().hash_nice, 19);
        // Two scheduling durations in microseconds, both 0 (off) or 100 µs to 100 ms.
        let micros = |var: &str, key: &str, field: fn(&Settings) -> Option<std::time::Duration>| {
            for bad in ["99", "100001", "-1", "1ms"] {
                let e = Settings::from_sources(None, &env(&[(var, bad)])).unwrap_err();
                assert_eq!(e.setting, var, "{bad:?}");
            }
            let at = |v| field(&Settings::from_sources(None, &env(&[(var, v)])).unwrap());
            assert_eq!(at("0"), None);
            assert_eq!(at("250"), Some(std::time::Duration::from_micros(250)));
            let file = format!("{key} = 2000");
            assert_eq!(
                field(&Settings::from_sources(Some(&file), &env(&[])).unwrap()),
                Some(std::time::Duration::from_millis(2))
            );
        };
        micros("GATEHOUSE_HASH_PREEMPT_US", "hash_preempt_us", |s| s.hash_preempt);
        micros("GATEHOUSE_REQUEST_SLICE_US", "request_slice_us", |s| s.request_slice);
        // memory × iterations above the work ceiling (the cap stored hashes are held to)
        let e = Settings::from_sources(
            None,
            &env(&[("GATEHOUSE_ARGON2_MEMORY_KIB", "262144"), ("GATEHOUSE_ARGON2_ITERATIONS", "8")]),
        )
        .unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_ARGON2_MEMORY_KIB");
        let e = Settings::from_sources(None, &env(&[("GATEHOUSE_ARGON2_ITERATIONS", "65")])).unwrap_err();
        assert_eq!(e.setting, "GATEHOUSE_ARGON2_ITERATIONS");
    }

    #[test]
    fn render_redacts_secrets() {
        let s = Settings::from_sources(
            None,
            &env(&[
                ("GATEHOUSE_JWT_ALG", "HS256"),
                ("GATEHOUSE_JWT_SECRET", "0123456789abcdef0123456789abcdef-secret"),
                ("GATEHOUSE_ADMIN_PASSWORD", "hunter2-admin"),
                ("GATEHOUSE_DATABASE_URL", "postgres://gh:dbpass@localhost/x"),
            ]),
        )
        .unwrap();
        let out = s.render();
        assert!(!out.contains("0123456789abcdef"));
        assert!(!out.contains("hunter2-admin"));
        assert!(!out.contains("dbpass"));
        assert!(out.contains("[redacted]"));
        assert_eq!(format!("{s:?}"), out);
    }
}
