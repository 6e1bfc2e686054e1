//! Staff members (owner only): list, create, change role, disable.

use axum::extract::State;
use http::StatusCode;
use kassa_identity::{Password, PasswordField};
use kassa_kernel::ids::StaffId;

use super::dto::{NewStaffDto, StaffList, StaffMemberDto, StaffPatchDto};
use super::identity_problem;
use crate::auth::{Staff, StaffManage};
use crate::extract::{Json, Path};
use crate::problem::{ApiError, FieldError, Problem};
use crate::state::AppState;

/// Every staff member, disabled ones included, oldest first.
#[utoipa::path(
    get, path = "/v1/admin/staff", tag = "staff",
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Every staff member, in one page.", body = StaffList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the staff manage permission.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_staff(
    _staff: Staff<StaffManage>,
    State(state): State<AppState>,
) -> Result<Json<StaffList>, ApiError> {
    let members = state
        .identity
        .staff_list()
        .await
        .map_err(identity_problem)?;
    Ok(Json(StaffList {
        items: members.into_iter().map(StaffMemberDto::from).collect(),
        next_cursor: None,
    }))
}

/// Creates a staff member with a role and an initial password.
#[utoipa::path(
    post, path = "/v1/admin/staff", tag = "staff",
    request_body = NewStaffDto,
    security(("staff_token" = [])),
    responses(
        (status = 201, description = "The new staff member.", body = StaffMemberDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the staff manage permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`weak_password` (at `/password`) or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_staff(
    _staff: Staff<StaffManage>,
    State(state): State<AppState>,
    Json(body): Json<NewStaffDto>,
) -> Result<(StatusCode, Json<StaffMemberDto>), ApiError> {
    let password = Password::parse(body.password)
        .map_err(|reason| identity_problem(reason.for_field(PasswordField::Password)))?;
    let member = state
        .identity
        .create_staff(body.email, password, body.role.into())
        .await
        .map_err(identity_problem)?;
    Ok((StatusCode::CREATED, Json(StaffMemberDto::from(member))))
}

/// Changes a member's role and/or disables it. Disabling ends the member's sessions; a change
/// that would leave no active owner is refused.
#[utoipa::path(
    patch, path = "/v1/admin/staff/{staff_id}", tag = "staff",
    params(("staff_id" = String, Path, description = "A `staff_…` id.")),
    request_body = StaffPatchDto,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The member as changed.", body = StaffMemberDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the staff manage permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`staff_not_found`, or `invalid_path_parameter` for a \
            malformed id.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`: it would leave the shop without an \
            active owner.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (also for `\"disabled\": false`).",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn update_staff(
    _staff: Staff<StaffManage>,
    State(state): State<AppState>,
    Path(staff_id): Path<StaffId>,
    Json(body): Json<StaffPatchDto>,
) -> Result<Json<StaffMemberDto>, ApiError> {
    if body.disabled == Some(false) {
        return Err(ApiError::validation(vec![FieldError {
            pointer: "/disabled".to_owned(),
            message: "a disabled staff member cannot be enabled again; only true is accepted"
                .to_owned(),
        }]));
    }
    // Each field is its own service call, as each is its own rule (the last-owner check, the
    // sessions disabling ends); the role goes first, so a request that changes both and fails
    // on the second has still changed only what it asked for.
    let mut member = None;
    if let Some(role) = body.role {
        let changed = state.identity.set_staff_role(staff_id, role.into()).await;
        member = Some(changed.map_err(identity_problem)?);
    }
    if body.disabled == Some(true) {
        let disabled = state.identity.disable_staff(staff_id).await;
        member = Some(disabled.map_err(identity_problem)?);
    }
    let member = match member {
        Some(member) => member,
        None => state
            .identity
            .staff_member(staff_id)
            .await
            .map_err(identity_problem)?,
    };
    Ok(Json(StaffMemberDto::from(member)))
}
