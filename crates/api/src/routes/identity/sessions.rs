//! Sessions: sign-in (customers and staff), refresh, sign-out. Every answer holding tokens
//! carries `Cache-Control: no-store`, so no cache keeps them (RFC 6749 §5.1).

use axum::extract::State;
use http::{header, HeaderName, StatusCode};
use kassa_kernel::ids::CartId;

use super::dto::{CustomerSessionDto, RefreshDto, SignInDto, StaffSignInDto, TokensDto};
use super::identity_problem;
use crate::auth::SignedIn;
use crate::client::ClientAddr;
use crate::extract::Json;
use crate::problem::{ApiError, FieldError, Problem};
use crate::routes::carts::dto::CartDto;
use crate::state::AppState;

/// The header every token answer carries.
type NoStore = [(HeaderName, &'static str); 1];

const NO_STORE: NoStore = [(header::CACHE_CONTROL, "no-store")];

/// Signs a customer in: a new session, and the anonymous cart (if sent) merged into the
/// customer's open cart.
#[utoipa::path(
    post, path = "/v1/sessions", tag = "accounts",
    request_body = SignInDto,
    responses(
        (status = 200, description = "The session's tokens and the customer's open cart.",
            body = CustomerSessionDto),
        (status = 401, description = "`invalid_credentials`: a wrong password or an unknown \
            email (never told apart).",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a malformed email or cart id, or \
            only one of `cart_id` and `cart_token`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`throttled`: too many attempts for this email or from \
            this address; `Retry-After` says when to try again.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientAddr,
    Json(body): Json<SignInDto>,
) -> Result<(NoStore, Json<CustomerSessionDto>), ApiError> {
    let anonymous = anonymous_cart(body.cart_id, body.cart_token)?;
    // Sign-in is the one use case that needs two districts, and this is the one handler where
    // two districts meet: identity starts the session, then the cart district merges the
    // shopper's anonymous cart into the customer's. It stays here, not in either district,
    // because neither may depend on the other. The merge runs after the session is committed:
    // if it fails the client gets the error and signs in again (the merge is safe to repeat,
    // and the unused session expires with its refresh token).
    let (customer, pair) = state
        .identity
        .sign_in_customer(&body.email, &body.password, &client.info())
        .await
        .map_err(identity_problem)?;
    let cart = state.cart.merge_on_sign_in(customer, anonymous).await?;
    let session = CustomerSessionDto {
        tokens: TokensDto::new(pair, &state.config),
        cart: cart.map(CartDto::from),
    };
    Ok((NO_STORE, Json(session)))
}

/// `cart_id` and `cart_token` come together or not at all.
fn anonymous_cart(
    cart_id: Option<CartId>,
    cart_token: Option<String>,
) -> Result<Option<(CartId, String)>, ApiError> {
    match (cart_id, cart_token) {
        (Some(id), Some(token)) => Ok(Some((id, token))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ApiError::validation(vec![FieldError {
            pointer: "/cart_token".to_owned(),
            message: "cart_token is required with cart_id".to_owned(),
        }])),
        (None, Some(_)) => Err(ApiError::validation(vec![FieldError {
            pointer: "/cart_id".to_owned(),
            message: "cart_id is required with cart_token".to_owned(),
        }])),
    }
}

/// Trades a refresh token for a new pair (customers and staff). The refresh token is spent;
/// presenting a spent one again ends the whole session.
#[utoipa::path(
    post, path = "/v1/sessions/refresh", tag = "accounts",
    request_body = RefreshDto,
    responses(
        (status = 200, description = "A new pair.", body = TokensDto),
        (status = 401, description = "`invalid_refresh_token`: unknown, expired, already used \
            (the session is now ended) or its session ended.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshDto>,
) -> Result<(NoStore, Json<TokensDto>), ApiError> {
    let pair = state
        .identity
        .refresh(&body.refresh_token)
        .await
        .map_err(identity_problem)?;
    Ok((NO_STORE, Json(TokensDto::new(pair, &state.config))))
}

/// Ends the session of the access token (sign-out); its tokens stop working at once.
#[utoipa::path(
    delete, path = "/v1/sessions/current", tag = "accounts",
    security(("customer_token" = []), ("staff_token" = [])),
    responses(
        (status = 204, description = "The session has ended."),
        (status = 401, description = "`unauthorized` or `invalid_token`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn sign_out(
    SignedIn(principal): SignedIn,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .sign_out(principal.session())
        .await
        .map_err(identity_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the account, this one included ("sign out everywhere").
#[utoipa::path(
    delete, path = "/v1/sessions", tag = "accounts",
    security(("customer_token" = []), ("staff_token" = [])),
    responses(
        (status = 204, description = "Every session of the account has ended."),
        (status = 401, description = "`unauthorized` or `invalid_token`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn sign_out_everywhere(
    SignedIn(principal): SignedIn,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .sign_out_everywhere(principal.subject())
        .await
        .map_err(identity_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Signs a staff member in. A disabled member is refused like a wrong password.
#[utoipa::path(
    post, path = "/v1/admin/sessions", tag = "staff",
    request_body = StaffSignInDto,
    responses(
        (status = 200, description = "The session's tokens.", body = TokensDto),
        (status = 401, description = "`invalid_credentials`: a wrong password, an unknown \
            email or a disabled member (never told apart).",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a malformed email.",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`throttled`; `Retry-After` says when to try again.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn staff_sign_in(
    State(state): State<AppState>,
    client: ClientAddr,
    Json(body): Json<StaffSignInDto>,
) -> Result<(NoStore, Json<TokensDto>), ApiError> {
    let (_member, pair) = state
        .identity
        .sign_in_staff(&body.email, &body.password, &client.info())
        .await
        .map_err(identity_problem)?;
    Ok((NO_STORE, Json(TokensDto::new(pair, &state.config))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cart_id_and_its_token_come_together_or_not_at_all() {
        let id = CartId::new();
        assert!(matches!(anonymous_cart(None, None), Ok(None)));
        assert!(matches!(
            anonymous_cart(Some(id), Some("t".to_owned())),
            Ok(Some((got, _))) if got == id
        ));
        let pointer = |r: Result<Option<(CartId, String)>, ApiError>| {
            r.err().map(|e| e.field_errors()[0].pointer.clone())
        };
        assert_eq!(
            pointer(anonymous_cart(Some(id), None)).as_deref(),
            Some("/cart_token")
        );
        assert_eq!(
            pointer(anonymous_cart(None, Some("t".to_owned()))).as_deref(),
            Some("/cart_id")
        );
    }
}
