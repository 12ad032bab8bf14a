//! What each CLI command does.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use gatehouse_core::{inspect_header, username_key, Clock, SystemClock};
use gatehouse_store::{
    KeyStatus, KeyStore as _, RoleStore as _, SessionStore as _, Storage, UserPatch, UserStore as _,
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    accounts::{check_password, create_user, NewUser},
    cli::{
        read_password_line, ApikeyCommand, ClientCommand, Command, ConfigCommand, KeysCommand, TokenCommand,
        UserCommand,
    },
    keys::{rotate, KeyManager},
    settings::Settings,
    startup::{hash_pool, open_store, Application},
};

/// Runs one command.
///
/// # Errors
/// Whatever the command fails with; the message says what to fix.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => Application::build(settings).await?.run_until_stopped().await.context("serving"),
        Command::Migrate => {
            open_store(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            print!("{}", settings.render());
            println!("# configuration is valid");
            Ok(())
        }
        Command::User(c) => user(c, &settings).await,
        Command::Keys(c) => keys(c, &settings).await,
        Command::Client(ClientCommand::Create { name, scopes, grants }) => {
            let store = open_store(&settings).await?;
            let input =
                crate::routes::clients::NewClient { name, scopes, grant_types: (!grants.is_empty()).then_some(grants) };
            let v = crate::routes::clients::register(&store, SystemClock.now(), input)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("client_id: {}", v.client_id);
            println!("client_secret (shown once): {}", v.client_secret.unwrap_or_default());
            println!("scopes: {}  grant_types: {}", v.scopes.join(" "), v.grant_types.join(" "));
            Ok(())
        }
        Command::Apikey(ApikeyCommand::Create { username, name, scopes, expires_in }) => {
            let store = open_store(&settings).await?;
            let user = find_user(&store, &username).await?;
            let allowed = crate::roles::RoleGraph::new(store.list_roles().await?).scopes_for(&user.roles);
            let input = crate::routes::account::NewApiKey { name, scopes, expires_in };
            let v = crate::routes::account::issue_api_key(&store, &user.id, &allowed, SystemClock.now(), input)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("id: {}", v.id);
            println!("key (shown once): {}", v.key.unwrap_or_default());
            Ok(())
        }
        Command::Token(TokenCommand::Inspect { token }) => inspect(&token, &settings).await,
        Command::Import { file, format, dry_run } => {
            let store = open_store(&settings).await?;
            crate::import::run(&store, &file, format, dry_run, SystemClock.now()).await.map(|_| ())
        }
    }
}

fn new_password(from_stdin: bool) -> anyhow::Result<(SecretString, bool)> {
    if from_stdin {
        Ok((SecretString::from(read_password_line()?), false))
    } else {
        Ok((SecretString::from(crate::tokens::new_refresh_token()[..24].to_owned()), true))
    }
}

async fn find_user(store: &dyn Storage, username: &str) -> anyhow::Result<gatehouse_store::UserRecord> {
    store.user_by_key(&username_key(username)).await?.with_context(|| format!("no user named {username:?}"))
}

async fn user(c: UserCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let now = SystemClock.now();
    match c {
        UserCommand::Create { username, roles, email, password_stdin } => {
            let pool = hash_pool(settings)?;
            let (password, generated) = new_password(password_stdin)?;
            let input = NewUser {
                username: username.clone(),
                password: password.clone(),
                email,
                roles: (!roles.is_empty()).then_some(roles),
            };
            let u = create_user(&store, &pool, now, input).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created user {:?} id={} roles={}", u.username, u.id, u.roles.join(","));
            if generated {
                println!("password (shown once): {}", password.expose_secret());
            }
        }
        UserCommand::SetPassword { username, password_stdin } => {
            let u = find_user(&store, &username).await?;
            let pool = hash_pool(settings)?;
            let (password, generated) = new_password(password_stdin)?;
            check_password("password", password.expose_secret(), &u.username).map_err(|e| anyhow::anyhow!("{e}"))?;
            let hash = pool.hash(password.clone()).await?.context("hashing")?;
            store.set_password_hash(&u.id, &hash, now, Some(now)).await?;
            store.revoke_user_sessions(&u.id, None, now).await?;
            println!("password set for {:?}; their sessions and tokens are revoked", u.username);
            if generated {
                println!("password (shown once): {}", password.expose_secret());
            }
        }
        UserCommand::Disable { username } => {
            let u = find_user(&store, &username).await?;
            let patch = UserPatch { disabled: Some(true), tokens_valid_after: Some(now), ..Default::default() };
            store.update_user(&u.id, &patch, now).await?;
            store.revoke_user_sessions(&u.id, None, now).await?;
            println!("disabled {:?}", u.username);
        }
        UserCommand::GrantRole { username, role } => {
            let u = find_user(&store, &username).await?;
            if !store.list_roles().await?.iter().any(|r| r.name == role) {
                bail!("no role named {role:?}");
            }
            let mut roles = u.roles.clone();
            if !roles.contains(&role) {
                roles.push(role.clone());
            }
            store.update_user(&u.id, &UserPatch { roles: Some(roles), ..Default::default() }, now).await?;
            println!("granted {role:?} to {:?}", u.username);
        }
    }
    Ok(())
}

async fn keys(c: KeysCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let now = SystemClock.now();
    if !settings.jwt_alg.is_asymmetric() {
        bail!("GATEHOUSE_JWT_ALG=HS256 uses GATEHOUSE_JWT_SECRET; there are no stored keys to manage");
    }
    match c {
        KeysCommand::List => {
            println!("{:<24} {:<6} {:<9} {:<20} retire_at", "kid", "alg", "status", "created");
            for k in store.list_keys().await? {
                println!(
                    "{:<24} {:<6} {:<9} {:<20} {}",
                    k.kid,
                    k.alg,
                    k.status.as_str(),
                    crate::accounts::rfc3339(k.created_at),
                    k.retire_at.map(crate::accounts::rfc3339).unwrap_or_default()
                );
            }
        }
        KeysCommand::Rotate => {
            let grace = settings.access_token_ttl + settings.clock_leeway + settings.key_reload_secs as i64;
            let kid = rotate(&store, settings.jwt_alg, now, grace).await?;
            println!(
                "new active key {kid}; it signs after {}s, once every instance has loaded it",
                settings.key_reload_secs
            );
        }
        KeysCommand::Retire { kid } => {
            let all = store.list_keys().await?;
            let Some(k) = all.iter().find(|k| k.kid == kid) else { bail!("no key {kid:?}") };
            let active =
                all.iter().filter(|x| x.status == KeyStatus::Active && x.alg == settings.jwt_alg.as_str()).count();
            if k.status == KeyStatus::Active && active <= 1 {
                bail!("{kid} is the only active key; run `gatehouse keys rotate` first");
            }
            store.set_key_status(&kid, KeyStatus::Retired, Some(now)).await?;
            println!("retired {kid}; it is gone from the JWKS within {}s", settings.key_reload_secs);
        }
    }
    Ok(())
}

async fn inspect(token: &str, settings: &Settings) -> anyhow::Result<()> {
    let mut parts = token.split('.');
    let (Some(h), Some(c)) = (parts.next(), parts.next()) else { bail!("not a JWT") };
    let decode = |s: &str| -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).context("bad base64url")?)?)
    };
    println!("header: {}", serde_json::to_string_pretty(&decode(h)?)?);
    println!("claims: {}", serde_json::to_string_pretty(&decode(c)?)?);
    let sql = open_store(settings).await?;
    let store: Arc<dyn Storage> = Arc::new(sql);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let km = KeyManager::init(store, Arc::clone(&clock), settings).await?;
    let ring = km.current();
    if let Err(e) = inspect_header(token, ring.verifier.validation()) {
        println!("verdict: INVALID ({})", e.reason());
        return Ok(());
    }
    match ring.verifier.verify(token, clock.as_ref()) {
        Ok(_) => println!("verdict: valid signature and claims (revocation is checked by the running server)"),
        Err(e) => println!("verdict: INVALID ({})", e.reason()),
    }
    Ok(())
}
