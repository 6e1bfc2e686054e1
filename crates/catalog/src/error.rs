//! The catalog's error type and its entries in the problem registry.
//!
//! Every variant names a condition the caller can act on, except [`CatalogError::Storage`],
//! which keeps its source for the log and is shown to clients only as a generic problem.
//! Display texts are sentences safe to show to clients.

use kassa_db::DbError;
use kassa_kernel::ids::{CategoryId, ProductId, VariantId};
use kassa_kernel::{DomainError, ErrorCategory, ProblemType, Sku};

use crate::model::{HANDLE_LEN_MAX, TITLE_LEN_MAX};

pub const PRODUCT_NOT_FOUND: ProblemType = ProblemType::new(
    "product_not_found",
    "Product not found",
    ErrorCategory::NotFound,
);
pub const VARIANT_NOT_FOUND: ProblemType = ProblemType::new(
    "variant_not_found",
    "Variant not found",
    ErrorCategory::NotFound,
);
pub const CATEGORY_NOT_FOUND: ProblemType = ProblemType::new(
    "category_not_found",
    "Category not found",
    ErrorCategory::NotFound,
);
pub const HANDLE_TAKEN: ProblemType = ProblemType::new(
    "handle_taken",
    "Handle already taken",
    ErrorCategory::Conflict,
);
pub const SKU_TAKEN: ProblemType =
    ProblemType::new("sku_taken", "SKU already taken", ErrorCategory::Conflict);
pub const PRODUCT_ARCHIVED: ProblemType = ProblemType::new(
    "product_archived",
    "Product archived",
    ErrorCategory::Conflict,
);
pub const INVALID_HANDLE: ProblemType =
    ProblemType::new("invalid_handle", "Invalid handle", ErrorCategory::Invalid);
pub const INVALID_TITLE: ProblemType =
    ProblemType::new("invalid_title", "Invalid title", ErrorCategory::Invalid);
/// Any other catalog input outside its limits; the field is named by a JSON pointer.
pub const CATALOG_VALIDATION_FAILED: ProblemType = ProblemType::new(
    "catalog_validation_failed",
    "Invalid catalog input",
    ErrorCategory::Invalid,
);
/// The database could not be reached or had no free connection; retrying later may work.
pub const STORAGE_UNAVAILABLE: ProblemType = ProblemType::new(
    "storage_unavailable",
    "Storage unavailable",
    ErrorCategory::Unavailable,
);
/// Any other storage failure: our fault, logged with its source, never detailed to clients.
pub const CATALOG_STORAGE_ERROR: ProblemType = ProblemType::new(
    "catalog_storage_error",
    "Catalog storage error",
    ErrorCategory::Internal,
);

/// Every problem type the catalog can return, for the workspace registry.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &PRODUCT_NOT_FOUND,
    &VARIANT_NOT_FOUND,
    &CATEGORY_NOT_FOUND,
    &HANDLE_TAKEN,
    &SKU_TAKEN,
    &PRODUCT_ARCHIVED,
    &INVALID_HANDLE,
    &INVALID_TITLE,
    &CATALOG_VALIDATION_FAILED,
    &STORAGE_UNAVAILABLE,
    &CATALOG_STORAGE_ERROR,
];

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("There is no product with id {0}.")]
    ProductNotFound(ProductId),
    /// Holds the handle as given (already validated, so short).
    #[error("There is no product with handle '{0}'.")]
    ProductHandleNotFound(String),
    #[error("There is no variant with id {0}.")]
    VariantNotFound(VariantId),
    #[error("There is no category with id {0}.")]
    CategoryNotFound(CategoryId),
    /// A product or category already uses this handle.
    #[error("The handle '{0}' is already in use.")]
    HandleTaken(String),
    /// Another variant, of this or any other product, already uses this SKU.
    #[error("The SKU {0} is already in use by another variant.")]
    SkuTaken(Sku),
    /// Holds at most the first 120 characters of what was given.
    #[error(
        "'{0}' is not a valid handle: use 1 to {max} lowercase letters, digits and single \
         hyphens, not starting or ending with a hyphen.",
        max = HANDLE_LEN_MAX
    )]
    InvalidHandle(String),
    #[error(
        "A title must have 1 to {max} characters and no control characters.",
        max = TITLE_LEN_MAX
    )]
    InvalidTitle,
    /// An input outside its limits. `pointer` is a JSON pointer into the request, e.g.
    /// `/variants/1/prices/0/amount_minor`; `message` is a sentence about that field.
    #[error("{message}")]
    Invalid { pointer: String, message: String },
    /// The product is archived, and the action needs an active product.
    #[error("Product {0} is archived; restore it before adding variants.")]
    ProductArchived(ProductId),
    #[error("the catalog storage failed")]
    Storage(#[from] DbError),
}

impl CatalogError {
    /// An [`CatalogError::Invalid`] for the field at `pointer`.
    pub fn invalid(pointer: impl Into<String>, message: impl Into<String>) -> CatalogError {
        CatalogError::Invalid {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl DomainError for CatalogError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            Self::ProductNotFound(_) | Self::ProductHandleNotFound(_) => &PRODUCT_NOT_FOUND,
            Self::VariantNotFound(_) => &VARIANT_NOT_FOUND,
            Self::CategoryNotFound(_) => &CATEGORY_NOT_FOUND,
            Self::HandleTaken(_) => &HANDLE_TAKEN,
            Self::SkuTaken(_) => &SKU_TAKEN,
            Self::InvalidHandle(_) => &INVALID_HANDLE,
            Self::InvalidTitle => &INVALID_TITLE,
            Self::Invalid { .. } => &CATALOG_VALIDATION_FAILED,
            Self::ProductArchived(_) => &PRODUCT_ARCHIVED,
            Self::Storage(err) if err.is_unavailable() => &STORAGE_UNAVAILABLE,
            Self::Storage(_) => &CATALOG_STORAGE_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Storage(err) if err.is_unavailable() => {
                "The catalog is temporarily unavailable; please try again shortly.".to_owned()
            }
            Self::Storage(_) => {
                "An internal error occurred; it has been logged with the request id.".to_owned()
            }
            other => other.to_string(),
        }
    }

    fn field_errors(&self) -> Vec<(String, String)> {
        match self {
            Self::Invalid { pointer, message } => vec![(pointer.clone(), message.clone())],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn problem_codes_are_unique_snake_case_and_titled() {
        // Checked together with the kernel's codes: a district never re-registers one of them.
        let all = [PROBLEM_TYPES, kassa_kernel::PROBLEM_TYPES].concat();
        assert_eq!(
            kassa_kernel::error::check_problem_types(&all),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_variant_maps_to_a_listed_problem_type() {
        let errors = [
            CatalogError::ProductNotFound(ProductId::new()),
            CatalogError::ProductHandleNotFound("mug".to_owned()),
            CatalogError::VariantNotFound(VariantId::new()),
            CatalogError::CategoryNotFound(CategoryId::new()),
            CatalogError::HandleTaken("mug".to_owned()),
            CatalogError::SkuTaken(Sku::parse("MUG-1").unwrap()),
            CatalogError::InvalidHandle("Mug!".to_owned()),
            CatalogError::InvalidTitle,
            CatalogError::invalid("/variants", "Too many variants."),
            CatalogError::ProductArchived(ProductId::new()),
            CatalogError::Storage(DbError::Corrupt("x".to_owned())),
            CatalogError::Storage(DbError::Unavailable(sqlx::Error::PoolTimedOut)),
        ];
        for err in errors {
            assert!(
                PROBLEM_TYPES.contains(&err.problem_type()),
                "{err:?} is not listed"
            );
        }
    }

    #[test]
    fn storage_errors_are_unavailable_or_internal_and_hide_their_source() {
        let down = CatalogError::Storage(DbError::Unavailable(sqlx::Error::PoolTimedOut));
        assert_eq!(down.problem_type().category, ErrorCategory::Unavailable);
        let corrupt = CatalogError::Storage(DbError::Corrupt("column sku: bad".to_owned()));
        assert_eq!(corrupt.problem_type().category, ErrorCategory::Internal);
        assert!(!corrupt.detail().contains("sku"));
    }

    #[test]
    fn an_invalid_input_reports_its_json_pointer() {
        let err = CatalogError::invalid("/variants/1/weight_grams", "Too heavy.");
        assert_eq!(
            err.field_errors(),
            vec![(
                "/variants/1/weight_grams".to_owned(),
                "Too heavy.".to_owned()
            )]
        );
        assert_eq!(err.detail(), "Too heavy.");
    }

    #[test]
    fn limits_in_messages_come_from_the_model() {
        assert!(CatalogError::InvalidTitle
            .to_string()
            .contains("1 to 200 characters"));
        let handle = CatalogError::InvalidHandle("Mug!".to_owned()).to_string();
        assert!(handle.starts_with("'Mug!' is not a valid handle: use 1 to 100 lowercase"));
    }
}
