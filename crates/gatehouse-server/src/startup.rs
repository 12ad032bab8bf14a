//! Building and running the application (zero2prod's `Application::build`).

use std::{convert::Infallible, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{
    extract::{DefaultBodyLimit, Request},
    http::{HeaderName, Method},
    response::Response,
    routing::{delete, get, post, put},
    Router,
};
use gatehouse_axum::{Access, AuthState, RouteSecurity, SecureRouter};
use gatehouse_core::{Clock, PasswordHasher};
use gatehouse_store::{SqlStore, Storage};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tower::{
    util::{BoxCloneSyncService, Either},
    Layer as _,
};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    accounts::{create_user, NewUser},
    auth::ServerAuthenticator,
    hashing::{HashPool, PoolOptions},
    keys::KeyManager,
    middleware,
    revocation::Revocations,
    routes::{
        account, admin, browser, browser::CsrfGuard, clients, health, revocation, token, users, well_known, Admin, Me,
    },
    settings::Settings,
    state::{AppInner, AppState},
};

/// Opens the database named by the settings (creating the SQLite data directory) and
/// applies migrations.
///
/// # Errors
/// When the directory cannot be created, the database cannot be reached, or a migration fails.
pub async fn open_store(settings: &Settings) -> anyhow::Result<SqlStore> {
    let url = settings.database_url.expose_secret();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating GATEHOUSE_DATA_DIR {}", settings.data_dir.display()))?;
    }
    let store = SqlStore::connect(url, settings.db_max_connections)
        .await
        .with_context(|| format!("connecting to GATEHOUSE_DATABASE_URL {}", crate::settings::redact_url(url)))?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// Builds the password hasher and its pool from the settings, warning about weak parameters.
///
/// # Errors
/// Invalid argon2 parameters.
pub fn hash_pool(settings: &Settings) -> anyhow::Result<HashPool> {
    if settings.argon2.is_weaker_than_default() {
        tracing::warn!(
            memory_kib = settings.argon2.memory_kib,
            iterations = settings.argon2.iterations,
            "argon2 parameters are below the recommended defaults; use them for tests only"
        );
    }
    let hasher = PasswordHasher::new(settings.argon2)?;
    Ok(HashPool::new(
        hasher,
        PoolOptions {
            workers: settings.hash_workers,
            queue: settings.hash_queue,
            nice: settings.hash_nice,
            preempt_every: settings.hash_preempt,
        },
    ))
}

/// Creates the `admin` user on an empty database. Prints a generated password once, to
/// stdout (never to the log).
///
/// # Errors
/// Storage failures, or a `GATEHOUSE_ADMIN_PASSWORD` that breaks the password policy.
pub async fn bootstrap_admin(
    store: &dyn Storage,
    pool: &HashPool,
    settings: &Settings,
    now: i64,
) -> anyhow::Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match &settings.admin_password {
        Some(p) => (p.clone(), false),
        None => (SecretString::from(crate::tokens::new_refresh_token()[..24].to_owned()), true),
    };
    let input = NewUser {
        username: "admin".into(),
        password: password.clone(),
        email: None,
        roles: Some(vec!["admin".into()]),
    };
    create_user(store, pool, now, input)
        .await
        .map_err(|e| anyhow::anyhow!("creating the bootstrap admin (GATEHOUSE_ADMIN_PASSWORD): {e}"))?;
    tracing::info!("created bootstrap user \"admin\"");
    if generated {
        println!("gatehouse: created user \"admin\" with password: {}", password.expose_secret());
        println!("gatehouse: this password is shown once; change it or set GATEHOUSE_ADMIN_PASSWORD.");
    }
    Ok(())
}

/// A built, bound, not yet running server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    router: Server,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Opens storage, loads keys and revocations, creates the bootstrap admin, binds.
    /// With the default issuer, a bind to port 0 gets an issuer with the real port. The
    /// clock is [`CoarseClock`](crate::coarse_time::CoarseClock): whole seconds, read cheaply.
    ///
    /// # Errors
    /// Any start-up failure, with the setting it concerns.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(crate::coarse_time::CoarseClock)).await
    }

    /// [`Application::build`] with an injected clock (tests).
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with_clock(mut settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("binding GATEHOUSE_BIND {}", settings.bind))?;
        let local = listener.local_addr()?;
        let default_issuer = format!("http://{}", settings.bind);
        if settings.issuer == default_issuer {
            settings.issuer = format!("http://{local}");
            if settings.audience == [default_issuer] {
                settings.audience = vec![settings.issuer.clone()];
            }
        }
        let sql = open_store(&settings).await?;
        let store: Arc<dyn Storage> = Arc::new(sql.clone());
        let hasher = hash_pool(&settings)?;
        bootstrap_admin(store.as_ref(), &hasher, &settings, clock.now()).await?;
        let keys = Arc::new(KeyManager::init(Arc::clone(&store), Arc::clone(&clock), &settings).await?);
        let revocations = Arc::new(Revocations::load(store.as_ref(), clock.now()).await?);
        let role_cache = Arc::new(crate::roles::RoleCache::new(Arc::clone(&store), Duration::from_secs(1)));
        let authenticator = ServerAuthenticator {
            roles: Arc::clone(&role_cache),
            keys: Arc::clone(&keys),
            revocations: Arc::clone(&revocations),
            clock: Arc::clone(&clock),
            store: Arc::clone(&store),
            verified: crate::verified_cache::VerifiedCache::new(20_000),
        };
        let auth = AuthState::new(Arc::new(authenticator))
            .with_api_key::<crate::openapi::XApiKey>()
            .with_session_cookie(crate::routes::browser::cookie_names(&settings).0);
        let trusted_proxies = settings.trusted_proxies.iter().filter_map(|p| crate::net::parse_cidr(p)).collect();
        let mut background = Vec::new();
        let (counters, redis): (Arc<dyn gatehouse_store::CounterStore>, _) = match &settings.redis_url {
            Some(url) => {
                let client = gatehouse_store::redis_client(url.expose_secret())
                    .map_err(|e| anyhow::anyhow!("GATEHOUSE_REDIS_URL: {e}"))?;
                let redis =
                    Arc::new(gatehouse_store::RedisCounters::new(client.clone(), settings.redis_prefix.clone()));
                if let Err(e) = redis.ping().await {
                    tracing::warn!(error = %e, "Redis is unreachable at start; logins answer 503 until it returns");
                }
                background.extend(crate::fanout::start(
                    client,
                    format!("{}revocations", settings.redis_prefix),
                    Arc::clone(&revocations),
                    Arc::clone(&store),
                    Arc::clone(&clock),
                ));
                (Arc::clone(&redis) as Arc<dyn gatehouse_store::CounterStore>, Some(redis))
            }
            None => {
                (Arc::new(gatehouse_store::MemoryCounters::default()) as Arc<dyn gatehouse_store::CounterStore>, None)
            }
        };
        let throttle = crate::throttle::Throttle::new(
            counters,
            Arc::clone(&clock),
            settings.login_max_failures_per_user,
            settings.login_max_failures_per_ip,
            settings.login_failure_window,
        );
        let users = crate::user_cache::UserCache::new(Arc::clone(&store), Duration::from_secs(1), 20_000);
        let state = AppState(Arc::new(AppInner {
            settings,
            store,
            sql,
            keys,
            revocations,
            hasher,
            clock,
            auth,
            trusted_proxies,
            throttle,
            metrics: crate::metrics::Metrics::default(),
            redis,
            role_cache,
            users,
        }));
        let router = router(state.clone())?;
        Ok(Self { listener, state, router, background })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The application state (tests use it to reach storage and the clock).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT/SIGTERM, with background key reload and revocation pruning.
    ///
    /// # Errors
    /// I/O errors from the listener.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let st = self.state.clone();
        let reload_every = Duration::from_secs(st.settings.key_reload_secs);
        let bg = tokio::spawn(async move {
            let mut tick = tokio::time::interval(reload_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = st.keys.reload().await {
                    tracing::warn!(error = %e, "key reload failed");
                }
                st.revocations.prune(st.clock.now());
                let cutoff = st.clock.now() - st.settings.audit_retention_days * 86_400;
                if let Err(e) = st.store.purge_audit(cutoff).await {
                    tracing::warn!(error = %e, "audit retention purge failed");
                }
                if let Err(e) = st.revocations.sync(st.store.as_ref(), st.clock.now()).await {
                    tracing::warn!(error = %e, "revocation sync failed");
                }
            }
        });
        let scheduler = match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::CurrentThread => "current_thread",
            _ => "multi_thread",
        };
        tracing::info!(
            addr = %self.listener.local_addr()?,
            issuer = %self.state.settings.issuer,
            scheduler,
            "gatehouse listening"
        );
        let app = self.router.into_make_service();
        let r = axum::serve(self.listener, app).with_graceful_shutdown(shutdown_signal()).await;
        bg.abort();
        for t in &self.background {
            t.abort();
        }
        self.state.sql.close().await;
        r
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

fn cors(settings: &Settings) -> anyhow::Result<Option<CorsLayer>> {
    if settings.cors_origins.is_empty() {
        return Ok(None);
    }
    let origin = if settings.cors_origins.iter().any(|o| o == "*") {
        anyhow::ensure!(!settings.cors_credentials, "GATEHOUSE_CORS_CREDENTIALS cannot be combined with origin *");
        AllowOrigin::any()
    } else {
        let list = settings
            .cors_origins
            .iter()
            .map(|o| o.parse().with_context(|| format!("GATEHOUSE_CORS_ORIGINS: {o:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(list)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_credentials(settings.cors_credentials)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static("x-csrf-token"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(600)),
    ))
}

/// Every route with its declared access: anonymous access is written `public`, the rest is
/// guarded before the handler runs (default-deny), and `/openapi.json` documents exactly this.
pub fn routes(auth: AuthState) -> SecureRouter<AppState> {
    let limited = || DefaultBodyLimit::max(16 * 1024);
    let admin = SecureRouter::new(auth.clone())
        .require::<Admin>()
        .route("/admin/users", get(admin::list_users).post(admin::create))
        .route("/admin/users/{id}", get(admin::get_user).patch(admin::patch_user).delete(admin::delete_user))
        .route("/admin/users/{id}/revoke-sessions", post(admin::revoke_sessions))
        .route("/admin/clients", get(clients::list).post(clients::create))
        .route("/admin/clients/{id}", delete(clients::delete))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/roles", get(admin::list_roles))
        .route("/admin/roles/{name}", put(admin::put_role).delete(admin::delete_role));
    SecureRouter::new(auth)
        .public("/token", post(token::token).layer(limited()))
        .public("/token/revoke", post(revocation::revoke).layer(limited()))
        .public("/token/introspect", post(revocation::introspect).layer(limited()))
        .declare(RouteSecurity::new("/session", Access::public()).on([Method::POST]), post(browser::create))
        .declare(RouteSecurity::new("/session", Access::authenticated()).on([Method::DELETE]), delete(browser::delete))
        .route("/logout", post(revocation::logout))
        .route("/logout/all", post(revocation::logout_all))
        .scoped::<Me>("/users/me/sessions", get(account::list_sessions))
        .scoped::<Me>("/users/me/sessions/{id}", delete(account::delete_session))
        .scoped::<Me>("/users/me/password", post(account::change_password))
        .scoped::<Me>("/users/me/api-keys", get(account::list_api_keys).post(account::create_api_key))
        .scoped::<Me>("/users/me/api-keys/{id}", delete(account::delete_api_key))
        .public("/users", post(users::register))
        .scoped::<Me>("/users/me", get(users::get_me).patch(users::patch_me))
        .public("/.well-known/jwks.json", get(well_known::jwks))
        .public("/.well-known/oauth-authorization-server", get(well_known::metadata))
        .public("/.well-known/openid-configuration", get(well_known::metadata))
        .public("/openapi.json", get(crate::openapi::openapi_json))
        .merge_public(crate::openapi::swagger_ui())
        .public("/healthz", get(health::healthz))
        .public("/readyz", get(health::readyz))
        .public("/metrics", get(crate::metrics::metrics))
        .merge(admin)
}

/// The full server: the routes wrapped in their middleware.
///
/// Routes (declared with their access in [`routes`], with per-route limits and the metrics
/// layer, which needs the matched route) form one [`Router`]; the cross-cutting middleware
/// wraps that router once, as plain tower services, instead of being layered onto every route
/// with `Router::layer`, which would box each layer per route and clone the whole nested
/// stack on every request. Outermost first: [`middleware::Edge`], CORS (when configured),
/// the CSRF guard for cookie sessions, the routes.
///
/// # Errors
/// Invalid CORS configuration.
pub fn router(state: AppState) -> anyhow::Result<Server> {
    // The route marker goes on each route in the same layer as its scope guard (one boxed
    // route level fewer than a separate `route_layer`; docs/PERFORMANCE.md), and carries the
    // route's template. The one router merged undeclared is the Swagger UI.
    let mut routes = routes(state.auth.clone())
        .into_router_with_each(|decl| {
            crate::metrics::MarkRouteLayer::new(decl.map_or(crate::openapi::DOCS_PATH, |d| d.path.as_str()))
        })
        .fallback(middleware::not_found)
        .with_state(state.clone());
    // The edge enforces `max_body_bytes`; axum's body extractors add their own default cap
    // (2 MiB), which must not undercut a larger configured limit. (Per-route limits, such as
    // the OAuth endpoints' 16 KiB, sit closer to the handler and still apply.)
    if state.settings.max_body_bytes > AXUM_DEFAULT_BODY_LIMIT {
        routes = routes.layer(DefaultBodyLimit::max(state.settings.max_body_bytes));
    }
    let guarded = browser::CsrfGuardLayer(state.clone()).layer(routes);
    // CORS boxed, service and response future: tower-http's `Cors` is 272 bytes and its
    // future 176 bytes more than the rest's, which every request's copy of the service and
    // its future would carry (and hyper move around) even with CORS off.
    let stack = match cors(&state.settings)? {
        Some(cors) => Either::Left(BoxCloneSyncService::new(cors.layer(guarded))),
        None => Either::Right(guarded),
    };
    Ok(middleware::Edge::new(state, stack))
}

/// axum's own cap on a body read by its extractors, when no `DefaultBodyLimit` is set.
const AXUM_DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The service [`router`] builds: every request's way through the server.
pub type Server = middleware::Edge<Either<BoxCloneSyncService<Request, Response, Infallible>, CsrfGuard<Router>>>;
