//! The throttle counters of `identity_throttle`. Each hit is one upsert in its own short
//! transaction, committed whatever the call it guards goes on to do: a refused sign-in must
//! still count. The upsert decides in the database whether the window has ended, so parallel
//! hits on one key each get their own count and never read-then-write.

use kassa_db::{row, DbError};
use kassa_kernel::Timestamp;

use super::{IdentityStore, IdentityTx};
use crate::throttle::{ThrottleKey, WindowCount};

impl IdentityStore {
    /// Counts one attempt under `key` and returns the counter as left. A window that started at
    /// or before `window_ended_by_ms` has ended: it restarts at `now` with a count of 1.
    pub(crate) async fn throttle_hit(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
        window_ended_by_ms: i64,
    ) -> Result<WindowCount, DbError> {
        let mut tx = self.db.begin().await?;
        let row = kassa_db::query(
            "INSERT INTO identity_throttle (key, window_start_ms, count) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
             count = CASE WHEN identity_throttle.window_start_ms <= $3 THEN 1 \
                 ELSE identity_throttle.count + 1 END, \
             window_start_ms = CASE WHEN identity_throttle.window_start_ms <= $3 THEN $2 \
                 ELSE identity_throttle.window_start_ms END \
             RETURNING count, window_start_ms",
        )
        .bind(key.as_str().to_owned())
        .bind(now.millis())
        .bind(window_ended_by_ms)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(WindowCount {
            count: row::int(&row, "count")?,
            window_start_ms: row::int(&row, "window_start_ms")?,
        })
    }

    /// Deletes counters whose window started at or before `ended_by_ms`: they restart on their
    /// next hit anyway. Returns how many.
    pub(crate) async fn purge_throttle(&self, ended_by_ms: i64) -> Result<u64, DbError> {
        let mut tx = self.db.begin().await?;
        let done = kassa_db::query("DELETE FROM identity_throttle WHERE window_start_ms <= $1")
            .bind(ended_by_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

impl IdentityTx {
    /// Gives back the attempt a successful sign-in reserved, if its window is still the one
    /// counted (a window that restarted meanwhile is left alone).
    pub(crate) async fn throttle_refund(
        &mut self,
        key: &ThrottleKey,
        counted: WindowCount,
    ) -> Result<(), DbError> {
        kassa_db::query(
            "UPDATE identity_throttle SET count = count - 1 \
             WHERE key = $1 AND window_start_ms = $2 AND count > 0",
        )
        .bind(key.as_str().to_owned())
        .bind(counted.window_start_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
