//! The error contract between districts and the HTTP layer.
//!
//! Every district error names a [`ProblemType`]: a stable machine code, a fixed human title and
//! an [`ErrorCategory`]. The `api` crate maps the category to an HTTP status and renders an RFC
//! 9457 problem document; districts never mention status codes. Codes form one registry across
//! the workspace (each district exports its `PROBLEM_TYPES`), are unique, and are never reused
//! for another meaning.

/// What kind of failure an error is, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// The request was understood but its content is not acceptable (HTTP 422).
    Invalid,
    /// The request could not be parsed at all (HTTP 400).
    Malformed,
    /// The thing named does not exist, or the caller may not know it exists (HTTP 404).
    NotFound,
    /// The request conflicts with the current state (HTTP 409).
    Conflict,
    /// Payment is needed or was refused (HTTP 402).
    PaymentRequired,
    /// The caller is not authenticated (HTTP 401).
    Unauthorized,
    /// The caller is authenticated but not allowed (HTTP 403).
    Forbidden,
    /// The caller sent too many requests (HTTP 429).
    TooManyRequests,
    /// The request body is larger than allowed (HTTP 413).
    TooLarge,
    /// We cannot serve this now; retrying later may work (HTTP 503).
    Unavailable,
    /// An outside system we depend on failed (HTTP 502).
    Upstream,
    /// Our own fault; details are logged, never shown (HTTP 500).
    Internal,
}

/// One entry of the problem registry: a code that never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProblemType {
    /// Stable snake_case code, e.g. `insufficient_stock`.
    pub code: &'static str,
    /// Fixed human title, e.g. `Insufficient stock`. The same for every occurrence.
    pub title: &'static str,
    /// How callers should treat it.
    pub category: ErrorCategory,
}

impl ProblemType {
    pub const fn new(code: &'static str, title: &'static str, category: ErrorCategory) -> Self {
        Self {
            code,
            title,
            category,
        }
    }

    /// The path segment used in the problem `type` URI: the code with `_` replaced by `-`.
    pub fn slug(&self) -> String {
        self.code.replace('_', "-")
    }
}

/// What is wrong with a list of problem types, one sentence each; empty when the list is a
/// valid registry: every code unique and snake_case (lowercase ASCII words of letters and
/// digits joined by single underscores, starting with a letter), every title non-empty. Each
/// district checks its own list together with the kernel's; `api` checks the whole registry.
pub fn check_problem_types(types: &[&ProblemType]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for problem in types {
        if !seen.insert(problem.code) {
            problems.push(format!("code {} is registered twice", problem.code));
        }
        if !is_snake_case(problem.code) {
            problems.push(format!("code {:?} is not snake_case", problem.code));
        }
        if problem.title.trim().is_empty() {
            problems.push(format!("code {} has no title", problem.code));
        }
    }
    problems
}

fn is_snake_case(code: &str) -> bool {
    code.starts_with(|c: char| c.is_ascii_lowercase())
        && code.split('_').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Implemented by every district's error enum.
pub trait DomainError: std::error::Error + Send + Sync + 'static {
    /// Which registry entry this error is.
    fn problem_type(&self) -> &'static ProblemType;

    /// A description of this occurrence that is safe to show to clients. Internal errors must
    /// return a generic text: their sources are logged, not shown.
    fn detail(&self) -> String {
        if self.problem_type().category == ErrorCategory::Internal {
            "An internal error occurred; it has been logged with the request id.".to_owned()
        } else {
            self.to_string()
        }
    }

    /// Field-level validation errors as (JSON pointer, message) pairs, if any.
    fn field_errors(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: ProblemType =
        ProblemType::new("cart_not_found", "Cart not found", ErrorCategory::NotFound);

    #[test]
    fn a_valid_registry_has_no_problems() {
        assert_eq!(
            check_problem_types(&[&OK, &crate::money::UNKNOWN_CURRENCY]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn duplicates_other_shapes_and_empty_titles_are_each_reported() {
        assert_eq!(check_problem_types(&[&OK, &OK]).len(), 1);
        for bad in [
            "",
            "Upper",
            "kebab-case",
            "double__underscore",
            "_lead",
            "trail_",
            "1st",
        ] {
            let problem = ProblemType::new(bad, "Title", ErrorCategory::Invalid);
            assert_eq!(
                check_problem_types(&[&problem]).len(),
                1,
                "{bad:?} was accepted"
            );
        }
        let untitled = ProblemType::new("untitled", " ", ErrorCategory::Invalid);
        assert_eq!(check_problem_types(&[&untitled]).len(), 1);
    }
}
