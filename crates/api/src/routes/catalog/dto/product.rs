//! Products and variants: the product as answered, and the staff bodies that create and
//! change them.

use kassa_catalog::{
    Handle, NewProduct, NewVariant, OptionValue, Product, ProductPage, ProductPatch, Status, Title,
    Variant, VariantPatch,
};
use kassa_kernel::ids::{CategoryId, ProductId, VariantId};
use kassa_kernel::Sku;
use serde::{Deserialize, Serialize};

use super::parse_at;
use crate::money::MoneyDto;
use crate::problem::ApiError;

/// Whether a product or variant can be bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = CatalogStatus)]
pub enum StatusDto {
    Active,
    Archived,
}

impl From<Status> for StatusDto {
    fn from(status: Status) -> StatusDto {
        match status {
            Status::Active => StatusDto::Active,
            Status::Archived => StatusDto::Archived,
        }
    }
}

impl From<StatusDto> for Status {
    fn from(status: StatusDto) -> Status {
        match status {
            StatusDto::Active => Status::Active,
            StatusDto::Archived => Status::Archived,
        }
    }
}

/// One option value of a variant, e.g. `size = M`; in requests and responses alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VariantOption)]
pub struct OptionDto {
    #[schema(example = "size")]
    pub name: String,
    #[schema(example = "M")]
    pub value: String,
}

impl From<OptionValue> for OptionDto {
    fn from(option: OptionValue) -> OptionDto {
        OptionDto {
            name: option.name,
            value: option.value,
        }
    }
}

impl From<OptionDto> for OptionValue {
    fn from(option: OptionDto) -> OptionValue {
        OptionValue {
            name: option.name,
            value: option.value,
        }
    }
}

/// One sellable SKU of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Variant)]
pub struct VariantDto {
    #[schema(value_type = String, example = "var_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: VariantId,
    #[schema(value_type = String, example = "TEE-AURORA-M")]
    pub sku: Sku,
    #[schema(example = "Aurora T-shirt / M")]
    pub title: String,
    pub options: Vec<OptionDto>,
    #[schema(example = 200)]
    pub weight_grams: u32,
    /// At most one price per currency, ordered by currency code.
    pub prices: Vec<MoneyDto>,
    pub status: StatusDto,
}

impl From<Variant> for VariantDto {
    fn from(variant: Variant) -> VariantDto {
        VariantDto {
            id: variant.id,
            sku: variant.sku,
            title: variant.title,
            options: variant.options.into_iter().map(OptionDto::from).collect(),
            weight_grams: variant.weight_grams,
            prices: variant.prices.into_iter().map(MoneyDto::from).collect(),
            status: variant.status.into(),
        }
    }
}

/// A product and its variants. Public routes leave archived variants out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Product)]
pub struct ProductDto {
    #[schema(value_type = String, example = "prod_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: ProductId,
    #[schema(example = "tee-aurora")]
    pub handle: String,
    #[schema(example = "Aurora T-shirt")]
    pub title: String,
    pub description: String,
    pub status: StatusDto,
    #[schema(value_type = Vec<String>)]
    pub category_ids: Vec<CategoryId>,
    pub variants: Vec<VariantDto>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub created_at: String,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub updated_at: String,
}

impl From<Product> for ProductDto {
    fn from(product: Product) -> ProductDto {
        ProductDto {
            id: product.id,
            handle: product.handle.as_str().to_owned(),
            title: product.title,
            description: product.description,
            status: product.status.into(),
            category_ids: product.category_ids,
            variants: product.variants.into_iter().map(VariantDto::from).collect(),
            created_at: product.created_at.to_rfc3339(),
            updated_at: product.updated_at.to_rfc3339(),
        }
    }
}

/// A page of products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProductList {
    pub items: Vec<ProductDto>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl From<ProductPage> for ProductList {
    fn from(page: ProductPage) -> ProductList {
        ProductList {
            items: page.items.into_iter().map(ProductDto::from).collect(),
            next_cursor: page.next_cursor.map(|id| id.to_string()),
        }
    }
}
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewVariant)]
pub struct NewVariantDto {
    #[schema(value_type = String, example = "TEE-AURORA-M")]
    pub sku: Sku,
    #[schema(example = "Aurora T-shirt / M")]
    pub title: String,
    #[serde(default)]
    pub options: Vec<OptionDto>,
    #[schema(example = 200)]
    pub weight_grams: u32,
    /// At most one per currency.
    pub prices: Vec<MoneyDto>,
}

impl NewVariantDto {
    /// `at` is the pointer of this variant in the request body (`""` when it is the body).
    pub fn into_input(self, at: &str) -> Result<NewVariant, ApiError> {
        Ok(NewVariant {
            sku: self.sku,
            title: parse_at(&format!("{at}/title"), Title::parse(&self.title))?,
            options: self.options.into_iter().map(OptionValue::from).collect(),
            weight_grams: self.weight_grams,
            prices: self.prices.into_iter().map(Into::into).collect(),
        })
    }
}

/// `POST /v1/admin/products`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewProduct)]
pub struct NewProductDto {
    #[schema(example = "tee-aurora")]
    pub handle: String,
    #[schema(example = "Aurora T-shirt")]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub category_ids: Vec<CategoryId>,
    /// 1 to 100 variants with distinct SKUs.
    pub variants: Vec<NewVariantDto>,
}

impl NewProductDto {
    pub fn into_input(self) -> Result<NewProduct, ApiError> {
        let handle = parse_at("/handle", Handle::parse(&self.handle))?;
        let title = parse_at("/title", Title::parse(&self.title))?;
        let variants = self
            .variants
            .into_iter()
            .enumerate()
            .map(|(i, variant)| variant.into_input(&format!("/variants/{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NewProduct {
            handle,
            title,
            description: self.description,
            category_ids: self.category_ids,
            variants,
        })
    }
}

/// `PATCH /v1/admin/products/{product_id}`: the fields present (and not `null`) are changed.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProductPatch)]
pub struct ProductPatchDto {
    pub handle: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Replaces the product's categories.
    #[schema(value_type = Option<Vec<String>>)]
    pub category_ids: Option<Vec<CategoryId>>,
    /// `archived` archives the product, `active` restores it.
    pub status: Option<StatusDto>,
}

impl ProductPatchDto {
    pub fn into_input(self) -> Result<ProductPatch, ApiError> {
        Ok(ProductPatch {
            handle: self
                .handle
                .map(|h| parse_at("/handle", Handle::parse(&h)))
                .transpose()?,
            title: self
                .title
                .map(|t| parse_at("/title", Title::parse(&t)))
                .transpose()?,
            description: self.description,
            category_ids: self.category_ids,
            status: self.status.map(Status::from),
        })
    }
}

/// `PATCH /v1/admin/variants/{variant_id}`: the fields present (and not `null`) are changed.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VariantPatch)]
pub struct VariantPatchDto {
    pub title: Option<String>,
    /// Replaces the variant's options.
    pub options: Option<Vec<OptionDto>>,
    pub weight_grams: Option<u32>,
    pub status: Option<StatusDto>,
}

impl VariantPatchDto {
    pub fn into_input(self) -> Result<VariantPatch, ApiError> {
        Ok(VariantPatch {
            title: self
                .title
                .map(|t| parse_at("/title", Title::parse(&t)))
                .transpose()?,
            options: self
                .options
                .map(|options| options.into_iter().map(OptionValue::from).collect()),
            weight_grams: self.weight_grams,
            status: self.status.map(Status::from),
        })
    }
}

/// `PUT /v1/admin/variants/{variant_id}/prices/{currency}`; the currency is in the path.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PriceInput)]
pub struct PriceInputDto {
    /// 1 to 1,000,000,000,000 minor units.
    #[schema(example = 2700)]
    pub amount_minor: i64,
}

#[cfg(test)]
mod tests {
    use super::super::{ok, pointers, refused};
    use super::*;
    use crate::extract::parse_json;
    use kassa_kernel::{Currency, Money, Timestamp};
    use serde_json::json;

    #[test]
    fn a_product_serialises_in_the_documented_shape() {
        let product = Product {
            id: ProductId::new(),
            handle: ok(Handle::parse("tee-aurora")),
            title: "Aurora T-shirt".to_owned(),
            description: "Soft.".to_owned(),
            status: Status::Active,
            category_ids: vec![CategoryId::new()],
            variants: vec![Variant {
                id: VariantId::new(),
                product_id: ProductId::new(),
                sku: ok(Sku::parse("TEE-AURORA-M")),
                title: "Aurora T-shirt / M".to_owned(),
                options: vec![OptionValue {
                    name: "size".to_owned(),
                    value: "M".to_owned(),
                }],
                weight_grams: 200,
                prices: vec![Money::new(2700, Currency::Eur)],
                status: Status::Archived,
            }],
            created_at: Timestamp::from_millis(1_795_322_376_123),
            updated_at: Timestamp::from_millis(1_795_322_376_124),
        };
        let json = ok(serde_json::to_value(ProductDto::from(product.clone())));
        assert_eq!(
            json,
            json!({
                "id": product.id.to_string(), "handle": "tee-aurora", "title": "Aurora T-shirt",
                "description": "Soft.", "status": "active",
                "category_ids": [product.category_ids[0].to_string()],
                "variants": [{
                    "id": product.variants[0].id.to_string(), "sku": "TEE-AURORA-M",
                    "title": "Aurora T-shirt / M", "options": [{"name": "size", "value": "M"}],
                    "weight_grams": 200, "prices": [{"amount_minor": 2700, "currency": "EUR"}],
                    "status": "archived"
                }],
                "created_at": "2026-11-22T04:39:36.123Z", "updated_at": "2026-11-22T04:39:36.124Z"
            })
        );
    }

    #[test]
    fn a_bad_title_deep_in_a_new_product_keeps_its_code_and_gains_its_pointer() {
        let body = json!({
            "handle": "mug", "title": "Mug",
            "variants": [
                {"sku": "MUG-1", "title": "Mug 1", "weight_grams": 300, "prices": []},
                {"sku": "MUG-2", "title": " ", "weight_grams": 300, "prices": []}
            ]
        });
        let dto: NewProductDto = ok(parse_json(body.to_string().as_bytes()));
        let error = refused(dto.into_input());
        assert_eq!(error.problem().code, "invalid_title");
        assert_eq!(pointers(&error), ["/variants/1/title"]);
    }

    #[test]
    fn optional_fields_of_a_new_product_default_to_empty() {
        let body = json!({"handle": "mug", "title": "Mug", "variants": [
            {"sku": "mug-1", "title": "Mug", "weight_grams": 0, "prices": []}]});
        let dto: NewProductDto = ok(parse_json(body.to_string().as_bytes()));
        let input = ok(dto.into_input());
        assert_eq!(input.description, "");
        assert!(input.category_ids.is_empty());
        assert!(input.variants[0].options.is_empty());
        assert_eq!(input.variants[0].sku.as_str(), "MUG-1");
    }

    #[test]
    fn a_bad_handle_in_a_patch_is_invalid_handle_at_handle() {
        let dto: ProductPatchDto = ok(parse_json(br#"{"handle": "Not A Handle"}"#));
        let error = refused(dto.into_input());
        assert_eq!(error.problem().code, "invalid_handle");
        assert_eq!(pointers(&error), ["/handle"]);

        let empty: ProductPatchDto = ok(parse_json(b"{}"));
        let patch = ok(empty.into_input());
        assert!(patch.handle.is_none() && patch.status.is_none());
    }

    #[test]
    fn an_unknown_status_is_refused_at_its_pointer() {
        let error = refused(parse_json::<VariantPatchDto>(br#"{"status": "deleted"}"#));
        assert_eq!(pointers(&error), ["/status"]);
    }
}
