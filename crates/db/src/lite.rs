//! SQLite, run on the caller's thread.
//!
//! Every statement of a SQLite database runs right where the store awaits it: on the tokio
//! worker already running the request, through a `rusqlite` connection. A statement takes
//! microseconds, far less than handing it to another thread and back, which is what a driver
//! with a thread per connection does for every statement (two context switches and two
//! wake-ups each; it was most of a checkout's CPU). The one slow statement, the `COMMIT` of a
//! group commit (an fsync), runs once per batch of many transactions.
//!
//! Statements and rows speak sqlx's `Any` types, so stores bind values and read columns the same
//! way on both backends: arguments arrive as [`AnyArguments`], rows leave as [`AnyRow`]s built
//! the way sqlx's own SQLite driver builds them (each value typed by what SQLite stored:
//! INTEGER as `BigInt`, REAL as `Double`, TEXT, BLOB, NULL).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{ffi, OpenFlags};
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow};
use sqlx::error::ErrorKind;
use sqlx_core::any::{AnyColumn, AnyTypeInfo, AnyTypeInfoKind, AnyValue, AnyValueKind};
use sqlx_core::ext::ustr::UStr;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::writer::ReadBarrier;

/// Prepared statements kept per connection. A district has a few dozen distinct statements;
/// dynamic ones (filters) vary a little more.
const STATEMENT_CACHE: usize = 256;

/// What a statement is run for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Run to the end; report the rows changed.
    Execute,
    /// Every row.
    All,
    /// The first row, if any; the rest are not read.
    First,
}

/// What running a statement gave.
pub(crate) enum Output {
    Done(AnyQueryResult),
    Rows(Vec<AnyRow>),
}

/// One SQLite connection. The mutex is never contended (the writer and each reader are held by
/// one caller at a time); it is there so a connection can be shared by reference across
/// `await`s, which needs `Sync`.
pub(crate) struct LiteConn(Mutex<rusqlite::Connection>);

impl std::fmt::Debug for LiteConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiteConn")
    }
}

impl LiteConn {
    /// Opens (creating if `create`) the database at `path` and applies `pragmas`.
    pub(crate) fn open(path: &Path, create: bool, pragmas: &str) -> Result<LiteConn, sqlx::Error> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(error)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.execute_batch(pragmas).map_err(error)?;
        Ok(LiteConn(Mutex::new(conn)))
    }

    fn lock(&self) -> MutexGuard<'_, rusqlite::Connection> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs SQL text that may hold several statements and binds nothing (pragmas, migrations,
    /// the writer's `BEGIN`/`SAVEPOINT`/`COMMIT`).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), sqlx::Error> {
        let conn = self.lock();
        if sql.trim_end().trim_end_matches(';').contains(';') {
            return conn.execute_batch(sql).map_err(error);
        }
        // One statement — the writer's `SAVEPOINT`, `RELEASE`, `COMMIT` on every transaction —
        // is prepared once and reused rather than parsed each time.
        let mut stmt = conn.prepare_cached(sql).map_err(error)?;
        let mut rows = stmt.raw_query();
        while rows.next().map_err(error)?.is_some() {}
        Ok(())
    }

    /// True when no transaction is open on the connection.
    pub(crate) fn is_autocommit(&self) -> bool {
        self.lock().is_autocommit()
    }

    /// Runs one statement with its arguments.
    pub(crate) fn run(
        &self,
        sql: &str,
        args: AnyArguments<'_>,
        mode: Mode,
    ) -> Result<Output, sqlx::Error> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql).map_err(error)?;
        bind(&mut stmt, args)?;
        let columns = columns(&stmt);
        let mut rows = stmt.raw_query();
        if mode == Mode::Execute {
            while rows.next().map_err(error)?.is_some() {}
            drop(rows);
            return Ok(Output::Done(AnyQueryResult {
                rows_affected: conn.changes(),
                last_insert_id: None,
            }));
        }
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(error)? {
            out.push(any_row(row, &columns)?);
            if mode == Mode::First {
                break;
            }
        }
        Ok(Output::Rows(out))
    }
}

/// Binds `$n` (or `?n`) markers by their number and plain `?` by position, as sqlx's SQLite
/// driver does, so one SQL text with `$n` markers serves both backends.
fn bind(
    stmt: &mut rusqlite::CachedStatement<'_>,
    args: AnyArguments<'_>,
) -> Result<(), sqlx::Error> {
    let values = args.values.0;
    for index in 1..=stmt.parameter_count() {
        let number = match stmt.parameter_name(index) {
            Some(name) => name
                .get(1..)
                .and_then(|digits| digits.parse::<usize>().ok())
                .ok_or_else(|| {
                    sqlx::Error::Protocol(format!("unsupported SQL parameter {name}"))
                })?,
            None => index,
        };
        let value = values.get(number - 1).ok_or_else(|| {
            sqlx::Error::Protocol(format!("no value bound for SQL parameter {number}"))
        })?;
        let bound = match value {
            AnyValueKind::Null(_) => stmt.raw_bind_parameter(index, rusqlite::types::Null),
            AnyValueKind::Bool(b) => stmt.raw_bind_parameter(index, i64::from(*b)),
            AnyValueKind::SmallInt(i) => stmt.raw_bind_parameter(index, i64::from(*i)),
            AnyValueKind::Integer(i) => stmt.raw_bind_parameter(index, i64::from(*i)),
            AnyValueKind::BigInt(i) => stmt.raw_bind_parameter(index, *i),
            AnyValueKind::Real(r) => stmt.raw_bind_parameter(index, f64::from(*r)),
            AnyValueKind::Double(d) => stmt.raw_bind_parameter(index, *d),
            AnyValueKind::Text(t) => stmt.raw_bind_parameter(index, t.as_ref()),
            AnyValueKind::Blob(b) => stmt.raw_bind_parameter(index, b.as_ref()),
            other => {
                return Err(sqlx::Error::Protocol(format!(
                    "unsupported SQL argument {other:?}"
                )))
            }
        };
        bound.map_err(error)?;
    }
    Ok(())
}

/// A statement's column names, shared by all its rows.
struct Columns {
    names: Vec<UStr>,
    index: Arc<sqlx_core::HashMap<UStr, usize>>,
}

fn columns(stmt: &rusqlite::CachedStatement<'_>) -> Columns {
    let names: Vec<UStr> = stmt
        .column_names()
        .into_iter()
        .map(|name| UStr::Shared(Arc::from(name)))
        .collect();
    let index = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), i))
        .collect();
    Columns {
        names,
        index: Arc::new(index),
    }
}

fn any_row(row: &rusqlite::Row<'_>, columns: &Columns) -> Result<AnyRow, sqlx::Error> {
    let mut out = AnyRow {
        column_names: Arc::clone(&columns.index),
        columns: Vec::with_capacity(columns.names.len()),
        values: Vec::with_capacity(columns.names.len()),
    };
    for (ordinal, name) in columns.names.iter().enumerate() {
        let kind = match row.get_ref(ordinal).map_err(error)? {
            ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
            ValueRef::Integer(i) => AnyValueKind::BigInt(i),
            ValueRef::Real(r) => AnyValueKind::Double(r),
            ValueRef::Text(t) => AnyValueKind::Text(Cow::Owned(
                String::from_utf8(t.to_vec()).map_err(|err| sqlx::Error::ColumnDecode {
                    index: ordinal.to_string(),
                    source: Box::new(err),
                })?,
            )),
            ValueRef::Blob(b) => AnyValueKind::Blob(Cow::Owned(b.to_vec())),
        };
        let type_info = AnyTypeInfo {
            kind: match &kind {
                AnyValueKind::BigInt(_) => AnyTypeInfoKind::BigInt,
                AnyValueKind::Double(_) => AnyTypeInfoKind::Double,
                AnyValueKind::Text(_) => AnyTypeInfoKind::Text,
                AnyValueKind::Blob(_) => AnyTypeInfoKind::Blob,
                _ => AnyTypeInfoKind::Null,
            },
        };
        out.columns.push(AnyColumn {
            ordinal,
            name: name.clone(),
            type_info,
        });
        out.values.push(AnyValue { kind });
    }
    Ok(out)
}

/// A SQLite failure as sqlx reports database errors, classified by SQLite's extended result
/// code (never by message text) so [`crate::DbError`] sorts constraint violations as it does
/// on PostgreSQL.
#[derive(Debug, thiserror::Error)]
#[error("SQLite error {code}: {message}")]
pub(crate) struct LiteError {
    code: i32,
    message: String,
}

impl sqlx::error::DatabaseError for LiteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// Converts a `rusqlite` error into the sqlx error the stores handle.
pub(crate) fn error(err: rusqlite::Error) -> sqlx::Error {
    match err {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.unwrap_or_else(|| failure.to_string());
            sqlx::Error::Database(Box::new(LiteError {
                code: failure.extended_code,
                message,
            }))
        }
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// The read-only connections of one SQLite database: opened on demand up to a bound, kept
/// idle for reuse. Every connection handed out first waits at the [`ReadBarrier`].
#[derive(Debug)]
pub(crate) struct LitePool {
    path: PathBuf,
    pragmas: String,
    idle: Mutex<Vec<LiteConn>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    barrier: Arc<ReadBarrier>,
}

impl LitePool {
    pub(crate) fn new(
        path: PathBuf,
        pragmas: String,
        max: u32,
        acquire_timeout: Duration,
        barrier: Arc<ReadBarrier>,
    ) -> LitePool {
        let max = usize::try_from(max.max(1)).unwrap_or(1);
        LitePool {
            path,
            pragmas,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            acquire_timeout,
            barrier,
        }
    }

    /// A read-only connection, reused or opened; errors as unavailable after the acquire
    /// timeout or once the pool is closed.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Result<LiteRead, sqlx::Error> {
        let permit = tokio::time::timeout(
            self.acquire_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
        .map_err(|_| sqlx::Error::PoolClosed)?;
        self.barrier.wait(self.acquire_timeout).await;
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => LiteConn::open(&self.path, false, &self.pragmas)?,
        };
        Ok(LiteRead {
            conn: Some(conn),
            pool: Arc::clone(self),
            _permit: permit,
        })
    }

    /// Refuses new connections and closes the idle ones.
    pub(crate) fn close(&self) {
        self.permits.close();
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A read-only connection on loan from a [`LitePool`]; goes back when dropped, any read
/// transaction left open rolled back first.
#[derive(Debug)]
pub(crate) struct LiteRead {
    conn: Option<LiteConn>,
    pool: Arc<LitePool>,
    _permit: OwnedSemaphorePermit,
}

impl LiteRead {
    pub(crate) fn conn(&self) -> Result<&LiteConn, sqlx::Error> {
        self.conn.as_ref().ok_or(sqlx::Error::PoolClosed)
    }
}

impl Drop for LiteRead {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if !conn.is_autocommit() && conn.batch("ROLLBACK").is_err() {
            // A connection whose transaction cannot be ended is not reused.
            return;
        }
        if self.pool.permits.is_closed() {
            return;
        }
        self.pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }
}
