//! Delivery through `SmtpMailer` to an SMTP sink written here (enough of RFC 5321 for lettre:
//! greeting, EHLO, MAIL, RCPT, DATA, QUIT), whose answers to MAIL are scripted: success,
//! temporary refusals that are retried on the backoff schedule, and a permanent refusal.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kassa_kernel::Timestamp;
use kassa_notify::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

/// One message the sink accepted.
#[derive(Debug, Clone)]
struct Received {
    mail_from: String,
    rcpt_to: Vec<String>,
    /// Everything between DATA and the final dot, CRLFs kept.
    data: String,
}

/// A local SMTP server that records what it accepts.
struct SmtpSink {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    /// Every MAIL command seen, accepted or not.
    mail_commands: Arc<Mutex<u32>>,
}

/// How the sink answers MAIL: the `first` replies in turn, then `then` for ever.
struct Script {
    first: Vec<&'static str>,
    then: &'static str,
}

const OK: &str = "250 2.1.0 OK";
const TRY_LATER: &str = "451 4.3.0 Try again later";
const NO_SUCH_USER: &str = "550 5.1.1 No such user";

impl SmtpSink {
    async fn start(script: Script) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let mail_commands = Arc::new(Mutex::new(0));
        let replies = Arc::new(Mutex::new(VecDeque::from(script.first)));
        let (received2, mail2) = (received.clone(), mail_commands.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let session = Session {
                    received: received2.clone(),
                    mail_commands: mail2.clone(),
                    replies: replies.clone(),
                    then: script.then,
                };
                tokio::spawn(session.run(stream));
            }
        });
        SmtpSink {
            addr,
            received,
            mail_commands,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn mail_commands(&self) -> u32 {
        *self.mail_commands.lock().unwrap()
    }

    /// A configuration that sends to this sink in plain text.
    fn config(&self) -> NotifyConfig {
        let mut smtp = SmtpConfig::new("127.0.0.1");
        smtp.port = self.addr.port();
        smtp.tls = SmtpTls::None;
        smtp.timeout = Duration::from_secs(5);
        NotifyConfig {
            transport: TransportConfig::Smtp(smtp),
            ..config()
        }
    }
}

/// One connection to the sink.
struct Session {
    received: Arc<Mutex<Vec<Received>>>,
    mail_commands: Arc<Mutex<u32>>,
    replies: Arc<Mutex<VecDeque<&'static str>>>,
    then: &'static str,
}

impl Session {
    async fn run(self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 sink ESMTP ready\r\n").await.unwrap();
        let mut current: Option<Received> = None;
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let command = line.trim_end().to_ascii_uppercase();
            let answer: String = if command.starts_with("EHLO") || command.starts_with("HELO") {
                "250 sink".into()
            } else if command.starts_with("MAIL FROM:") {
                *self.mail_commands.lock().unwrap() += 1;
                let answer = self
                    .replies
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(self.then);
                if answer.starts_with('2') {
                    current = Some(Received {
                        mail_from: line.trim_end()[10..].to_owned(),
                        rcpt_to: Vec::new(),
                        data: String::new(),
                    });
                }
                answer.into()
            } else if command.starts_with("RCPT TO:") {
                match current.as_mut() {
                    Some(mail) => {
                        mail.rcpt_to.push(line.trim_end()[8..].to_owned());
                        "250 2.1.5 OK".into()
                    }
                    None => "503 5.5.1 MAIL first".into(),
                }
            } else if command == "DATA" {
                let Some(mut mail) = current.take() else {
                    write.write_all(b"503 5.5.1 MAIL first\r\n").await.unwrap();
                    continue;
                };
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .unwrap();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    mail.data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                self.received.lock().unwrap().push(mail);
                "250 2.0.0 Queued".into()
            } else if command == "QUIT" {
                let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                return;
            } else if command == "RSET" || command == "NOOP" {
                current = None;
                "250 2.0.0 OK".into()
            } else {
                "502 5.5.2 Command not recognised".into()
            };
            if write
                .write_all(format!("{answer}\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// The message text as a reader sees it: folded header lines joined and quoted-printable
/// bodies decoded (lettre encodes bodies with long lines that way).
fn readable(data: &str) -> String {
    let unfolded = data.replace("\r\n ", " ").replace("=\r\n", "");
    let bytes = unfolded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap().replace("\r\n", "\n")
}

#[tokio::test]
async fn smtp_delivers_a_multipart_message_and_the_row_becomes_sent() {
    let sink = SmtpSink::start(Script {
        first: Vec::new(),
        then: OK,
    })
    .await;
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);
    f.deliver(&placed(&order)).await.unwrap();
    let config = sink.config();
    let sender = Sender::from_config(f.store.clone(), Arc::new(f.clock.clone()), &config).unwrap();
    assert_eq!(sender.transport(), "smtp");

    let pass = sender.send_due(f.now(), 10).await.unwrap();

    assert_eq!((pass.claimed, pass.sent, pass.retrying), (1, 1, 0));
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.mail_from, "<shop@example.com>");
    assert_eq!(mail.rcpt_to, ["<ada@example.com>"]);
    let data = readable(&mail.data);
    for expected in [
        format!("Subject: Test Shop: your order {} is confirmed\n", order.id),
        "From: \"Test Shop\" <shop@example.com>\n".to_owned(),
        "To: ada@example.com\n".to_owned(),
        "Content-Type: multipart/alternative".to_owned(),
        "Content-Type: text/plain; charset=utf-8".to_owned(),
        "Content-Type: text/html; charset=utf-8".to_owned(),
        "- Mug / Blue: 2 x EUR 12.50 = EUR 25.00\n".to_owned(),
        "- Poster / A2: 1 x EUR 19.99 = EUR 19.99\n".to_owned(),
        "Subtotal: EUR 44.99\nShipping: EUR 4.90\nTax: EUR 8.55\nTotal: EUR 58.44\n".to_owned(),
        "<td>EUR 58.44</td>".to_owned(),
    ] {
        assert!(
            data.contains(&expected),
            "{expected:?} missing from\n{data}"
        );
    }
    let message = f.only_message().await;
    assert!(
        data.contains(&format!("Message-ID: <{}@example.com>", message.id)),
        "{data}"
    );
    assert_eq!(message.status, MessageStatus::Sent);
    assert_eq!(message.transport.as_deref(), Some("smtp"));
    assert_eq!(message.attempts, 1);
    assert_eq!(message.last_error, None);
}

#[tokio::test]
async fn a_temporary_refusal_is_retried_on_the_backoff_schedule_until_it_is_sent() {
    let sink = SmtpSink::start(Script {
        first: vec![TRY_LATER, TRY_LATER],
        then: OK,
    })
    .await;
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);
    f.deliver(&placed(&order)).await.unwrap();
    let sender = f.sender(mailer_for(&sink.config()).unwrap(), &sink.config());
    let start = f.now();

    // Attempt 1 at the start: 451, due again 30 s later.
    let pass = sender.send_due(f.now(), 10).await.unwrap();
    assert_eq!((pass.claimed, pass.retrying, pass.sent), (1, 1, 0));
    let message = f.only_message().await;
    assert_eq!(message.status, MessageStatus::Queued);
    assert_eq!(message.attempts, 1);
    assert_eq!(message.next_attempt_at, Some(start.plus_secs(30)));
    assert!(
        message.last_error.as_deref().unwrap().contains("451"),
        "{message:?}"
    );

    // Not before it is due.
    let early = sender
        .send_due(start.plus_millis(29_999), 10)
        .await
        .unwrap();
    assert_eq!(early, SendPass::default());
    assert_eq!(sink.mail_commands(), 1);

    // Attempt 2 when due: 451 again, the wait doubles to 60 s.
    f.clock.set(start.plus_secs(30));
    assert_eq!(sender.send_due(f.now(), 10).await.unwrap().retrying, 1);
    let message = f.reload(&message).await;
    assert_eq!(message.attempts, 2);
    assert_eq!(message.next_attempt_at, Some(start.plus_secs(90)));
    let early = sender
        .send_due(start.plus_millis(89_999), 10)
        .await
        .unwrap();
    assert_eq!(early.claimed, 0);

    // Attempt 3 is accepted.
    f.clock.set(start.plus_secs(90));
    assert_eq!(sender.send_due(f.now(), 10).await.unwrap().sent, 1);
    let message = f.reload(&message).await;
    assert_eq!(message.status, MessageStatus::Sent);
    assert_eq!(message.attempts, 3);
    assert_eq!(message.sent_at, Some(start.plus_secs(90)));
    assert_eq!(sink.mail_commands(), 3);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_message_at_once() {
    let sink = SmtpSink::start(Script {
        first: vec![NO_SUCH_USER],
        then: OK,
    })
    .await;
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);
    f.deliver(&placed(&order)).await.unwrap();
    let sender = f.sender(mailer_for(&sink.config()).unwrap(), &sink.config());

    let pass = sender.send_due(f.now(), 10).await.unwrap();

    assert_eq!((pass.claimed, pass.failed, pass.retrying), (1, 1, 0));
    let message = f.only_message().await;
    assert_eq!(message.status, MessageStatus::Failed);
    assert_eq!(message.attempts, 1);
    assert_eq!(message.next_attempt_at, None);
    assert!(
        message.last_error.as_deref().unwrap().contains("550"),
        "{message:?}"
    );
    // Nothing is left to send, now or later.
    f.clock.advance(Duration::from_secs(86_400));
    assert_eq!(sender.send_due(f.now(), 10).await.unwrap().claimed, 0);
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn a_relay_that_keeps_refusing_fails_the_message_after_max_attempts() {
    let sink = SmtpSink::start(Script {
        first: Vec::new(),
        then: TRY_LATER,
    })
    .await;
    let config = NotifyConfig {
        max_attempts: 4,
        ..sink.config()
    };
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);
    f.deliver(&placed(&order)).await.unwrap();
    let sender = f.sender(mailer_for(&config).unwrap(), &config);
    let mut message = f.only_message().await;

    for attempt in 1..=3 {
        f.clock.set(message.next_attempt_at.unwrap());
        assert_eq!(sender.send_due(f.now(), 10).await.unwrap().retrying, 1);
        message = f.reload(&message).await;
        assert_eq!(
            (message.status, message.attempts),
            (MessageStatus::Queued, attempt)
        );
    }
    f.clock.set(message.next_attempt_at.unwrap());
    let last = sender.send_due(f.now(), 10).await.unwrap();

    assert_eq!((last.failed, last.retrying), (1, 0));
    let message = f.reload(&message).await;
    assert_eq!(message.status, MessageStatus::Failed);
    assert_eq!(message.attempts, 4);
    assert!(message.last_error.as_deref().unwrap().contains("451"));
    assert_eq!(sink.mail_commands(), 4);
}

#[tokio::test]
async fn a_relay_that_cannot_be_reached_is_retried() {
    // A port that was just free: nothing listens there.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut smtp = SmtpConfig::new("127.0.0.1");
    smtp.port = port;
    smtp.tls = SmtpTls::None;
    smtp.timeout = Duration::from_secs(5);
    let config = NotifyConfig {
        transport: TransportConfig::Smtp(smtp),
        ..config()
    };
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);
    f.deliver(&placed(&order)).await.unwrap();
    let sender = f.sender(mailer_for(&config).unwrap(), &config);

    let pass = sender.send_due(f.now(), 10).await.unwrap();

    assert_eq!((pass.retrying, pass.failed), (1, 0));
    let message = f.only_message().await;
    assert_eq!(message.status, MessageStatus::Queued);
    assert_eq!(
        message.next_attempt_at,
        Some(Timestamp::from_millis(START_MS).plus_secs(30))
    );
}
