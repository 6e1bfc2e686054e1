//! The query string of `GET /v1/products` and `GET /v1/admin/products`, and the catalog filter
//! it becomes.

use kassa_catalog::{PriceRange, ProductFilter, PRODUCT_PAGE_LIMIT_MAX, TITLE_LEN_MAX};
use kassa_kernel::ids::{CategoryId, ProductId};
use kassa_kernel::Currency;
use serde::Deserialize;

use super::field_error;
use crate::page::PageQuery;
use crate::problem::{ApiError, FieldError};

/// The query of `GET /v1/products` and `GET /v1/admin/products`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductListQuery {
    /// `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
    /// Products per page, 1 to the server's maximum (100 by default); 20 when absent.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Only products in this category (a `cat_…` id).
    #[param(value_type = Option<String>)]
    pub category: Option<CategoryId>,
    /// Only products whose title contains this text, ignoring case.
    pub q: Option<String>,
    /// Only products with a variant priced in this currency (within `price_min`..=`price_max`
    /// when given). Required with `price_min` or `price_max`.
    #[param(value_type = Option<String>, example = "EUR")]
    pub currency: Option<Currency>,
    /// Lowest price in minor units, inclusive.
    pub price_min: Option<i64>,
    /// Highest price in minor units, inclusive.
    pub price_max: Option<i64>,
}

impl ProductListQuery {
    /// The catalog filter for this query, or a 422 naming every refused parameter. The limit
    /// is bounded by `page_size_max` (`ApiConfig::page_size_max`) and the catalog's own
    /// [`PRODUCT_PAGE_LIMIT_MAX`], whichever is lower.
    pub fn into_filter(
        self,
        page_size_max: u32,
        include_archived: bool,
    ) -> Result<ProductFilter, ApiError> {
        let ProductListQuery {
            cursor,
            limit,
            category,
            q,
            currency,
            price_min,
            price_max,
        } = self;
        let mut errors = Vec::new();
        // The cursor is checked here, as a product id, rather than by `PageQuery`.
        let page = PageQuery {
            cursor: None,
            limit,
        }
        .check(page_size_max.min(PRODUCT_PAGE_LIMIT_MAX));
        let limit = match page {
            Ok(page) => page.limit,
            Err(error) => {
                errors.extend_from_slice(error.field_errors());
                1
            }
        };
        let after = match cursor.as_deref().map(str::parse::<ProductId>) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                errors.push(field_error(
                    "/cursor",
                    "cursor is not a `next_cursor` this server issued",
                ));
                None
            }
        };
        let title_contains = q.filter(|q| !q.trim().is_empty());
        if title_contains
            .as_ref()
            .is_some_and(|q| q.chars().count() > TITLE_LEN_MAX)
        {
            errors.push(field_error(
                "/q",
                format!("q must be at most {TITLE_LEN_MAX} characters"),
            ));
        }
        let price = price_range(currency, price_min, price_max, &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(ProductFilter {
            category,
            title_contains,
            price,
            include_archived,
            after,
            limit,
        })
    }
}

/// A price bound needs a currency to mean anything.
fn price_range(
    currency: Option<Currency>,
    min_minor: Option<i64>,
    max_minor: Option<i64>,
    errors: &mut Vec<FieldError>,
) -> Option<PriceRange> {
    let Some(currency) = currency else {
        if min_minor.is_some() || max_minor.is_some() {
            errors.push(field_error(
                "/currency",
                "currency is required with price_min or price_max",
            ));
        }
        return None;
    };
    if let (Some(min), Some(max)) = (min_minor, max_minor) {
        if min > max {
            errors.push(field_error(
                "/price_max",
                format!("price_max ({max}) is below price_min ({min})"),
            ));
        }
    }
    Some(PriceRange {
        currency,
        min_minor,
        max_minor,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{ok, pointers, refused};
    use super::*;
    use crate::extract::parse_query;

    fn filter(query: &str) -> Result<ProductFilter, ApiError> {
        ok(parse_query::<ProductListQuery>(query)).into_filter(100, false)
    }

    #[test]
    fn the_list_query_becomes_a_filter() {
        let cursor = ProductId::new();
        let category = CategoryId::new();
        let query = format!(
            "cursor={cursor}&limit=5&category={category}&q=tee&currency=EUR&price_min=100&price_max=200"
        );
        let full = ok(filter(&query));
        assert_eq!(full.after, Some(cursor));
        assert_eq!(full.limit, 5);
        assert_eq!(full.category, Some(category));
        assert_eq!(full.title_contains.as_deref(), Some("tee"));
        let price = full.price.unwrap_or_else(|| panic!("no price range"));
        assert_eq!(price.currency, Currency::Eur);
        assert_eq!((price.min_minor, price.max_minor), (Some(100), Some(200)));
        assert!(!full.include_archived);

        let plain = ok(filter_with_max("", 100));
        assert_eq!(plain.limit, 20);
        assert!(plain.price.is_none() && plain.title_contains.is_none());
        assert!(ok(filter("q=%20")).title_contains.is_none());
    }

    fn filter_with_max(query: &str, max: u32) -> Result<ProductFilter, ApiError> {
        ok(parse_query::<ProductListQuery>(query)).into_filter(max, true)
    }

    #[test]
    fn the_limit_is_bounded_by_the_server_and_the_catalog() {
        assert_eq!(ok(filter_with_max("limit=100", 100)).limit, 100);
        assert_eq!(
            pointers(&refused(filter_with_max("limit=101", 100))),
            ["/limit"]
        );
        assert_eq!(
            pointers(&refused(filter_with_max("limit=101", 500))),
            ["/limit"]
        );
        assert_eq!(
            pointers(&refused(filter_with_max("limit=11", 10))),
            ["/limit"]
        );
        assert_eq!(
            pointers(&refused(filter_with_max("limit=0", 10))),
            ["/limit"]
        );
    }

    #[test]
    fn price_bounds_need_a_currency_and_every_bad_parameter_is_named() {
        let error = refused(filter("price_min=100"));
        assert_eq!(error.problem().code, "validation_failed");
        assert_eq!(pointers(&error), ["/currency"]);
        assert_eq!(pointers(&refused(filter("price_max=1"))), ["/currency"]);

        let error = refused(filter(
            "limit=0&cursor=cart_1&currency=EUR&price_min=5&price_max=4",
        ));
        assert_eq!(pointers(&error), ["/limit", "/cursor", "/price_max"]);

        let currency_only = ok(filter("currency=USD"));
        let price = currency_only
            .price
            .map(|p| (p.currency, p.min_minor, p.max_minor));
        assert_eq!(price, Some((Currency::Usd, None, None)));
    }

    #[test]
    fn a_cursor_must_be_a_product_id_and_other_kinds_of_id_are_refused() {
        let category = CategoryId::new();
        assert_eq!(
            pointers(&refused(filter(&format!("cursor={category}")))),
            ["/cursor"]
        );
        assert_eq!(pointers(&refused(filter("cursor="))), ["/cursor"]);
        let long = "x".repeat(TITLE_LEN_MAX + 1);
        assert_eq!(pointers(&refused(filter(&format!("q={long}")))), ["/q"]);
    }

    #[test]
    fn bad_kernel_values_in_the_query_point_at_their_parameter() {
        let error = refused(parse_query::<ProductListQuery>("currency=XXX"));
        assert_eq!(pointers(&error), ["/currency"]);
        let error = refused(parse_query::<ProductListQuery>("category=prod_1"));
        assert_eq!(pointers(&error), ["/category"]);
    }
}
