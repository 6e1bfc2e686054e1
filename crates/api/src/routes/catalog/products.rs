//! Products: the public listing and detail, and the staff routes that list, create, change and
//! archive products and add variants to them.

use axum::extract::State;
use http::StatusCode;
use kassa_catalog::error::PRODUCT_NOT_FOUND;
use kassa_catalog::Handle;
use kassa_kernel::ids::ProductId;

use super::dto::{
    NewProductDto, NewVariantDto, ProductDto, ProductList, ProductListQuery, ProductPatchDto,
};
use crate::auth::{CatalogRead, CatalogWrite, Staff};
use crate::extract::{Json, Path, Query};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Active products in creation order, filtered by the query.
#[utoipa::path(
    get, path = "/v1/products", tag = "catalog",
    params(ProductListQuery),
    responses(
        (status = 200, description = "One page of active products.", body = ProductList),
        (status = 422, description = "`validation_failed`: a query parameter is refused, e.g. \
            `price_min` without `currency` (at `/currency`) or a foreign `cursor`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_products(
    State(state): State<AppState>,
    Query(query): Query<ProductListQuery>,
) -> Result<Json<ProductList>, ApiError> {
    let filter = query.into_filter(state.config.page_size_max, false)?;
    let page = state.catalog.list_products(filter).await?;
    Ok(Json(ProductList::from(page)))
}

/// One active product, by id or by handle; archived variants are left out.
#[utoipa::path(
    get, path = "/v1/products/{product}", tag = "catalog",
    params(("product" = String, Path, description = "A `prod_…` id or the product's handle.",
        example = "tee-aurora")),
    responses(
        (status = 200, description = "The product.", body = ProductDto),
        (status = 404, description = "`product_not_found`: no active product has this id or \
            handle.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_product(
    State(state): State<AppState>,
    // Not `?`: a segment that does not even decode is no product either, and says so alike.
    segment: Result<Path<String>, ApiError>,
) -> Result<Json<ProductDto>, ApiError> {
    let product_ref = segment
        .ok()
        .and_then(|Path(segment)| ProductRef::parse(&segment));
    let product = match product_ref {
        Some(ProductRef::Id(id)) => state.catalog.product(id, false).await?,
        Some(ProductRef::Handle(handle)) => state.catalog.product_by_handle(&handle, false).await?,
        None => {
            return Err(ApiError::new(
                &PRODUCT_NOT_FOUND,
                "There is no such product.",
            ))
        }
    };
    Ok(Json(ProductDto::from(product)))
}

/// How the `{product}` segment names a product.
#[derive(Debug, PartialEq, Eq)]
enum ProductRef {
    Id(ProductId),
    Handle(Handle),
}

impl ProductRef {
    /// `None` when the segment is neither an id nor a handle, so no product can have it. A
    /// handle must be given exactly (`Handle::parse` would forgive surrounding spaces), so each
    /// product has one URL per handle.
    fn parse(segment: &str) -> Option<ProductRef> {
        if let Ok(id) = segment.parse::<ProductId>() {
            return Some(ProductRef::Id(id));
        }
        Handle::parse(segment)
            .ok()
            .filter(|handle| handle.as_str() == segment)
            .map(ProductRef::Handle)
    }
}

/// Every product, archived ones included, filtered by the query.
#[utoipa::path(
    get, path = "/v1/admin/products", tag = "catalog (staff)",
    params(ProductListQuery),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "One page of products, archived ones included.",
            body = ProductList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a query parameter is refused.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn admin_list_products(
    _staff: Staff<CatalogRead>,
    State(state): State<AppState>,
    Query(query): Query<ProductListQuery>,
) -> Result<Json<ProductList>, ApiError> {
    let filter = query.into_filter(state.config.page_size_max, true)?;
    let page = state.catalog.list_products(filter).await?;
    Ok(Json(ProductList::from(page)))
}

/// Creates an active product with its variants.
#[utoipa::path(
    post, path = "/v1/admin/products", tag = "catalog (staff)",
    request_body = NewProductDto,
    security(("staff_token" = [])),
    responses(
        (status = 201, description = "The new product.", body = ProductDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`category_not_found`: a category id names no category.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`handle_taken` or `sku_taken`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_handle`, `invalid_title`, \
            `catalog_validation_failed` or `validation_failed`, with the field's pointer.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_product(
    _staff: Staff<CatalogWrite>,
    State(state): State<AppState>,
    Json(body): Json<NewProductDto>,
) -> Result<(StatusCode, Json<ProductDto>), ApiError> {
    let product = state.catalog.create_product(body.into_input()?).await?;
    Ok((StatusCode::CREATED, Json(ProductDto::from(product))))
}

/// One product, archived or not, with all its variants.
#[utoipa::path(
    get, path = "/v1/admin/products/{product_id}", tag = "catalog (staff)",
    params(("product_id" = String, Path, description = "A `prod_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The product.", body = ProductDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`product_not_found`, or `invalid_path_parameter` for a \
            malformed id.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn admin_get_product(
    _staff: Staff<CatalogRead>,
    State(state): State<AppState>,
    Path(product_id): Path<ProductId>,
) -> Result<Json<ProductDto>, ApiError> {
    let product = state.catalog.product(product_id, true).await?;
    Ok(Json(ProductDto::from(product)))
}

/// Changes the fields the body sets; `status` archives or restores the product.
#[utoipa::path(
    patch, path = "/v1/admin/products/{product_id}", tag = "catalog (staff)",
    params(("product_id" = String, Path, description = "A `prod_…` id.")),
    request_body = ProductPatchDto,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The product as changed.", body = ProductDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`product_not_found`, `category_not_found` or \
            `invalid_path_parameter`.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`handle_taken`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_handle`, `invalid_title`, \
            `catalog_validation_failed` or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn update_product(
    _staff: Staff<CatalogWrite>,
    State(state): State<AppState>,
    Path(product_id): Path<ProductId>,
    Json(body): Json<ProductPatchDto>,
) -> Result<Json<ProductDto>, ApiError> {
    let product = state
        .catalog
        .update_product(product_id, body.into_input()?)
        .await?;
    Ok(Json(ProductDto::from(product)))
}

/// Archives the product; archiving an archived product changes nothing.
#[utoipa::path(
    post, path = "/v1/admin/products/{product_id}/archive", tag = "catalog (staff)",
    params(("product_id" = String, Path, description = "A `prod_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The archived product.", body = ProductDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`product_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn archive_product(
    _staff: Staff<CatalogWrite>,
    State(state): State<AppState>,
    Path(product_id): Path<ProductId>,
) -> Result<Json<ProductDto>, ApiError> {
    let product = state.catalog.archive_product(product_id).await?;
    Ok(Json(ProductDto::from(product)))
}

/// Adds an active variant after the product's existing ones.
#[utoipa::path(
    post, path = "/v1/admin/products/{product_id}/variants", tag = "catalog (staff)",
    params(("product_id" = String, Path, description = "A `prod_…` id.")),
    request_body = NewVariantDto,
    security(("staff_token" = [])),
    responses(
        (status = 201, description = "The product with its new variant.", body = ProductDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`product_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`sku_taken`, or `product_archived`: restore it first.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_title`, `catalog_validation_failed` (also when \
            the product has 100 variants) or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn add_variant(
    _staff: Staff<CatalogWrite>,
    State(state): State<AppState>,
    Path(product_id): Path<ProductId>,
    Json(body): Json<NewVariantDto>,
) -> Result<(StatusCode, Json<ProductDto>), ApiError> {
    let product = state
        .catalog
        .add_variant(product_id, body.into_input("")?)
        .await?;
    Ok((StatusCode::CREATED, Json(ProductDto::from(product))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_segment_is_an_id_an_exact_handle_or_nothing() {
        let id = ProductId::new();
        assert_eq!(ProductRef::parse(&id.to_string()), Some(ProductRef::Id(id)));
        let handle = Handle::parse("tee-aurora").ok().map(ProductRef::Handle);
        assert_eq!(ProductRef::parse("tee-aurora"), handle);
        for nothing in ["prod_123", " tee-aurora", "Tee-Aurora", "", "a--b", "cat_x"] {
            assert_eq!(ProductRef::parse(nothing), None, "{nothing:?}");
        }
    }
}
