//! The catalog's wire shapes (docs/API.md, "Catalog") and their conversions to and from the
//! catalog's model, one file per resource: [`product`] (products and variants), [`category`]
//! and [`query`] (the product list's query string).
//!
//! Ids, SKUs, currencies and money use the kernel's serde, so a bad value is a 422 pointing at
//! its field. Handles and titles have no serde of their own: inputs carry them as strings and
//! [`parse_at`] parses them, keeping the catalog's code (`invalid_handle`, `invalid_title`) and
//! adding the field's pointer.

pub mod category;
pub mod product;
pub mod query;

pub use category::{CategoryDto, CategoryList, NewCategoryDto};
pub use product::{
    NewProductDto, NewVariantDto, OptionDto, PriceInputDto, ProductDto, ProductList,
    ProductPatchDto, StatusDto, VariantDto, VariantPatchDto,
};
pub use query::ProductListQuery;

use kassa_catalog::CatalogError;

use crate::problem::{ApiError, FieldError};

/// Parses a value the catalog has no serde for. A refusal keeps the catalog's problem type and
/// detail and gains a field error at `pointer`, so the client can find the field.
pub fn parse_at<T>(pointer: &str, parsed: Result<T, CatalogError>) -> Result<T, ApiError> {
    parsed.map_err(|error| {
        let message = error.to_string();
        ApiError::from(error).with_field_error(pointer, message)
    })
}

fn field_error(pointer: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        pointer: pointer.to_owned(),
        message: message.into(),
    }
}

#[cfg(test)]
fn ok<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{e:?}"))
}

#[cfg(test)]
fn refused<T: std::fmt::Debug>(result: Result<T, ApiError>) -> ApiError {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error,
    }
}

#[cfg(test)]
fn pointers(error: &ApiError) -> Vec<&str> {
    error
        .field_errors()
        .iter()
        .map(|e| e.pointer.as_str())
        .collect()
}
