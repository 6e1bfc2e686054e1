//! The list convention: every list endpoint takes [`PageQuery`] (`?cursor=…&limit=…`) and
//! answers a list DTO of the shape `{"items": [...], "next_cursor": "…" | null}`.
//!
//! List DTOs are written out per resource rather than as a generic `Page<T>`, so each has its
//! own plain OpenAPI schema and no turbofish is needed anywhere. `next_cursor` is always
//! present, `null` on the last page, hence `required = true`:
//!
//! ```
//! # #[derive(serde::Serialize, utoipa::ToSchema)]
//! # pub struct ProductDto { pub name: String }
//! #[derive(serde::Serialize, utoipa::ToSchema)]
//! pub struct ProductList {
//!     pub items: Vec<ProductDto>,
//!     /// Pass as `cursor` to get the next page; `null` on the last page.
//!     #[schema(required = true)]
//!     pub next_cursor: Option<String>,
//! }
//! ```
//!
//! The cursor is opaque to clients; the district that issues it decodes it.

use serde::Deserialize;

use crate::problem::{ApiError, FieldError};

/// Items per page when the client does not say.
pub const PAGE_SIZE_DEFAULT: u32 = 20;

/// Longest cursor accepted. Cursors we issue encode a sort key and an id, well under this.
pub const CURSOR_LEN_MAX: usize = 256;

/// The query parameters of every list endpoint. Use it with `Query<PageQuery>` and list it in
/// the operation's OpenAPI `params(PageQuery)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
    /// Items per page, 1 to the server's maximum (100 by default); 20 when absent.
    #[param(minimum = 1)]
    pub limit: Option<u32>,
}

/// A checked [`PageQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub cursor: Option<String>,
    /// 1 ..= `page_size_max`.
    pub limit: u32,
}

impl PageQuery {
    /// Checks the limit against `page_size_max` (`ApiConfig::page_size_max`) and the cursor's
    /// length; a violation is a 422 pointing at `/limit` or `/cursor`.
    pub fn check(self, page_size_max: u32) -> Result<PageRequest, ApiError> {
        let mut errors = Vec::new();
        let limit = self.limit.unwrap_or(PAGE_SIZE_DEFAULT.min(page_size_max));
        if limit == 0 || limit > page_size_max {
            errors.push(FieldError {
                pointer: "/limit".to_owned(),
                message: format!("limit must be between 1 and {page_size_max}"),
            });
        }
        if self
            .cursor
            .as_ref()
            .is_some_and(|c| c.len() > CURSOR_LEN_MAX)
        {
            errors.push(FieldError {
                pointer: "/cursor".to_owned(),
                message: format!("cursor must be at most {CURSOR_LEN_MAX} characters"),
            });
        }
        if errors.is_empty() {
            Ok(PageRequest {
                cursor: self.cursor,
                limit,
            })
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// The page size of a list paged by an `after` id: `limit` (20 when absent) must be 1 ..=
/// `page_size_max` (else 422 at `/limit`), then it is capped at the district's own page bound
/// `district_max`, so a full page is recognised as full.
pub fn after_page_limit(
    limit: Option<u32>,
    page_size_max: u32,
    district_max: u32,
) -> Result<u32, ApiError> {
    let asked = limit.unwrap_or(PAGE_SIZE_DEFAULT.min(page_size_max));
    if asked == 0 || asked > page_size_max {
        return Err(ApiError::validation(vec![FieldError {
            pointer: "/limit".to_owned(),
            message: format!("limit must be between 1 and {page_size_max}"),
        }]));
    }
    Ok(asked.min(district_max))
}

/// The `after` id of such a list, parsed; 422 at `/after` saying it is not `what` (“an event
/// id”).
pub fn after_id<T: std::str::FromStr>(
    after: Option<&str>,
    what: &str,
) -> Result<Option<T>, ApiError> {
    after.map(str::parse::<T>).transpose().map_err(|_| {
        ApiError::validation(vec![FieldError {
            pointer: "/after".to_owned(),
            message: format!("after is not {what}"),
        }])
    })
}

/// The `next_cursor` of such a page: the last item's id when the page is full, else `None`.
pub fn after_next_cursor<T>(items: &[T], limit: u32, id: impl Fn(&T) -> String) -> Option<String> {
    let full = u32::try_from(items.len()).is_ok_and(|n| n >= limit);
    items.last().filter(|_| full).map(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: Option<u32>, cursor_len: usize) -> PageQuery {
        PageQuery {
            cursor: (cursor_len > 0).then(|| "c".repeat(cursor_len)),
            limit,
        }
    }

    #[test]
    fn the_limit_is_accepted_up_to_the_maximum_and_defaults_when_absent() {
        assert_eq!(
            query(Some(100), 0).check(100).map(|p| p.limit).ok(),
            Some(100)
        );
        assert_eq!(query(Some(1), 0).check(100).map(|p| p.limit).ok(), Some(1));
        assert_eq!(query(None, 0).check(100).map(|p| p.limit).ok(), Some(20));
        assert_eq!(query(None, 0).check(5).map(|p| p.limit).ok(), Some(5));
    }

    #[test]
    fn a_limit_of_zero_or_one_past_the_maximum_points_at_limit() {
        for limit in [0, 101] {
            let error = query(Some(limit), 0).check(100).err();
            let pointer = error.map(|e| e.field_errors()[0].pointer.clone());
            assert_eq!(pointer.as_deref(), Some("/limit"), "limit {limit}");
        }
    }

    #[test]
    fn a_cursor_one_past_its_maximum_points_at_cursor() {
        assert!(query(None, CURSOR_LEN_MAX).check(100).is_ok());
        let error = query(None, CURSOR_LEN_MAX + 1).check(100).err();
        let pointer = error.map(|e| e.field_errors()[0].pointer.clone());
        assert_eq!(pointer.as_deref(), Some("/cursor"));
    }
}
