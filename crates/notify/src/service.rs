//! The staff-facing service: the mailbox (every message, newest first) and the counts behind
//! `/metrics`. The HTTP layer holds it as `Arc<dyn NotificationService>`.

use async_trait::async_trait;

use crate::model::{Message, MessageId, StatusCounts};
use crate::store::NotifyStore;
use crate::NotifyError;

/// Most messages one [`NotificationService::mailbox`] call returns: one page of a staff list.
pub const MAILBOX_PAGE_MAX: u32 = 100;

#[async_trait]
pub trait NotificationService: Send + Sync {
    /// Messages newest first, whatever their status. Paging: pass the last id of a page as
    /// `after` to get the messages older than it; a page shorter than `limit` is the last.
    /// `limit` is capped at [`MAILBOX_PAGE_MAX`] (0 gives an empty page).
    async fn mailbox(
        &self,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>, NotifyError>;

    /// One message with its bodies; `None` if there is no such message.
    async fn message(&self, id: MessageId) -> Result<Option<Message>, NotifyError>;

    /// How many messages are queued, sent and failed.
    async fn counts(&self) -> Result<StatusCounts, NotifyError>;
}

/// The service over the district's store.
pub struct Notifications {
    store: NotifyStore,
}

impl Notifications {
    pub fn new(store: NotifyStore) -> Self {
        Notifications { store }
    }
}

#[async_trait]
impl NotificationService for Notifications {
    async fn mailbox(
        &self,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>, NotifyError> {
        let limit = limit.min(MAILBOX_PAGE_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        Ok(self.store.messages(after, limit).await?)
    }

    async fn message(&self, id: MessageId) -> Result<Option<Message>, NotifyError> {
        Ok(self.store.message(id).await?)
    }

    async fn counts(&self) -> Result<StatusCounts, NotifyError> {
        Ok(self.store.counts().await?)
    }
}
