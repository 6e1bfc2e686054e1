//! Country codes: ISO 3166-1 alpha-2, as used in addresses, tax rules and shipping zones.
//!
//! Only the 249 officially assigned codes are accepted. User-assigned codes (`XX`, `ZZ`),
//! reserved ones (`UK`, `EU`) and withdrawn ones (`AN`, `YU`) are refused, so a rule keyed by
//! country can never silently miss because of a code that names no country.

use std::fmt;
use std::str::FromStr;

use crate::error::{DomainError, ErrorCategory, ProblemType};

pub const INVALID_COUNTRY: ProblemType = ProblemType::new(
    "invalid_country",
    "Invalid country code",
    ErrorCategory::Invalid,
);

/// How much of a refused input is echoed back in an error.
const ECHO_LEN_MAX: usize = 16;

/// Every officially assigned ISO 3166-1 alpha-2 code, sorted so it can be binary-searched.
#[rustfmt::skip]
const ASSIGNED: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ",
    "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW",
    "CX", "CY", "CZ",
    "DE", "DJ", "DK", "DM", "DO", "DZ",
    "EC", "EE", "EG", "EH", "ER", "ES", "ET",
    "FI", "FJ", "FK", "FM", "FO", "FR",
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT",
    "GU", "GW", "GY",
    "HK", "HM", "HN", "HR", "HT", "HU",
    "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT",
    "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ",
    "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY",
    "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
    "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM",
    "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY",
    "QA",
    "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ",
    "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ",
    "UA", "UG", "UM", "US", "UY", "UZ",
    "VA", "VC", "VE", "VG", "VI", "VN", "VU",
    "WF", "WS",
    "YE", "YT",
    "ZA", "ZM", "ZW",
];

/// Why a string is not a country code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountryError {
    /// Holds at most the first 16 characters of what was given.
    #[error("'{0}' is not an ISO 3166-1 alpha-2 country code such as US or DE")]
    Unknown(String),
}

impl DomainError for CountryError {
    fn problem_type(&self) -> &'static ProblemType {
        &INVALID_COUNTRY
    }
}

/// An officially assigned ISO 3166-1 alpha-2 code, always upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode(&'static str);

impl CountryCode {
    /// Trims surrounding whitespace and upper-cases, so `" us"` is `US`.
    pub fn parse(s: &str) -> Result<CountryCode, CountryError> {
        let unknown = || CountryError::Unknown(s.chars().take(ECHO_LEN_MAX).collect());
        let trimmed = s.trim();
        if trimmed.len() != 2 {
            return Err(unknown());
        }
        let candidate = trimmed.to_ascii_uppercase();
        ASSIGNED
            .binary_search(&candidate.as_str())
            .map(|index| CountryCode(ASSIGNED[index]))
            .map_err(|_| unknown())
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl FromStr for CountryCode {
    type Err = CountryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CountryCode::parse(s)
    }
}

impl TryFrom<String> for CountryCode {
    type Error = CountryError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        CountryCode::parse(&s)
    }
}

// Written by hand: a derived `Deserialize` on a `&'static str` field demands `'de: 'static`, so
// a code could only be read from a string literal, never from a request body.
impl<'de> serde::Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        CountryCode::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_table_is_sorted_unique_and_two_upper_case_letters() {
        assert!(ASSIGNED.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(ASSIGNED
            .iter()
            .all(|code| code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn codes_are_trimmed_and_upper_cased() {
        assert_eq!(CountryCode::parse("us").unwrap().as_str(), "US");
        assert_eq!(CountryCode::parse(" De\n").unwrap().to_string(), "DE");
        assert_eq!("gb".parse::<CountryCode>().unwrap().as_str(), "GB");
    }

    #[test]
    fn the_first_and_last_codes_are_accepted() {
        assert_eq!(CountryCode::parse("AD").unwrap().as_str(), "AD");
        assert_eq!(CountryCode::parse("ZW").unwrap().as_str(), "ZW");
    }

    #[test]
    fn unassigned_reserved_and_malformed_codes_are_refused() {
        let bad = [
            "XX", "ZZ", "UK", "EU", "AN", "YU", "AA", "ZY", "USA", "U1", "U", "", "  ", "U S",
            "ÜS", "1",
        ];
        for text in bad {
            assert!(CountryCode::parse(text).is_err(), "{text:?} parsed");
        }
        assert_eq!(
            CountryCode::parse("XX").unwrap_err().to_string(),
            "'XX' is not an ISO 3166-1 alpha-2 country code such as US or DE"
        );
    }

    #[test]
    fn a_code_deserialises_from_an_owned_non_static_buffer() {
        // A request body is a buffer that lives shorter than 'static.
        let body = String::from("{\"country\":\"de\"}");
        let value: std::collections::HashMap<String, CountryCode> =
            serde_json::from_str(&body).unwrap();
        assert_eq!(value["country"].as_str(), "DE");
        let from_reader: CountryCode = serde_json::from_reader(&b"\"fr\""[..]).unwrap();
        assert_eq!(from_reader.as_str(), "FR");
    }

    #[test]
    fn serde_is_the_code_and_revalidates() {
        let code = CountryCode::parse("se").unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"SE\"");
        assert_eq!(serde_json::from_str::<CountryCode>("\"se\"").unwrap(), code);
        assert!(serde_json::from_str::<CountryCode>("\"XX\"").is_err());
    }

    #[test]
    fn country_errors_are_invalid_country_problems() {
        let err = CountryError::Unknown("XX".into());
        assert_eq!(err.problem_type().code, "invalid_country");
        assert_eq!(err.problem_type().title, "Invalid country code");
    }

    proptest! {
        #[test]
        fn every_assigned_code_round_trips_in_either_case(index in 0..ASSIGNED.len()) {
            let code = CountryCode::parse(&ASSIGNED[index].to_ascii_lowercase()).unwrap();
            prop_assert_eq!(code.as_str(), ASSIGNED[index]);
            prop_assert_eq!(code.to_string().parse::<CountryCode>(), Ok(code));
        }
    }
}
