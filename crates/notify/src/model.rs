//! Notification types: the [`Message`] as stored (it is also the development mailbox), its
//! [`MessageKind`] and [`MessageStatus`], and the district's configuration.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use kassa_events::EventId;
use kassa_kernel::ids::OrderId;
use kassa_kernel::{Email, Timestamp};
use secrecy::SecretString;

kassa_kernel::typed_id!(
    /// One email to a shopper.
    MessageId, "msg"
);

/// What an email is about: one per orders event that reaches the shopper. Stored as TEXT with a
/// CHECK, in the `as_str` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `order.placed`: the checkout confirmed the order.
    OrderConfirmed,
    /// `order.fulfilled` / `order.partially_fulfilled`: a shipment left, with its tracking.
    OrderShipped,
    /// `order.cancelled` of an order that had been confirmed.
    OrderCancelled,
    /// `order.refunded`: money went back to the shopper.
    OrderRefunded,
}

impl MessageKind {
    pub const ALL: [MessageKind; 4] = [
        MessageKind::OrderConfirmed,
        MessageKind::OrderShipped,
        MessageKind::OrderCancelled,
        MessageKind::OrderRefunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::OrderConfirmed => "order_confirmed",
            MessageKind::OrderShipped => "order_shipped",
            MessageKind::OrderCancelled => "order_cancelled",
            MessageKind::OrderRefunded => "order_refunded",
        }
    }
}

/// Where a message is in its delivery. Stored as TEXT with a CHECK.
///
/// ```text
/// queued ──sent──▶ sent
///   │ ▲
///   │ └─ retryable failure, attempts left (next_attempt_at moves on)
///   └──── permanent failure, or the last attempt failed ──▶ failed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Waiting for its next attempt (`next_attempt_at`), or held by a sender right now.
    Queued,
    /// Final: the transport accepted it.
    Sent,
    /// Final: refused for good, or out of attempts; `last_error` says why.
    Failed,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 3] = [
        MessageStatus::Queued,
        MessageStatus::Sent,
        MessageStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
        }
    }
}

/// A stored kind or status text that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}'")]
pub struct UnknownValue {
    what: &'static str,
    value: String,
}

impl FromStr for MessageKind {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "message kind",
                value: s.to_owned(),
            })
    }
}

impl FromStr for MessageStatus {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "message status",
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One email, as the mailbox shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    /// The orders event it was made from; with `kind`, unique.
    pub event_id: EventId,
    pub order_id: OrderId,
    pub kind: MessageKind,
    /// The order's email address when the message was queued.
    pub to: Email,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub status: MessageStatus,
    /// The transport that delivered it (`mailbox`, `smtp`); `None` until sent.
    pub transport: Option<String>,
    /// Delivery attempts started so far, the current one included.
    pub attempts: u32,
    /// While `queued`: when a sender may next try it. While a sender holds it, that is the end
    /// of the sender's lease. `None` once final.
    pub next_attempt_at: Option<Timestamp>,
    /// What the last failed attempt said; kept after a later success for the record.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// How many messages are in each status, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
}

/// How messages leave the process.
#[derive(Debug, Clone, Default)]
pub enum TransportConfig {
    /// Development default: delivery means "kept in the mailbox" (the message table); nothing
    /// leaves the process.
    #[default]
    Mailbox,
    /// A real SMTP relay.
    Smtp(SmtpConfig),
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same host or a test sink.
    None,
    /// Plain connection upgraded with STARTTLS, which the server must offer (usually port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// Where and how to reach the SMTP relay.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Both or neither: the relay's login (PLAIN or LOGIN, as the server offers).
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The envelope sender (`MAIL FROM`, where bounces go); `None` uses the message's From
    /// ([`NotifyConfig::from`]).
    pub from: Option<Email>,
    /// Limit on each SMTP command's answer (connect, EHLO, each command, the data). Keep the
    /// whole exchange (about eight of these) shorter than [`NotifyConfig::send_lease`].
    pub timeout: Duration,
}

impl SmtpConfig {
    /// A relay at `host` on the submission port with STARTTLS, no login, 10 s per command.
    pub fn new(host: impl Into<String>) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: SMTP_SUBMISSION_PORT,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            from: None,
            timeout: SMTP_TIMEOUT_DEFAULT,
        }
    }
}

/// The message submission port (RFC 6409), where STARTTLS is the norm.
pub const SMTP_SUBMISSION_PORT: u16 = 587;

/// Per SMTP command: long enough for a slow relay, short enough that one stuck relay cannot hold
/// a message past its lease.
pub const SMTP_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

/// Delivery attempts before a message is `failed`: with the default backoff (30 s doubling,
/// capped at 1 h) eight attempts span about an hour, long enough to ride out a relay restart.
pub const MAX_ATTEMPTS_DEFAULT: u32 = 8;

/// The most attempts a configuration may ask for, so a typo cannot retry a message for weeks.
pub const MAX_ATTEMPTS_MAX: u32 = 50;

/// How long a sender holds a claimed message before another sender may take it over: longer
/// than any one delivery may run (the sender gives up on a send after half of it).
pub const SEND_LEASE_DEFAULT: Duration = Duration::from_secs(120);

/// The backoff between delivery attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; it doubles after each further one.
    pub base: Duration,
    /// The longest wait, before jitter.
    pub max: Duration,
    /// Each wait moves by up to this share of itself, earlier or later, so messages that failed
    /// together (a relay outage) do not all come back at once.
    pub jitter_percent: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3_600),
            jitter_percent: 20,
        }
    }
}

/// The notifications district's configuration, built by the server from its settings.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Shown in every subject and body, and as the From display name.
    pub shop_name: String,
    /// The From address of every email; checked by [`crate::Sender::new`].
    pub from: String,
    /// Attempts before a retryable failure becomes `failed`, 1 ..= [`MAX_ATTEMPTS_MAX`].
    pub max_attempts: u32,
    pub transport: TransportConfig,
    pub retry: RetryPolicy,
    /// See [`SEND_LEASE_DEFAULT`].
    pub send_lease: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            shop_name: "Kassa".to_owned(),
            from: "shop@kassa.invalid".to_owned(),
            max_attempts: MAX_ATTEMPTS_DEFAULT,
            transport: TransportConfig::Mailbox,
            retry: RetryPolicy::default(),
            send_lease: SEND_LEASE_DEFAULT,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_statuses_parse_back_from_their_stored_form() {
        for kind in MessageKind::ALL {
            assert_eq!(kind.as_str().parse::<MessageKind>().unwrap(), kind);
        }
        for status in MessageStatus::ALL {
            assert_eq!(status.as_str().parse::<MessageStatus>().unwrap(), status);
        }
        assert!("order_lost".parse::<MessageKind>().is_err());
        assert!("Queued".parse::<MessageStatus>().is_err());
    }

    #[test]
    fn message_ids_carry_their_prefix() {
        let id = MessageId::new();
        assert!(id.to_string().starts_with("msg_"));
        assert_eq!(id.to_string().parse::<MessageId>().unwrap(), id);
    }

    #[test]
    fn the_default_configuration_keeps_mail_in_the_mailbox() {
        let config = NotifyConfig::default();
        assert!(matches!(config.transport, TransportConfig::Mailbox));
        assert_eq!(config.max_attempts, 8);
        assert!(Email::parse(&config.from).is_ok());
    }
}
