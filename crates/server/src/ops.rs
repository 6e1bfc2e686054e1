//! The gauges `/metrics` reads from the districts at scrape time: how far each outbox's relay
//! is behind (the age of its oldest unpublished event), and what the delivery workers hold.

use std::sync::Arc;

use async_trait::async_trait;
use kassa_api::metrics::{GaugeFamily, GaugeSample, OpsGauges};
use kassa_events::Relay;
use kassa_kernel::Clock;
use kassa_notify::NotificationService;
use kassa_payments::{PaymentError, PaymentService};
use kassa_webhooks::WebhookService;

/// Reads every outbox's lag, the webhook deliveries by outcome and the emails by status when
/// scraped.
pub struct DistrictGauges {
    pub relays: Vec<Relay>,
    pub payments: Arc<dyn PaymentService>,
    pub webhooks: Arc<dyn WebhookService>,
    pub notifications: Arc<dyn NotificationService>,
    pub clock: Arc<dyn Clock>,
}

impl DistrictGauges {
    /// How long checkout stays paused by the gateway's circuit breaker, and what the payments
    /// district holds whose outcome is not recorded.
    async fn payment_gauges(&self) -> Vec<GaugeFamily> {
        let paused = match self.payments.check_available() {
            Err(PaymentError::GatewayRefusing { retry_after, .. }) => retry_after.as_secs_f64(),
            _ => 0.0,
        };
        let mut families = vec![GaugeFamily {
            name: "kassa_payment_gateway_paused_seconds",
            help: "How much longer the gateway's circuit breaker refuses calls (checkout answers \
                   503 gateway_paused); 0 when calls go out.",
            samples: vec![GaugeSample {
                labels: Vec::new(),
                value: paused,
            }],
        }];
        match self.payments.unsettled().await {
            Ok(unsettled) => families.push(GaugeFamily {
                name: "kassa_payments_unsettled",
                help: "Gateway operations whose outcome is not recorded yet (in flight, or \
                       unknown until the reconciliation job settles them), by kind.",
                samples: vec![
                    GaugeSample::labelled("kind", "operation", unsettled.operations as f64),
                    GaugeSample::labelled("kind", "refund", unsettled.refunds as f64),
                ],
            }),
            Err(err) => tracing::warn!(error = %err, "unsettled payments unreadable"),
        }
        families
    }
}

#[async_trait]
impl OpsGauges for DistrictGauges {
    async fn gauges(&self) -> Vec<GaugeFamily> {
        let now = self.clock.now();
        let mut lag = Vec::with_capacity(self.relays.len());
        for relay in &self.relays {
            match relay.oldest_unpublished_at().await {
                Ok(oldest) => {
                    let secs = oldest.map_or(0.0, |at| {
                        // Milliseconds to seconds; a clock behind the event reads as no lag.
                        (now.millis().saturating_sub(at.millis())).max(0) as f64 / 1_000.0
                    });
                    lag.push(GaugeSample::labelled("source", relay.source(), secs));
                }
                Err(err) => {
                    tracing::warn!(source = relay.source(), error = ?err, "outbox lag unreadable");
                }
            }
        }
        let mut families = vec![GaugeFamily {
            name: "kassa_events_outbox_lag_seconds",
            help: "Age of the oldest event its relay has not published yet, by district; 0 when \
                   every event is published.",
            samples: lag,
        }];
        families.extend(self.payment_gauges().await);
        match self.webhooks.delivery_counts().await {
            Ok(counts) => {
                let by_outcome = [
                    ("pending", counts.pending),
                    ("retrying", counts.retrying),
                    ("succeeded", counts.succeeded),
                    ("dead", counts.dead),
                ];
                families.push(GaugeFamily {
                    name: "kassa_webhook_deliveries",
                    help: "Webhook deliveries by outcome: pending (first attempt due), retrying, \
                           succeeded, dead.",
                    samples: by_outcome
                        .iter()
                        .map(|(status, n)| GaugeSample::labelled("status", *status, *n as f64))
                        .collect(),
                });
                families.push(GaugeFamily {
                    name: "kassa_webhook_dead_letters",
                    help: "Webhook deliveries that used every attempt and wait for a replay.",
                    samples: vec![GaugeSample {
                        labels: Vec::new(),
                        value: counts.dead as f64,
                    }],
                });
            }
            Err(err) => tracing::warn!(error = %err, "webhook delivery counts unreadable"),
        }
        match self.notifications.counts().await {
            Ok(counts) => families.push(GaugeFamily {
                name: "kassa_notification_messages",
                help: "Shopper emails by status: queued, sent, failed.",
                samples: [
                    ("queued", counts.queued),
                    ("sent", counts.sent),
                    ("failed", counts.failed),
                ]
                .iter()
                .map(|(status, n)| GaugeSample::labelled("status", *status, *n as f64))
                .collect(),
            }),
            Err(err) => tracing::warn!(error = %err, "notification counts unreadable"),
        }
        families
    }
}
