//! Catalog routes: the public product listing, product detail and categories, and the staff
//! routes under `/v1/admin` that create and change them (docs/API.md, "Catalog").
//!
//! One file per resource: [`products`], [`variants`] (prices included) and [`categories`];
//! the wire shapes and their conversions are in [`dto`].

pub mod categories;
pub mod dto;
pub mod products;
pub mod variants;

use utoipa::OpenApi;

use crate::route_table::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/products", products::list_products)
        .get("/v1/products/{product}", products::get_product)
        .get("/v1/categories", categories::list_categories)
        .post("/v1/admin/categories", categories::create_category)
        .get("/v1/admin/products", products::admin_list_products)
        .post("/v1/admin/products", products::create_product)
        .get(
            "/v1/admin/products/{product_id}",
            products::admin_get_product,
        )
        .patch("/v1/admin/products/{product_id}", products::update_product)
        .post(
            "/v1/admin/products/{product_id}/archive",
            products::archive_product,
        )
        .post(
            "/v1/admin/products/{product_id}/variants",
            products::add_variant,
        )
        .patch("/v1/admin/variants/{variant_id}", variants::update_variant)
        .post(
            "/v1/admin/variants/{variant_id}/archive",
            variants::archive_variant,
        )
        .put(
            "/v1/admin/variants/{variant_id}/prices/{currency}",
            variants::set_price,
        )
        .delete(
            "/v1/admin/variants/{variant_id}/prices/{currency}",
            variants::remove_price,
        )
}

/// The catalog's part of the OpenAPI document, merged by `openapi::openapi()`.
#[derive(OpenApi)]
#[openapi(
    paths(
        products::list_products,
        products::get_product,
        categories::list_categories,
        categories::create_category,
        products::admin_list_products,
        products::create_product,
        products::admin_get_product,
        products::update_product,
        products::archive_product,
        products::add_variant,
        variants::update_variant,
        variants::archive_variant,
        variants::set_price,
        variants::remove_price,
    ),
    components(schemas(
        dto::ProductDto,
        dto::VariantDto,
        dto::OptionDto,
        dto::StatusDto,
        dto::ProductList,
        dto::CategoryDto,
        dto::CategoryList,
        dto::NewCategoryDto,
        dto::NewProductDto,
        dto::NewVariantDto,
        dto::ProductPatchDto,
        dto::VariantPatchDto,
        dto::PriceInputDto,
    )),
    tags(
        (name = "catalog", description = "What the shop sells: products, variants and categories."),
        (name = "catalog (staff)", description = "Creating and changing the catalog; needs the staff token."),
    ),
)]
pub struct CatalogApi;
