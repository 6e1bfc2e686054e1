//! Authentication extractors. For now only [`Staff`], guarding `/v1/admin/*` with one shared
//! bearer token from configuration; real staff accounts with roles replace it later (the
//! identity district), keeping the extractor's name so admin handlers do not change.

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use http::{header, HeaderMap};

use crate::problem::{ApiError, UNAUTHORIZED};
use crate::state::AppState;

/// Proof that the request came from staff. Take it as a handler argument on every admin route:
/// `async fn list_orders(_staff: Staff, ...)`. Refusals are 401 `unauthorized` with
/// `WWW-Authenticate: Bearer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staff;

impl<S> FromRequestParts<S> for Staff
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let refused = || ApiError::new(&UNAUTHORIZED, "A valid staff bearer token is required.");
        // No token configured: admin access is off, whatever the caller sends.
        let expected = state.config.admin_token.as_deref().ok_or_else(refused)?;
        let presented = bearer_token(&parts.headers).ok_or_else(refused)?;
        if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            Ok(Staff)
        } else {
            Err(refused())
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Equality whose time depends only on the lengths, not on where the first difference is, so
/// response timing does not reveal a token prefix. The length itself may leak; a token of
/// enough random bytes does not care.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ApiConfig;
    use http::{HeaderValue, Request, StatusCode};

    fn state(token: Option<&str>) -> AppState {
        let config = ApiConfig {
            admin_token: token.map(str::to_owned),
            ..ApiConfig::default()
        };
        crate::fakes::plain_state(config)
    }

    async fn extract(
        state: &AppState,
        authorization: Option<&'static str>,
    ) -> Result<Staff, ApiError> {
        let mut request = Request::builder();
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, HeaderValue::from_static(value));
        }
        let (mut parts, ()) = request
            .body(())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_parts();
        Staff::from_request_parts(&mut parts, state).await
    }

    #[tokio::test]
    async fn the_configured_token_is_accepted_in_any_scheme_case() {
        let state = state(Some("t0ken"));
        assert_eq!(
            extract(&state, Some("Bearer t0ken")).await.ok(),
            Some(Staff)
        );
        assert_eq!(
            extract(&state, Some("bearer t0ken")).await.ok(),
            Some(Staff)
        );
    }

    #[tokio::test]
    async fn a_missing_wrong_or_differently_sized_token_is_refused_with_401() {
        let state = state(Some("t0ken"));
        for header in [
            None,
            Some("Bearer t0kem"),
            Some("Bearer t0ke"),
            Some("Basic t0ken"),
            Some("Bearer "),
        ] {
            let error = extract(&state, header).await.err();
            assert_eq!(
                error.map(|e| e.status()),
                Some(StatusCode::UNAUTHORIZED),
                "{header:?}"
            );
        }
    }

    #[tokio::test]
    async fn without_a_configured_token_every_admin_request_is_refused() {
        let state = state(None);
        assert!(extract(&state, Some("Bearer anything")).await.is_err());
        assert!(extract(&state, Some("Bearer ")).await.is_err());
    }

    #[test]
    fn constant_time_eq_compares_whole_byte_strings() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
