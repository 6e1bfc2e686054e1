//! The staff audit log (owner only). Entries are written by the audit middleware
//! ([`crate::audit`]), never by a route.

use axum::extract::State;
use kassa_identity::AuditQuery;
use kassa_kernel::ids::AuditEntryId;

use super::dto::{AuditEntryDto, AuditList};
use super::identity_problem;
use crate::auth::{AuditRead, Staff};
use crate::extract::{Json, Query};
use crate::page::PageQuery;
use crate::problem::{ApiError, FieldError, Problem};
use crate::state::AppState;

/// One page of the audit log, newest first.
#[utoipa::path(
    get, path = "/v1/admin/audit", tag = "staff",
    params(PageQuery),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "One page of entries, newest first.", body = AuditList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the audit read permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a `limit` out of range or a \
            `cursor` this list did not issue.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn audit_log(
    _staff: Staff<AuditRead>,
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let page = query.check(state.config.page_size_max)?;
    let after = page
        .cursor
        .map(|cursor| cursor.parse::<AuditEntryId>())
        .transpose()
        .map_err(|_| {
            ApiError::validation(vec![FieldError {
                pointer: "/cursor".to_owned(),
                message: "cursor is not a next_cursor this list issued".to_owned(),
            }])
        })?;
    let query = AuditQuery {
        after,
        limit: page.limit,
    };
    let page = state
        .identity
        .audit_log(query)
        .await
        .map_err(identity_problem)?;
    Ok(Json(AuditList {
        items: page.items.into_iter().map(AuditEntryDto::from).collect(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}
