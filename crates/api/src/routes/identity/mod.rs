//! Identity routes (docs/API.md, "Accounts and sessions" and "Staff"): customer registration,
//! sessions for customers and staff, the customer's own account, staff management and the
//! audit log.
//!
//! One file per resource: [`customers`], [`sessions`], [`me`], [`staff`] and [`audit`]; wire
//! shapes in [`dto`]. Who may call each route is its extractor ([`crate::auth`]).
//!
//! Identity's errors go through [`identity_problem`] rather than a bare `?`, so a `throttled`
//! answer carries the `Retry-After` the throttle computed instead of the default one second.

pub mod audit;
pub mod customers;
pub mod dto;
pub mod me;
pub mod sessions;
pub mod staff;

use kassa_identity::IdentityError;
use utoipa::OpenApi;

use crate::problem::ApiError;
use crate::route_table::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/customers", customers::register)
        .post("/v1/sessions", sessions::sign_in)
        .post("/v1/sessions/refresh", sessions::refresh)
        .delete("/v1/sessions/current", sessions::sign_out)
        .delete("/v1/sessions", sessions::sign_out_everywhere)
        .get("/v1/me", me::me)
        .put("/v1/me/password", me::change_password)
        .get("/v1/me/cart", me::my_cart)
        .post("/v1/admin/sessions", sessions::staff_sign_in)
        .get("/v1/admin/staff", staff::list_staff)
        .post("/v1/admin/staff", staff::create_staff)
        .patch("/v1/admin/staff/{staff_id}", staff::update_staff)
        .get("/v1/admin/audit", audit::audit_log)
}

/// Identity's part of the OpenAPI document, merged by `openapi::openapi()`.
#[derive(OpenApi)]
#[openapi(
    paths(
        customers::register,
        sessions::sign_in,
        sessions::refresh,
        sessions::sign_out,
        sessions::sign_out_everywhere,
        me::me,
        me::change_password,
        me::my_cart,
        sessions::staff_sign_in,
        staff::list_staff,
        staff::create_staff,
        staff::update_staff,
        audit::audit_log,
    ),
    components(schemas(
        dto::NewCustomerDto,
        dto::AcceptedDto,
        dto::SignInDto,
        dto::StaffSignInDto,
        dto::RefreshDto,
        dto::TokensDto,
        dto::CustomerSessionDto,
        dto::CurrentCustomerDto,
        dto::PasswordChangeDto,
        dto::RoleDto,
        dto::StaffMemberDto,
        dto::StaffList,
        dto::NewStaffDto,
        dto::StaffPatchDto,
        dto::AuditEntryDto,
        dto::AuditList,
    )),
    tags(
        (name = "accounts", description = "Customer accounts and sessions for customers and \
            staff. Access tokens go in `Authorization: Bearer <token>`."),
        (name = "staff", description = "Staff members and the audit log; needs a staff token \
            whose role has the permission."),
    ),
)]
pub struct IdentityApi;

/// Identity's error as a problem; a `throttled` one keeps its own `Retry-After`.
pub fn identity_problem(err: IdentityError) -> ApiError {
    let retry_after_secs = err.retry_after_secs();
    let error = ApiError::from(err);
    match retry_after_secs {
        Some(secs) => error.with_retry_after(u32::try_from(secs).unwrap_or(u32::MAX)),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_problem_carries_the_throttles_wait() {
        let error = identity_problem(IdentityError::Throttled {
            retry_after_secs: 420,
        });
        assert_eq!(error.status().as_u16(), 429);
        assert_eq!(error.retry_after_secs(), Some(420));
        let other = identity_problem(IdentityError::InvalidCredentials);
        assert_eq!(other.retry_after_secs(), None);
    }
}
