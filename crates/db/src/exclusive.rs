//! [`Exclusive`]: one holder at a time of a named role — across every process on the same
//! PostgreSQL database, or within the process on SQLite (one process owns an embedded database).
//!
//! For work that must not run twice at once but may run anywhere, such as publishing one
//! outbox in order. On PostgreSQL it is a session advisory lock held on a pooled connection kept
//! for the holder; releasing unlocks it and returns the connection, and a holder dropped
//! without releasing closes the connection, which ends the session and with it the lock — so a
//! crashed or cancelled holder never leaves the role taken.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::any::Any;
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, Row};

use crate::DbError;

/// Held while the role is ours; see the [module docs](self).
pub struct Exclusive {
    kind: Kind,
}

enum Kind {
    /// The connection holding the advisory lock `key` (taken out on drop).
    Advisory {
        conn: Option<PoolConnection<Any>>,
        key: i64,
    },
    /// Holding the guard is holding the role; it is only ever dropped.
    Local(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>),
}

impl std::fmt::Debug for Exclusive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Advisory { key, .. } => f.debug_struct("Exclusive").field("key", key).finish(),
            Kind::Local(_) => f.write_str("Exclusive(local)"),
        }
    }
}

/// The SQLite side: one mutex per role name, for the life of the `Db`.
#[derive(Debug, Default)]
pub(crate) struct LocalRoles {
    roles: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl LocalRoles {
    pub(crate) fn try_take(&self, name: &str) -> Option<Exclusive> {
        let role = {
            let mut roles = self.roles.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(roles.entry(name.to_owned()).or_default())
        };
        role.try_lock_owned().ok().map(|guard| Exclusive {
            kind: Kind::Local(guard),
        })
    }
}

/// The advisory lock key of `name` in `district`: 64-bit FNV-1a, so every process derives the
/// same key without a registry.
pub(crate) fn advisory_key(district: &str, name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "kassa:"
        .bytes()
        .chain(district.bytes())
        .chain(":".bytes())
        .chain(name.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Tries the advisory lock `key` on a connection of `pool`; `None` when another session has it.
pub(crate) async fn try_advisory(
    pool: &sqlx::AnyPool,
    key: i64,
) -> Result<Option<Exclusive>, DbError> {
    let mut conn = pool.acquire().await?;
    let taken: bool = sqlx::query("SELECT pg_try_advisory_lock($1) AS taken")
        .bind(key)
        .fetch_one(&mut *conn as &mut AnyConnection)
        .await?
        .try_get("taken")?;
    Ok(taken.then(|| Exclusive {
        kind: Kind::Advisory {
            conn: Some(conn),
            key,
        },
    }))
}

impl Exclusive {
    /// Gives the role up. An error here still gives it up (the connection is closed instead of
    /// returned).
    pub async fn release(mut self) -> Result<(), DbError> {
        if let Kind::Advisory { conn, key } = &mut self.kind {
            if let Some(mut held) = conn.take() {
                let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(*key)
                    .execute(&mut *held as &mut AnyConnection)
                    .await;
                if let Err(err) = unlocked {
                    drop(held.detach());
                    return Err(err.into());
                }
            }
        }
        Ok(())
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        if let Kind::Advisory { conn, .. } = &mut self.kind {
            if let Some(held) = conn.take() {
                // Not released: close the connection rather than pool it with the lock held.
                drop(held.detach());
            }
        }
    }
}
