//! Account rules shared by the API and the CLI: validation, password policy, views.

use gatehouse_core::{username_key, username_problem};
use gatehouse_store::UserRecord;
use secrecy::SecretString;

use crate::{error::ApiError, roles::RoleGraph};

/// Shortest accepted password, in characters (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters (long passphrases are welcome).
pub const MAX_PASSWORD_CHARS: usize = 256;

const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "qwerty123",
    "iloveyou",
    "11111111",
    "00000000",
    "abc12345",
    "abcd1234",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "letmein1",
    "trustno1",
    "passw0rd",
    "p@ssw0rd",
    "admin123",
    "administrator",
    "changeme",
    "superman",
    "starwars",
    "whatever",
    "dragon12",
    "monkey12",
    "qwertyui",
    "asdfghjk",
    "zxcvbnm1",
    "1q2w3e4r",
    "1qaz2wsx",
    "q1w2e3r4",
    "aaaaaaaa",
    "87654321",
    "12341234",
    "11223344",
    "password!",
    "welcome123",
];

/// Why `password` is not acceptable for `username`, if it is not.
pub fn password_problem(password: &str, username: &str) -> Option<String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Some(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if n > MAX_PASSWORD_CHARS {
        return Some(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Some("is too common".into());
    }
    if lower.chars().all(|c| c == lower.chars().next().unwrap_or(' ')) {
        return Some("is too repetitive".into());
    }
    if username_key(password) == username_key(username) {
        return Some("must not be the username".into());
    }
    // NIST SP 800-63B §5.1.1.2: check against dictionaries and context-specific words
    // (the username). zxcvbn estimates guesses; scores 0–2 are refused.
    let estimate = zxcvbn::zxcvbn(password, &[username]);
    if u8::from(estimate.score()) < MIN_STRENGTH_SCORE {
        let hint = estimate.feedback().and_then(|f| f.warning()).map(|w| format!(" ({w})")).unwrap_or_default();
        return Some(format!("is too easy to guess{hint}; a longer passphrase of unrelated words works well"));
    }
    None
}

/// Smallest accepted zxcvbn score (0–4).
pub const MIN_STRENGTH_SCORE: u8 = 3;

/// Checks a username.
///
/// # Errors
/// 422 on `username`.
pub fn check_username(username: &str) -> Result<(), ApiError> {
    username_problem(username).map_or(Ok(()), |p| Err(ApiError::invalid("username", p)))
}

/// Checks a password against the policy.
///
/// # Errors
/// 422 on `field`.
pub fn check_password(field: &str, password: &str, username: &str) -> Result<(), ApiError> {
    password_problem(password, username).map_or(Ok(()), |p| Err(ApiError::invalid(field, p)))
}

/// Checks an e-mail address (shape only).
///
/// # Errors
/// 422 on `email`.
pub fn check_email(email: &str) -> Result<(), ApiError> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("email", "is not a valid e-mail address"))
    }
}

/// Checks every role exists.
///
/// # Errors
/// 422 on `roles`.
pub fn check_roles(roles: &[String], graph: &RoleGraph) -> Result<(), ApiError> {
    match roles.iter().find(|r| !graph.has(r)) {
        Some(r) => Err(ApiError::invalid("roles", format!("unknown role {r:?}"))),
        None => Ok(()),
    }
}

/// RFC 3339 (UTC, seconds) for a Unix time.
pub fn rfc3339(t: i64) -> String {
    let st = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(st).to_string()
}

/// The public view of a user: never the hash.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// UUID.
    pub id: String,
    /// Login name as entered.
    pub username: String,
    /// E-mail, if any.
    pub email: Option<String>,
    /// Role names.
    pub roles: Vec<String>,
    /// Scopes the user is allowed now (from the roles, transitively).
    pub scopes: Vec<String>,
    /// Disabled users cannot authenticate.
    pub disabled: bool,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// The public view of a user: never the hash.
pub fn user_view(u: &UserRecord, graph: &RoleGraph) -> UserView {
    UserView {
        id: u.id.clone(),
        username: u.username.clone(),
        email: u.email.clone(),
        roles: u.roles.clone(),
        scopes: graph.scopes_for(&u.roles).to_vec(),
        disabled: u.disabled,
        created_at: rfc3339(u.created_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(password_problem("short", "bob").is_some());
        assert!(password_problem("Password123", "bob").is_some());
        assert!(password_problem("bobbobbob", "BOBBOBBOB").is_some());
        assert!(password_problem("zzzzzzzzzz", "bob").is_some());
        assert!(password_problem(&"ab".repeat(200), "bob").is_some());
        assert!(password_problem("correct horse battery staple", "bob").is_none());
        assert!(password_problem("Summer2026!", "bob").is_some(), "a dictionary word plus a year");
        assert!(password_problem("bobbob2026", "bob").is_some(), "built from the username");
        assert!(password_problem("qwertyuiop12", "bob").is_some(), "keyboard walk");
    }

    #[test]
    fn emails() {
        assert!(check_email("a@example.com").is_ok());
        assert!(check_email("nope").is_err());
        assert!(check_email("a @b.c").is_err());
    }
}

/// What creating a user takes.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Plain password (hashed at once, never stored or logged).
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Optional e-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Roles (default `["user"]`).
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

/// Validates and stores a new user.
///
/// # Errors
/// 422 for invalid input, 409 when the username is taken (after NFKC + case folding),
/// 503 when the hashing pool is saturated.
pub async fn create_user(
    store: &dyn gatehouse_store::Storage,
    hasher: &crate::hashing::HashPool,
    now: i64,
    input: NewUser,
) -> Result<UserRecord, ApiError> {
    use secrecy::ExposeSecret;
    check_username(&input.username)?;
    check_password("password", input.password.expose_secret(), &input.username)?;
    if let Some(e) = &input.email {
        check_email(e)?;
    }
    let graph = RoleGraph::new(store.list_roles().await?);
    let roles = input.roles.unwrap_or_else(|| vec!["user".to_owned()]);
    check_roles(&roles, &graph)?;
    let key = username_key(&input.username);
    if store.user_by_key(&key).await?.is_some() {
        return Err(ApiError::Conflict("username already exists".into()));
    }
    let hash = hasher.hash(input.password).await?.map_err(|e| ApiError::Internal(e.into()))?;
    let mut roles_dedup: Vec<String> = Vec::new();
    for r in roles {
        if !roles_dedup.contains(&r) {
            roles_dedup.push(r);
        }
    }
    let user = UserRecord {
        id: uuid::Uuid::now_v7().to_string(),
        username: input.username,
        username_key: key,
        email: input.email,
        password_hash: hash,
        roles: roles_dedup,
        disabled: false,
        created_at: now,
        updated_at: now,
        tokens_valid_after: 0,
    };
    store.create_user(&user).await.map_err(|e| match e {
        gatehouse_store::StoreError::Conflict(_) => ApiError::Conflict("username already exists".into()),
        other => other.into(),
    })?;
    Ok(user)
}
