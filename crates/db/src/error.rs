//! Storage errors, classified by sqlx's backend-neutral error kind (never by message text), so a
//! store can turn "that handle is taken" into its own domain error at the statement that can
//! raise it.

use sqlx::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A UNIQUE or PRIMARY KEY constraint refused the write.
    #[error("a unique constraint was violated")]
    UniqueViolation(#[source] sqlx::Error),
    /// A FOREIGN KEY constraint refused the write.
    #[error("a foreign key constraint was violated")]
    ForeignKeyViolation(#[source] sqlx::Error),
    /// A CHECK or NOT NULL constraint refused the write.
    #[error("a check constraint was violated")]
    CheckViolation(#[source] sqlx::Error),
    /// The database could not be reached or no connection was free in time.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Too many write transactions were already waiting for the writer (SQLite,
    /// `PoolSettings::write_queue_max`): refused at once, so a burst cannot queue without
    /// bound. Retrying a little later may succeed.
    #[error("too many writes are waiting for the database")]
    Overloaded,
    /// A stored value does not parse into its domain type: the data or the code is wrong.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Start-up checks failed (wrong pragma, unsupported URL, migration mismatch).
    #[error("database setup failed: {0}")]
    Setup(String),
    /// Any other database error.
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

impl DbError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::UniqueViolation(_))
    }

    pub fn is_foreign_key_violation(&self) -> bool {
        matches!(self, DbError::ForeignKeyViolation(_))
    }

    pub fn is_check_violation(&self) -> bool {
        matches!(self, DbError::CheckViolation(_))
    }

    /// True when retrying later may succeed (pool exhausted, connection lost, write queue
    /// full).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable(_) | DbError::Overloaded)
    }
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        let kind = match &err {
            sqlx::Error::Database(db) => Some(db.kind()),
            _ => None,
        };
        match kind {
            Some(ErrorKind::UniqueViolation) => DbError::UniqueViolation(err),
            Some(ErrorKind::ForeignKeyViolation) => DbError::ForeignKeyViolation(err),
            Some(ErrorKind::CheckViolation) | Some(ErrorKind::NotNullViolation) => {
                DbError::CheckViolation(err)
            }
            _ => match err {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::WorkerCrashed => DbError::Unavailable(err),
                other => DbError::Other(other),
            },
        }
    }
}
