//! [`WebhookService`], the only thing the HTTP layer and the server use, and [`Webhooks`], which
//! implements it over [`WebhookStore`] and sends deliveries with [`crate::dispatch::Sender`].

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kassa_kernel::{Clock, Timestamp};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::consumer::WebhookConsumer;
use crate::dispatch::{delivery_headers, Sender};
use crate::error::WebhookError;
use crate::model::{
    Attempt, Delivery, DeliveryCounts, DeliveryDetail, DeliveryId, DeliveryStatus, Description,
    Endpoint, EndpointWithSecret, EventTypes, Issue, SigningSecret, WebhookId, WebhookUrl,
};
use crate::schedule::{DerivedJitter, Jitter, RetrySchedule};
use crate::signature;
use crate::store::{
    AttemptRecord, Claimed, DeliveryFilter, EndpointChanges, NewEndpointRow, Target, WebhookStore,
};

/// Most endpoints a shop may register: every delivery costs an HTTP call per endpoint, so this
/// bounds the fan-out of one event; 50 is far more than a shop's systems need.
pub const ENDPOINTS_MAX: usize = 50;

/// Longest a rotated-out secret may keep signing: a week is time enough to deploy the new
/// secret everywhere; longer would keep a possibly leaked secret alive.
pub const ROTATION_OVERLAP_MAX: Duration = Duration::from_secs(7 * 24 * 3_600);

/// How long a rotated-out secret keeps signing when the request does not say: one day.
pub const ROTATION_OVERLAP_DEFAULT: Duration = Duration::from_secs(24 * 3_600);

/// Most deliveries one page lists.
pub const DELIVERIES_PAGE_MAX: u32 = 100;

/// Added to the request timeout for a claim's lease: the attempt and the write of its outcome
/// end well within it, so a lease only lapses when the node holding it died.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);

kassa_kernel::typed_id!(
    /// One claim of due deliveries by one node.
    LeaseId, "whl"
);

/// How deliveries are sent; `server` fills it from `[webhooks]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhooksConfig {
    /// One attempt's deadline: connecting, sending and reading the response.
    pub timeout: Duration,
    /// Most response-body bytes read and kept per attempt.
    pub response_body_max_bytes: usize,
    /// Attempts per schedule; after the last one fails the delivery is `dead`.
    pub max_attempts: u32,
    /// Lets deliveries reach loopback, private, link-local and other internal addresses
    /// (`crate::target`). Off in production; tests and local receivers turn it on.
    pub allow_private_targets: bool,
    pub schedule: RetrySchedule,
    /// Attempts sent at once by one `deliver_due` call.
    pub concurrency: usize,
}

impl Default for WebhooksConfig {
    fn default() -> WebhooksConfig {
        WebhooksConfig {
            timeout: Duration::from_secs(10),
            response_body_max_bytes: 4 * 1024,
            max_attempts: 10,
            allow_private_targets: false,
            schedule: RetrySchedule::default(),
            concurrency: 8,
        }
    }
}

/// A registration, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    pub url: WebhookUrl,
    pub event_types: EventTypes,
    pub description: Description,
}

impl NewEndpoint {
    /// Checks every field and reports every problem at once.
    pub fn parse(
        url: &str,
        event_types: &[String],
        description: Option<&str>,
    ) -> Result<NewEndpoint, WebhookError> {
        let mut issues = Vec::new();
        let url = collect(WebhookUrl::parse(url).map_err(url_issue), &mut issues);
        let event_types = collect(EventTypes::parse(event_types), &mut issues);
        let description = collect(
            Description::parse(description.unwrap_or_default()).map_err(|i| vec![i]),
            &mut issues,
        );
        match (url, event_types, description) {
            (Some(url), Some(event_types), Some(description)) => Ok(NewEndpoint {
                url,
                event_types,
                description,
            }),
            _ => Err(WebhookError::InvalidEndpoint(issues)),
        }
    }
}

/// A change of an endpoint, validated; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPatch {
    pub url: Option<WebhookUrl>,
    pub event_types: Option<EventTypes>,
    pub description: Option<Description>,
    pub enabled: Option<bool>,
}

impl EndpointPatch {
    /// Checks every given field and reports every problem at once.
    pub fn parse(
        url: Option<&str>,
        event_types: Option<&[String]>,
        description: Option<&str>,
        enabled: Option<bool>,
    ) -> Result<EndpointPatch, WebhookError> {
        let mut issues = Vec::new();
        let patch = EndpointPatch {
            url: url.and_then(|u| collect(WebhookUrl::parse(u).map_err(url_issue), &mut issues)),
            event_types: event_types.and_then(|t| collect(EventTypes::parse(t), &mut issues)),
            description: description
                .and_then(|d| collect(Description::parse(d).map_err(|i| vec![i]), &mut issues)),
            enabled,
        };
        if issues.is_empty() {
            Ok(patch)
        } else {
            Err(WebhookError::InvalidEndpoint(issues))
        }
    }
}

fn url_issue(err: crate::model::UrlError) -> Vec<Issue> {
    vec![Issue::new("/url", err.to_string())]
}

fn collect<T>(result: Result<T, Vec<Issue>>, issues: &mut Vec<Issue>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(found) => {
            issues.extend(found);
            None
        }
    }
}

/// How long the secret being replaced keeps signing: 0 to [`ROTATION_OVERLAP_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretRotation {
    overlap: Duration,
}

impl SecretRotation {
    /// `None` is [`ROTATION_OVERLAP_DEFAULT`]; `0` drops the old secret at once.
    pub fn parse(previous_secret_expires_in_secs: Option<u64>) -> Result<Self, WebhookError> {
        let overlap = previous_secret_expires_in_secs
            .map(Duration::from_secs)
            .unwrap_or(ROTATION_OVERLAP_DEFAULT);
        if overlap > ROTATION_OVERLAP_MAX {
            return Err(WebhookError::InvalidRotation {
                secs: overlap.as_secs(),
                max: ROTATION_OVERLAP_MAX.as_secs(),
            });
        }
        Ok(SecretRotation { overlap })
    }

    pub fn overlap(&self) -> Duration {
        self.overlap
    }
}

/// What one [`WebhookService::deliver_due`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliverReport {
    /// Deliveries claimed and attempted.
    pub attempted: usize,
    pub succeeded: usize,
    /// Failed, and due again later.
    pub retrying: usize,
    /// Failed for the last time.
    pub dead: usize,
    /// Claimed but not recorded: the endpoint was deleted meanwhile, or the outcome could not
    /// be written (the lease lapses and the attempt is made again).
    pub lost: usize,
}

/// Outbound webhooks: endpoints, their deliveries and sending them.
#[async_trait]
pub trait WebhookService: Send + Sync {
    /// Registers an endpoint (enabled) with a new signing secret, answered only here and by
    /// [`WebhookService::rotate_secret`]. Refuses an IP-literal host that is not an allowed
    /// target, and a registration past [`ENDPOINTS_MAX`].
    async fn create_endpoint(&self, input: NewEndpoint)
        -> Result<EndpointWithSecret, WebhookError>;

    /// Every endpoint, oldest first.
    async fn endpoints(&self) -> Result<Vec<Endpoint>, WebhookError>;

    async fn endpoint(&self, id: WebhookId) -> Result<Endpoint, WebhookError>;

    /// Changes the given fields. A disabled endpoint gets no new deliveries; its pending ones
    /// wait until it is enabled again.
    async fn update_endpoint(
        &self,
        id: WebhookId,
        patch: EndpointPatch,
    ) -> Result<Endpoint, WebhookError>;

    /// Deletes the endpoint with its deliveries: nothing more is sent to it.
    async fn delete_endpoint(&self, id: WebhookId) -> Result<(), WebhookError>;

    /// Gives the endpoint a new secret; the one it replaces keeps signing (a second `v1`) for
    /// the rotation's overlap.
    async fn rotate_secret(
        &self,
        id: WebhookId,
        rotation: SecretRotation,
    ) -> Result<EndpointWithSecret, WebhookError>;

    /// One page of an endpoint's deliveries, newest first (at most [`DELIVERIES_PAGE_MAX`]).
    async fn deliveries(
        &self,
        endpoint: WebhookId,
        filter: DeliveryFilter,
    ) -> Result<Vec<Delivery>, WebhookError>;

    /// A delivery with its attempts.
    async fn delivery(&self, id: DeliveryId) -> Result<DeliveryDetail, WebhookError>;

    /// Sends the delivery again: pending, due now, with a fresh retry schedule; its attempts
    /// so far stay in its history. If an attempt of it is in flight, that attempt's outcome
    /// overrides the replay.
    async fn replay(&self, id: DeliveryId) -> Result<Delivery, WebhookError>;

    /// Deliveries per status, for `/metrics`.
    async fn delivery_counts(&self) -> Result<DeliveryCounts, WebhookError>;

    /// Claims up to `limit` deliveries due at `now`, sends them (a few at a time), and records
    /// each attempt and its outcome.
    async fn deliver_due(&self, now: Timestamp, limit: u32) -> Result<DeliverReport, WebhookError>;
}

/// The implementation over the district's store.
pub struct Webhooks {
    store: WebhookStore,
    clock: Arc<dyn Clock>,
    config: WebhooksConfig,
    sender: Sender,
    jitter: Arc<dyn Jitter>,
}

impl Webhooks {
    /// Builds the HTTP client (fails only if its TLS configuration cannot be built).
    pub fn new(
        store: WebhookStore,
        clock: Arc<dyn Clock>,
        config: WebhooksConfig,
    ) -> Result<Webhooks, WebhookError> {
        let sender = Sender::new(
            config.timeout,
            config.response_body_max_bytes,
            config.allow_private_targets,
        )
        .map_err(WebhookError::HttpClient)?;
        Ok(Webhooks {
            store,
            clock,
            config,
            sender,
            jitter: Arc::new(DerivedJitter),
        })
    }

    /// Replaces the retry jitter ([`DerivedJitter`] by default).
    pub fn with_jitter(mut self, jitter: Arc<dyn Jitter>) -> Webhooks {
        self.jitter = jitter;
        self
    }

    /// The bus consumer that records deliveries for this service's endpoints.
    pub fn consumer(&self) -> WebhookConsumer {
        WebhookConsumer::new(self.store.clone(), self.clock.clone())
    }

    /// Registration refuses IP literals that deliveries would refuse anyway.
    fn check_target(&self, url: &WebhookUrl) -> Result<(), WebhookError> {
        if self.config.allow_private_targets {
            return Ok(());
        }
        match url.ip_literal() {
            Some(ip) => match crate::target::refusal(ip) {
                Some(reason) => Err(WebhookError::TargetNotAllowed { ip, reason }),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// An endpoint as shown at `now`: a rotated-out secret past its expiry is not mentioned.
    fn shown(&self, mut endpoint: Endpoint) -> Endpoint {
        let now = self.clock.now();
        endpoint.previous_secret_expires_at = endpoint
            .previous_secret_expires_at
            .filter(|until| *until > now);
        endpoint
    }

    fn attempt(&self, now: Timestamp, claimed: Claimed, target: Target, lease_id: &str) -> Job {
        Job {
            sender: self.sender.clone(),
            store: self.store.clone(),
            jitter: self.jitter.clone(),
            schedule: self.config.schedule,
            max_attempts: self.config.max_attempts.max(1),
            lease_id: lease_id.to_owned(),
            now,
            claimed,
            target,
        }
    }
}

#[async_trait]
impl WebhookService for Webhooks {
    async fn create_endpoint(
        &self,
        input: NewEndpoint,
    ) -> Result<EndpointWithSecret, WebhookError> {
        self.check_target(&input.url)?;
        let secret = SigningSecret::generate().map_err(WebhookError::Randomness)?;
        let id = WebhookId::new();
        let row = NewEndpointRow {
            id,
            url: &input.url,
            event_types: &input.event_types,
            description: &input.description,
            secret: &secret,
            now: self.clock.now(),
        };
        if !self.store.insert_endpoint(&row, ENDPOINTS_MAX).await? {
            return Err(WebhookError::TooManyEndpoints { max: ENDPOINTS_MAX });
        }
        let endpoint = self.endpoint(id).await?;
        // The host only: a URL's path or query may carry a token of the receiver's.
        let host = input.url.url().host_str().unwrap_or_default();
        tracing::info!(webhook_id = %id, host, "webhook endpoint registered");
        Ok(EndpointWithSecret { endpoint, secret })
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, WebhookError> {
        let endpoints = self.store.endpoints().await?;
        Ok(endpoints.into_iter().map(|e| self.shown(e)).collect())
    }

    async fn endpoint(&self, id: WebhookId) -> Result<Endpoint, WebhookError> {
        self.store
            .endpoint(id)
            .await?
            .map(|e| self.shown(e))
            .ok_or(WebhookError::EndpointNotFound(id))
    }

    async fn update_endpoint(
        &self,
        id: WebhookId,
        patch: EndpointPatch,
    ) -> Result<Endpoint, WebhookError> {
        if let Some(url) = &patch.url {
            self.check_target(url)?;
        }
        let changes = EndpointChanges {
            url: patch.url.as_ref(),
            event_types: patch.event_types.as_ref(),
            description: patch.description.as_ref(),
            enabled: patch.enabled,
        };
        self.store
            .update_endpoint(id, &changes, self.clock.now())
            .await?
            .map(|e| self.shown(e))
            .ok_or(WebhookError::EndpointNotFound(id))
    }

    async fn delete_endpoint(&self, id: WebhookId) -> Result<(), WebhookError> {
        if !self.store.delete_endpoint(id).await? {
            return Err(WebhookError::EndpointNotFound(id));
        }
        tracing::info!(webhook_id = %id, "webhook endpoint deleted");
        Ok(())
    }

    async fn rotate_secret(
        &self,
        id: WebhookId,
        rotation: SecretRotation,
    ) -> Result<EndpointWithSecret, WebhookError> {
        let secret = SigningSecret::generate().map_err(WebhookError::Randomness)?;
        let now = self.clock.now();
        let overlap_ms = i64::try_from(rotation.overlap().as_millis()).unwrap_or(i64::MAX);
        let endpoint = self
            .store
            .rotate_secret(id, &secret, now.plus_millis(overlap_ms), now)
            .await?
            .map(|e| self.shown(e))
            .ok_or(WebhookError::EndpointNotFound(id))?;
        tracing::info!(webhook_id = %id, overlap_secs = rotation.overlap().as_secs(), "webhook secret rotated");
        Ok(EndpointWithSecret { endpoint, secret })
    }

    async fn deliveries(
        &self,
        endpoint: WebhookId,
        filter: DeliveryFilter,
    ) -> Result<Vec<Delivery>, WebhookError> {
        // Answers 404 for an unknown endpoint rather than an empty page.
        self.endpoint(endpoint).await?;
        let filter = DeliveryFilter {
            limit: filter.limit.clamp(1, DELIVERIES_PAGE_MAX),
            ..filter
        };
        Ok(self.store.deliveries(endpoint, filter).await?)
    }

    async fn delivery(&self, id: DeliveryId) -> Result<DeliveryDetail, WebhookError> {
        self.store
            .delivery(id)
            .await?
            .ok_or(WebhookError::DeliveryNotFound(id))
    }

    async fn replay(&self, id: DeliveryId) -> Result<Delivery, WebhookError> {
        let delivery = self
            .store
            .replay(id, self.clock.now())
            .await?
            .ok_or(WebhookError::DeliveryNotFound(id))?;
        tracing::info!(delivery_id = %id, "webhook delivery replayed");
        Ok(delivery)
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, WebhookError> {
        Ok(self.store.counts().await?)
    }

    async fn deliver_due(&self, now: Timestamp, limit: u32) -> Result<DeliverReport, WebhookError> {
        let mut report = DeliverReport::default();
        if limit == 0 || !self.store.due_exists(now).await? {
            return Ok(report);
        }
        let lease_id = LeaseId::new().to_string();
        let lease = self.config.timeout + LEASE_MARGIN;
        let lease_until = now.plus_millis(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let claimed = self
            .store
            .claim_due(now, &lease_id, lease_until, limit)
            .await?;
        let endpoints: Vec<WebhookId> = claimed
            .iter()
            .map(|c| c.delivery.endpoint_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let targets = self.store.targets(&endpoints).await?;
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut running = JoinSet::new();
        for claimed in claimed {
            let Some(target) = targets.get(&claimed.delivery.endpoint_id).cloned() else {
                // Deleted since the claim; its deliveries went with it.
                report.lost += 1;
                continue;
            };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let job = self.attempt(now, claimed, target, &lease_id);
            running.spawn(async move {
                let outcome = job.run().await;
                drop(slot);
                outcome
            });
        }
        while let Some(joined) = running.join_next().await {
            report.attempted += 1;
            match joined {
                Ok(Some(status)) => match status {
                    DeliveryStatus::Succeeded => report.succeeded += 1,
                    DeliveryStatus::Retrying => report.retrying += 1,
                    DeliveryStatus::Dead => report.dead += 1,
                    DeliveryStatus::Pending => {}
                },
                Ok(None) => report.lost += 1,
                Err(err) => {
                    tracing::error!(error = %err, "a webhook attempt task failed");
                    report.lost += 1;
                }
            }
        }
        Ok(report)
    }
}

/// One claimed delivery's attempt, with everything it needs to run on its own task.
struct Job {
    sender: Sender,
    store: WebhookStore,
    jitter: Arc<dyn Jitter>,
    schedule: RetrySchedule,
    max_attempts: u32,
    lease_id: String,
    now: Timestamp,
    claimed: Claimed,
    target: Target,
}

impl Job {
    /// Sends the attempt and records it; the delivery's new status, or `None` when the outcome
    /// was not recorded.
    async fn run(self) -> Option<DeliveryStatus> {
        let delivery = &self.claimed.delivery;
        let timestamp_secs = self.now.millis().div_euclid(1_000);
        let mut secrets = vec![self.target.secret.expose()];
        if let Some((previous, until)) = &self.target.previous {
            if *until > self.now {
                secrets.push(previous.expose());
            }
        }
        let signature = signature::header_value(timestamp_secs, delivery.body.as_bytes(), &secrets);
        let headers = delivery_headers(
            &delivery.event_id.to_string(),
            &delivery.event_type,
            &delivery.id.to_string(),
            &signature,
        );
        let response = self
            .sender
            .send(&self.target.url, headers, delivery.body.clone())
            .await;
        let record = self.outcome(&response);
        let status = record.status;
        match self
            .store
            .record_attempt(delivery.id, &self.lease_id, &record)
            .await
        {
            Ok(Some(number)) => {
                log_outcome(delivery, number, &record);
                Some(status)
            }
            Ok(None) => {
                tracing::warn!(delivery_id = %delivery.id, "a webhook attempt's lease was lost; its outcome is not recorded");
                None
            }
            Err(err) => {
                tracing::error!(delivery_id = %delivery.id, error = %err, "a webhook attempt could not be recorded; it will be made again");
                None
            }
        }
    }

    /// The delivery's state after this attempt: succeeded on a 2xx; else retrying per the
    /// schedule, or dead after the schedule's last attempt.
    fn outcome(&self, response: &crate::dispatch::Response) -> AttemptRecord {
        let delivery = &self.claimed.delivery;
        let in_schedule = self.claimed.schedule_attempts.saturating_add(1);
        let (status, next_attempt_at) = if response.succeeded() {
            (DeliveryStatus::Succeeded, None)
        } else if in_schedule >= self.max_attempts {
            (DeliveryStatus::Dead, None)
        } else {
            let number = delivery.attempt_count.saturating_add(1);
            let jitter = self
                .jitter
                .permille(delivery.id, number, self.schedule.jitter_permille);
            let delay = self.schedule.delay(in_schedule, jitter);
            let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            (
                DeliveryStatus::Retrying,
                Some(self.now.plus_millis(delay_ms)),
            )
        };
        AttemptRecord {
            attempt: Attempt {
                number: 0,
                attempted_at: self.now,
                duration_ms: response.duration_ms,
                status_code: response.status_code,
                error: response.error.clone(),
                response_body: response.body.clone(),
                response_body_truncated: response.truncated,
            },
            status,
            schedule_attempts: in_schedule,
            next_attempt_at,
        }
    }
}

fn log_outcome(delivery: &Delivery, number: u32, record: &AttemptRecord) {
    let attempt = &record.attempt;
    let status_code = attempt.status_code.map(i64::from).unwrap_or(-1);
    let error = attempt.error.as_deref().unwrap_or("");
    match record.status {
        DeliveryStatus::Succeeded => tracing::debug!(
            delivery_id = %delivery.id, endpoint_id = %delivery.endpoint_id, attempt = number,
            status_code, "webhook delivered"
        ),
        DeliveryStatus::Retrying => tracing::info!(
            delivery_id = %delivery.id, endpoint_id = %delivery.endpoint_id, attempt = number,
            status_code, error,
            next_attempt_at = %record.next_attempt_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            "webhook attempt failed; it will be retried"
        ),
        DeliveryStatus::Dead | DeliveryStatus::Pending => tracing::warn!(
            delivery_id = %delivery.id, endpoint_id = %delivery.endpoint_id, attempt = number,
            status_code, error, "webhook attempt failed for the last time; the delivery is dead"
        ),
    }
}
