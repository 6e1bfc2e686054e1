//! [`SmtpMailer`]: delivery to an SMTP relay through `lettre` (async on tokio, TLS by rustls on
//! the `ring` provider with the webpki roots).
//!
//! Each message is a `multipart/alternative` of the text and the HTML body. Each send opens
//! its own connection: a shop sends few emails, and no pooled connection can go stale between
//! them. Replies are classified as RFC 5321 says: 4xx (and any connection, TLS or timeout
//! failure) is worth another attempt, 5xx is not.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use kassa_kernel::{Email, Timestamp};
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::{Mailer, OutgoingMail};
use crate::model::{SmtpConfig, SmtpTls};
use crate::{NotifyError, SendError};

/// Sends through one SMTP relay.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `MAIL FROM` when it differs from the From header ([`SmtpConfig::from`]).
    envelope_from: Option<Address>,
    /// The right-hand side of every `Message-ID`: the sender's domain.
    domain: String,
}

impl std::fmt::Debug for SmtpMailer {
    /// Says nothing of the credentials the transport holds.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for the relay `config` names, sending as `from` (whose domain is also the
    /// EHLO name). `InvalidConfig` for a blank host, port 0, a zero timeout, a username without
    /// a password or the reverse, or TLS parameters rustls refuses.
    pub fn new(config: &SmtpConfig, from: &Email) -> Result<SmtpMailer, NotifyError> {
        let invalid = |what: &str| NotifyError::InvalidConfig(format!("smtp: {what}"));
        let host = config.host.trim();
        if host.is_empty() {
            return Err(invalid("the host is blank"));
        }
        if config.port == 0 {
            return Err(invalid("the port is 0"));
        }
        if config.timeout.is_zero() {
            return Err(invalid("the timeout is zero"));
        }
        let domain = domain_of(from).to_owned();
        let tls_parameters = || {
            TlsParameters::new(host.to_owned())
                .map_err(|err| invalid(&format!("TLS parameters for {host}: {err}")))
        };
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout))
            .hello_name(ClientId::Domain(domain.clone()));
        match (&config.username, &config.password) {
            (Some(username), Some(password)) => {
                builder = builder.credentials(Credentials::new(
                    username.clone(),
                    password.expose_secret().to_owned(),
                ));
            }
            (None, None) => {}
            _ => {
                return Err(invalid(
                    "a username needs a password, and a password a username",
                ))
            }
        }
        let envelope_from = config
            .from
            .as_ref()
            .map(|email| {
                email
                    .as_str()
                    .parse::<Address>()
                    .map_err(|err| invalid(&format!("envelope sender: {err}")))
            })
            .transpose()?;
        Ok(SmtpMailer {
            transport: builder.build(),
            envelope_from,
            domain,
        })
    }

    /// The message as lettre builds it; an address lettre refuses is a permanent failure.
    fn message(&self, mail: &OutgoingMail) -> Result<Message, SendError> {
        let from = Mailbox::new(Some(mail.from_name.clone()), address(&mail.from)?);
        let to = Mailbox::new(None, address(&mail.to)?);
        Message::builder()
            .message_id(Some(format!("<{}@{}>", mail.id, self.domain)))
            .date(system_time(mail.date))
            .from(from)
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.text_body.clone(),
                mail.html_body.clone(),
            ))
            .map_err(|err| SendError::Permanent(format!("building the message: {err}")))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    fn transport(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        let message = self.message(mail)?;
        let sent = match &self.envelope_from {
            None => self.transport.send(message).await,
            Some(envelope_from) => {
                let envelope = Envelope::new(Some(envelope_from.clone()), vec![address(&mail.to)?])
                    .map_err(|err| SendError::Permanent(format!("envelope: {err}")))?;
                self.transport
                    .send_raw(&envelope, &message.formatted())
                    .await
            }
        };
        sent.map(drop).map_err(classify)
    }
}

/// 5xx replies and our own client-side refusals cannot succeed later; everything else
/// (4xx, connection, TLS, timeout, an unreadable reply) may.
fn classify(err: lettre::transport::smtp::Error) -> SendError {
    if err.is_permanent() || err.is_client() {
        SendError::Permanent(err.to_string())
    } else {
        SendError::Transient(err.to_string())
    }
}

fn address(email: &Email) -> Result<Address, SendError> {
    email
        .as_str()
        .parse::<Address>()
        .map_err(|err| SendError::Permanent(format!("address {}: {err}", email.as_str())))
}

fn domain_of(email: &Email) -> &str {
    email
        .as_str()
        .rsplit_once('@')
        .map_or(email.as_str(), |(_, domain)| domain)
}

/// `at` for the `Date` header; a time before 1970 (never from a real clock) becomes 1970.
fn system_time(at: Timestamp) -> SystemTime {
    u64::try_from(at.millis())
        .ok()
        .and_then(|millis| UNIX_EPOCH.checked_add(Duration::from_millis(millis)))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn from() -> Email {
        Email::parse("shop@example.com").unwrap()
    }

    #[test]
    fn a_configuration_that_cannot_work_is_refused_at_start_up() {
        let mut config = SmtpConfig::new(" ");
        assert!(SmtpMailer::new(&config, &from()).is_err());
        config.host = "smtp.example.com".into();
        config.username = Some("shop".into());
        assert!(SmtpMailer::new(&config, &from()).is_err());
        config.password = Some("secret".into());
        assert!(SmtpMailer::new(&config, &from()).is_ok());
        config.timeout = Duration::ZERO;
        assert!(SmtpMailer::new(&config, &from()).is_err());
    }

    #[test]
    fn the_debug_form_shows_no_credentials() {
        let mut config = SmtpConfig::new("smtp.example.com");
        config.username = Some("shop-user".into());
        config.password = Some("hunter2".into());
        let text = format!("{:?}", SmtpMailer::new(&config, &from()).unwrap());
        assert!(
            !text.contains("hunter2") && !text.contains("shop-user"),
            "{text}"
        );
    }

    #[test]
    fn the_date_header_comes_from_the_given_time() {
        let at = Timestamp::from_millis(1_795_000_000_000);
        let since = system_time(at).duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(since.as_millis(), 1_795_000_000_000);
        assert_eq!(system_time(Timestamp::from_millis(-5)), UNIX_EPOCH);
    }
}
