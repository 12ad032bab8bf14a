//! The storage error type.

/// A storage failure. Its `Display` never shows database internals; the source does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness constraint was hit (e.g. the username is taken).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The referenced record does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database failed or is unreachable.
    #[error("an internal database error occurred")]
    Database(#[source] sqlx::Error),
    /// Applying migrations failed.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A shared dependency (Redis) is unreachable; callers fail closed.
    #[error("a shared dependency is unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl StoreError {
    /// Whether this is an outage rather than a bug: the database or a shared dependency is
    /// unreachable, shutting down, out of connections or too slow (statement timeout). Callers
    /// answer 503 with `Retry-After`, never 500, and the operation can be retried later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Database(e) => sql_unavailable(e),
            _ => false,
        }
    }
}

/// Connection-level sqlx failures, plus the PostgreSQL SQLSTATEs and SQLite result codes that
/// mean "not now" rather than "wrong".
fn sql_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| unavailable_code(&c)),
        _ => false,
    }
}

/// PostgreSQL: class 08 (connection exception), 53 (insufficient resources: too many
/// connections, disk full), 57P01–57P03 (shutdown, cannot connect now), 57014 (statement
/// timeout). SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
fn unavailable_code(code: &str) -> bool {
    if let Ok(n) = code.parse::<u32>() {
        if code.len() < 5 {
            return matches!(n & 0xff, 5 | 6);
        }
    }
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") || code == "57014"
}

/// Result alias for storage operations.
pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_told_apart_from_bugs() {
        assert!(StoreError::Unavailable("redis: io".into()).is_unavailable());
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::Database(sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into())).is_unavailable());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Corrupt("x".into()).is_unavailable());
        for code in ["08006", "08001", "57P01", "57P03", "53300", "57014", "5", "517", "6"] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "19", "2067"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }
}
