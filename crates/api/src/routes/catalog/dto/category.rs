//! Categories: as answered, and the staff body that creates one.

use kassa_catalog::{Category, Handle, NewCategory, Title};
use kassa_kernel::ids::CategoryId;
use serde::{Deserialize, Serialize};

use super::parse_at;
use crate::problem::ApiError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Category)]
pub struct CategoryDto {
    #[schema(value_type = String, example = "cat_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: CategoryId,
    #[schema(example = "t-shirts")]
    pub handle: String,
    #[schema(example = "T-shirts")]
    pub name: String,
}

impl From<Category> for CategoryDto {
    fn from(category: Category) -> CategoryDto {
        CategoryDto {
            id: category.id,
            handle: category.handle.as_str().to_owned(),
            name: category.name,
        }
    }
}

/// Every category, ordered by handle, in one page (`next_cursor` is always `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CategoryList {
    pub items: Vec<CategoryDto>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `POST /v1/admin/categories`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewCategory)]
pub struct NewCategoryDto {
    /// 1 to 100 lowercase letters, digits and single hyphens.
    #[schema(example = "t-shirts")]
    pub handle: String,
    #[schema(example = "T-shirts")]
    pub name: String,
}

impl NewCategoryDto {
    pub fn into_input(self) -> Result<NewCategory, ApiError> {
        Ok(NewCategory {
            handle: parse_at("/handle", Handle::parse(&self.handle))?,
            name: parse_at("/name", Title::parse(&self.name))?,
        })
    }
}
