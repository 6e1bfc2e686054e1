//! The sender's claim: senders racing over the same messages send each once, a held message
//! waits for its lease to end, a sender that lost its lease records nothing, and a transport
//! that never answers is given up on in time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kassa_notify::*;

use super::*;

/// Records every message it is asked to send, after a short pause that lets racing senders
/// interleave.
#[derive(Default)]
struct RecordingMailer {
    sent: Mutex<Vec<MessageId>>,
}

#[async_trait]
impl Mailer for RecordingMailer {
    fn transport(&self) -> &'static str {
        "recording"
    }

    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.sent.lock().unwrap().push(mail.id);
        Ok(())
    }
}

/// Never answers.
struct StuckMailer;

#[async_trait]
impl Mailer for StuckMailer {
    fn transport(&self) -> &'static str {
        "stuck"
    }

    async fn send(&self, _: &OutgoingMail) -> Result<(), SendError> {
        std::future::pending().await
    }
}

async fn queue_orders(f: &Fixture, n: usize) {
    for _ in 0..n {
        let order = eur_order();
        f.add(&order);
        f.deliver(&placed(&order)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_senders_send_each_message_once() {
    let f = fixture().await;
    queue_orders(&f, 20).await;
    let mailer = Arc::new(RecordingMailer::default());
    let a = f.sender(mailer.clone(), &config());
    let b = f.sender(mailer.clone(), &config());

    let (pass_a, pass_b) = tokio::join!(a.send_due(f.now(), 100), b.send_due(f.now(), 100));

    let (pass_a, pass_b) = (pass_a.unwrap(), pass_b.unwrap());
    assert_eq!(pass_a.sent + pass_b.sent, 20, "{pass_a:?} {pass_b:?}");
    assert_eq!(pass_a.lost + pass_b.lost, 0);
    let mut sent = mailer.sent.lock().unwrap().clone();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 20, "a message was sent twice");
    let messages = f.messages().await;
    assert!(messages
        .iter()
        .all(|m| m.status == MessageStatus::Sent && m.attempts == 1));
}

#[tokio::test]
async fn a_claimed_message_waits_for_its_lease_and_a_lost_lease_records_nothing() {
    let f = fixture().await;
    queue_orders(&f, 1).await;
    let start = f.now();
    let lease_until = start.plus_secs(120);
    // A sender on another node claims the message, then stalls.
    let claimed = f
        .store
        .claim_due(start, "lease_other", lease_until)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.next_attempt_at, Some(lease_until));
    let mailer = Arc::new(RecordingMailer::default());
    let sender = f.sender(mailer.clone(), &config());

    assert_eq!(sender.send_due(start, 10).await.unwrap().claimed, 0);
    assert_eq!(
        sender
            .send_due(lease_until.plus_millis(-1), 10)
            .await
            .unwrap()
            .claimed,
        0
    );
    // The lease ended: this sender takes the message over and sends it.
    f.clock.set(lease_until);
    let pass = sender.send_due(lease_until, 10).await.unwrap();
    assert_eq!((pass.claimed, pass.sent), (1, 1));
    assert_eq!(mailer.sent.lock().unwrap().as_slice(), [claimed.id]);
    // The stalled sender wakes up: its outcome no longer counts.
    assert!(!f
        .store
        .mark_failed(claimed.id, "lease_other", "late")
        .await
        .unwrap());
    let message = f.reload(&claimed).await;
    assert_eq!(message.status, MessageStatus::Sent);
    assert_eq!(message.attempts, 2);
    assert_eq!(message.last_error, None);
}

#[tokio::test]
async fn a_transport_that_never_answers_is_given_up_on_within_the_lease() {
    let f = fixture().await;
    queue_orders(&f, 1).await;
    let config = NotifyConfig {
        send_lease: Duration::from_secs(2),
        ..config()
    };
    let sender = f.sender(Arc::new(StuckMailer), &config);

    let pass = tokio::time::timeout(Duration::from_secs(10), sender.send_due(f.now(), 10))
        .await
        .expect("the send is cut off after half the lease")
        .unwrap();

    assert_eq!(pass.retrying, 1);
    let message = f.only_message().await;
    assert_eq!(message.status, MessageStatus::Queued);
    assert!(message
        .last_error
        .as_deref()
        .unwrap()
        .contains("did not answer"));
}

#[tokio::test]
async fn a_sender_refuses_a_configuration_that_cannot_work() {
    let f = fixture().await;
    let build = |config: NotifyConfig| {
        Sender::new(
            f.store.clone(),
            Arc::new(DevMailbox),
            Arc::new(f.clock.clone()),
            &config,
        )
    };
    assert!(build(config()).is_ok());
    for bad in [
        NotifyConfig {
            from: "not an address".into(),
            ..config()
        },
        NotifyConfig {
            max_attempts: 0,
            ..config()
        },
        NotifyConfig {
            max_attempts: MAX_ATTEMPTS_MAX + 1,
            ..config()
        },
        NotifyConfig {
            send_lease: Duration::from_secs(1),
            ..config()
        },
    ] {
        assert!(
            matches!(build(bad.clone()), Err(NotifyError::InvalidConfig(_))),
            "{bad:?}"
        );
    }
}
