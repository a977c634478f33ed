//! The filter syntax tree and its canonical text form.
//!
//! The tree mirrors the RFC 7644 figure 1 grammar closely enough that a later pass (the
//! evaluator here, an SQL compiler elsewhere) can walk it with one `match` per node and
//! never look at text again. Grouping parentheses leave no node behind: they only shape
//! the tree.

use std::fmt::{self, Display, Write as _};
use std::str::FromStr;

use serde_json::Number;

use super::FilterError;
use super::PathError;
use super::parse;

/// An attribute path: `[schemaUrn ":"] name ["." subAttribute]` (RFC 7644 figure 1,
/// `attrPath`).
///
/// The URN is everything before the last `:`, so
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` has the URN
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`, the name `manager` and the
/// sub-attribute `value`; the dot in `2.0` belongs to the URN.
///
/// Equality is exact, spelling for spelling, so a parsed filter equals the filter it was
/// printed from. Attribute names are case-insensitive in SCIM (RFC 7643 section 2.1): ask
/// [`AttrPath::eq_ignore_case`] whether two paths name the same attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN the attribute is qualified with, if any.
    pub urn: Option<String>,
    /// The attribute name.
    pub name: String,
    /// The sub-attribute of a complex attribute, if any.
    pub sub: Option<String>,
}

impl AttrPath {
    /// An unqualified path to a top-level attribute.
    pub fn new(name: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    /// The same path, qualified with a schema URN.
    #[must_use]
    pub fn with_urn(mut self, urn: impl Into<String>) -> Self {
        self.urn = Some(urn.into());
        self
    }

    /// The same path, pointing at a sub-attribute.
    #[must_use]
    pub fn with_sub(mut self, sub: impl Into<String>) -> Self {
        self.sub = Some(sub.into());
        self
    }

    /// Parse a lone attribute path, as `sortBy` and `attributes` carry them
    /// (RFC 7644 sections 3.4.2.3 and 3.4.2.5).
    ///
    /// ```
    /// use butterfly_scim::filter::AttrPath;
    ///
    /// let path = AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")?;
    /// assert_eq!(path.urn.as_deref(), Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
    /// assert_eq!(path.name, "manager");
    /// assert_eq!(path.sub.as_deref(), Some("value"));
    /// # Ok::<(), butterfly_scim::filter::FilterError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, FilterError> {
        parse::parse_attr_path(input)
    }

    /// Whether both paths name the same attribute: URN, name and sub-attribute compared
    /// without regard to ASCII case.
    pub fn eq_ignore_case(&self, other: &AttrPath) -> bool {
        fn same(a: Option<&str>, b: Option<&str>) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
        }
        same(self.urn.as_deref(), other.urn.as_deref())
            && self.name.eq_ignore_ascii_case(&other.name)
            && same(self.sub.as_deref(), other.sub.as_deref())
    }
}

impl FromStr for AttrPath {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttrPath::parse(s)
    }
}

impl Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            f.write_str(urn)?;
            f.write_char(':')?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            f.write_char('.')?;
            f.write_str(sub)?;
        }
        Ok(())
    }
}

/// An attribute operator that takes a value (RFC 7644 section 3.4.2.2, table 3).
///
/// `pr` takes no value and is [`Filter::Present`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal to.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal to.
    Le,
}

impl CompareOp {
    /// Every operator, in the order RFC 7644 table 3 lists them.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The canonical (lowercase) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Whether this is one of the ordering operators `gt`, `ge`, `lt`, `le`, which RFC 7644
    /// forbids on boolean and binary attributes.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    /// The operator a keyword names, in any case.
    pub(crate) fn from_keyword(word: &str) -> Option<CompareOp> {
        CompareOp::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

impl Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A comparison value: a JSON literal (RFC 7644 figure 1, `compValue`).
///
/// Dates are strings here; whether a string compares as a date is the attribute's
/// business, decided at evaluation time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number.
    Number(Number),
    /// A JSON string, escapes decoded.
    String(String),
}

impl Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => write_json_string(f, s),
        }
    }
}

/// A parsed SCIM filter (RFC 7644 section 3.4.2.2).
///
/// Build one with [`Filter::parse`] (or `str::parse`), print it back with `Display`, and
/// test a resource with [`Filter::matches`].
///
/// `Display` writes a canonical form: lowercase keywords, JSON-escaped strings, one space
/// between tokens, and parentheses wherever a compound operand differs from its parent
/// (`a pr or (b pr and c pr)`) or sits on the right of one like it (`a pr and (b pr and c
/// pr)`). Parsing that text gives back an equal tree.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Filter {
    /// `attrPath op value`, e.g. `userName eq "bjensen"`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The value compared with.
        value: CompValue,
    },
    /// `attrPath pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// `left and right`.
    And(Box<Filter>, Box<Filter>),
    /// `left or right`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (inner)`.
    Not(Box<Filter>),
    /// `attrPath[filter]`: some single value of a (usually multi-valued) complex attribute
    /// matches `filter`, whose paths name sub-attributes of `path`, e.g.
    /// `emails[type eq "work" and value co "@example.com"]`. The parser never nests one
    /// inside another.
    ValuePath {
        /// The complex attribute.
        path: AttrPath,
        /// The filter each value is tested with, relative to that value.
        filter: Box<Filter>,
    },
}

/// The two binary logical operators, for the printer's parenthesis rule.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Logic {
    And,
    Or,
}

impl Filter {
    /// Parse a filter.
    ///
    /// Keywords and operators may be in any case; the input is limited to
    /// [`MAX_INPUT_LEN`](super::MAX_INPUT_LEN) bytes and
    /// [`MAX_DEPTH`](super::MAX_DEPTH) levels of parentheses, `not` and brackets.
    ///
    /// ```
    /// use butterfly_scim::filter::{AttrPath, CompareOp, CompValue, Filter};
    ///
    /// let f = Filter::parse(r#"userName Eq "bjensen""#)?;
    /// assert_eq!(
    ///     f,
    ///     Filter::Compare {
    ///         path: AttrPath::new("userName"),
    ///         op: CompareOp::Eq,
    ///         value: CompValue::String("bjensen".into()),
    ///     }
    /// );
    /// assert_eq!(f.to_string(), r#"userName eq "bjensen""#);
    /// # Ok::<(), butterfly_scim::filter::FilterError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, FilterError> {
        parse::parse_filter(input)
    }

    /// Write `child` as an operand of `parent`, in parentheses when a reader (or the
    /// parser) would otherwise group it differently.
    fn fmt_operand(
        f: &mut fmt::Formatter<'_>,
        child: &Filter,
        parent: Logic,
        on_right: bool,
    ) -> fmt::Result {
        let needs_parens = match child {
            Filter::And(..) => parent != Logic::And || on_right,
            Filter::Or(..) => parent != Logic::Or || on_right,
            _ => false,
        };
        if needs_parens {
            write!(f, "({child})")
        } else {
            write!(f, "{child}")
        }
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

impl Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(left, right) => {
                Filter::fmt_operand(f, left, Logic::And, false)?;
                f.write_str(" and ")?;
                Filter::fmt_operand(f, right, Logic::And, true)
            }
            Filter::Or(left, right) => {
                Filter::fmt_operand(f, left, Logic::Or, false)?;
                f.write_str(" or ")?;
                Filter::fmt_operand(f, right, Logic::Or, true)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

/// A PATCH operation's `path` (RFC 7644 section 3.5.2):
/// `attrPath / valuePath [subAttr]`.
///
/// ```
/// use butterfly_scim::filter::PatchPath;
///
/// let path: PatchPath = r#"emails[type eq "work"].value"#.parse()?;
/// match &path {
///     PatchPath::ValuePath { path, sub, .. } => {
///         assert_eq!(path.name, "emails");
///         assert_eq!(sub.as_deref(), Some("value"));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// assert_eq!(path.to_string(), r#"emails[type eq "work"].value"#);
/// # Ok::<(), butterfly_scim::filter::PathError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatchPath {
    /// A plain attribute path: `displayName`, `name.familyName`,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`.
    Attr(AttrPath),
    /// The values of a multi-valued attribute that match a filter, optionally narrowed to
    /// one sub-attribute: `members[value eq "2819c223"]`, `emails[type eq "work"].value`.
    ValuePath {
        /// The multi-valued attribute.
        path: AttrPath,
        /// Which of its values are targeted.
        filter: Box<Filter>,
        /// The sub-attribute of each targeted value, if the path ends in `.subAttr`.
        sub: Option<String>,
    },
}

impl PatchPath {
    /// Parse a PATCH path, within the same length and depth limits as [`Filter::parse`].
    pub fn parse(input: &str) -> Result<Self, PathError> {
        parse::parse_patch_path(input)
    }
}

impl FromStr for PatchPath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PatchPath::parse(s)
    }
}

impl Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchPath::Attr(path) => write!(f, "{path}"),
            PatchPath::ValuePath { path, filter, sub } => {
                write!(f, "{path}[{filter}]")?;
                if let Some(sub) = sub {
                    write!(f, ".{sub}")?;
                }
                Ok(())
            }
        }
    }
}

/// Write `s` as a JSON string literal. Written by hand rather than through `serde_json`
/// because formatting a `&str` cannot fail, and this keeps the printer free of error paths
/// that could never be taken.
fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if c < ' ' => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::Filter;

    /// Input, canonical text and tree, for review in one place.
    fn describe(input: &str) -> String {
        match Filter::parse(input) {
            Ok(filter) => format!("input:     {input}\ncanonical: {filter}\n\n{filter:#?}"),
            Err(e) => format!("input: {input}\nerror: {e}"),
        }
    }

    #[test]
    fn snapshot_precedence() {
        insta::assert_snapshot!(describe(r"a eq 1 or b eq 2 and not (c eq 3)"));
    }

    #[test]
    fn snapshot_value_path_with_grouping() {
        insta::assert_snapshot!(describe(
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#
        ));
    }

    #[test]
    fn snapshot_complex_value_filters() {
        insta::assert_snapshot!(describe(
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#
        ));
    }

    #[test]
    fn snapshot_extension_paths_and_literals() {
        insta::assert_snapshot!(describe(
            r#"URN:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value EQ "26118915" AND (active Eq TRUE OR loginCount GE -1.5e2) AND nickName EQ NULL"#
        ));
    }

    #[test]
    fn snapshot_sloppy_text_normalised() {
        insta::assert_snapshot!(describe(
            "  ((title   PR))\tAND\n( userName SW \"J\\u00e9\" OR NOT(meta.lastModified lt \"2011-05-13T04:42:34Z\") )"
        ));
    }
}
