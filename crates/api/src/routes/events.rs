//! The recorded events of a district (staff): what the transactional outboxes of orders,
//! inventory and payments hold, oldest first (docs/API.md, "Events (staff)").
//!
//! Each district keeps its own outbox with its own order, so a page reads one `source`; there
//! is no merged timeline to page through consistently across three databases.

use axum::extract::State;
use kassa_events::{Event, EventId};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::auth::{AuditRead, Staff};
use crate::extract::{Json, Query};
use crate::page::{after_id, after_next_cursor, after_page_limit};
use crate::problem::{ApiError, Problem};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().get("/v1/admin/events", list_events)
}

/// The events' part of the OpenAPI document, merged by `openapi::openapi()`.
#[derive(OpenApi)]
#[openapi(
    paths(list_events),
    components(schemas(EventDto, EventList, EventSource)),
    tags(
        (name = "events (staff)", description = "The events orders, inventory and payments \
            recorded; needs a staff token."),
    ),
)]
pub struct EventsApi;

/// The district whose events to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    Orders,
    Inventory,
    Payments,
    Catalog,
}

/// The query of `GET /v1/admin/events`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Whose events: `orders`, `inventory`, `payments` or `catalog`.
    pub source: EventSource,
    /// An `evt_…` id: only events recorded after it (the previous page's `next_cursor`).
    pub after: Option<String>,
    /// Items per page, 1 to the server's maximum (100 by default); 20 when absent.
    #[param(minimum = 1)]
    pub limit: Option<u32>,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Event)]
pub struct EventDto {
    #[schema(value_type = String, example = "evt_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: EventId,
    /// Past tense, with its district: `order.placed`, `inventory.reserved`, …
    #[serde(rename = "type")]
    #[schema(example = "order.placed")]
    pub event_type: String,
    /// The id of what it is about (an order, a SKU, a payment).
    #[schema(example = "ord_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub aggregate_id: String,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub occurred_at: String,
    /// The event's own fields; each type's shape is stable, changes only add fields.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<Event> for EventDto {
    fn from(event: Event) -> EventDto {
        EventDto {
            id: event.id,
            event_type: event.event_type,
            aggregate_id: event.aggregate_id,
            occurred_at: event.occurred_at.to_rfc3339(),
            data: event.data,
        }
    }
}

/// One page of events, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub items: Vec<EventDto>,
    /// Pass as `after` for the next page; `null` when this page was not full.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The most events one page of each source can hold: the district's own bound, so a full page
/// is recognised as full and given a cursor.
fn source_page_max(source: EventSource) -> u32 {
    match source {
        EventSource::Orders => kassa_orders::service::ORDERS_PAGE_MAX,
        EventSource::Inventory => kassa_inventory::EVENTS_PAGE_MAX,
        EventSource::Payments => kassa_payments::service::EVENTS_LIMIT_MAX,
        EventSource::Catalog => kassa_catalog::EVENTS_PAGE_MAX,
    }
}

/// A district's recorded events, oldest first.
#[utoipa::path(
    get, path = "/v1/admin/events", tag = "events (staff)",
    params(EventQuery),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "One page of events, oldest first.", body = EventList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the audit read permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no or an unknown `source`, an \
            `after` that is not an event id, or a `limit` out of range.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_events(
    _staff: Staff<AuditRead>,
    State(state): State<AppState>,
    Query(query): Query<EventQuery>,
) -> Result<Json<EventList>, ApiError> {
    let limit = after_page_limit(
        query.limit,
        state.config.page_size_max,
        source_page_max(query.source),
    )?;
    let after = after_id::<EventId>(query.after.as_deref(), "an event id")?;
    let events = match query.source {
        EventSource::Orders => state.orders.events(after, limit).await?,
        EventSource::Inventory => state.inventory.events(after, limit).await?,
        EventSource::Payments => state.payments.events(after, limit).await?,
        EventSource::Catalog => state.catalog.events(after, limit).await?,
    };
    let next_cursor = after_next_cursor(&events, limit, |item| item.id.to_string());
    Ok(Json(EventList {
        items: events.into_iter().map(EventDto::from).collect(),
        next_cursor,
    }))
}
