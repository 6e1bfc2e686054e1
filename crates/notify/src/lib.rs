//! Notifications: the emails kassa sends a shopper about their order — confirmed, shipped,
//! cancelled, refunded.
//!
//! Owns the tables `notification_inbox` (the ids of the events already turned into messages, see
//! [`kassa_events::inbox`]) and `notification_messages` (every email, its rendered bodies, and
//! its delivery state). It records no events and reads no other district's tables: orders'
//! events arrive through the bus, and the order behind an event is read through the narrow
//! [`OrderLookup`].
//!
//! The path of one email:
//!
//! 1. [`NotificationConsumer`] (a [`kassa_events::Consumer`] named `notifications`) receives an
//!    `order.*` event, looks the order up, renders the email ([`templates`]) and, in ONE
//!    transaction, records the event in its inbox and queues the message. A redelivered event
//!    queues nothing.
//! 2. [`Sender::send_due`] claims due messages one at a time with a lease (a conditional
//!    `UPDATE`, so two nodes never hold one message at once), hands each to a [`Mailer`] and
//!    records the outcome: `sent`, a retry with exponential backoff, or `failed`.
//! 3. Staff read the messages through [`NotificationService`] — with the default
//!    [`DevMailbox`] transport the message table *is* the mailbox; nothing leaves the process.
//!
//! Read [`model`] first ([`Message`], [`MessageStatus`], [`NotifyConfig`]), then the consumer and
//! [`Sender`]. Scheduling `send_due` and subscribing the consumer is the server's job.

pub mod consumer;
pub mod error;
pub mod lookup;
pub mod mailer;
pub mod migrations;
pub mod model;
pub mod sender;
pub mod service;
pub mod store;
pub mod templates;

pub use consumer::{NotificationConsumer, CONSUMER_NAME, INBOX_TABLE};
pub use error::{LookupError, NotifyError, SendError, MAIL_MESSAGE_NOT_FOUND, PROBLEM_TYPES};
pub use lookup::OrderLookup;
pub use mailer::{mailer_for, DevMailbox, Mailer, OutgoingMail, SmtpMailer};
pub use model::*;
pub use sender::{IdJitter, Jitter, NoJitter, SendPass, Sender, SEND_BATCH_MAX};
pub use service::{NotificationService, Notifications, MAILBOX_PAGE_MAX};
pub use store::NotifyStore;
