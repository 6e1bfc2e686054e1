//! Email addresses: where receipts and order updates go.
//!
//! The check is deliberately practical, not RFC 5322: it catches typos and junk (`jane@`,
//! `jane@localhost`, `a b@c.d`) while accepting what real mailboxes look like. The domain is
//! lower-cased, because DNS ignores case; the local part is kept as given, because some mail
//! servers do not.

use std::fmt;
use std::str::FromStr;

use crate::error::{DomainError, ErrorCategory, ProblemType};

pub const INVALID_EMAIL: ProblemType = ProblemType::new(
    "invalid_email",
    "Invalid email address",
    ErrorCategory::Invalid,
);

/// Shortest possible address, in characters.
const EMAIL_LEN_MIN: usize = 3;
/// Longest address, in characters: the 256-octet SMTP path limit (RFC 5321 §4.5.3.1.3) minus
/// the angle brackets around the address.
const EMAIL_LEN_MAX: usize = 254;
/// Longest part before the `@`, in characters (RFC 5321 §4.5.3.1.1).
const LOCAL_PART_LEN_MAX: usize = 64;

/// Why a string is not an email address. Messages never echo the address: it is personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email address must be between {min} and {max} characters long")]
    Length { min: usize, max: usize },
    #[error("email address must not contain spaces or control characters")]
    ForbiddenCharacter,
    #[error("email address must contain exactly one '@'")]
    AtSign,
    #[error("email address needs a name before the '@'")]
    EmptyLocalPart,
    #[error("the part of an email address before the '@' must be at most {max} characters")]
    LocalPartTooLong { max: usize },
    #[error("the part of an email address after the '@' must be a domain such as example.com")]
    InvalidDomain,
}

impl DomainError for EmailError {
    fn problem_type(&self) -> &'static ProblemType {
        &INVALID_EMAIL
    }
}

/// A plausible email address: trimmed, domain lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Email, EmailError> {
        let trimmed = s.trim();
        // Count at most one past the limit, so a huge input costs no more than a long one.
        let len = trimmed.chars().take(EMAIL_LEN_MAX + 1).count();
        if !(EMAIL_LEN_MIN..=EMAIL_LEN_MAX).contains(&len) {
            return Err(EmailError::Length {
                min: EMAIL_LEN_MIN,
                max: EMAIL_LEN_MAX,
            });
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::ForbiddenCharacter);
        }
        let Some((local, domain)) = trimmed.split_once('@') else {
            return Err(EmailError::AtSign);
        };
        if domain.contains('@') {
            return Err(EmailError::AtSign);
        }
        check_local_part(local)?;
        check_domain(domain)?;
        Ok(Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_local_part(local: &str) -> Result<(), EmailError> {
    if local.is_empty() {
        return Err(EmailError::EmptyLocalPart);
    }
    if local.chars().count() > LOCAL_PART_LEN_MAX {
        return Err(EmailError::LocalPartTooLong {
            max: LOCAL_PART_LEN_MAX,
        });
    }
    Ok(())
}

/// At least two labels separated by dots, each non-empty ASCII letters, digits and hyphens.
/// Internationalised domains must arrive in their `xn--` form.
fn check_domain(domain: &str) -> Result<(), EmailError> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.contains('.') && domain.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(EmailError::InvalidDomain)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Email::parse(s)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Email::parse(&s)
    }
}

impl serde::Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parsed(s: &str) -> String {
        Email::parse(s).unwrap().to_string()
    }

    #[test]
    fn an_address_is_trimmed_and_its_domain_lower_cased() {
        assert_eq!(parsed("  Jane.Doe@Example.COM \n"), "Jane.Doe@example.com");
        assert_eq!(parsed("a@b.co"), "a@b.co");
        assert_eq!(
            parsed("x+tag@mail.example-shop.de"),
            "x+tag@mail.example-shop.de"
        );
        assert_eq!(parsed("josé@example.org"), "josé@example.org");
    }

    #[test]
    fn length_is_checked_at_both_ends() {
        assert_eq!(
            Email::parse("a@"),
            Err(EmailError::Length { min: 3, max: 254 })
        );
        let domain = format!("{}.com", "d".repeat(254 - 2 - 4));
        let longest = format!("a@{domain}");
        assert_eq!(longest.chars().count(), 254);
        assert_eq!(parsed(&longest), longest);
        let too_long = format!("ab@{domain}");
        assert_eq!(
            Email::parse(&too_long),
            Err(EmailError::Length { min: 3, max: 254 })
        );
        assert_eq!(
            Email::parse(&"a".repeat(100_000)),
            Err(EmailError::Length { min: 3, max: 254 })
        );
    }

    #[test]
    fn the_three_character_minimum_still_needs_a_valid_domain() {
        assert_eq!(Email::parse("a@b"), Err(EmailError::InvalidDomain));
        assert_eq!(
            Email::parse("  "),
            Err(EmailError::Length { min: 3, max: 254 })
        );
    }

    #[test]
    fn exactly_one_at_sign_is_required() {
        assert_eq!(Email::parse("jane.example.com"), Err(EmailError::AtSign));
        assert_eq!(
            Email::parse("jane@doe@example.com"),
            Err(EmailError::AtSign)
        );
        assert_eq!(Email::parse("@@example.com"), Err(EmailError::AtSign));
    }

    #[test]
    fn the_local_part_must_be_one_to_sixty_four_characters() {
        assert_eq!(
            Email::parse("@example.com"),
            Err(EmailError::EmptyLocalPart)
        );
        let longest = format!("{}@example.com", "l".repeat(64));
        assert_eq!(parsed(&longest), longest);
        let too_long = format!("{}@example.com", "l".repeat(65));
        assert_eq!(
            Email::parse(&too_long),
            Err(EmailError::LocalPartTooLong { max: 64 })
        );
    }

    #[test]
    fn the_domain_needs_a_dot_and_well_formed_labels() {
        for bad in [
            "jane@localhost",
            "jane@example.",
            "jane@.example.com",
            "jane@example..com",
            "jane@exa_mple.com",
            "jane@exämple.com",
            "jane@example.com.",
            "jane@",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert!(
                matches!(err, EmailError::InvalidDomain | EmailError::Length { .. }),
                "{bad:?}: {err:?}"
            );
        }
        assert_eq!(parsed("jane@xn--exmple-cua.com"), "jane@xn--exmple-cua.com");
    }

    #[test]
    fn whitespace_and_control_characters_inside_are_refused() {
        for bad in [
            "ja ne@example.com",
            "jane@exa\tmple.com",
            "ja\u{7}ne@example.com",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(EmailError::ForbiddenCharacter),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn messages_do_not_echo_the_address() {
        let message = Email::parse("secret@localhost").unwrap_err().to_string();
        assert!(!message.contains("secret"));
        assert_eq!(
            message,
            "the part of an email address after the '@' must be a domain such as example.com"
        );
    }

    #[test]
    fn serde_is_the_string_and_revalidates() {
        let email = Email::parse("Jane@Example.com").unwrap();
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"Jane@example.com\""
        );
        assert_eq!(
            serde_json::from_str::<Email>("\"Jane@EXAMPLE.com\"").unwrap(),
            email
        );
        assert!(serde_json::from_str::<Email>("\"jane\"").is_err());
    }

    #[test]
    fn email_errors_are_invalid_email_problems() {
        assert_eq!(EmailError::AtSign.problem_type().code, "invalid_email");
        assert_eq!(
            EmailError::AtSign.problem_type().title,
            "Invalid email address"
        );
    }

    proptest! {
        #[test]
        fn a_valid_address_round_trips(
            local in "[A-Za-z0-9._%+-]{1,64}",
            domain in "[A-Za-z0-9-]{1,20}(\\.[A-Za-z0-9-]{1,20}){1,3}",
        ) {
            let email = Email::parse(&format!("{local}@{domain}")).unwrap();
            prop_assert_eq!(email.as_str(), format!("{local}@{}", domain.to_ascii_lowercase()));
            prop_assert_eq!(email.to_string().parse::<Email>(), Ok(email.clone()));
            let json = serde_json::to_string(&email).unwrap();
            prop_assert_eq!(serde_json::from_str::<Email>(&json).unwrap(), email);
        }

        #[test]
        fn parsing_never_panics(text in ".{0,300}") {
            let _ = Email::parse(&text);
        }
    }
}
