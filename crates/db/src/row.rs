//! Helpers for turning stored columns back into domain types. A value that does not parse is
//! corrupt data (or a bug), reported as [`DbError::Corrupt`], never a panic.

use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::DbError;

/// Reads a TEXT column and parses it with `FromStr` (ids, SKUs, currencies, enums).
pub fn parse<T>(row: &AnyRow, column: &str) -> Result<T, DbError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|err| DbError::Corrupt(format!("column {column}: {err}")))
}

/// Reads a nullable TEXT column and parses it when present.
pub fn parse_opt<T>(row: &AnyRow, column: &str) -> Result<Option<T>, DbError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        t.parse()
            .map_err(|err| DbError::Corrupt(format!("column {column}: {err}")))
    })
    .transpose()
}

/// Reads a BIGINT column.
pub fn int(row: &AnyRow, column: &str) -> Result<i64, DbError> {
    Ok(row.try_get(column)?)
}

/// Reads a TEXT column.
pub fn text(row: &AnyRow, column: &str) -> Result<String, DbError> {
    Ok(row.try_get(column)?)
}

/// Reads a nullable TEXT column.
pub fn text_opt(row: &AnyRow, column: &str) -> Result<Option<String>, DbError> {
    Ok(row.try_get(column)?)
}
