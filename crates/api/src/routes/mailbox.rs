//! The dev mailbox (staff): every email kassa queued for a shopper — order confirmed, shipped,
//! cancelled, refunded — with its rendered bodies and delivery state, newest first (docs/API.md,
//! "Mailbox (staff)"). With the default `mailbox` transport this is where the mail goes; with
//! SMTP it is the record of what was sent.

use axum::extract::State;
use kassa_notify::{Message, MessageId, MAIL_MESSAGE_NOT_FOUND};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::auth::{OrdersRead, Staff};
use crate::extract::{Json, Path, Query};
use crate::page::{after_id, after_next_cursor, after_page_limit};
use crate::problem::{ApiError, Problem};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/admin/mailbox", list_mail)
        .get("/v1/admin/mailbox/{message_id}", get_mail)
}

/// The mailbox's part of the OpenAPI document, merged by `openapi::openapi()`.
#[derive(OpenApi)]
#[openapi(
    paths(list_mail, get_mail),
    components(schemas(MailDto, MailList)),
    tags(
        (name = "mailbox (staff)", description = "The emails kassa sent or will send shoppers; \
            needs a staff token with orders read."),
    ),
)]
pub struct MailboxApi;

/// The query of `GET /v1/admin/mailbox`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MailQuery {
    /// A `msg_…` id: only messages older than it (the previous page's `next_cursor`).
    pub after: Option<String>,
    /// Items per page, 1 to the server's maximum (100 by default); 20 when absent.
    #[param(minimum = 1)]
    pub limit: Option<u32>,
}

/// One email.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = MailMessage)]
pub struct MailDto {
    #[schema(value_type = String, example = "msg_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: MessageId,
    /// `order_confirmed`, `order_shipped`, `order_cancelled` or `order_refunded`.
    #[schema(example = "order_confirmed")]
    pub kind: String,
    #[schema(example = "ord_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub order_id: String,
    /// The `order.*` event it was made from.
    pub event_id: String,
    #[schema(example = "shopper@example.com")]
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// `queued`, `sent` or `failed`.
    #[schema(example = "sent")]
    pub status: String,
    /// `mailbox` or `smtp` once sent.
    pub transport: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

impl From<Message> for MailDto {
    fn from(m: Message) -> MailDto {
        MailDto {
            id: m.id,
            kind: m.kind.as_str().to_owned(),
            order_id: m.order_id.to_string(),
            event_id: m.event_id.to_string(),
            to: m.to.as_str().to_owned(),
            subject: m.subject,
            text_body: m.text_body,
            html_body: m.html_body,
            status: m.status.as_str().to_owned(),
            transport: m.transport,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: m.created_at.to_rfc3339(),
            sent_at: m.sent_at.map(|at| at.to_rfc3339()),
        }
    }
}

/// One page of the mailbox, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MailList {
    pub items: Vec<MailDto>,
    /// Pass as `after` for the next (older) page; `null` when this page was not full.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The mailbox, newest first.
#[utoipa::path(
    get, path = "/v1/admin/mailbox", tag = "mailbox (staff)",
    params(MailQuery),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "One page of messages, newest first.", body = MailList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the orders read permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an `after` that is not a message id, \
            or a `limit` out of range.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_mail(
    _staff: Staff<OrdersRead>,
    State(state): State<AppState>,
    Query(query): Query<MailQuery>,
) -> Result<Json<MailList>, ApiError> {
    let limit = after_page_limit(
        query.limit,
        state.config.page_size_max,
        kassa_notify::MAILBOX_PAGE_MAX,
    )?;
    let after = after_id::<MessageId>(query.after.as_deref(), "a message id")?;
    let messages = state.notifications.mailbox(after, limit).await?;
    let next_cursor = after_next_cursor(&messages, limit, |item| item.id.to_string());
    Ok(Json(MailList {
        items: messages.into_iter().map(MailDto::from).collect(),
        next_cursor,
    }))
}

/// One message with its bodies.
#[utoipa::path(
    get, path = "/v1/admin/mailbox/{message_id}", tag = "mailbox (staff)",
    params(("message_id" = String, Path, description = "A `msg_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The message.", body = MailDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the orders read permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`mail_message_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_mail(
    _staff: Staff<OrdersRead>,
    State(state): State<AppState>,
    Path(message_id): Path<MessageId>,
) -> Result<Json<MailDto>, ApiError> {
    match state.notifications.message(message_id).await? {
        Some(message) => Ok(Json(message.into())),
        None => Err(ApiError::new(
            &MAIL_MESSAGE_NOT_FOUND,
            format!("There is no message {message_id}."),
        )),
    }
}
