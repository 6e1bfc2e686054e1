//! Outbound webhooks (staff): endpoints that receive kassa's events as signed POSTs, their
//! signing secrets, and the deliveries made to them (docs/API.md, "Webhooks (staff)").
//!
//! Every route needs the settings write permission: endpoints reveal event payloads, and two of
//! the answers carry a signing secret (registering and rotating, each with `Cache-Control:
//! no-store`; no other answer ever shows one). The rules (which URLs and event types are
//! accepted, the retry schedule, which targets are refused) are the webhooks district's.

use axum::extract::State;
use http::{header, HeaderName, StatusCode};
use kassa_events::EventId;
use kassa_webhooks::{
    Attempt, Delivery, DeliveryDetail, DeliveryFilter, DeliveryId, DeliveryStatus, Endpoint,
    EndpointPatch, EndpointWithSecret, NewEndpoint, SecretRotation, WebhookId, DELIVERIES_PAGE_MAX,
};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::auth::{SettingsWrite, Staff};
use crate::extract::{Json, Path, Query};
use crate::page::{after_id, after_next_cursor, after_page_limit};
use crate::problem::{ApiError, Problem};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/admin/webhooks", create_webhook)
        .get("/v1/admin/webhooks", list_webhooks)
        .get("/v1/admin/webhooks/{webhook_id}", get_webhook)
        .patch("/v1/admin/webhooks/{webhook_id}", update_webhook)
        .delete("/v1/admin/webhooks/{webhook_id}", delete_webhook)
        .post(
            "/v1/admin/webhooks/{webhook_id}/rotate-secret",
            rotate_webhook_secret,
        )
        .get(
            "/v1/admin/webhooks/{webhook_id}/deliveries",
            list_webhook_deliveries,
        )
        .get(
            "/v1/admin/webhook-deliveries/{delivery_id}",
            get_webhook_delivery,
        )
        .post(
            "/v1/admin/webhook-deliveries/{delivery_id}/replay",
            replay_webhook_delivery,
        )
}

/// The webhooks' part of the OpenAPI document, merged by `openapi::openapi()`.
#[derive(OpenApi)]
#[openapi(
    paths(
        create_webhook,
        list_webhooks,
        get_webhook,
        update_webhook,
        delete_webhook,
        rotate_webhook_secret,
        list_webhook_deliveries,
        get_webhook_delivery,
        replay_webhook_delivery,
    ),
    components(schemas(
        NewWebhookDto,
        WebhookPatchDto,
        SecretRotationDto,
        WebhookDto,
        WebhookWithSecretDto,
        WebhookList,
        DeliveryStatusDto,
        DeliveryDto,
        AttemptDto,
        DeliveryDetailDto,
        DeliveryList,
    )),
    tags(
        (name = "webhooks (staff)", description = "Endpoints that receive kassa's events as \
            signed HTTP POSTs, and their deliveries; needs a staff token with the settings \
            write permission."),
    ),
)]
pub struct WebhooksApi;

/// The answer header of the two routes that show a secret: no cache may keep it.
type NoStore = [(HeaderName, &'static str); 1];
const NO_STORE: NoStore = [(header::CACHE_CONTROL, "no-store")];

/// A new endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewWebhook)]
pub struct NewWebhookDto {
    /// Where deliveries are POSTed: absolute `http`/`https`, at most 2048 bytes, no user name
    /// or password.
    #[schema(example = "https://erp.example.com/kassa-events")]
    pub url: String,
    /// Known event types (`order.placed`), a district's (`order.*`) or every one (`*`);
    /// 1 to 50 entries.
    #[schema(example = json!(["order.placed", "payment.*"]))]
    pub event_types: Vec<String>,
    /// A note for staff, at most 500 characters.
    #[serde(default)]
    pub description: Option<String>,
}

/// A change of an endpoint; absent fields stay.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookPatch)]
pub struct WebhookPatchDto {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// `false`: no new deliveries, and pending ones wait; `true` resumes.
    pub enabled: Option<bool>,
}

/// How a secret rotation treats the secret it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SecretRotation)]
pub struct SecretRotationDto {
    /// How long the old secret keeps signing (a second `v1`): 0 to 604800 (7 days); 86400
    /// when absent; 0 drops it at once.
    #[schema(maximum = 604_800)]
    pub previous_secret_expires_in_secs: Option<u64>,
}

/// A registered endpoint (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookDto {
    #[schema(value_type = String, example = "wh_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: WebhookId,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    /// Until when the secret rotated out last still signs; null when none does.
    #[schema(required = true)]
    pub previous_secret_expires_at: Option<String>,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub created_at: String,
    pub updated_at: String,
}

impl From<Endpoint> for WebhookDto {
    fn from(endpoint: Endpoint) -> WebhookDto {
        WebhookDto {
            id: endpoint.id,
            url: endpoint.url.as_str().to_owned(),
            event_types: endpoint.event_types.to_strings(),
            description: endpoint.description.as_str().to_owned(),
            enabled: endpoint.enabled,
            previous_secret_expires_at: endpoint.previous_secret_expires_at.map(|t| t.to_rfc3339()),
            created_at: endpoint.created_at.to_rfc3339(),
            updated_at: endpoint.updated_at.to_rfc3339(),
        }
    }
}

/// An endpoint with its current signing secret: the answer to registering and rotating only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookWithSecret)]
pub struct WebhookWithSecretDto {
    pub webhook: WebhookDto,
    /// `whsec_` and 64 hex digits. The HMAC key is this whole string; store it now, it is not
    /// shown again.
    #[schema(example = "whsec_5f0c…")]
    pub secret: String,
}

impl From<EndpointWithSecret> for WebhookWithSecretDto {
    fn from(created: EndpointWithSecret) -> WebhookWithSecretDto {
        WebhookWithSecretDto {
            secret: created.secret.expose().to_owned(),
            webhook: WebhookDto::from(created.endpoint),
        }
    }
}

/// Every endpoint, oldest first (one page: at most 50 exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookDto>,
    /// Always null: every endpoint is on the one page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = WebhookDeliveryStatus)]
pub enum DeliveryStatusDto {
    /// Due, not attempted since it was recorded or replayed.
    Pending,
    /// Failed; due again at `next_attempt_at`.
    Retrying,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Every attempt of its schedule failed; a replay sends it again.
    Dead,
}

impl From<DeliveryStatus> for DeliveryStatusDto {
    fn from(status: DeliveryStatus) -> DeliveryStatusDto {
        match status {
            DeliveryStatus::Pending => DeliveryStatusDto::Pending,
            DeliveryStatus::Retrying => DeliveryStatusDto::Retrying,
            DeliveryStatus::Succeeded => DeliveryStatusDto::Succeeded,
            DeliveryStatus::Dead => DeliveryStatusDto::Dead,
        }
    }
}

impl From<DeliveryStatusDto> for DeliveryStatus {
    fn from(status: DeliveryStatusDto) -> DeliveryStatus {
        match status {
            DeliveryStatusDto::Pending => DeliveryStatus::Pending,
            DeliveryStatusDto::Retrying => DeliveryStatus::Retrying,
            DeliveryStatusDto::Succeeded => DeliveryStatus::Succeeded,
            DeliveryStatusDto::Dead => DeliveryStatus::Dead,
        }
    }
}

/// One event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryDto {
    #[schema(value_type = String, example = "whd_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: DeliveryId,
    #[schema(value_type = String)]
    pub webhook_id: WebhookId,
    #[schema(value_type = String, example = "evt_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub event_id: EventId,
    #[schema(example = "order.placed")]
    pub event_type: String,
    pub status: DeliveryStatusDto,
    /// Attempts made so far, replays included.
    pub attempt_count: u32,
    /// When it is due; null once succeeded or dead.
    #[schema(required = true)]
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The exact JSON text POSTed and signed on every attempt.
    pub body: String,
}

impl From<Delivery> for DeliveryDto {
    fn from(delivery: Delivery) -> DeliveryDto {
        DeliveryDto {
            id: delivery.id,
            webhook_id: delivery.endpoint_id,
            event_id: delivery.event_id,
            event_type: delivery.event_type,
            status: delivery.status.into(),
            attempt_count: delivery.attempt_count,
            next_attempt_at: delivery.next_attempt_at.map(|t| t.to_rfc3339()),
            created_at: delivery.created_at.to_rfc3339(),
            updated_at: delivery.updated_at.to_rfc3339(),
            body: delivery.body,
        }
    }
}

/// One HTTP attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookAttempt)]
pub struct AttemptDto {
    /// From 1, counting on across replays.
    pub number: u32,
    pub at: String,
    pub duration_ms: u64,
    /// The response's status; null when none came (refused target, connection error,
    /// timeout).
    #[schema(required = true)]
    pub status_code: Option<u16>,
    /// Why no response came, or why its body could not be read; null otherwise.
    #[schema(required = true)]
    pub error: Option<String>,
    /// The start of the response body (`webhooks.response_body_max_bytes`, 4 KiB by default).
    pub response_body: String,
    pub response_body_truncated: bool,
}

impl From<Attempt> for AttemptDto {
    fn from(attempt: Attempt) -> AttemptDto {
        AttemptDto {
            number: attempt.number,
            at: attempt.attempted_at.to_rfc3339(),
            duration_ms: attempt.duration_ms,
            status_code: attempt.status_code,
            error: attempt.error,
            response_body: attempt.response_body,
            response_body_truncated: attempt.response_body_truncated,
        }
    }
}

/// A delivery with its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDeliveryDetail)]
pub struct DeliveryDetailDto {
    pub delivery: DeliveryDto,
    pub attempts: Vec<AttemptDto>,
}

impl From<DeliveryDetail> for DeliveryDetailDto {
    fn from(detail: DeliveryDetail) -> DeliveryDetailDto {
        DeliveryDetailDto {
            delivery: DeliveryDto::from(detail.delivery),
            attempts: detail.attempts.into_iter().map(AttemptDto::from).collect(),
        }
    }
}

/// One page of an endpoint's deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDeliveryList)]
pub struct DeliveryList {
    pub items: Vec<DeliveryDto>,
    /// Pass as `after` for the next (older) page; null when this page was not full.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The query of `GET /v1/admin/webhooks/{webhook_id}/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this status.
    pub status: Option<DeliveryStatusDto>,
    /// A `whd_…` id, the previous page's `next_cursor`: only deliveries older than it.
    pub after: Option<String>,
    /// Items per page, 1 to the server's maximum (100 by default); 20 when absent.
    #[param(minimum = 1)]
    pub limit: Option<u32>,
}

/// Registers an endpoint, enabled, with a new signing secret.
#[utoipa::path(
    post, path = "/v1/admin/webhooks", tag = "webhooks (staff)",
    security(("staff_token" = [])),
    request_body = NewWebhookDto,
    responses(
        (status = 201, description = "The endpoint and its signing secret, shown only here \
            and on rotation.", body = WebhookWithSecretDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_webhook_endpoint` (see `errors`), \
            `webhook_target_not_allowed`, `too_many_webhooks` or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_webhook(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Json(body): Json<NewWebhookDto>,
) -> Result<(StatusCode, NoStore, Json<WebhookWithSecretDto>), ApiError> {
    let input = NewEndpoint::parse(&body.url, &body.event_types, body.description.as_deref())?;
    let created = state.webhooks.create_endpoint(input).await?;
    Ok((StatusCode::CREATED, NO_STORE, Json(created.into())))
}

/// Every endpoint, oldest first.
#[utoipa::path(
    get, path = "/v1/admin/webhooks", tag = "webhooks (staff)",
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Every endpoint.", body = WebhookList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_webhooks(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
) -> Result<Json<WebhookList>, ApiError> {
    let endpoints = state.webhooks.endpoints().await?;
    Ok(Json(WebhookList {
        items: endpoints.into_iter().map(WebhookDto::from).collect(),
        next_cursor: None,
    }))
}

/// One endpoint.
#[utoipa::path(
    get, path = "/v1/admin/webhooks/{webhook_id}", tag = "webhooks (staff)",
    params(("webhook_id" = String, Path, description = "A `wh_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The endpoint.", body = WebhookDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_webhook(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Path(webhook_id): Path<WebhookId>,
) -> Result<Json<WebhookDto>, ApiError> {
    Ok(Json(state.webhooks.endpoint(webhook_id).await?.into()))
}

/// Changes an endpoint's url, event types, description or whether it is enabled.
#[utoipa::path(
    patch, path = "/v1/admin/webhooks/{webhook_id}", tag = "webhooks (staff)",
    params(("webhook_id" = String, Path, description = "A `wh_…` id.")),
    security(("staff_token" = [])),
    request_body = WebhookPatchDto,
    responses(
        (status = 200, description = "The endpoint as changed.", body = WebhookDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_webhook_endpoint`, `webhook_target_not_allowed` \
            or `validation_failed`; nothing changed.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn update_webhook(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Path(webhook_id): Path<WebhookId>,
    Json(body): Json<WebhookPatchDto>,
) -> Result<Json<WebhookDto>, ApiError> {
    let patch = EndpointPatch::parse(
        body.url.as_deref(),
        body.event_types.as_deref(),
        body.description.as_deref(),
        body.enabled,
    )?;
    Ok(Json(
        state
            .webhooks
            .update_endpoint(webhook_id, patch)
            .await?
            .into(),
    ))
}

/// Deletes an endpoint with its deliveries: nothing more is sent to it.
#[utoipa::path(
    delete, path = "/v1/admin/webhooks/{webhook_id}", tag = "webhooks (staff)",
    params(("webhook_id" = String, Path, description = "A `wh_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete_webhook(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Path(webhook_id): Path<WebhookId>,
) -> Result<StatusCode, ApiError> {
    state.webhooks.delete_endpoint(webhook_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives an endpoint a new signing secret; the old one keeps signing for a while.
#[utoipa::path(
    post, path = "/v1/admin/webhooks/{webhook_id}/rotate-secret", tag = "webhooks (staff)",
    params(("webhook_id" = String, Path, description = "A `wh_…` id.")),
    security(("staff_token" = [])),
    request_body = SecretRotationDto,
    responses(
        (status = 200, description = "The endpoint and its new secret.",
            body = WebhookWithSecretDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_secret_rotation` (over 7 days) or \
            `validation_failed`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn rotate_webhook_secret(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Path(webhook_id): Path<WebhookId>,
    Json(body): Json<SecretRotationDto>,
) -> Result<(NoStore, Json<WebhookWithSecretDto>), ApiError> {
    let rotation = SecretRotation::parse(body.previous_secret_expires_in_secs)?;
    let rotated = state.webhooks.rotate_secret(webhook_id, rotation).await?;
    Ok((NO_STORE, Json(rotated.into())))
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(
    get, path = "/v1/admin/webhooks/{webhook_id}/deliveries", tag = "webhooks (staff)",
    params(
        ("webhook_id" = String, Path, description = "A `wh_…` id."),
        DeliveryQuery,
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "One page of deliveries, newest first.",
            body = DeliveryList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an unknown `status`, an `after` that \
            is not a delivery id, or a `limit` out of range.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_webhook_deliveries(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Path(webhook_id): Path<WebhookId>,
    Query(query): Query<DeliveryQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let limit = after_page_limit(query.limit, state.config.page_size_max, DELIVERIES_PAGE_MAX)?;
    let after = after_id::<DeliveryId>(query.after.as_deref(), "a delivery id")?;
    let filter = DeliveryFilter {
        status: query.status.map(DeliveryStatus::from),
        after,
        limit,
    };
    let deliveries = state.webhooks.deliveries(webhook_id, filter).await?;
    let next_cursor = after_next_cursor(&deliveries, limit, |item| item.id.to_string());
    Ok(Json(DeliveryList {
        items: deliveries.into_iter().map(DeliveryDto::from).collect(),
        next_cursor,
    }))
}

/// One delivery with its attempts.
#[utoipa::path(
    get, path = "/v1/admin/webhook-deliveries/{delivery_id}", tag = "webhooks (staff)",
    params(("delivery_id" = String, Path, description = "A `whd_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The delivery and its attempts, oldest first.",
            body = DeliveryDetailDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_delivery_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_webhook_delivery(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Path(delivery_id): Path<DeliveryId>,
) -> Result<Json<DeliveryDetailDto>, ApiError> {
    Ok(Json(state.webhooks.delivery(delivery_id).await?.into()))
}

/// Sends a delivery again (typically a dead one): pending, due now, with a fresh retry
/// schedule; its attempts so far stay in its history.
#[utoipa::path(
    post, path = "/v1/admin/webhook-deliveries/{delivery_id}/replay", tag = "webhooks (staff)",
    params(("delivery_id" = String, Path, description = "A `whd_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 202, description = "The delivery, pending; the dispatcher sends it shortly.",
            body = DeliveryDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_delivery_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn replay_webhook_delivery(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Path(delivery_id): Path<DeliveryId>,
) -> Result<(StatusCode, Json<DeliveryDto>), ApiError> {
    let delivery = state.webhooks.replay(delivery_id).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery.into())))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Method, Request};
    use http_body_util::BodyExt;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use crate::fakes::{self, OWNER_TOKEN, SUPPORT_TOKEN};
    use crate::state::ApiConfig;

    /// Sends one request through the whole application over the fakes; (status, cache
    /// control, JSON body).
    async fn call(
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Option<String>, Value) {
        let (router, _) = crate::build(fakes::plain_state(ApiConfig::default()));
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = router
            .oneshot(request.body(body).unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|e| match e {});
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, cache, json)
    }

    #[tokio::test]
    async fn registering_answers_201_with_the_secret_once_and_never_for_a_cache() {
        let body = json!({"url": "https://erp.example/hooks", "event_types": ["order.*"]});
        let (status, cache, json) =
            call(Method::POST, "/v1/admin/webhooks", OWNER_TOKEN, Some(body)).await;
        assert_eq!(status, 201, "{json}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert_eq!(json["webhook"]["url"], "https://erp.example/hooks");
        assert_eq!(json["webhook"]["event_types"], json!(["order.*"]));
        assert_eq!(json["webhook"]["enabled"], true);
        assert!(json["webhook"].get("secret").is_none());
        assert!(json["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_") && s.len() == 70));
    }

    #[tokio::test]
    async fn an_invalid_registration_is_422_with_a_pointer_per_bad_field() {
        let body = json!({"url": "ftp://erp.example", "event_types": ["order.placed", "nope"]});
        let (status, _, json) =
            call(Method::POST, "/v1/admin/webhooks", OWNER_TOKEN, Some(body)).await;
        assert_eq!(status, 422, "{json}");
        assert_eq!(json["code"], "invalid_webhook_endpoint");
        let pointers: Vec<&str> = json["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["pointer"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(pointers, ["/url", "/event_types/1"]);
    }

    #[tokio::test]
    async fn support_is_forbidden_and_unknown_ids_or_bad_pages_are_refused() {
        let (status, _, json) = call(Method::GET, "/v1/admin/webhooks", SUPPORT_TOKEN, None).await;
        assert_eq!((status, json["code"].as_str()), (403, Some("forbidden")));
        let id = kassa_webhooks::WebhookId::new();
        let path = format!("/v1/admin/webhooks/{id}/deliveries");
        let (status, _, json) = call(Method::GET, &path, OWNER_TOKEN, None).await;
        assert_eq!(
            (status, json["code"].as_str()),
            (404, Some("webhook_not_found"))
        );
        let (status, _, json) =
            call(Method::GET, &format!("{path}?limit=0"), OWNER_TOKEN, None).await;
        assert_eq!(status, 422, "{json}");
        assert_eq!(json["errors"][0]["pointer"], "/limit");
        let (status, _, json) = call(
            Method::GET,
            &format!("{path}?status=lost"),
            OWNER_TOKEN,
            None,
        )
        .await;
        assert_eq!(
            (status, json["code"].as_str()),
            (422, Some("validation_failed"))
        );
        let (status, _, json) = call(
            Method::POST,
            "/v1/admin/webhook-deliveries/whd_nope/replay",
            OWNER_TOKEN,
            None,
        )
        .await;
        assert_eq!(
            (status, json["code"].as_str()),
            (404, Some("invalid_path_parameter"))
        );
    }
}
