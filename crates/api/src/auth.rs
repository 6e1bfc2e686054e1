//! Authentication extractors, built on [`IdentityService::authenticate`]: a handler states who
//! may call it by the extractor it takes, so the access rule of every route is in its signature.
//!
//! | extractor          | accepts                                  | refuses                          |
//! |--------------------|------------------------------------------|----------------------------------|
//! | [`Customer`]       | a customer's access token                | everything else                  |
//! | [`MaybeCustomer`]  | no `Authorization` header, or a customer | a header that is not a customer  |
//! | [`SignedIn`]       | any live session's token                 | everything else                  |
//! | [`Staff<P>`]       | a staff token whose role allows `P`      | everything else                  |
//!
//! Refusals: no `Authorization` header is 401 `unauthorized`; a header that is not a bearer
//! token, a token that fails [`IdentityService::authenticate`] (bad signature, expired, ended
//! session, disabled staff member) and a token of the other kind (a staff token on a customer
//! route and the reverse) are 401 `invalid_token`; a staff member whose role lacks the
//! permission is 403 `forbidden`. Every 401 carries `WWW-Authenticate: Bearer`. Never a silent
//! fallback: a bad bearer token on a route that also takes a `Cart-Token` is a 401.
//!
//! The permission of an admin route is a marker type ([`CatalogRead`], [`CatalogWrite`],
//! [`SettingsWrite`], [`StaffManage`], [`AuditRead`], [`OrdersRead`], [`OrdersWrite`],
//! [`StockWrite`], [`RefundsIssue`]), so `_staff: Staff<CatalogWrite>` in a
//! handler's arguments is the route's row of the permission matrix in docs/API.md. The policy
//! itself (which role has which permission) is identity's [`kassa_identity::permissions`].
//!
//! [`Staff<P>`] also tells the audit layer who acted ([`crate::audit`]), so recording staff
//! changes needs no code in handlers.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use http::{header, HeaderMap};
use kassa_identity::error::INVALID_TOKEN;
use kassa_identity::{permissions, IdentityError, Permission, Principal, Role};
use kassa_kernel::ids::{CustomerId, SessionId, StaffId};

use crate::audit::AuditActor;
use crate::problem::{ApiError, UNAUTHORIZED};
use crate::state::AppState;

/// A signed-in customer. Take it on routes only customers may call (`GET /v1/me`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub session: SessionId,
}

/// A signed-in customer, or nobody: `None` only when the request has no `Authorization` header
/// at all. A header that does not authenticate a customer is refused with 401, never read as
/// "nobody", so a shopper whose session ended learns it instead of silently losing their cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaybeCustomer(pub Option<Customer>);

/// Any live session, customer or staff: for the routes that end sessions or change one's own
/// password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedIn(pub Principal);

/// A permission an admin route requires, as a type, so it shows in the handler's signature.
pub trait RequiredPermission: Send + Sync + 'static {
    const PERMISSION: Permission;
}

/// Read products, variants, categories, shipping options and tax rates (every role).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogRead;

/// Create and change products, variants, prices and categories (owner, manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogWrite;

/// Change shop settings: shipping options and tax rates (owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingsWrite;

/// List, create, change and disable staff members (owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffManage;

/// Read the staff audit log (owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRead;

/// Read orders, their payments and refunds (every role).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrdersRead;

/// Fulfil, capture, cancel and deliver orders (owner, manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrdersWrite;

/// Set and adjust stock, add inventory locations (owner, manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockWrite;

/// Refund orders (every role; support only up to `ApiConfig::refund_cap`, which the refund
/// route checks after this permission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundsIssue;

impl RequiredPermission for OrdersRead {
    const PERMISSION: Permission = Permission::OrdersRead;
}

impl RequiredPermission for OrdersWrite {
    const PERMISSION: Permission = Permission::OrdersWrite;
}

impl RequiredPermission for StockWrite {
    const PERMISSION: Permission = Permission::StockWrite;
}

impl RequiredPermission for RefundsIssue {
    const PERMISSION: Permission = Permission::RefundsIssue;
}

impl RequiredPermission for CatalogRead {
    const PERMISSION: Permission = Permission::CatalogRead;
}

impl RequiredPermission for CatalogWrite {
    const PERMISSION: Permission = Permission::CatalogWrite;
}

impl RequiredPermission for SettingsWrite {
    const PERMISSION: Permission = Permission::SettingsWrite;
}

impl RequiredPermission for StaffManage {
    const PERMISSION: Permission = Permission::StaffManage;
}

impl RequiredPermission for AuditRead {
    const PERMISSION: Permission = Permission::AuditRead;
}

/// A staff member whose current role allows `P` (read from the session in the store at every
/// request, so a role change or disabling takes effect on the next request). Take it as
/// `_staff: Staff<CatalogWrite>` on every `/v1/admin` route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staff<P: RequiredPermission> {
    pub id: StaffId,
    pub role: Role,
    pub session: SessionId,
    /// `fn() -> P` keeps the extractor `Send + Sync` whatever the marker.
    permission: PhantomData<fn() -> P>,
}

impl<S> FromRequestParts<S> for Customer
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match authenticate(parts, &AppState::from_ref(state)).await? {
            None => Err(missing_token()),
            Some(principal) => customer_of(principal),
        }
    }
}

impl<S> FromRequestParts<S> for MaybeCustomer
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match authenticate(parts, &AppState::from_ref(state)).await? {
            None => Ok(MaybeCustomer(None)),
            Some(principal) => customer_of(principal).map(|c| MaybeCustomer(Some(c))),
        }
    }
}

impl<S> FromRequestParts<S> for SignedIn
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        authenticate(parts, &AppState::from_ref(state))
            .await?
            .map(SignedIn)
            .ok_or_else(missing_token)
    }
}

impl<S, P> FromRequestParts<S> for Staff<P>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    P: RequiredPermission,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let principal = authenticate(parts, &AppState::from_ref(state))
            .await?
            .ok_or_else(missing_token)?;
        let Principal::Staff { session, .. } = principal else {
            return Err(wrong_kind("a staff member's"));
        };
        let (id, role) = permissions::require(&principal, P::PERMISSION)?;
        if let Some(actor) = parts.extensions.get::<AuditActor>() {
            actor.set(id);
        }
        Ok(Staff {
            id,
            role,
            session,
            permission: PhantomData,
        })
    }
}

/// The principal of the request's bearer token; `None` when there is no `Authorization`
/// header. Also used by [`crate::idempotency`] to scope keys, so a bad token is the same 401
/// there.
pub(crate) async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<Principal>, ApiError> {
    let token = match bearer_token(&parts.headers) {
        Presented::Nothing => return Ok(None),
        Presented::Unusable => {
            return Err(ApiError::new(
                &INVALID_TOKEN,
                "The Authorization header must be `Bearer <access token>`.",
            ))
        }
        Presented::Bearer(token) => token,
    };
    match state.identity.authenticate(token).await {
        Ok(principal) => Ok(Some(principal)),
        Err(err) => {
            if let IdentityError::InvalidToken(refusal) = &err {
                tracing::debug!(?refusal, "access token refused");
            }
            Err(err.into())
        }
    }
}

fn customer_of(principal: Principal) -> Result<Customer, ApiError> {
    match principal {
        Principal::Customer { id, session } => Ok(Customer { id, session }),
        Principal::Staff { .. } => Err(wrong_kind("a customer's")),
    }
}

fn missing_token() -> ApiError {
    ApiError::new(
        &UNAUTHORIZED,
        "This route needs an access token in an `Authorization: Bearer <token>` header.",
    )
}

/// A valid token of the other kind of account: as unusable here as an invalid one.
fn wrong_kind(whose: &str) -> ApiError {
    ApiError::new(
        &INVALID_TOKEN,
        format!("This route needs {whose} access token."),
    )
}

/// What the `Authorization` header holds.
#[derive(Debug, PartialEq, Eq)]
enum Presented<'a> {
    /// No header at all.
    Nothing,
    /// `Bearer <token>`; the scheme is case-insensitive.
    Bearer(&'a str),
    /// A header that is not a bearer token: another scheme, no token, not visible ASCII.
    Unusable,
}

fn bearer_token(headers: &HeaderMap) -> Presented<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Presented::Nothing;
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    token.map_or(Presented::Unusable, Presented::Bearer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{self, CUSTOMER_TOKEN, OWNER_TOKEN, SUPPORT_TOKEN};
    use crate::state::ApiConfig;
    use http::{HeaderValue, Request};

    fn parts(authorization: Option<&str>) -> Parts {
        let mut request = Request::builder();
        if let Some(value) = authorization {
            let value = HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}"));
            request = request.header(header::AUTHORIZATION, value);
        }
        let (parts, ()) = request
            .body(())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_parts();
        parts
    }

    async fn extract<T>(authorization: Option<&str>) -> Result<T, ApiError>
    where
        T: FromRequestParts<AppState, Rejection = ApiError>,
    {
        let state = fakes::plain_state(ApiConfig::default());
        T::from_request_parts(&mut parts(authorization), &state).await
    }

    fn code<T>(result: Result<T, ApiError>) -> &'static str {
        result.err().map_or("accepted", |e| e.problem().code)
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    #[test]
    fn only_a_bearer_scheme_with_a_token_is_a_bearer_token() {
        let presented = |value: Option<&'static str>| {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            }
            format!("{:?}", bearer_token(&headers))
        };
        assert_eq!(presented(None), "Nothing");
        assert_eq!(presented(Some("Bearer abc")), r#"Bearer("abc")"#);
        assert_eq!(presented(Some("bearer  abc ")), r#"Bearer("abc")"#);
        for unusable in ["Basic abc", "Bearer ", "Bearer", "abc"] {
            assert_eq!(presented(Some(unusable)), "Unusable", "{unusable}");
        }
    }

    #[tokio::test]
    async fn a_missing_header_is_unauthorized_and_a_bad_one_is_an_invalid_token() {
        assert_eq!(code(extract::<Customer>(None).await), "unauthorized");
        assert_eq!(code(extract::<SignedIn>(None).await), "unauthorized");
        assert_eq!(
            code(extract::<Staff<CatalogRead>>(None).await),
            "unauthorized"
        );
        for header in ["Bearer wrong", "Basic abc", OWNER_TOKEN] {
            assert_eq!(
                code(extract::<Customer>(Some(header)).await),
                "invalid_token"
            );
            assert_eq!(
                code(extract::<Staff<CatalogRead>>(Some(header)).await),
                "invalid_token"
            );
        }
    }

    #[tokio::test]
    async fn a_token_of_the_other_kind_of_account_is_an_invalid_token() {
        let owner = bearer(OWNER_TOKEN);
        let customer = bearer(CUSTOMER_TOKEN);
        assert_eq!(
            code(extract::<Customer>(Some(&owner)).await),
            "invalid_token"
        );
        assert_eq!(
            code(extract::<MaybeCustomer>(Some(&owner)).await),
            "invalid_token"
        );
        assert_eq!(
            code(extract::<Staff<CatalogRead>>(Some(&customer)).await),
            "invalid_token"
        );
        assert_eq!(code(extract::<SignedIn>(Some(&owner)).await), "accepted");
        assert_eq!(code(extract::<SignedIn>(Some(&customer)).await), "accepted");
    }

    #[tokio::test]
    async fn maybe_customer_is_nobody_only_without_a_header() {
        let nobody = extract::<MaybeCustomer>(None).await.ok();
        assert_eq!(nobody, Some(MaybeCustomer(None)));
        let customer = extract::<MaybeCustomer>(Some(&bearer(CUSTOMER_TOKEN)))
            .await
            .ok();
        assert!(customer.is_some_and(|c| c.0.is_some()));
        assert_eq!(
            code(extract::<MaybeCustomer>(Some("Bearer expired")).await),
            "invalid_token"
        );
    }

    #[tokio::test]
    async fn a_role_without_the_permission_is_forbidden() {
        let support = bearer(SUPPORT_TOKEN);
        let owner = bearer(OWNER_TOKEN);
        assert_eq!(
            code(extract::<Staff<CatalogRead>>(Some(&support)).await),
            "accepted"
        );
        for refused in [
            code(extract::<Staff<CatalogWrite>>(Some(&support)).await),
            code(extract::<Staff<SettingsWrite>>(Some(&support)).await),
            code(extract::<Staff<StaffManage>>(Some(&support)).await),
            code(extract::<Staff<AuditRead>>(Some(&support)).await),
        ] {
            assert_eq!(refused, "forbidden");
        }
        let staff = extract::<Staff<AuditRead>>(Some(&owner)).await.ok();
        assert_eq!(staff.map(|s| s.role), Some(Role::Owner));
    }

    #[tokio::test]
    async fn an_admitted_staff_member_is_named_to_the_audit_layer() {
        let state = fakes::plain_state(ApiConfig::default());
        let mut parts = parts(Some(&bearer(OWNER_TOKEN)));
        let actor = AuditActor::default();
        parts.extensions.insert(actor.clone());
        let staff = Staff::<CatalogWrite>::from_request_parts(&mut parts, &state).await;
        assert_eq!(actor.get(), staff.ok().map(|s| s.id));
        assert!(actor.get().is_some());

        let mut refused = self::parts(Some(&bearer(SUPPORT_TOKEN)));
        let actor = AuditActor::default();
        refused.extensions.insert(actor.clone());
        let staff = Staff::<CatalogWrite>::from_request_parts(&mut refused, &state).await;
        assert!(staff.is_err());
        assert_eq!(actor.get(), None);
    }
}
