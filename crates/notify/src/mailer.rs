//! Transports: the [`Mailer`] trait, [`DevMailbox`] (the default, which delivers nothing) and
//! [`SmtpMailer`] (`mailer/smtp.rs`).

mod smtp;

use std::sync::Arc;

use async_trait::async_trait;
use kassa_kernel::{Email, Timestamp};

use crate::model::{MessageId, NotifyConfig, TransportConfig};
use crate::{NotifyError, SendError};
pub use smtp::SmtpMailer;

/// One email as a transport receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Also the base of the `Message-ID` header, so a relay or a mail client can tell a
    /// repeated delivery of the same message.
    pub id: MessageId,
    pub from: Email,
    /// The From display name: the shop's name.
    pub from_name: String,
    pub to: Email,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// The `Date` header, from the sender's clock.
    pub date: Timestamp,
}

/// Delivers emails.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Recorded on each sent message: `mailbox`, `smtp`.
    fn transport(&self) -> &'static str;

    /// Hands `mail` over for delivery. Returns once the transport accepted it; the error says
    /// whether a later attempt may succeed. A transport may be asked to send the same message
    /// again (a sender that crashed after sending, or lost its lease): `mail.id` is the same.
    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError>;
}

/// The development transport: "delivered" means kept in the mailbox, and the mailbox is the
/// message table staff read through [`crate::NotificationService`]. Nothing leaves the
/// process, so a local or test shop never emails a real address.
#[derive(Debug, Clone, Copy, Default)]
pub struct DevMailbox;

#[async_trait]
impl Mailer for DevMailbox {
    fn transport(&self) -> &'static str {
        "mailbox"
    }

    async fn send(&self, _mail: &OutgoingMail) -> Result<(), SendError> {
        Ok(())
    }
}

/// The transport `config` asks for; `InvalidConfig` for an SMTP configuration that cannot work.
pub fn mailer_for(config: &NotifyConfig) -> Result<Arc<dyn Mailer>, NotifyError> {
    match &config.transport {
        TransportConfig::Mailbox => Ok(Arc::new(DevMailbox)),
        TransportConfig::Smtp(smtp) => {
            let from = Email::parse(&config.from).map_err(|err| {
                NotifyError::InvalidConfig(format!("from address {:?}: {err}", config.from))
            })?;
            Ok(Arc::new(SmtpMailer::new(smtp, &from)?))
        }
    }
}
