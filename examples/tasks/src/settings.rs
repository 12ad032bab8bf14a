//! `TASKS_*` settings from the environment.

use std::{fmt, net::SocketAddr};

use gatehouse_axum::jwks::{JwksAuthenticator, JwksErrorKind};
use gatehouse_core::Algorithm;

/// Where to listen and whom to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `TASKS_BIND`: listen address. Defaults to `127.0.0.1:8001`.
    pub bind: SocketAddr,
    /// `TASKS_ISSUER` (required): gatehouse's base URL, exactly as in its tokens' `iss`.
    pub issuer: String,
    /// `TASKS_AUDIENCE` (required): must appear in a token's `aud`.
    pub audience: String,
    /// `TASKS_ALGORITHMS`: comma-separated pinned algorithms. Defaults to
    /// `RS256,ES256,EdDSA` (every asymmetric algorithm gatehouse can publish).
    pub algorithms: Vec<Algorithm>,
    /// `TASKS_ALLOW_INSECURE_HTTP`: fetch discovery/JWKS over plain http from a non-loopback
    /// host (e.g. a private network). Defaults to `false`.
    pub allow_insecure_http: bool,
}

/// A setting that is missing or unusable; names the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for SettingsError {}

fn err(variable: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError { variable, message: message.into() }
}

impl Settings {
    /// Reads the process environment.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (tests pass a map).
    ///
    /// # Errors
    /// A [`SettingsError`] naming the variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |k: &str| get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let bind = match get("TASKS_BIND") {
            None => SocketAddr::from(([127, 0, 0, 1], 8001)),
            Some(v) => {
                v.parse().map_err(|_| err("TASKS_BIND", format!("{v:?} is not an address like 127.0.0.1:8001")))?
            }
        };
        let issuer = get("TASKS_ISSUER").ok_or_else(|| err("TASKS_ISSUER", "is required (gatehouse's base URL)"))?;
        let audience = get("TASKS_AUDIENCE")
            .ok_or_else(|| err("TASKS_AUDIENCE", "is required (the audience tokens must carry)"))?;
        let algorithms = match get("TASKS_ALGORITHMS") {
            None => vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
            Some(v) => v
                .split(',')
                .map(|a| {
                    a.trim()
                        .parse::<Algorithm>()
                        .map_err(|_| err("TASKS_ALGORITHMS", format!("unknown algorithm {:?}", a.trim())))
                })
                .collect::<Result<_, _>>()?,
        };
        let allow_insecure_http = match get("TASKS_ALLOW_INSECURE_HTTP").as_deref() {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(v) => return Err(err("TASKS_ALLOW_INSECURE_HTTP", format!("{v:?} is not true/false"))),
        };
        let settings = Self { bind, issuer, audience, algorithms, allow_insecure_http };
        // Fail now, naming the variable, rather than at the first request.
        drop(settings.authenticator()?);
        Ok(settings)
    }

    /// The JWKS authenticator these settings describe.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the variable behind a refused setting.
    pub fn authenticator(&self) -> Result<JwksAuthenticator, SettingsError> {
        JwksAuthenticator::builder(&self.issuer)
            .audience(&self.audience)
            .algorithms(self.algorithms.iter().copied())
            .allow_insecure_http(self.allow_insecure_http)
            .build()
            .map_err(|e| {
                let variable = match e.kind() {
                    JwksErrorKind::Config { setting: "audience", .. } => "TASKS_AUDIENCE",
                    JwksErrorKind::Config { setting: "algorithms", .. } => "TASKS_ALGORITHMS",
                    _ => "TASKS_ISSUER",
                };
                err(variable, e.to_string())
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_required_variables() {
        let s = load(&[("TASKS_ISSUER", "http://127.0.0.1:8000"), ("TASKS_AUDIENCE", "tasks")]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8001");
        assert_eq!(s.algorithms.len(), 3);
        assert!(!s.allow_insecure_http);

        assert_eq!(load(&[("TASKS_AUDIENCE", "t")]).unwrap_err().variable, "TASKS_ISSUER");
        assert_eq!(load(&[("TASKS_ISSUER", "http://127.0.0.1:8000")]).unwrap_err().variable, "TASKS_AUDIENCE");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let base = [("TASKS_ISSUER", "http://127.0.0.1:8000"), ("TASKS_AUDIENCE", "tasks")];
        let with = |extra: (&'static str, &'static str)| {
            let mut v = base.to_vec();
            v.push(extra);
            load(&v).unwrap_err().variable
        };
        assert_eq!(with(("TASKS_BIND", "localhost")), "TASKS_BIND");
        assert_eq!(with(("TASKS_ALGORITHMS", "RS256,none")), "TASKS_ALGORITHMS");
        assert_eq!(with(("TASKS_ALGORITHMS", "HS256")), "TASKS_ALGORITHMS");
        assert_eq!(with(("TASKS_ALLOW_INSECURE_HTTP", "maybe")), "TASKS_ALLOW_INSECURE_HTTP");
        assert_eq!(
            load(&[("TASKS_ISSUER", "gatehouse:8000"), ("TASKS_AUDIENCE", "t")]).unwrap_err().variable,
            "TASKS_ISSUER"
        );
        assert_eq!(
            load(&[("TASKS_ISSUER", "http://gatehouse:8000"), ("TASKS_AUDIENCE", "t")]).unwrap_err().variable,
            "TASKS_ISSUER"
        );
        assert!(load(&[
            ("TASKS_ISSUER", "http://gatehouse:8000"),
            ("TASKS_AUDIENCE", "t"),
            ("TASKS_ALLOW_INSECURE_HTTP", "true"),
        ])
        .is_ok());
    }
}
