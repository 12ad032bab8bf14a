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

/// Result alias for storage operations.
pub type StoreResult<T> = Result<T, StoreError>;
