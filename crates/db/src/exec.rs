//! Running statements: [`query`], [`Conn`] and [`Reader`], the same on both backends.
//!
//! Stores write `kassa_db::query(sql).bind(..).fetch_all(&mut *tx)` (or `(db.reader())`, or
//! `(&mut conn)`) and read the [`AnyRow`]s with `sqlx::Row::try_get`. Underneath, PostgreSQL
//! runs the statement through sqlx, and SQLite runs it on the calling thread (`lite.rs`).

use std::marker::PhantomData;
use std::sync::Arc;

use sqlx::any::{Any, AnyArguments, AnyQueryResult, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, AnyPool, Arguments, Decode, Encode, Row, Type};

use crate::lite::{LitePool, LiteRead, Mode, Output};
use crate::writer::Command;

/// A statement with `$n` markers and the values bound to them, in order.
#[must_use = "a query does nothing until it is executed or fetched"]
pub struct Query<'q> {
    sql: &'q str,
    args: AnyArguments<'q>,
    bind_error: Option<String>,
}

/// Starts a statement. Bind its `$1`, `$2`, … markers with [`Query::bind`] in order.
pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: AnyArguments::default(),
        bind_error: None,
    }
}

/// A statement whose rows are read as their first column only.
#[must_use = "a query does nothing until it is fetched"]
pub struct QueryScalar<'q, O> {
    inner: Query<'q>,
    output: PhantomData<fn() -> O>,
}

/// Starts a statement read as its first column: `let n: i64 = query_scalar(..).fetch_one(..)`.
pub fn query_scalar<O>(sql: &str) -> QueryScalar<'_, O> {
    QueryScalar {
        inner: query(sql),
        output: PhantomData,
    }
}

/// Where a statement runs: a connection (a transaction's or one taken from the readers), or the
/// readers themselves for a single statement.
pub enum Target<'c> {
    Conn(&'c mut Conn),
    Reader(&'c Reader),
}

impl<'c> From<&'c mut Conn> for Target<'c> {
    fn from(conn: &'c mut Conn) -> Self {
        Target::Conn(conn)
    }
}

impl<'c> From<&'c Reader> for Target<'c> {
    fn from(reader: &'c Reader) -> Self {
        Target::Reader(reader)
    }
}

impl<'q> Query<'q> {
    /// Binds the next marker.
    pub fn bind<T>(mut self, value: T) -> Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        if let Err(err) = self.args.add(value) {
            self.bind_error.get_or_insert_with(|| err.to_string());
        }
        self
    }

    pub(crate) fn with_arguments(sql: &'q str, args: AnyArguments<'q>) -> Self {
        Query {
            sql,
            args,
            bind_error: None,
        }
    }

    /// Runs the statement to its end; reports the rows it changed.
    pub async fn execute<'c>(
        self,
        target: impl Into<Target<'c>>,
    ) -> Result<AnyQueryResult, sqlx::Error> {
        match self.run(target.into(), Mode::Execute).await? {
            Output::Done(done) => Ok(done),
            Output::Rows(rows) => Ok(AnyQueryResult {
                rows_affected: u64::try_from(rows.len()).unwrap_or(u64::MAX),
                last_insert_id: None,
            }),
        }
    }

    /// Every row.
    pub async fn fetch_all<'c>(
        self,
        target: impl Into<Target<'c>>,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        match self.run(target.into(), Mode::All).await? {
            Output::Rows(rows) => Ok(rows),
            Output::Done(_) => Ok(Vec::new()),
        }
    }

    /// The first row, if there is one.
    pub async fn fetch_optional<'c>(
        self,
        target: impl Into<Target<'c>>,
    ) -> Result<Option<AnyRow>, sqlx::Error> {
        match self.run(target.into(), Mode::First).await? {
            Output::Rows(rows) => Ok(rows.into_iter().next()),
            Output::Done(_) => Ok(None),
        }
    }

    /// The first row; `sqlx::Error::RowNotFound` if there is none.
    pub async fn fetch_one<'c>(self, target: impl Into<Target<'c>>) -> Result<AnyRow, sqlx::Error> {
        self.fetch_optional(target)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    async fn run(self, target: Target<'_>, mode: Mode) -> Result<Output, sqlx::Error> {
        if let Some(err) = self.bind_error {
            return Err(sqlx::Error::Protocol(format!(
                "could not bind a value: {err}"
            )));
        }
        match target {
            Target::Conn(conn) => conn.run(self.sql, self.args, mode).await,
            Target::Reader(Reader {
                kind: ReaderKind::Pooled(pool),
            }) => {
                let query = sqlx::query_with(self.sql, self.args);
                pg_output(mode, query, pool).await
            }
            Target::Reader(Reader {
                kind: ReaderKind::Lite(pool),
            }) => {
                let read = pool.acquire().await?;
                read.conn()?.run(self.sql, self.args, mode)
            }
        }
    }
}

impl<'q, O> QueryScalar<'q, O>
where
    O: for<'r> Decode<'r, Any> + Type<Any>,
{
    pub fn bind<T>(mut self, value: T) -> Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        self.inner = self.inner.bind(value);
        self
    }

    pub async fn fetch_one<'c>(self, target: impl Into<Target<'c>>) -> Result<O, sqlx::Error> {
        self.inner.fetch_one(target).await?.try_get(0)
    }

    pub async fn fetch_optional<'c>(
        self,
        target: impl Into<Target<'c>>,
    ) -> Result<Option<O>, sqlx::Error> {
        self.inner
            .fetch_optional(target)
            .await?
            .map(|row| row.try_get(0))
            .transpose()
    }

    pub async fn fetch_all<'c>(self, target: impl Into<Target<'c>>) -> Result<Vec<O>, sqlx::Error> {
        self.inner
            .fetch_all(target)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect()
    }
}

async fn pg_output<'q, 'c, E>(
    mode: Mode,
    query: sqlx::query::Query<'q, Any, AnyArguments<'q>>,
    executor: E,
) -> Result<Output, sqlx::Error>
where
    'q: 'c,
    E: sqlx::Executor<'c, Database = Any>,
{
    Ok(match mode {
        Mode::Execute => Output::Done(query.execute(executor).await?),
        Mode::All => Output::Rows(query.fetch_all(executor).await?),
        Mode::First => Output::Rows(query.fetch_optional(executor).await?.into_iter().collect()),
    })
}

/// A connection statements run on: a write transaction's ([`crate::Tx`] dereferences to one),
/// a read transaction's, or one taken from the readers with [`Reader::acquire`].
pub struct Conn {
    pub(crate) link: Link,
}

pub(crate) enum Link {
    /// PostgreSQL, inside a transaction.
    PooledTx(sqlx::Transaction<'static, Any>),
    /// PostgreSQL, a pooled connection outside any transaction.
    Pooled(PoolConnection<Any>),
    /// SQLite: a write command holding the writer (`writer.rs`).
    Write(Command),
    /// SQLite: a read-only connection (maybe in a read transaction).
    Read(LiteRead),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.link {
            Link::PooledTx(_) => "pooled transaction",
            Link::Pooled(_) => "pooled connection",
            Link::Write(_) => "SQLite write command",
            Link::Read(_) => "SQLite reader",
        };
        f.debug_tuple("Conn").field(&kind).finish()
    }
}

impl Conn {
    pub(crate) fn new(link: Link) -> Conn {
        Conn { link }
    }

    async fn run(
        &mut self,
        sql: &str,
        args: AnyArguments<'_>,
        mode: Mode,
    ) -> Result<Output, sqlx::Error> {
        match &mut self.link {
            Link::PooledTx(tx) => {
                let conn: &mut AnyConnection = tx;
                pg_output(mode, sqlx::query_with(sql, args), conn).await
            }
            Link::Pooled(pooled) => {
                let conn: &mut AnyConnection = pooled;
                pg_output(mode, sqlx::query_with(sql, args), conn).await
            }
            Link::Write(command) => command.conn().run(sql, args, mode),
            Link::Read(read) => read.conn()?.run(sql, args, mode),
        }
    }

    /// Runs SQL text that may hold several statements and binds nothing (migrations).
    pub async fn execute_batch(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match &mut self.link {
            Link::PooledTx(tx) => {
                let conn: &mut AnyConnection = tx;
                sqlx::raw_sql(sql).execute(conn).await.map(drop)
            }
            Link::Pooled(pooled) => {
                let conn: &mut AnyConnection = pooled;
                sqlx::raw_sql(sql).execute(conn).await.map(drop)
            }
            Link::Write(command) => command.conn().batch(sql),
            Link::Read(read) => read.conn()?.batch(sql),
        }
    }
}

/// The read side of a [`crate::Db`]: read-only connections on SQLite (`query_only`, so a write
/// sent here by mistake fails loudly), the one pool on PostgreSQL.
#[derive(Debug, Clone)]
pub struct Reader {
    kind: ReaderKind,
}

#[derive(Debug, Clone)]
enum ReaderKind {
    Pooled(AnyPool),
    Lite(Arc<LitePool>),
}

impl Reader {
    pub(crate) fn pooled(pool: AnyPool) -> Reader {
        Reader {
            kind: ReaderKind::Pooled(pool),
        }
    }

    pub(crate) fn lite(pool: Arc<LitePool>) -> Reader {
        Reader {
            kind: ReaderKind::Lite(pool),
        }
    }

    /// A connection for several reads in a row.
    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        Ok(Conn::new(match &self.kind {
            ReaderKind::Pooled(pool) => Link::Pooled(pool.acquire().await?),
            ReaderKind::Lite(pool) => Link::Read(pool.acquire().await?),
        }))
    }

    /// A read transaction: its reads see one snapshot (on PostgreSQL after
    /// `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`, which the caller issues).
    pub async fn begin(&self) -> Result<crate::Tx, sqlx::Error> {
        match &self.kind {
            ReaderKind::Pooled(pool) => Ok(crate::Tx::read(Conn::new(Link::PooledTx(
                pool.begin().await?,
            )))),
            ReaderKind::Lite(pool) => {
                let read = pool.acquire().await?;
                read.conn()?.batch("BEGIN")?;
                Ok(crate::Tx::read(Conn::new(Link::Read(read))))
            }
        }
    }

    pub(crate) async fn close(&self) {
        match &self.kind {
            ReaderKind::Pooled(pool) => pool.close().await,
            ReaderKind::Lite(pool) => pool.close(),
        }
    }
}
