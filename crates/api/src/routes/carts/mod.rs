//! Cart routes: the shopper's cart under `/v1/carts`, and the staff routes for shipping options
//! and tax rates under `/v1/admin` (docs/API.md, "Carts" and "Shipping options and tax rates").
//!
//! Shopper routes prove access with a signed-in customer's bearer token or the `Cart-Token`
//! header ([`CartCaller`]) and name the cart with [`CartPath`] or [`CartLinePath`]. A missing cart, a malformed cart or line id, and
//! a missing or wrong token all answer the same 404 `cart_not_found`, so carts cannot be probed.
//!
//! Handlers are in [`shopper`], [`shipping_options`] and [`tax_rates`]; wire shapes in [`dto`].

pub mod dto;
pub mod shipping_options;
pub mod shopper;
pub mod tax_rates;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use http::HeaderName;
use kassa_cart::error::CART_NOT_FOUND;
use kassa_cart::CartAccess;
use kassa_kernel::ids::{CartId, CartLineId};
use serde::de::DeserializeOwned;
use utoipa::OpenApi;

use crate::auth::MaybeCustomer;
use crate::problem::ApiError;
use crate::route_table::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/carts", shopper::create_cart)
        .get("/v1/carts/{cart_id}", shopper::get_cart)
        .post("/v1/carts/{cart_id}/lines", shopper::add_cart_line)
        .patch(
            "/v1/carts/{cart_id}/lines/{line_id}",
            shopper::update_cart_line,
        )
        .delete(
            "/v1/carts/{cart_id}/lines/{line_id}",
            shopper::remove_cart_line,
        )
        .put("/v1/carts/{cart_id}/email", shopper::set_cart_email)
        .put(
            "/v1/carts/{cart_id}/shipping-address",
            shopper::set_cart_shipping_address,
        )
        .get(
            "/v1/carts/{cart_id}/shipping-options",
            shopper::list_cart_shipping_options,
        )
        .put(
            "/v1/carts/{cart_id}/shipping-option",
            shopper::choose_cart_shipping_option,
        )
        .get(
            "/v1/admin/shipping-options",
            shipping_options::list_shipping_options,
        )
        .post(
            "/v1/admin/shipping-options",
            shipping_options::create_shipping_option,
        )
        .delete(
            "/v1/admin/shipping-options/{shipping_option_id}",
            shipping_options::delete_shipping_option,
        )
        .get("/v1/admin/tax-rates", tax_rates::list_tax_rates)
        .put("/v1/admin/tax-rates/{country}", tax_rates::set_tax_rate)
        .delete("/v1/admin/tax-rates/{country}", tax_rates::delete_tax_rate)
}

/// The cart's part of the OpenAPI document, merged by `openapi::openapi()`.
#[derive(OpenApi)]
#[openapi(
    paths(
        shopper::create_cart,
        shopper::get_cart,
        shopper::add_cart_line,
        shopper::update_cart_line,
        shopper::remove_cart_line,
        shopper::set_cart_email,
        shopper::set_cart_shipping_address,
        shopper::list_cart_shipping_options,
        shopper::choose_cart_shipping_option,
        shipping_options::list_shipping_options,
        shipping_options::create_shipping_option,
        shipping_options::delete_shipping_option,
        tax_rates::list_tax_rates,
        tax_rates::set_tax_rate,
        tax_rates::delete_tax_rate,
    ),
    components(schemas(
        dto::CartDto,
        dto::CreatedCartDto,
        dto::CartLineDto,
        dto::TotalsDto,
        dto::AddressDto,
        dto::ShippingQuoteDto,
        dto::ShippingQuoteList,
        dto::NewCartDto,
        dto::NewCartLineDto,
        dto::CartLinePatchDto,
        dto::CartEmailDto,
        dto::AddressInputDto,
        dto::ShippingOptionChoiceDto,
        dto::WeightTierDto,
        dto::ShippingOptionDto,
        dto::ShippingOptionList,
        dto::NewShippingOptionDto,
        dto::TaxRateDto,
        dto::TaxRateList,
        dto::TaxRateInputDto,
    )),
    tags(
        (name = "carts", description = "A shopper's cart, priced from the catalog on every read. \
            Every call but `POST /v1/carts` needs the cart's `Cart-Token` header, or the bearer \
            token of the customer who owns the cart."),
        (name = "carts (staff)", description = "Shipping options and tax rates; needs a staff token."),
    ),
)]
pub struct CartApi;

/// The request header carrying a cart's token (`Cart-Token`; header names are case-insensitive).
pub static CART_TOKEN_HEADER: HeaderName = HeaderName::from_static("cart-token");

/// The answer for every way a shopper can fail to reach a cart before the cart service is
/// asked. The service's own answer for an unknown cart or a wrong token has the same code.
fn cart_not_found() -> ApiError {
    ApiError::new(
        &CART_NOT_FOUND,
        "The cart was not found, or the Cart-Token header does not open it.",
    )
}

/// Who is calling a shopper route, as the cart service's [`CartAccess`]: a signed-in customer
/// when the request has an `Authorization` header (which must then be a customer's valid
/// access token: anything else is a 401, never a fallback to the cart token), else the
/// `Cart-Token` header. A missing or empty `Cart-Token`, or one that is not visible ASCII, is
/// refused with 404 `cart_not_found`, as a wrong token is; a token of the wrong length is the
/// cart service's to refuse, not ours.
#[derive(Debug, Clone)]
pub struct CartCaller(pub CartAccess);

impl<S> FromRequestParts<S> for CartCaller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let MaybeCustomer(Some(customer)) =
            MaybeCustomer::from_request_parts(parts, state).await?
        {
            return Ok(CartCaller(CartAccess::Customer(customer.id)));
        }
        parts
            .headers
            .get(&CART_TOKEN_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|token| !token.is_empty())
            .map(|token| CartCaller(CartAccess::Token(token.to_owned())))
            .ok_or_else(cart_not_found)
    }
}

/// The `{cart_id}` of a shopper route. A segment that is not a cart id answers 404
/// `cart_not_found`, not `invalid_path_parameter`, so a probe cannot tell it from an unknown
/// cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartPath(pub CartId);

impl<S: Send + Sync> FromRequestParts<S> for CartPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let cart: String = path_segments(parts, state).await?;
        cart.parse().map(CartPath).map_err(|_| cart_not_found())
    }
}

/// The `{cart_id}` and `{line_id}` of a line route; a malformed line id is `cart_not_found`
/// too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartLinePath(pub CartId, pub CartLineId);

impl<S: Send + Sync> FromRequestParts<S> for CartLinePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (cart, line): (String, String) = path_segments(parts, state).await?;
        match (cart.parse(), line.parse()) {
            (Ok(cart), Ok(line)) => Ok(CartLinePath(cart, line)),
            _ => Err(cart_not_found()),
        }
    }
}

/// The raw path parameters; any client-side failure (say, a segment that is not UTF-8 once
/// percent-decoded) is `cart_not_found`.
async fn path_segments<T, S>(parts: &mut Parts, state: &S) -> Result<T, ApiError>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    match axum::extract::Path::<T>::from_request_parts(parts, state).await {
        Ok(axum::extract::Path(segments)) => Ok(segments),
        // A route declared without the parameters its handler asks for: our bug.
        Err(rejection) if rejection.status().is_server_error() => {
            Err(ApiError::internal(rejection))
        }
        Err(_) => Err(cart_not_found()),
    }
}
