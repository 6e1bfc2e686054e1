//! Customer registration.

use axum::extract::State;
use http::StatusCode;
use kassa_identity::{Password, PasswordField};

use super::dto::{AcceptedDto, NewCustomerDto};
use super::identity_problem;
use crate::client::ClientAddr;
use crate::extract::Json;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers a customer. The answer is the same 202 whether the email is new or already
/// registered, so it never tells whether an account exists; the customer then signs in with
/// `POST /v1/sessions`.
#[utoipa::path(
    post, path = "/v1/customers", tag = "accounts",
    request_body = NewCustomerDto,
    responses(
        (status = 202, description = "Accepted; the same for a new and a registered email.",
            body = AcceptedDto),
        (status = 422, description = "`weak_password` (at `/password`) or `validation_failed` \
            (e.g. not an email, at `/email`).",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`throttled`: too many registrations from this address; \
            `Retry-After` says when to try again.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn register(
    State(state): State<AppState>,
    client: ClientAddr,
    Json(body): Json<NewCustomerDto>,
) -> Result<(StatusCode, Json<AcceptedDto>), ApiError> {
    let password = Password::parse(body.password)
        .map_err(|reason| identity_problem(reason.for_field(PasswordField::Password)))?;
    state
        .identity
        .register(body.email, password, &client.info())
        .await
        .map_err(identity_problem)?;
    let accepted = AcceptedDto {
        status: "accepted".to_owned(),
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}
