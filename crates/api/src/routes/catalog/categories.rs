//! Categories: the public list and the staff route that creates one.

use axum::extract::State;
use http::StatusCode;

use super::dto::{CategoryDto, CategoryList, NewCategoryDto};
use crate::auth::{CatalogWrite, Staff};
use crate::extract::Json;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Every category, ordered by handle.
#[utoipa::path(
    get, path = "/v1/categories", tag = "catalog",
    responses(
        (status = 200, description = "Every category, in one page.", body = CategoryList),
    ),
)]
pub async fn list_categories(
    State(state): State<AppState>,
) -> Result<Json<CategoryList>, ApiError> {
    let categories = state.catalog.categories().await?;
    Ok(Json(CategoryList {
        items: categories.into_iter().map(CategoryDto::from).collect(),
        next_cursor: None,
    }))
}

/// Creates a category.
#[utoipa::path(
    post, path = "/v1/admin/categories", tag = "catalog (staff)",
    request_body = NewCategoryDto,
    security(("staff_token" = [])),
    responses(
        (status = 201, description = "The new category.", body = CategoryDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`handle_taken`: another category has this handle.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_handle`, `invalid_title` (at `/name`) or \
            `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_category(
    _staff: Staff<CatalogWrite>,
    State(state): State<AppState>,
    Json(body): Json<NewCategoryDto>,
) -> Result<(StatusCode, Json<CategoryDto>), ApiError> {
    let category = state.catalog.create_category(body.into_input()?).await?;
    Ok((StatusCode::CREATED, Json(CategoryDto::from(category))))
}
