//! OpenAPI (utoipa) security from the declarations that are enforced.
//!
//! [`SecuritySchemes`] turns the same types the extractors and guards use — [`ApiKeySource`]
//! and [`BasicRealm`] declarations, and the [`RouteSecurity`] list a [`SecureRouter`]
//! enforces (scopes from [`ScopeRequirement`](crate::ScopeRequirement) types) — into the
//! document's `securitySchemes` and each operation's `security`. [`Coverage`] reports every
//! operation nothing declared, so a test can insist the document and the router agree.
//!
//! # Example
//! ```
//! use axum::routing::get;
//! use gatehouse_axum::{api_key, openapi::SecuritySchemes, scopes, AuthState, SecureRouter};
//! use utoipa::openapi::{OpenApi, PathItem, HttpMethod, path::Operation, Paths};
//!
//! scopes! { pub Me = ["me"]; }
//! api_key! { pub XApiKey = header("X-API-Key"); }
//!
//! # fn run(auth: AuthState) {
//! let router = SecureRouter::<()>::new(auth)
//!     .public("/token", get(|| async { "" }))
//!     .scoped::<Me>("/users/me", get(|| async { "" }));
//!
//! // Normally from `#[derive(utoipa::OpenApi)]`; built by hand here.
//! let mut doc = OpenApi::new(Default::default(), Paths::new());
//! for p in ["/token", "/users/me"] {
//!     doc.paths.paths.insert(p.into(), PathItem::new(HttpMethod::Get, Operation::new()));
//! }
//!
//! let coverage = SecuritySchemes::new()
//!     .oauth2_password("oauth2", "/token", [("me", "your own account")])
//!     .bearer("bearer", Some("JWT"))
//!     .api_key::<XApiKey>("api_key")
//!     .apply(&mut doc, &router.declarations());
//! assert!(coverage.is_complete(), "{coverage:?}");
//!
//! let json = serde_json::to_value(&doc).unwrap();
//! assert_eq!(json["paths"]["/users/me"]["get"]["security"][0]["oauth2"][0], "me");
//! assert!(json["paths"]["/token"]["get"].get("security").is_none());
//! # }
//! ```

use std::collections::BTreeMap;

use axum::http::Method;
use utoipa::openapi::{
    path::{Operation, PathItem},
    security::{
        ApiKey as UApiKey, ApiKeyValue, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes,
        SecurityRequirement, SecurityScheme,
    },
    OpenApi,
};

use crate::{Access, ApiKeyLocation, ApiKeySource, BasicRealm, RouteSecurity};

#[cfg(doc)]
use crate::SecureRouter;

/// Description given to a scope that routes require but the caller did not describe.
const UNDESCRIBED_SCOPE: &str = "required by this API";

#[derive(Debug, Clone)]
enum Kind {
    OAuth2Password { token_url: String, scopes: Vec<(String, String)> },
    Bearer { format: Option<String> },
    Basic { realm: &'static str },
    ApiKey { location: ApiKeyLocation, name: &'static str, principal: bool },
}

#[derive(Debug, Clone)]
struct Scheme {
    name: String,
    kind: Kind,
    description: Option<String>,
}

impl Scheme {
    /// Whether an [`Access::Authenticated`] operation lists this scheme.
    fn for_principal(&self) -> bool {
        match self.kind {
            Kind::OAuth2Password { .. } | Kind::Bearer { .. } => true,
            Kind::ApiKey { principal, .. } => principal,
            Kind::Basic { .. } => false,
        }
    }

    fn build(&self, declared_scopes: &[&'static str]) -> SecurityScheme {
        let desc = self.description.clone();
        match &self.kind {
            Kind::OAuth2Password { token_url, scopes } => {
                let mut all: BTreeMap<String, String> = scopes.iter().cloned().collect();
                for s in declared_scopes {
                    all.entry((*s).to_owned()).or_insert_with(|| UNDESCRIBED_SCOPE.to_owned());
                }
                let flow = Flow::Password(Password::new(token_url.clone(), Scopes::from_iter(all)));
                SecurityScheme::OAuth2(match desc {
                    Some(d) => OAuth2::with_description([flow], d),
                    None => OAuth2::new([flow]),
                })
            }
            Kind::Bearer { format } => {
                let mut b = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(desc);
                if let Some(f) = format {
                    b = b.bearer_format(f.clone());
                }
                SecurityScheme::Http(b.build())
            }
            Kind::Basic { realm } => SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(desc.unwrap_or_else(|| format!("HTTP Basic, realm \"{realm}\""))))
                    .build(),
            ),
            Kind::ApiKey { location, name, .. } => {
                let value = match desc {
                    Some(d) => ApiKeyValue::with_description((*name).to_owned(), d),
                    None => ApiKeyValue::new(*name),
                };
                SecurityScheme::ApiKey(match location {
                    ApiKeyLocation::Header => UApiKey::Header(value),
                    ApiKeyLocation::Query => UApiKey::Query(value),
                    ApiKeyLocation::Cookie => UApiKey::Cookie(value),
                })
            }
        }
    }
}

/// The document's security schemes, registered from the library's declarations. An
/// operation's `security` lists, as alternatives:
///
/// - [`Access::Authenticated`]: every scheme a principal can come from — the OAuth2 password
///   flow, bearer, and API keys registered with [`api_key`](Self::api_key) — each with the
///   required scopes (OpenAPI 3.1 allows role lists on non-OAuth2 schemes);
/// - [`Access::Basic`]: the [`basic`](Self::basic) scheme of that realm;
/// - [`Access::ApiKey`]: the scheme registered for that source (either method);
/// - [`Access::Public`]: nothing (`security` is removed).
#[derive(Debug, Clone, Default)]
pub struct SecuritySchemes {
    schemes: Vec<Scheme>,
}

impl SecuritySchemes {
    /// No schemes.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, name: &str, kind: Kind) -> Self {
        self.schemes.retain(|s| s.name != name);
        self.schemes.push(Scheme { name: name.to_owned(), kind, description: None });
        self
    }

    /// An OAuth2 password flow against `token_url`, listing `scopes` (name, description) —
    /// plus every scope a declaration requires, so the flow lists every enforced scope.
    pub fn oauth2_password<N: Into<String>, D: Into<String>>(
        self,
        name: &str,
        token_url: &str,
        scopes: impl IntoIterator<Item = (N, D)>,
    ) -> Self {
        let scopes = scopes.into_iter().map(|(n, d)| (n.into(), d.into())).collect();
        self.push(name, Kind::OAuth2Password { token_url: token_url.to_owned(), scopes })
    }

    /// HTTP bearer (`Authorization: Bearer`), with an optional `bearerFormat` such as `"JWT"`.
    pub fn bearer(self, name: &str, format: Option<&str>) -> Self {
        self.push(name, Kind::Bearer { format: format.map(str::to_owned) })
    }

    /// HTTP Basic in `R`'s realm, for routes declared [`Access::basic::<R>()`](Access::basic).
    pub fn basic<R: BasicRealm>(self, name: &str) -> Self {
        self.push(name, Kind::Basic { realm: R::REALM })
    }

    /// An API key from `K` that authenticates a principal — the source given to
    /// [`AuthState::with_api_key`](crate::AuthState::with_api_key). Listed on every
    /// authenticated operation, and on routes declared [`Access::api_key::<K>()`](Access::api_key).
    pub fn api_key<K: ApiKeySource>(self, name: &str) -> Self {
        self.push(name, Kind::ApiKey { location: K::LOCATION, name: K::NAME, principal: true })
    }

    /// An API key from `K` read only by handlers of routes declared
    /// [`Access::api_key::<K>()`](Access::api_key) (the raw [`ApiKey<K>`](crate::ApiKey)
    /// extractor); not listed on authenticated operations.
    pub fn api_key_only<K: ApiKeySource>(self, name: &str) -> Self {
        self.push(name, Kind::ApiKey { location: K::LOCATION, name: K::NAME, principal: false })
    }

    /// Sets the description of the scheme registered as `name` (no effect if there is none).
    pub fn describe(mut self, name: &str, description: impl Into<String>) -> Self {
        if let Some(s) = self.schemes.iter_mut().find(|s| s.name == name) {
            s.description = Some(description.into());
        }
        self
    }

    /// The security requirement alternatives for `access`: `Ok(None)` for public;
    /// `Err(access)` when no registered scheme can express it.
    ///
    /// # Errors
    /// The access itself, when nothing registered matches it.
    pub fn requirements(&self, access: &Access) -> Result<Option<Vec<SecurityRequirement>>, Access> {
        let matching: Vec<SecurityRequirement> = match access {
            Access::Public => return Ok(None),
            Access::Authenticated { scopes } => self
                .schemes
                .iter()
                .filter(|s| s.for_principal())
                .map(|s| SecurityRequirement::new(s.name.clone(), scopes.iter().copied()))
                .collect(),
            Access::Basic { realm } => self
                .schemes
                .iter()
                .filter(|s| matches!(s.kind, Kind::Basic { realm: r } if r == *realm))
                .map(|s| SecurityRequirement::new(s.name.clone(), Vec::<String>::new()))
                .collect(),
            Access::ApiKey { location, name } => self
                .schemes
                .iter()
                .filter(|s| matches!(s.kind, Kind::ApiKey { location: l, name: n, .. } if l == *location && n == *name))
                .map(|s| SecurityRequirement::new(s.name.clone(), Vec::<String>::new()))
                .collect(),
        };
        if matching.is_empty() {
            Err(access.clone())
        } else {
            Ok(Some(matching))
        }
    }

    /// Adds the schemes to `doc`'s components and sets every operation's `security` from
    /// the declaration covering it. Operations no declaration covers are left as they are
    /// and reported, as are the other mismatches [`Coverage`] lists.
    pub fn apply(&self, doc: &mut OpenApi, routes: &[RouteSecurity]) -> Coverage {
        let mut declared_scopes = Vec::new();
        for r in routes {
            for s in r.access.scopes_required() {
                if !declared_scopes.contains(s) {
                    declared_scopes.push(*s);
                }
            }
        }
        let components = doc.components.get_or_insert_with(Default::default);
        for s in &self.schemes {
            components.add_security_scheme(s.name.clone(), s.build(&declared_scopes));
        }

        let mut coverage = Coverage::default();
        let mut used = vec![false; routes.len()];
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                let label = format!("{method} {path}");
                let covering: Vec<usize> = (0..routes.len()).filter(|&i| routes[i].covers(path, &method)).collect();
                for &i in &covering {
                    used[i] = true;
                }
                let Some(&first) = covering.first() else {
                    coverage.undeclared.push(label);
                    continue;
                };
                if covering.iter().any(|&i| routes[i].access != routes[first].access) {
                    coverage.conflicting.push(label);
                    continue;
                }
                match self.requirements(&routes[first].access) {
                    Ok(security) => op.security = security,
                    Err(_) => coverage.unregistered.push(label),
                }
            }
        }
        coverage.unmatched =
            routes.iter().zip(used).filter(|(_, u)| !u).map(|(r, _)| r.path.clone()).collect::<Vec<_>>();
        coverage.unmatched.dedup();
        coverage
    }
}

/// Each documented operation, with its method.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::OPTIONS, item.options.as_mut()),
        (Method::HEAD, item.head.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
        (Method::TRACE, item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
}

/// How well the declarations cover the document ([`SecuritySchemes::apply`]). Entries are
/// `"METHOD /path"` except [`unmatched`](Self::unmatched), which holds paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Documented operations no declaration covers: their `security` was left as it was.
    pub undeclared: Vec<String>,
    /// Operations covered by declarations that disagree (narrow them with
    /// [`RouteSecurity::on`]); left as they were.
    pub conflicting: Vec<String>,
    /// Operations whose access no registered scheme expresses (e.g. [`Access::Basic`]
    /// without [`SecuritySchemes::basic`]); left as they were.
    pub unregistered: Vec<String>,
    /// Declared paths with no documented operation (undocumented routes).
    pub unmatched: Vec<String>,
}

impl Coverage {
    /// Whether every documented operation got its security from exactly one kind of
    /// declaration. Undocumented routes ([`unmatched`](Self::unmatched)) do not count.
    pub fn is_complete(&self) -> bool {
        self.undeclared.is_empty() && self.conflicting.is_empty() && self.unregistered.is_empty()
    }
}
