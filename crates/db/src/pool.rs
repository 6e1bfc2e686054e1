//! Opening a district's database: backend selection, SQLite pragmas and their start-up check.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use crate::exclusive::{advisory_key, try_advisory, LocalRoles};
use crate::exec::{Conn, Link, Reader};
use crate::lite::{LiteConn, LitePool, Mode, Output};
use crate::tx::{WriteCounters, WriteStats};
use crate::writer::{ReadBarrier, SqliteWriter};
use crate::Exclusive;
use crate::{DbError, Tx};

/// Which SQL dialect a [`Db`] speaks. Stores branch on it only where the dialects really differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file per district under this directory (created if missing).
    Sqlite { data_dir: PathBuf },
    /// One PostgreSQL database shared by every district.
    Postgres { url: String },
}

impl Backend {
    /// `""` means embedded SQLite under `data_dir`; a `postgres://` or `postgresql://` URL
    /// means PostgreSQL. Anything else is refused.
    pub fn from_url(url: &str, data_dir: PathBuf) -> Result<Backend, DbError> {
        let url = url.trim();
        if url.is_empty() {
            Ok(Backend::Sqlite { data_dir })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres {
                url: url.to_owned(),
            })
        } else {
            Err(DbError::Setup(
                "database.url must be empty (embedded SQLite) or a postgres:// URL".to_owned(),
            ))
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Postgres { .. } => Dialect::Postgres,
        }
    }
}

/// Pool sizes and timeouts, passed explicitly rather than taken from library defaults.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections per district for reads (SQLite) or for everything (PostgreSQL).
    pub max_connections: u32,
    /// How long a caller waits for a free connection before the request fails as unavailable.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before giving up (`busy_timeout`).
    pub sqlite_busy_timeout: Duration,
    /// SQLite: most write transactions waiting for the writer at once; one more is refused at
    /// once with [`DbError::Overloaded`] (a 503) instead of queueing without end. 1024 holds a
    /// flash sale's burst on one node, and the last of them waits about 1024 short commands
    /// (well under a second), far inside the request timeout.
    pub write_queue_max: usize,
    /// SQLite: most write transactions committed together by one `COMMIT` (one fsync). 128
    /// already cuts fsyncs by two orders of magnitude, while bounding how long the batch's
    /// first member waits for its answer and how much one batch adds to the WAL.
    pub group_commit_max: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            write_queue_max: 1024,
            group_commit_max: 128,
        }
    }
}

/// A district's database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    district: &'static str,
    dialect: Dialect,
    /// Read-only connections on SQLite; the one pool on PostgreSQL.
    reader: Reader,
    writes: Writes,
    /// Shared with every transaction, which counts its own commit.
    counters: Arc<WriteCounters>,
    /// SQLite: the roles taken with [`Db::try_exclusive`].
    roles: LocalRoles,
}

/// Where write transactions run.
#[derive(Debug)]
enum Writes {
    /// PostgreSQL: the same pool as the reads; each transaction commits on its own.
    Pooled(AnyPool),
    /// SQLite: the one writer connection, batching transactions into group commits.
    Grouped(Arc<SqliteWriter>),
}

static DRIVERS: Once = Once::new();

impl Db {
    /// Opens the database of `district` (a short lowercase name such as `catalog`).
    pub async fn connect(
        backend: &Backend,
        district: &'static str,
        settings: &PoolSettings,
    ) -> Result<Db, DbError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let inner = match backend {
            Backend::Sqlite { data_dir } => open_sqlite(data_dir, district, settings).await?,
            Backend::Postgres { url } => {
                let pool = pool_options(settings, settings.max_connections)
                    .connect_with(connect_options(url)?)
                    .await?;
                Inner {
                    district,
                    dialect: Dialect::Postgres,
                    reader: Reader::pooled(pool.clone()),
                    writes: Writes::Pooled(pool),
                    counters: Arc::default(),
                    roles: LocalRoles::default(),
                }
            }
        };
        Ok(Db {
            inner: Arc::new(inner),
        })
    }

    pub fn district(&self) -> &'static str {
        self.inner.district
    }

    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// The pool for reads. On SQLite its connections are read-only (`query_only`), so a write
    /// sent here by mistake fails loudly instead of contending with the writer.
    pub fn reader(&self) -> &Reader {
        &self.inner.reader
    }

    /// Starts a write transaction. One per service call; keep it short and never hold it across
    /// a network call: on SQLite it holds the database's one writer until it ends.
    ///
    /// On SQLite this waits for the writer behind the transactions already waiting; with
    /// [`PoolSettings::write_queue_max`] of them it fails at once with [`DbError::Overloaded`].
    pub async fn begin(&self) -> Result<Tx, DbError> {
        match &self.inner.writes {
            Writes::Pooled(pool) => Ok(Tx::write(
                Conn::new(Link::PooledTx(pool.begin().await?)),
                Some(Arc::clone(&self.inner.counters)),
            )),
            Writes::Grouped(writer) => Ok(Tx::write(
                Conn::new(Link::Write(writer.begin().await?)),
                None,
            )),
        }
    }

    /// Runs a trivial query on the writer: used by `/readyz`. On SQLite it runs between two
    /// write transactions, never inside one.
    pub async fn ping(&self) -> Result<(), DbError> {
        match &self.inner.writes {
            Writes::Pooled(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
                Ok(())
            }
            Writes::Grouped(writer) => writer.ping().await,
        }
    }

    /// Takes the role `name` of this district if nobody holds it: on PostgreSQL across every
    /// process on the database, on SQLite within this process. `None` when it is taken. See
    /// [`Exclusive`].
    pub async fn try_exclusive(&self, name: &str) -> Result<Option<Exclusive>, DbError> {
        match &self.inner.writes {
            Writes::Pooled(pool) => {
                try_advisory(pool, advisory_key(self.inner.district, name)).await
            }
            Writes::Grouped(_) => Ok(self.inner.roles.try_take(name)),
        }
    }

    /// Write transactions committed, and the database commits that made them durable, since
    /// this handle was opened (shared by its clones); and how many are waiting now.
    pub fn stats(&self) -> WriteStats {
        let waiting = match &self.inner.writes {
            Writes::Pooled(_) => 0,
            Writes::Grouped(writer) => writer.waiting(),
        };
        self.inner.counters.snapshot(waiting)
    }

    /// Closes the pools. On SQLite the batch in progress is committed first (so readers
    /// waiting for it are answered before their pool closes), and later write transactions
    /// are refused.
    pub async fn close(&self) {
        match &self.inner.writes {
            Writes::Pooled(pool) => pool.close().await,
            Writes::Grouped(writer) => writer.close().await,
        }
        self.inner.reader.close().await;
    }
}

fn connect_options(url: &str) -> Result<AnyConnectOptions, DbError> {
    AnyConnectOptions::from_str(url).map_err(|err| DbError::Setup(format!("bad URL: {err}")))
}

fn pool_options(settings: &PoolSettings, max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max.max(1))
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
}

async fn open_sqlite(
    data_dir: &std::path::Path,
    district: &'static str,
    settings: &PoolSettings,
) -> Result<Inner, DbError> {
    std::fs::create_dir_all(data_dir).map_err(|err| {
        DbError::Setup(format!(
            "cannot create data directory {}: {err}",
            data_dir.display()
        ))
    })?;
    let path = data_dir.join(format!("{district}.db"));
    let busy_ms = settings.sqlite_busy_timeout.as_millis();

    // The writer opens first, so the file exists and is in WAL mode before readers arrive. It
    // is one connection, not a pool: group commit needs the same connection for every
    // transaction of a batch.
    let writer_pragmas = format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = {busy_ms};"
    );
    let writer = LiteConn::open(&path, true, &writer_pragmas)?;
    check_sqlite(&writer)?;
    let counters = Arc::<WriteCounters>::default();
    let barrier = Arc::<ReadBarrier>::default();
    let writer = SqliteWriter::new(
        writer,
        settings,
        Arc::clone(&counters),
        Arc::clone(&barrier),
    );

    // Every reader connection handed out, new or idle, first waits at the barrier (writer.rs):
    // a reader must never run ahead of a batch that a dropped write transaction saw into.
    let reader_pragmas = format!(
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_ms}; PRAGMA query_only = ON;"
    );
    let reader = LitePool::new(
        path,
        reader_pragmas,
        settings.max_connections,
        settings.acquire_timeout,
        barrier,
    );
    Ok(Inner {
        district,
        dialect: Dialect::Sqlite,
        reader: Reader::lite(Arc::new(reader)),
        writes: Writes::Grouped(writer),
        counters,
        roles: LocalRoles::default(),
    })
}

/// Refuses to start unless the durability and integrity settings really took effect.
fn check_sqlite(conn: &LiteConn) -> Result<(), DbError> {
    let pragma = |sql: &str| -> Result<sqlx::any::AnyRow, DbError> {
        match conn.run(sql, sqlx::any::AnyArguments::default(), Mode::First)? {
            Output::Rows(rows) => rows
                .into_iter()
                .next()
                .ok_or_else(|| DbError::Setup(format!("{sql} returned nothing"))),
            Output::Done(_) => Err(DbError::Setup(format!("{sql} returned nothing"))),
        }
    };
    let mode: String = pragma("PRAGMA journal_mode")?.try_get(0)?;
    let synchronous: i64 = pragma("PRAGMA synchronous")?.try_get(0)?;
    let foreign_keys: i64 = pragma("PRAGMA foreign_keys")?.try_get(0)?;
    // synchronous: 2 = FULL.
    if !mode.eq_ignore_ascii_case("wal") || synchronous != 2 || foreign_keys != 1 {
        return Err(DbError::Setup(format!(
            "SQLite pragmas did not take effect: journal_mode={mode}, synchronous={synchronous}, \
             foreign_keys={foreign_keys}"
        )));
    }
    Ok(())
}
