//! The shopper's cart: create it, read it, change its lines, email, address and shipping
//! option. Every route but `POST /v1/carts` needs either a signed-in customer's bearer token
//! (their own carts) or the cart's token in `Cart-Token` (anonymous carts), and answers the cart
//! priced anew from the catalog.

use axum::extract::State;
use http::{header, HeaderName, StatusCode};

use super::dto::{
    AddressInputDto, CartDto, CartEmailDto, CartLinePatchDto, CreatedCartDto, NewCartDto,
    NewCartLineDto, ShippingOptionChoiceDto, ShippingQuoteDto, ShippingQuoteList,
};
use super::{CartCaller, CartLinePath, CartPath};
use crate::auth::MaybeCustomer;
use crate::extract::Json;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Creates an empty cart in a currency and answers its token, this once. With a customer's
/// bearer token the cart is that customer's (their open cart from now on), opened by their
/// session rather than by the token.
///
/// The answer carries `Cache-Control: no-store`: the token must not be kept by a cache.
#[utoipa::path(
    post, path = "/v1/carts", tag = "carts",
    request_body = NewCartDto,
    security((), ("customer_token" = [])),
    responses(
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token (never read as no header).",
            body = Problem, content_type = "application/problem+json"),
        (status = 201, description = "The new cart and its token.", body = CreatedCartDto),
        (status = 422, description = "`validation_failed`: an unsupported currency (at \
            `/currency`).", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_cart(
    MaybeCustomer(customer): MaybeCustomer,
    State(state): State<AppState>,
    Json(body): Json<NewCartDto>,
) -> Result<
    (
        StatusCode,
        [(HeaderName, &'static str); 1],
        Json<CreatedCartDto>,
    ),
    ApiError,
> {
    let owner = customer.map(|customer| customer.id);
    let (cart, token) = state.cart.create_cart(body.currency, owner).await?;
    let created = CreatedCartDto {
        cart: CartDto::from(cart),
        token: token.expose().to_owned(),
    };
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(created),
    ))
}

/// The cart, priced from the catalog's current prices.
#[utoipa::path(
    get, path = "/v1/carts/{cart_id}", tag = "carts",
    params(
        ("cart_id" = String, Path, description = "A `cart_…` id."),
        ("Cart-Token" = Option<String>, Header, description = "The token `POST /v1/carts` \
            answered; for anonymous carts, without an `Authorization` header."),
    ),
    security((), ("customer_token" = [])),
    responses(
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token (never read as no header).",
            body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The cart.", body = CartDto),
        (status = 404, description = "`cart_not_found`: no such cart, a malformed id, or a \
            missing or wrong token.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_cart(
    CartPath(cart_id): CartPath,
    CartCaller(access): CartCaller,
    State(state): State<AppState>,
) -> Result<Json<CartDto>, ApiError> {
    let cart = state.cart.cart(cart_id, &access).await?;
    Ok(Json(CartDto::from(cart)))
}

/// Adds units of a SKU; a SKU already in the cart adds to its line.
#[utoipa::path(
    post, path = "/v1/carts/{cart_id}/lines", tag = "carts",
    params(
        ("cart_id" = String, Path, description = "A `cart_…` id."),
        ("Cart-Token" = Option<String>, Header, description = "The token `POST /v1/carts` \
            answered; for anonymous carts, without an `Authorization` header."),
    ),
    security((), ("customer_token" = [])),
    request_body = NewCartLineDto,
    responses(
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token (never read as no header).",
            body = Problem, content_type = "application/problem+json"),
        (status = 201, description = "The cart with the line.", body = CartDto),
        (status = 404, description = "`cart_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_sku`, `sku_unavailable`, `price_unavailable`, \
            `quantity_too_large`, `too_many_lines` or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn add_cart_line(
    CartPath(cart_id): CartPath,
    CartCaller(access): CartCaller,
    State(state): State<AppState>,
    Json(body): Json<NewCartLineDto>,
) -> Result<(StatusCode, Json<CartDto>), ApiError> {
    let cart = state
        .cart
        .add_line(cart_id, &access, body.sku, body.quantity)
        .await?;
    Ok((StatusCode::CREATED, Json(CartDto::from(cart))))
}

/// Sets a line's quantity.
#[utoipa::path(
    patch, path = "/v1/carts/{cart_id}/lines/{line_id}", tag = "carts",
    params(
        ("cart_id" = String, Path, description = "A `cart_…` id."),
        ("line_id" = String, Path, description = "A `line_…` id."),
        ("Cart-Token" = Option<String>, Header, description = "The token `POST /v1/carts` \
            answered; for anonymous carts, without an `Authorization` header."),
    ),
    security((), ("customer_token" = [])),
    request_body = CartLinePatchDto,
    responses(
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token (never read as no header).",
            body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The cart with the new quantity.", body = CartDto),
        (status = 404, description = "`cart_not_found` (also for a malformed line id) or \
            `line_not_found`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a quantity outside 1..=999.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn update_cart_line(
    CartLinePath(cart_id, line_id): CartLinePath,
    CartCaller(access): CartCaller,
    State(state): State<AppState>,
    Json(body): Json<CartLinePatchDto>,
) -> Result<Json<CartDto>, ApiError> {
    let cart = state
        .cart
        .update_line(cart_id, &access, line_id, body.quantity)
        .await?;
    Ok(Json(CartDto::from(cart)))
}

/// Removes a line.
#[utoipa::path(
    delete, path = "/v1/carts/{cart_id}/lines/{line_id}", tag = "carts",
    params(
        ("cart_id" = String, Path, description = "A `cart_…` id."),
        ("line_id" = String, Path, description = "A `line_…` id."),
        ("Cart-Token" = Option<String>, Header, description = "The token `POST /v1/carts` \
            answered; for anonymous carts, without an `Authorization` header."),
    ),
    security((), ("customer_token" = [])),
    responses(
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token (never read as no header).",
            body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The cart without the line.", body = CartDto),
        (status = 404, description = "`cart_not_found` (also for a malformed line id) or \
            `line_not_found`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn remove_cart_line(
    CartLinePath(cart_id, line_id): CartLinePath,
    CartCaller(access): CartCaller,
    State(state): State<AppState>,
) -> Result<Json<CartDto>, ApiError> {
    let cart = state.cart.remove_line(cart_id, &access, line_id).await?;
    Ok(Json(CartDto::from(cart)))
}

/// Sets the email that order mail will go to.
#[utoipa::path(
    put, path = "/v1/carts/{cart_id}/email", tag = "carts",
    params(
        ("cart_id" = String, Path, description = "A `cart_…` id."),
        ("Cart-Token" = Option<String>, Header, description = "The token `POST /v1/carts` \
            answered; for anonymous carts, without an `Authorization` header."),
    ),
    security((), ("customer_token" = [])),
    request_body = CartEmailDto,
    responses(
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token (never read as no header).",
            body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The cart with the email.", body = CartDto),
        (status = 404, description = "`cart_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not a usable email (at `/email`).",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn set_cart_email(
    CartPath(cart_id): CartPath,
    CartCaller(access): CartCaller,
    State(state): State<AppState>,
    Json(body): Json<CartEmailDto>,
) -> Result<Json<CartDto>, ApiError> {
    let cart = state.cart.set_email(cart_id, &access, body.email).await?;
    Ok(Json(CartDto::from(cart)))
}

/// Sets (replaces) the shipping address; a chosen option that does not deliver to the new
/// country is dropped.
#[utoipa::path(
    put, path = "/v1/carts/{cart_id}/shipping-address", tag = "carts",
    params(
        ("cart_id" = String, Path, description = "A `cart_…` id."),
        ("Cart-Token" = Option<String>, Header, description = "The token `POST /v1/carts` \
            answered; for anonymous carts, without an `Authorization` header."),
    ),
    security((), ("customer_token" = [])),
    request_body = AddressInputDto,
    responses(
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token (never read as no header).",
            body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The cart with the address.", body = CartDto),
        (status = 404, description = "`cart_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_address`, with a pointer per bad field \
            (`/postal_code`, `/country`, …), or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn set_cart_shipping_address(
    CartPath(cart_id): CartPath,
    CartCaller(access): CartCaller,
    State(state): State<AppState>,
    Json(body): Json<AddressInputDto>,
) -> Result<Json<CartDto>, ApiError> {
    let address = body.into_address()?;
    let cart = state
        .cart
        .set_shipping_address(cart_id, &access, address)
        .await?;
    Ok(Json(CartDto::from(cart)))
}

/// The shipping options that apply to the cart now (its address's country, its currency and
/// its weight), cheapest first.
#[utoipa::path(
    get, path = "/v1/carts/{cart_id}/shipping-options", tag = "carts",
    params(
        ("cart_id" = String, Path, description = "A `cart_…` id."),
        ("Cart-Token" = Option<String>, Header, description = "The token `POST /v1/carts` \
            answered; for anonymous carts, without an `Authorization` header."),
    ),
    security((), ("customer_token" = [])),
    responses(
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token (never read as no header).",
            body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The quotes, in one page.", body = ShippingQuoteList),
        (status = 404, description = "`cart_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`address_required`: the cart has no shipping address.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_cart_shipping_options(
    CartPath(cart_id): CartPath,
    CartCaller(access): CartCaller,
    State(state): State<AppState>,
) -> Result<Json<ShippingQuoteList>, ApiError> {
    let quotes = state.cart.shipping_options(cart_id, &access).await?;
    Ok(Json(ShippingQuoteList {
        items: quotes.into_iter().map(ShippingQuoteDto::from).collect(),
        next_cursor: None,
    }))
}

/// Chooses one of the options `GET …/shipping-options` lists.
#[utoipa::path(
    put, path = "/v1/carts/{cart_id}/shipping-option", tag = "carts",
    params(
        ("cart_id" = String, Path, description = "A `cart_…` id."),
        ("Cart-Token" = Option<String>, Header, description = "The token `POST /v1/carts` \
            answered; for anonymous carts, without an `Authorization` header."),
    ),
    security((), ("customer_token" = [])),
    request_body = ShippingOptionChoiceDto,
    responses(
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token (never read as no header).",
            body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The cart with the option.", body = CartDto),
        (status = 404, description = "`cart_not_found` or `shipping_option_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`address_required`, `shipping_option_not_applicable` or \
            `validation_failed`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn choose_cart_shipping_option(
    CartPath(cart_id): CartPath,
    CartCaller(access): CartCaller,
    State(state): State<AppState>,
    Json(body): Json<ShippingOptionChoiceDto>,
) -> Result<Json<CartDto>, ApiError> {
    let cart = state
        .cart
        .choose_shipping_option(cart_id, &access, body.shipping_option_id)
        .await?;
    Ok(Json(CartDto::from(cart)))
}
