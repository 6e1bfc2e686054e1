//! Tax rates as staff configure them: one percentage per country.

use kassa_cart::TaxRate;
use kassa_kernel::CountryCode;
use serde::{Deserialize, Serialize};

/// A country's tax rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = TaxRate)]
pub struct TaxRateDto {
    #[schema(value_type = String, example = "DE")]
    pub country: CountryCode,
    /// Percent with up to 4 decimals, as the shortest exact string.
    #[schema(example = "19")]
    pub rate: String,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub updated_at: String,
}

impl From<TaxRate> for TaxRateDto {
    fn from(tax_rate: TaxRate) -> TaxRateDto {
        TaxRateDto {
            country: tax_rate.country,
            rate: tax_rate.rate.to_percent_string(),
            updated_at: tax_rate.updated_at.to_rfc3339(),
        }
    }
}

/// Every tax rate, by country code, in one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TaxRateList {
    pub items: Vec<TaxRateDto>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `PUT /v1/admin/tax-rates/{country}`; the country is in the path.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TaxRateInput)]
pub struct TaxRateInputDto {
    /// Percent from 0 to 100 with at most 4 decimals, as a string: `"19"`, `"8.875"`.
    #[schema(example = "19")]
    pub rate: String,
}
