//! Shipping addresses, validated field by field so each problem can point at its field.

use std::fmt;

use kassa_kernel::country::CountryError;
use kassa_kernel::CountryCode;

/// Longest recipient name: room for long names and "c/o" additions.
pub const ADDRESS_NAME_LEN_MAX: usize = 200;
/// Longest street line (either of the two).
pub const ADDRESS_LINE_LEN_MAX: usize = 200;
/// Longest city name; the longest official place names are well under 100 characters.
pub const ADDRESS_CITY_LEN_MAX: usize = 100;
/// Longest postal code; the world's longest formats are about 10 characters.
pub const ADDRESS_POSTAL_CODE_LEN_MAX: usize = 20;
/// Longest region (state, province, county).
pub const ADDRESS_REGION_LEN_MAX: usize = 100;
/// Longest phone number, generous for `+`, spaces and an extension (E.164 has 15 digits).
pub const ADDRESS_PHONE_LEN_MAX: usize = 30;

/// An address as the shopper typed it; turn it into an [`Address`] with [`Address::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressInput {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub region: Option<String>,
    /// An ISO 3166-1 alpha-2 code such as `DE`, in either case.
    pub country: String,
    pub phone: Option<String>,
}

/// A shipping address: every text field trimmed, within its length limit and free of control
/// characters; optional fields left blank are absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    postal_code: String,
    region: Option<String>,
    country: CountryCode,
    phone: Option<String>,
}

/// A field of [`AddressInput`], named as in the API so an error can point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressField {
    Name,
    Line1,
    Line2,
    City,
    PostalCode,
    Region,
    Country,
    Phone,
}

impl AddressField {
    pub fn as_str(&self) -> &'static str {
        match self {
            AddressField::Name => "name",
            AddressField::Line1 => "line1",
            AddressField::Line2 => "line2",
            AddressField::City => "city",
            AddressField::PostalCode => "postal_code",
            AddressField::Region => "region",
            AddressField::Country => "country",
            AddressField::Phone => "phone",
        }
    }

    /// A JSON pointer to the field in an address object, e.g. `/postal_code`.
    pub fn pointer(&self) -> String {
        format!("/{}", self.as_str())
    }
}

impl fmt::Display for AddressField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with one address field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressFieldProblem {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("{0}")]
    Country(CountryError),
}

/// One invalid field of an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct AddressFieldError {
    pub field: AddressField,
    pub problem: AddressFieldProblem,
}

/// Every invalid field of an address (never empty), in field order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The shipping address is invalid: {}.", join_errors(.errors))]
pub struct AddressError {
    errors: Vec<AddressFieldError>,
}

impl AddressError {
    pub fn errors(&self) -> &[AddressFieldError] {
        &self.errors
    }
}

fn join_errors(errors: &[AddressFieldError]) -> String {
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    messages.join("; ")
}

impl Address {
    /// Trims every field and checks it; reports all invalid fields at once.
    pub fn parse(input: AddressInput) -> Result<Address, AddressError> {
        let mut fields = FieldChecker::default();
        let name = fields.required(AddressField::Name, &input.name, ADDRESS_NAME_LEN_MAX);
        let line1 = fields.required(AddressField::Line1, &input.line1, ADDRESS_LINE_LEN_MAX);
        let line2 = fields.optional(AddressField::Line2, &input.line2, ADDRESS_LINE_LEN_MAX);
        let city = fields.required(AddressField::City, &input.city, ADDRESS_CITY_LEN_MAX);
        let postal_code = fields.required(
            AddressField::PostalCode,
            &input.postal_code,
            ADDRESS_POSTAL_CODE_LEN_MAX,
        );
        let region = fields.optional(AddressField::Region, &input.region, ADDRESS_REGION_LEN_MAX);
        let country = fields.country(&input.country);
        let phone = fields.optional(AddressField::Phone, &input.phone, ADDRESS_PHONE_LEN_MAX);
        match country {
            Some(country) if fields.errors.is_empty() => Ok(Address {
                name,
                line1,
                line2,
                city,
                postal_code,
                region,
                country,
                phone,
            }),
            _ => Err(AddressError {
                errors: fields.errors,
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn line1(&self) -> &str {
        &self.line1
    }

    pub fn line2(&self) -> Option<&str> {
        self.line2.as_deref()
    }

    pub fn city(&self) -> &str {
        &self.city
    }

    pub fn postal_code(&self) -> &str {
        &self.postal_code
    }

    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    pub fn country(&self) -> CountryCode {
        self.country
    }

    pub fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }

    /// The address as input again, e.g. to change one field and parse it anew.
    pub fn to_input(&self) -> AddressInput {
        AddressInput {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            postal_code: self.postal_code.clone(),
            region: self.region.clone(),
            country: self.country.as_str().to_owned(),
            phone: self.phone.clone(),
        }
    }
}

/// Collects the problems of every field while [`Address::parse`] checks them.
#[derive(Default)]
struct FieldChecker {
    errors: Vec<AddressFieldError>,
}

impl FieldChecker {
    /// The trimmed value; on a problem it is recorded and an empty string is returned, which
    /// never reaches an [`Address`].
    fn required(&mut self, field: AddressField, value: &str, max: usize) -> String {
        match checked_text(value, max) {
            Ok(text) => text,
            Err(problem) => {
                self.errors.push(AddressFieldError { field, problem });
                String::new()
            }
        }
    }

    /// Absent or blank is `None`.
    fn optional(
        &mut self,
        field: AddressField,
        value: &Option<String>,
        max: usize,
    ) -> Option<String> {
        let value = value.as_deref().filter(|v| !v.trim().is_empty())?;
        Some(self.required(field, value, max))
    }

    fn country(&mut self, value: &str) -> Option<CountryCode> {
        if value.trim().is_empty() {
            self.required(AddressField::Country, value, 2);
            return None;
        }
        CountryCode::parse(value)
            .map_err(|err| {
                self.errors.push(AddressFieldError {
                    field: AddressField::Country,
                    problem: AddressFieldProblem::Country(err),
                });
            })
            .ok()
    }
}

fn checked_text(value: &str, max: usize) -> Result<String, AddressFieldProblem> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(AddressFieldProblem::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(AddressFieldProblem::TooLong { max });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(AddressFieldProblem::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input() -> AddressInput {
        AddressInput {
            name: "  Ada Lovelace ".into(),
            line1: "12 St James's Square".into(),
            line2: Some("   ".into()),
            city: "London".into(),
            postal_code: "SW1Y 4JH".into(),
            region: None,
            country: "gb".into(),
            phone: Some("+44 20 7946 0000".into()),
        }
    }

    fn fields(err: &AddressError) -> Vec<&'static str> {
        err.errors().iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn an_address_is_trimmed_and_blank_optional_fields_are_absent() {
        let address = Address::parse(input()).unwrap();
        assert_eq!(address.name(), "Ada Lovelace");
        assert_eq!(address.line2(), None);
        assert_eq!(address.region(), None);
        assert_eq!(address.country().as_str(), "GB");
        assert_eq!(address.phone(), Some("+44 20 7946 0000"));
        assert_eq!(Address::parse(address.to_input()).unwrap(), address);
    }

    #[test]
    fn every_address_field_is_accepted_at_its_limit_and_refused_one_past() {
        type SetField = fn(&mut AddressInput, String);
        let limits: [(AddressField, usize, SetField); 7] = [
            (AddressField::Name, ADDRESS_NAME_LEN_MAX, |i, v| i.name = v),
            (AddressField::Line1, ADDRESS_LINE_LEN_MAX, |i, v| {
                i.line1 = v
            }),
            (AddressField::Line2, ADDRESS_LINE_LEN_MAX, |i, v| {
                i.line2 = Some(v)
            }),
            (AddressField::City, ADDRESS_CITY_LEN_MAX, |i, v| i.city = v),
            (
                AddressField::PostalCode,
                ADDRESS_POSTAL_CODE_LEN_MAX,
                |i, v| i.postal_code = v,
            ),
            (AddressField::Region, ADDRESS_REGION_LEN_MAX, |i, v| {
                i.region = Some(v)
            }),
            (AddressField::Phone, ADDRESS_PHONE_LEN_MAX, |i, v| {
                i.phone = Some(v)
            }),
        ];
        for (field, max, set) in limits {
            let mut at_limit = input();
            set(&mut at_limit, "é".repeat(max));
            assert!(Address::parse(at_limit).is_ok(), "{field} at {max}");
            let mut past = input();
            set(&mut past, "é".repeat(max + 1));
            let err = Address::parse(past).unwrap_err();
            assert_eq!(
                err.errors(),
                [AddressFieldError {
                    field,
                    problem: AddressFieldProblem::TooLong { max }
                }]
            );
        }
    }

    #[test]
    fn every_invalid_field_is_reported_with_its_pointer() {
        let err = Address::parse(AddressInput {
            name: " ".into(),
            city: "Lon\u{7}don".into(),
            postal_code: String::new(),
            country: "XX".into(),
            ..input()
        })
        .unwrap_err();
        assert_eq!(fields(&err), ["name", "city", "postal_code", "country"]);
        assert_eq!(err.errors()[2].field.pointer(), "/postal_code");
        assert_eq!(
            err.errors()[1].to_string(),
            "city must not contain control characters"
        );
        assert_eq!(
            err.errors()[3].to_string(),
            "country 'XX' is not an ISO 3166-1 alpha-2 country code such as US or DE"
        );
        let blank_country = Address::parse(AddressInput {
            country: " ".into(),
            ..input()
        })
        .unwrap_err();
        assert_eq!(
            blank_country.errors()[0].to_string(),
            "country must not be empty"
        );
    }
}
