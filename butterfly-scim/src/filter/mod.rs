//! SCIM filters (RFC 7644 section 3.4.2.2) and PATCH paths (section 3.5.2).
//!
//! - [`Filter::parse`] turns `filter=` text into a [`Filter`] tree; `Display` prints the
//!   tree back as canonical text that parses to the same tree.
//! - [`Filter::matches`] tests a resource held as JSON, with [`AttributeRules`] saying
//!   which attributes are case-exact and what type each one has ([`DefaultRules`] knows
//!   the core User and Group schemas and the enterprise User extension).
//! - [`PatchPath::parse`] reads a PATCH operation's `path`.
//! - [`AttrPath::parse`] reads a lone attribute path, as `sortBy` carries one.
//!
//! Errors say where and what: `expected a comparison operator at offset 9, found `eqq``.
//! They convert into the [`ScimError`] a client should see: 400 `invalidFilter` for a
//! [`FilterError`], 400 `invalidPath` for a [`PathError`].
//!
//! # Grammar
//!
//! The ABNF of RFC 7644 figure 1, with these readings:
//!
//! - `not` binds tighter than `and`, which binds tighter than `or`; both are
//!   left-associative, so `a eq 1 or b eq 2 and c eq 3` is `a eq 1 or (b eq 2 and c eq 3)`.
//! - `not` must be followed by a parenthesised filter (`not (title pr)`); the space
//!   before the parenthesis is optional.
//! - Keywords, operators and the literals `true`, `false` and `null` are accepted in any
//!   case; attribute names keep the case they were written in.
//! - An attribute name is `ALPHA *(ALPHA / DIGIT / "-" / "_")`, or `$ref`. A schema URN
//!   prefix runs to the last `:` of the path.
//! - A value path (`emails[type eq "work"]`) cannot contain another value path.
//! - Strings are JSON strings and numbers JSON numbers.
//!
//! Input longer than [`MAX_INPUT_LEN`] bytes or nested deeper than [`MAX_DEPTH`] levels
//! is refused before it can cost much time or stack.
//!
//! # Example
//!
//! ```
//! use butterfly_scim::filter::{DefaultRules, Filter};
//! use butterfly_scim::{ScimError, ScimType};
//! use serde_json::json;
//!
//! let filter: Filter =
//!     r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#.parse()?;
//! let user = json!({
//!     "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
//!     "userName": "bjensen",
//!     "userType": "employee",
//!     "emails": [
//!         {"type": "home", "value": "babs@jensen.org"},
//!         {"type": "work", "value": "bjensen@EXAMPLE.com"}
//!     ]
//! });
//! // `userType` and `emails.value` are not case-exact, so both comparisons ignore case.
//! assert!(filter.matches(&user, &DefaultRules));
//!
//! let err = Filter::parse(r#"userName eqq "bjensen""#).unwrap_err();
//! assert_eq!(err.to_string(), "expected a comparison operator at offset 9, found `eqq`");
//! let wire = ScimError::from(err);
//! assert_eq!((wire.status(), wire.scim_type()), (400, Some(ScimType::InvalidFilter)));
//! # Ok::<(), butterfly_scim::filter::FilterError>(())
//! ```

mod ast;
mod eval;
mod parse;

#[cfg(test)]
mod proptests;

use thiserror::Error;

use crate::{ScimError, ScimType};

pub use ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
pub use eval::{AttributeRules, AttributeType, DefaultRules};

/// The longest filter or path accepted, in bytes. Real filters are far shorter; the limit
/// keeps a hostile request from buying unbounded parsing and evaluation work.
pub const MAX_INPUT_LEN: usize = 8 * 1024;

/// How deeply parentheses, `not ( )` and value-path brackets may nest. The parser recurses
/// once per level, so this is what keeps hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 64;

/// Why a filter (or a path) did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The input was empty or only whitespace.
    #[error("the expression is empty")]
    Empty,
    /// The input was longer than [`MAX_INPUT_LEN`].
    #[error("the expression is {len} bytes long; the limit is {limit}")]
    TooLong {
        /// The input's length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Parentheses, `not` or brackets nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {limit} levels at offset {offset}")]
    TooDeep {
        /// Byte offset of the opening that went one level too deep.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// A token other than the one the grammar allows here.
    #[error("expected {expected} at offset {offset}, found {}", found_text(.found.as_deref()))]
    Unexpected {
        /// Byte offset of the offending token.
        offset: usize,
        /// What the grammar allows here, in words.
        expected: &'static str,
        /// The offending token in backticks (shortened if long), or `None` at the end of
        /// the input.
        found: Option<String>,
    },
    /// A string literal with no closing quote.
    #[error("unterminated string starting at offset {offset}")]
    UnterminatedString {
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// A string literal that is not a valid JSON string.
    #[error("invalid string at offset {offset}: {reason}")]
    InvalidString {
        /// Byte offset of the offending character or escape.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A number that is not a JSON number, or is out of range.
    #[error("invalid number {found} at offset {offset}")]
    InvalidNumber {
        /// Byte offset of the number.
        offset: usize,
        /// The number as written, in backticks.
        found: String,
    },
    /// A value path inside a value path (`emails[x[y eq 1]]`), which the grammar forbids.
    #[error("a value path cannot contain another value path (offset {offset})")]
    NestedValuePath {
        /// Byte offset of the inner `[`.
        offset: usize,
    },
}

fn found_text(found: Option<&str>) -> &str {
    found.unwrap_or("end of input")
}

impl FilterError {
    /// The byte offset the error points at, if it points anywhere.
    pub fn offset(&self) -> Option<usize> {
        match self {
            FilterError::Empty | FilterError::TooLong { .. } => None,
            FilterError::TooDeep { offset, .. }
            | FilterError::Unexpected { offset, .. }
            | FilterError::UnterminatedString { offset }
            | FilterError::InvalidString { offset, .. }
            | FilterError::InvalidNumber { offset, .. }
            | FilterError::NestedValuePath { offset } => Some(*offset),
        }
    }
}

impl From<FilterError> for ScimError {
    /// 400 `invalidFilter` (RFC 7644 section 3.4.2.2), with the parse error as detail.
    fn from(err: FilterError) -> Self {
        ScimError::new(400, format!("invalid filter: {err}")).with_type(ScimType::InvalidFilter)
    }
}

/// Why a PATCH path did not parse. Kept apart from [`FilterError`] because the client
/// must be told `invalidPath`, not `invalidFilter` (RFC 7644 section 3.5.2).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid path: {error}")]
pub struct PathError {
    error: FilterError,
}

impl PathError {
    pub(crate) fn new(error: FilterError) -> Self {
        PathError { error }
    }

    /// The syntax error underneath.
    pub fn syntax_error(&self) -> &FilterError {
        &self.error
    }

    /// The byte offset the error points at, if it points anywhere.
    pub fn offset(&self) -> Option<usize> {
        self.error.offset()
    }
}

impl From<PathError> for ScimError {
    /// 400 `invalidPath` (RFC 7644 section 3.5.2).
    fn from(err: PathError) -> Self {
        ScimError::new(400, err.to_string()).with_type(ScimType::InvalidPath)
    }
}

#[cfg(test)]
mod tests {
    use super::{Filter, FilterError, PatchPath};
    use crate::{ScimError, ScimType};

    #[test]
    fn filter_errors_become_400_invalid_filter() {
        let err = match Filter::parse(r#"userName eqq "bjensen""#) {
            Ok(f) => panic!("parsed as {f:?}"),
            Err(e) => e,
        };
        let wire = ScimError::from(err);
        assert_eq!(wire.status(), 400);
        assert_eq!(wire.scim_type(), Some(ScimType::InvalidFilter));
        assert_eq!(
            wire.detail(),
            "invalid filter: expected a comparison operator at offset 9, found `eqq`"
        );
        assert_eq!(wire.to_json()["scimType"], "invalidFilter");
        assert_eq!(
            ScimError::from(FilterError::Empty).detail(),
            "invalid filter: the expression is empty"
        );
    }

    #[test]
    fn path_errors_become_400_invalid_path() {
        let err = match PatchPath::parse("emails[type eq]") {
            Ok(p) => panic!("parsed as {p:?}"),
            Err(e) => e,
        };
        assert_eq!(err.offset(), Some(14));
        assert!(matches!(
            err.syntax_error(),
            FilterError::Unexpected { offset: 14, .. }
        ));
        let wire = ScimError::from(err);
        assert_eq!(wire.status(), 400);
        assert_eq!(wire.scim_type(), Some(ScimType::InvalidPath));
        assert_eq!(
            wire.detail(),
            "invalid path: expected a value (a JSON string, number, true, false or null) at offset 14, found `]`"
        );
    }
}
