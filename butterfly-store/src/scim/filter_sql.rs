//! SCIM filters compiled to SQL WHERE fragments, with the semantics of
//! [`Filter::matches`].
//!
//! [`push_filter`] appends one predicate over a row whose resource is a JSON column
//! (`TEXT` on SQLite, `JSONB` on PostgreSQL), optionally helped by indexed columns
//! ([`ResourceColumns`]). Values from the filter are always bound; attribute names are
//! bound too, and resolved in SQL the way the evaluator resolves them: the exact spelling
//! first, else the first name (in byte order) equal to it ignoring ASCII case.
//!
//! # How each construct compiles
//!
//! - `and` / `or` chains are flattened (iteratively, so a chain of any length costs no
//!   stack) and written as a balanced tree, so SQLite's expression depth limit of 1000
//!   sees only log2 of the chain's length. `not (f)` is `NOT (f)`.
//! - Every leaf is an `EXISTS` over the values its path names: the attribute, its items
//!   when it is an array (and their items, as the evaluator flattens one more level), the
//!   sub-attribute of each item that is an object, and that sub-attribute's items. So a
//!   leaf is always true or false, never SQL NULL, and `NOT` is exact.
//! - A comparison checks the JSON type the value needs (a string for a string, a number
//!   for a number...), then compares: strings in byte order, lowercased on both sides
//!   unless the attribute is `caseExact`; numbers by value; booleans with `eq` only;
//!   `dateTime` attributes chronologically when both sides are RFC 3339 timestamps, else
//!   as strings. Neither database's timestamp parser reads what `butterfly_core::rfc3339::parse` reads
//!   (SQLite keeps milliseconds and refuses leap seconds; PostgreSQL refuses offsets
//!   beyond ±15:59 and year 0, and fails the query on bad input), so the text is checked
//!   and turned into a sortable key (seconds, then nanoseconds) with integer arithmetic
//!   both evaluate alike, every cast behind a `CASE` on the text's shape. A complex value compared without a
//!   sub-attribute compares its `value` member. `ne` is `NOT eq`, `eq null` is `NOT pr`,
//!   `ne null` is `pr`, any other operator with `null` is false, and ordering a
//!   boolean, binary or complex attribute is false (the rules are asked at compile time).
//! - `pr` tests, at any depth, for a number, a boolean or a non-empty string.
//! - A URN-qualified path looks in the extension object of that name; a core schema URN
//!   falls back to the top level when the resource declares it in `schemas` (or has no
//!   `schemas`).
//! - `attr[filter]` tests each object item of `attr` with the inner filter, whose paths
//!   start at that item.
//!
//! # Where SQL and the evaluator differ
//!
//! - **Case folding** in SQL is ASCII only (`lower()`, under the "C" collation on
//!   PostgreSQL), where the evaluator lowercases Unicode: `"É" eq "é"` matches in memory
//!   and not in SQL. The indexed `userName` and `displayName` columns are lowercased in
//!   Rust, so comparisons that use them fold Unicode exactly as the evaluator does.
//! - **Numbers** beyond 2^53 may compare differently: SQLite reads JSON integers beyond
//!   `i64` as reals, and an integer compared with a fraction goes through `f64` on
//!   PostgreSQL only where one side is bound as `f64`.
//! - **U+0000** cannot be stored in PostgreSQL text or JSONB. A filter value containing
//!   it is compiled to what it means against such data (`eq`, `co`, `sw`, `ew` match
//!   nothing; `gt`/`ge` become `gt` and `lt`/`le` become `le` of the text before it).
//!   SQLite's string functions stop at U+0000; resources should not contain it.
//! - Hand-built paths whose names contain `"` are not reachable on SQLite (its JSON
//!   paths cannot quote them); the parser never produces such names.

use butterfly_scim::filter::{
    AttrPath, AttributeRules, AttributeType, CompValue, CompareOp, Filter,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use thiserror::Error;

use super::bound::{BoundQuery, SqlValue};
use super::datetime;
use super::dialect::{JsonDialect, JsonKind, Node, SqlNumber, SqlOp};
use crate::sql::Backend;

/// How deeply `and`/`or` groups, `not` and value paths may nest, after chains of one
/// operator are flattened. A parsed filter stays far below it (the parser allows 64
/// levels of parentheses); only a hand-built tree can reach it, and the SQL for it would
/// exceed the databases' own expression depth limits.
pub const MAX_NESTING: usize = 200;

/// Why a filter could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FilterSqlError {
    /// The filter nests deeper than [`MAX_NESTING`].
    #[error("the filter nests more than {limit} levels deep")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The filter holds a node or operator this version does not know.
    #[error("the filter uses a construct the SQL compiler does not support")]
    Unsupported,
}

/// An attribute kept in its own, indexed column beside the JSON body.
///
/// A comparison on the attribute, with its path spelled as the schema spells it
/// (`userName`, `meta.created`; a client's `USERNAME` is answered from the body), is
/// answered from the column where the semantics allow, and from the JSON body for rows
/// where the column is NULL, so the column need not cover every resource; but where it is
/// not NULL it must hold exactly what [`value_of`](Self::value_of) computes from that
/// row's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IndexedAttribute {
    /// The top-level `id` string. Serves case-exact `id` comparisons.
    Id,
    /// The top-level `externalId` string. Serves case-exact `externalId` comparisons.
    ExternalId,
    /// The top-level `userName` string, lowercased (Unicode). Serves case-insensitive
    /// `userName` comparisons.
    UserNameLower,
    /// The top-level `displayName` string, lowercased (Unicode). Serves case-insensitive
    /// `displayName` comparisons.
    DisplayNameLower,
    /// `meta.created` in Unix milliseconds, when it is an RFC 3339 timestamp of whole
    /// milliseconds. Serves chronological `meta.created` comparisons.
    CreatedMillis,
    /// `meta.lastModified` in Unix milliseconds, likewise.
    LastModifiedMillis,
    /// `name.familyName`, lowercased (Unicode), when the top-level `name` is an object
    /// whose `familyName` is a string. Serves case-insensitive `name.familyName`
    /// comparisons, the usual way directories are listed by name.
    FamilyNameLower,
    /// The top-level `active` boolean, as 1 or 0. Serves `active eq true` and
    /// `active eq false`, which provisioning clients add to most list filters.
    Active,
}

impl IndexedAttribute {
    /// Every indexed attribute.
    pub const ALL: [IndexedAttribute; 8] = [
        IndexedAttribute::Id,
        IndexedAttribute::ExternalId,
        IndexedAttribute::UserNameLower,
        IndexedAttribute::DisplayNameLower,
        IndexedAttribute::CreatedMillis,
        IndexedAttribute::LastModifiedMillis,
        IndexedAttribute::FamilyNameLower,
        IndexedAttribute::Active,
    ];

    /// The top-level member the attribute lives in: its own name, or `meta`.
    pub fn member_name(self) -> &'static str {
        match self {
            IndexedAttribute::Id => "id",
            IndexedAttribute::ExternalId => "externalId",
            IndexedAttribute::UserNameLower => "userName",
            IndexedAttribute::DisplayNameLower => "displayName",
            IndexedAttribute::CreatedMillis | IndexedAttribute::LastModifiedMillis => "meta",
            IndexedAttribute::FamilyNameLower => "name",
            IndexedAttribute::Active => "active",
        }
    }

    /// Whether the body must be consulted for this attribute: the column is NULL
    /// ([`value_of`](Self::value_of) is `None`) yet the resource has a top-level member of
    /// that name, compared ignoring ASCII case (a `USERNAME`, a `userName` array...).
    ///
    /// For `name.familyName` a `name` object spelled exactly so, with no member named
    /// `familyName` in any case, needs no body either: the evaluator resolves the exact
    /// spelling first, so such a resource has no family name at all, which the NULL
    /// column says as well. (Without this, every User with a `name` but no family name
    /// would be flagged.)
    pub fn needs_body(self, resource: &Value) -> bool {
        if self.value_of(resource).is_some() {
            return false;
        }
        if self == IndexedAttribute::FamilyNameLower
            && let Some(Value::Object(name)) = resource.get("name")
        {
            return name.keys().any(|k| k.eq_ignore_ascii_case("familyName"));
        }
        resource.as_object().is_some_and(|members| {
            members
                .keys()
                .any(|k| k.eq_ignore_ascii_case(self.member_name()))
        })
    }

    /// The column's value for a resource: `None` (SQL NULL) where the resource does not
    /// have the attribute in the form the column serves. Members are looked up by their
    /// exact names, as the SCIM service writes them.
    pub fn value_of(self, resource: &Value) -> Option<SqlValue> {
        let text = |name: &str| resource.get(name).and_then(Value::as_str);
        match self {
            IndexedAttribute::Id => text("id").map(SqlValue::from),
            IndexedAttribute::ExternalId => text("externalId").map(SqlValue::from),
            IndexedAttribute::UserNameLower => text("userName").map(|s| s.to_lowercase().into()),
            IndexedAttribute::DisplayNameLower => {
                text("displayName").map(|s| s.to_lowercase().into())
            }
            IndexedAttribute::CreatedMillis => meta_millis(resource, "created"),
            IndexedAttribute::LastModifiedMillis => meta_millis(resource, "lastModified"),
            IndexedAttribute::FamilyNameLower => resource
                .get("name")
                .and_then(|name| name.get("familyName"))
                .and_then(Value::as_str)
                .map(|s| s.to_lowercase().into()),
            IndexedAttribute::Active => resource
                .get("active")
                .and_then(Value::as_bool)
                .map(|b| SqlValue::Integer(i64::from(b))),
        }
    }
}

fn meta_millis(resource: &Value, name: &str) -> Option<SqlValue> {
    let text = resource.get("meta")?.get(name)?.as_str()?;
    let t = butterfly_core::rfc3339::parse(text).ok()?;
    let nanos = datetime::unix_nanos(t);
    if nanos.rem_euclid(1_000_000) != 0 {
        return None;
    }
    i64::try_from(nanos.div_euclid(1_000_000))
        .ok()
        .map(SqlValue::Integer)
}

/// Where a compiled filter finds a resource: the JSON body column, and any
/// [`IndexedAttribute`] columns beside it.
///
/// Column names are SQL written by the program (`"r.body"`), never data.
///
/// ```
/// use butterfly_store::scim::{IndexedAttribute, ResourceColumns};
///
/// let columns = ResourceColumns::new("r.body")
///     .with(IndexedAttribute::UserNameLower, "r.user_name_ci")
///     .with(IndexedAttribute::CreatedMillis, "r.created_ms");
/// assert_eq!(columns.body(), "r.body");
/// assert_eq!(columns.column(IndexedAttribute::UserNameLower), Some("r.user_name_ci"));
/// assert_eq!(columns.column(IndexedAttribute::Id), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceColumns {
    body: &'static str,
    indexed: Vec<(IndexedAttribute, &'static str)>,
    irregular: Option<&'static str>,
}

impl ResourceColumns {
    /// Resources in the JSON column `body` (`TEXT` on SQLite, `JSONB` on PostgreSQL), with
    /// no indexed columns.
    pub fn new(body: &'static str) -> Self {
        ResourceColumns {
            body,
            indexed: Vec::new(),
            irregular: None,
        }
    }

    /// The same, with a flag column that says which rows need their body consulted for
    /// an indexed attribute: 1 where, for some attribute given to [`with`](Self::with),
    /// [`IndexedAttribute::needs_body`] holds, else 0 ([`irregular`](Self::irregular)
    /// computes it). Comparisons answered from a column then consult the body only for
    /// flagged rows, which an index `WHERE flag = 1` finds at once, instead of every row
    /// where the column is NULL.
    #[must_use]
    pub fn with_irregular_flag(mut self, column: &'static str) -> Self {
        self.irregular = Some(column);
        self
    }

    /// The flag column's value for `resource` (see
    /// [`with_irregular_flag`](Self::with_irregular_flag)).
    pub fn irregular(&self, resource: &Value) -> bool {
        self.indexed
            .iter()
            .any(|(attribute, _)| attribute.needs_body(resource))
    }

    /// The same, with `attribute` also in the column `column`.
    #[must_use]
    pub fn with(mut self, attribute: IndexedAttribute, column: &'static str) -> Self {
        self.indexed.retain(|(a, _)| *a != attribute);
        self.indexed.push((attribute, column));
        self
    }

    /// The body column.
    pub fn body(&self) -> &'static str {
        self.body
    }

    /// The column holding `attribute`, if there is one.
    pub fn column(&self, attribute: IndexedAttribute) -> Option<&'static str> {
        self.indexed
            .iter()
            .find(|(a, _)| *a == attribute)
            .map(|(_, c)| *c)
    }
}

/// Append to `q` a predicate that is true exactly for the rows whose resource `filter`
/// matches under `rules` (see the [module docs](crate::scim::filter_sql) for the few differences).
///
/// The predicate is parenthesised and two-valued, so it can be combined with `AND`,
/// `OR` and `NOT` freely.
///
/// ```
/// use butterfly_scim::filter::{DefaultRules, Filter};
/// use butterfly_store::Backend;
/// use butterfly_store::scim::{BoundQuery, ResourceColumns, SqlValue, push_filter};
///
/// let filter = Filter::parse(r#"title eq "Tour Guide""#)?;
/// let mut q = BoundQuery::new("SELECT id FROM resources AS r WHERE ");
/// push_filter(&mut q, Backend::Sqlite, &ResourceColumns::new("r.body"), &filter, &DefaultRules)?;
/// assert!(q.sql().contains("json_each(r.body)"));
/// // The value and the attribute name are bound, never spliced into the text.
/// assert!(q.values().contains(&SqlValue::Text("tour guide".into())));
/// assert!(!q.sql().to_lowercase().contains("guide") && !q.sql().contains("title"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn push_filter(
    q: &mut BoundQuery,
    backend: Backend,
    columns: &ResourceColumns,
    filter: &Filter,
    rules: &dyn AttributeRules,
) -> Result<(), FilterSqlError> {
    let mut compiler = Compiler {
        q,
        dialect: backend.json_dialect(),
        backend,
        columns,
        rules,
        next_alias: 0,
    };
    compiler.q.push("(");
    compiler.filter(filter, &Scope::Resource, 0)?;
    compiler.q.push(")");
    Ok(())
}

/// Where the paths of a filter start.
enum Scope<'p> {
    /// At the resource.
    Resource,
    /// At one item of `parent`, inside `parent[...]`.
    Element { node: Node, parent: &'p AttrPath },
}

/// One step of a walk from a JSON value to the values a path names.
#[derive(Debug, Clone, Copy)]
enum Step<'n> {
    /// The member this name resolves to.
    Member(&'n str),
    /// The elements of an array, or the value itself.
    Items,
}

/// The value operators, once `ne` and `null` are rewritten away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Order(SqlOp),
    Co,
    Sw,
    Ew,
}

impl Op {
    fn is_ordering(self) -> bool {
        matches!(self, Op::Order(op) if op != SqlOp::Eq)
    }
}

/// What one value must satisfy, decided at compile time from the operator, the
/// comparison value and the rules.
enum ValueTest {
    Bool(bool),
    Number(SqlOp, SqlNumber),
    Text(TextTest),
}

struct TextTest {
    /// Lowercase (ASCII) the stored text before comparing.
    fold: bool,
    /// The string comparison and its needle (lowercased unless case-exact); `None` when
    /// no string can satisfy it.
    string: Option<(Op, String)>,
    /// For a `dateTime` attribute compared with a timestamp: the operator and the
    /// timestamp's key, used for stored values that are timestamps too.
    datetime: Option<(SqlOp, String)>,
}

struct Compiler<'c> {
    q: &'c mut BoundQuery,
    dialect: &'static dyn JsonDialect,
    backend: Backend,
    columns: &'c ResourceColumns,
    rules: &'c dyn AttributeRules,
    next_alias: usize,
}

/// The operands of a chain of `and` (or of `or`), left to right, without recursion.
fn chain_operands(filter: &Filter, and: bool) -> Vec<&Filter> {
    let mut operands = Vec::new();
    let mut pending = vec![filter];
    while let Some(f) = pending.pop() {
        match f {
            Filter::And(left, right) if and => {
                pending.push(right);
                pending.push(left);
            }
            Filter::Or(left, right) if !and => {
                pending.push(right);
                pending.push(left);
            }
            other => operands.push(other),
        }
    }
    operands
}

/// The core schema URN prefix: such a URN also names the top level.
const CORE_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:";

fn is_core_urn(urn: &str) -> bool {
    urn.get(..CORE_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(CORE_PREFIX))
}

/// The least string greater than every string that starts with `prefix`, if any.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl Compiler<'_> {
    fn alias(&mut self) -> String {
        self.next_alias += 1;
        format!("j{}", self.next_alias)
    }

    fn body(&self) -> &'static str {
        self.columns.body
    }

    fn push_false(&mut self) {
        self.q.push("(1 = 0)");
    }

    fn filter(
        &mut self,
        filter: &Filter,
        scope: &Scope<'_>,
        depth: usize,
    ) -> Result<(), FilterSqlError> {
        if depth > MAX_NESTING {
            return Err(FilterSqlError::TooDeep { limit: MAX_NESTING });
        }
        match filter {
            Filter::And(..) => {
                let operands = chain_operands(filter, true);
                self.balanced(&operands, " AND ", scope, depth + 1)
            }
            Filter::Or(..) => {
                let operands = chain_operands(filter, false);
                self.balanced(&operands, " OR ", scope, depth + 1)
            }
            Filter::Not(inner) => {
                self.q.push("(NOT ");
                self.filter(inner, scope, depth + 1)?;
                self.q.push(")");
                Ok(())
            }
            Filter::Present(path) => self.present(path, scope),
            Filter::Compare { path, op, value } => self.compare(path, *op, value, scope),
            Filter::ValuePath { path, filter } => match scope {
                Scope::Resource => self.value_path(path, filter, depth + 1),
                // The evaluator selects nothing for a value path inside another.
                Scope::Element { .. } => {
                    self.push_false();
                    Ok(())
                }
            },
            _ => Err(FilterSqlError::Unsupported),
        }
    }

    /// `operands` joined by `joiner` as a balanced tree of parentheses.
    fn balanced(
        &mut self,
        operands: &[&Filter],
        joiner: &str,
        scope: &Scope<'_>,
        depth: usize,
    ) -> Result<(), FilterSqlError> {
        match operands {
            [] => {
                self.push_false();
                Ok(())
            }
            [one] => self.filter(one, scope, depth),
            _ => {
                let (left, right) = operands.split_at(operands.len() / 2);
                self.q.push("(");
                self.balanced(left, joiner, scope, depth)?;
                self.q.push(joiner);
                self.balanced(right, joiner, scope, depth)?;
                self.q.push(")");
                Ok(())
            }
        }
    }

    fn present(&mut self, path: &AttrPath, scope: &Scope<'_>) -> Result<(), FilterSqlError> {
        let steps: Vec<Step<'_>> = match path.sub.as_deref() {
            None => vec![Step::Member(&path.name)],
            Some(sub) => vec![Step::Member(&path.name), Step::Items, Step::Member(sub)],
        };
        self.over_values(path, scope, &steps, &mut |c, node| {
            let alias = c.alias();
            c.dialect.present(c.q, c.columns.body, node, &alias);
            Ok(())
        })
    }

    fn compare(
        &mut self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
        scope: &Scope<'_>,
    ) -> Result<(), FilterSqlError> {
        let op = match op {
            CompareOp::Eq => Op::Order(SqlOp::Eq),
            CompareOp::Ne => {
                if matches!(value, CompValue::Null) {
                    return self.present(path, scope);
                }
                self.q.push("(NOT ");
                self.compare(path, CompareOp::Eq, value, scope)?;
                self.q.push(")");
                return Ok(());
            }
            CompareOp::Co => Op::Co,
            CompareOp::Sw => Op::Sw,
            CompareOp::Ew => Op::Ew,
            CompareOp::Gt => Op::Order(SqlOp::Gt),
            CompareOp::Ge => Op::Order(SqlOp::Ge),
            CompareOp::Lt => Op::Order(SqlOp::Lt),
            CompareOp::Le => Op::Order(SqlOp::Le),
            _ => return Err(FilterSqlError::Unsupported),
        };
        if matches!(value, CompValue::Null) {
            if op == Op::Order(SqlOp::Eq) {
                self.q.push("(NOT ");
                self.present(path, scope)?;
                self.q.push(")");
            } else {
                self.push_false();
            }
            return Ok(());
        }
        if let Scope::Resource = scope
            && self.indexed_compare(path, op, value)?
        {
            return Ok(());
        }
        self.generic_compare(path, op, value, scope)
    }

    /// The comparison on the JSON body alone.
    fn generic_compare(
        &mut self,
        path: &AttrPath,
        op: Op,
        value: &CompValue,
        scope: &Scope<'_>,
    ) -> Result<(), FilterSqlError> {
        // The path the rules are asked about: inside brackets, the parent's URN and name
        // with this path's name as the sub-attribute.
        let full = match scope {
            Scope::Resource => path.clone(),
            Scope::Element { parent, .. } => AttrPath {
                urn: parent.urn.clone(),
                name: parent.name.clone(),
                sub: Some(path.name.clone()),
            },
        };
        let direct = self.value_test(&full, op, value)?;
        // A complex value compared without a sub-attribute compares its `value` member;
        // never for ordering, and never inside brackets, where the full path always names
        // a sub-attribute.
        let through_value = if full.sub.is_none() && !op.is_ordering() {
            self.value_test(&full.clone().with_sub("value"), op, value)?
        } else {
            None
        };
        if direct.is_none() && through_value.is_none() {
            self.push_false();
            return Ok(());
        }
        let steps: Vec<Step<'_>> = match path.sub.as_deref() {
            None => vec![Step::Member(&path.name), Step::Items, Step::Items],
            Some(sub) => vec![
                Step::Member(&path.name),
                Step::Items,
                Step::Member(sub),
                Step::Items,
            ],
        };
        self.over_values(path, scope, &steps, &mut |c, node| {
            let mut first = true;
            if let Some(test) = &direct {
                c.push_value_test(node, test);
                first = false;
            }
            if let Some(test) = &through_value {
                if !first {
                    c.q.push(" OR ");
                }
                c.exists(node, &[Step::Member("value")], &mut |c, inner| {
                    c.push_value_test(inner, test);
                    Ok(())
                })?;
            }
            Ok(())
        })
    }

    fn value_path(
        &mut self,
        path: &AttrPath,
        inner: &Filter,
        depth: usize,
    ) -> Result<(), FilterSqlError> {
        let steps: Vec<Step<'_>> = match path.sub.as_deref() {
            None => vec![Step::Member(&path.name), Step::Items, Step::Items],
            Some(sub) => vec![
                Step::Member(&path.name),
                Step::Items,
                Step::Member(sub),
                Step::Items,
            ],
        };
        self.over_values(path, &Scope::Resource, &steps, &mut |c, node| {
            c.dialect
                .kind_is(c.q, c.columns.body, node, JsonKind::Object);
            c.q.push(" AND ");
            let scope = Scope::Element {
                node: node.clone(),
                parent: path,
            };
            c.filter(inner, &scope, depth)
        })
    }

    /// Push an `EXISTS` (or a combination of them) that is true when some value `steps`
    /// reaches from where `path` starts satisfies `test`.
    fn over_values(
        &mut self,
        path: &AttrPath,
        scope: &Scope<'_>,
        steps: &[Step<'_>],
        test: &mut dyn FnMut(&mut Self, &Node) -> Result<(), FilterSqlError>,
    ) -> Result<(), FilterSqlError> {
        match scope {
            Scope::Element { node, parent } => {
                // Inside brackets a URN can only repeat the parent's.
                let fits = match (&path.urn, &parent.urn) {
                    (None, _) => true,
                    (Some(own), Some(parents)) => own.eq_ignore_ascii_case(parents),
                    (Some(_), None) => false,
                };
                if fits {
                    self.exists(node, steps, test)
                } else {
                    self.push_false();
                    Ok(())
                }
            }
            Scope::Resource => match path.urn.as_deref() {
                None => self.exists(&Node::Root, steps, test),
                Some(urn) => {
                    let mut in_extension = vec![Step::Member(urn)];
                    in_extension.extend_from_slice(steps);
                    self.q.push("(");
                    self.exists(&Node::Root, &in_extension, test)?;
                    if is_core_urn(urn) {
                        // No member of that name, and the resource declares the schema:
                        // the attribute is at the top level.
                        self.q.push(" OR (NOT ");
                        self.exists(&Node::Root, &[Step::Member(urn)], &mut |c, _| {
                            c.q.push("1 = 1");
                            Ok(())
                        })?;
                        self.q.push(" AND ");
                        let alias = self.alias();
                        self.dialect.declares_schema(
                            self.q,
                            self.columns.body,
                            &alias,
                            &urn.to_ascii_lowercase(),
                        );
                        self.q.push(" AND ");
                        self.exists(&Node::Root, steps, test)?;
                        self.q.push(")");
                    }
                    self.q.push(")");
                    Ok(())
                }
            },
        }
    }

    /// `EXISTS (SELECT 1 FROM <steps from start> WHERE <step conditions> AND (<test>))`.
    fn exists(
        &mut self,
        start: &Node,
        steps: &[Step<'_>],
        test: &mut dyn FnMut(&mut Self, &Node) -> Result<(), FilterSqlError>,
    ) -> Result<(), FilterSqlError> {
        let body = self.body();
        let mut walked = Vec::with_capacity(steps.len());
        let mut node = start.clone();
        self.q.push("EXISTS (SELECT 1 FROM ");
        for (i, step) in steps.iter().enumerate() {
            if i > 0 {
                self.q.push(", ");
            }
            let alias = self.alias();
            match step {
                Step::Member(_) => self.dialect.members_from(self.q, body, &node, &alias),
                Step::Items => self.dialect.items_from(self.q, body, &node, &alias),
            }
            walked.push((*step, node, alias.clone()));
            node = Node::Row(alias);
        }
        self.q.push(" WHERE ");
        for (step, from, alias) in &walked {
            match step {
                Step::Member(name) => {
                    self.dialect.member_is(self.q, body, from, alias, name);
                    self.q.push(" AND ");
                }
                Step::Items => {
                    if let Some(condition) = self.dialect.items_where(from, alias) {
                        self.q.push(&condition).push(" AND ");
                    }
                }
            }
        }
        self.q.push("(");
        test(self, &node)?;
        self.q.push("))");
        Ok(())
    }

    /// Decide what a value must satisfy for `full op value`, or `None` if no value can.
    fn value_test(
        &self,
        full: &AttrPath,
        op: Op,
        value: &CompValue,
    ) -> Result<Option<ValueTest>, FilterSqlError> {
        let ty = self.rules.attribute_type(full);
        if op.is_ordering()
            && matches!(
                ty,
                AttributeType::Boolean | AttributeType::Binary | AttributeType::Complex
            )
        {
            return Ok(None);
        }
        Ok(match value {
            CompValue::Null => None,
            CompValue::Bool(b) => (op == Op::Order(SqlOp::Eq)).then_some(ValueTest::Bool(*b)),
            CompValue::Number(n) => match op {
                Op::Order(sql_op) => sql_number(n).map(|n| ValueTest::Number(sql_op, n)),
                Op::Co | Op::Sw | Op::Ew => None,
            },
            CompValue::String(s) => {
                let datetime = match op {
                    Op::Order(sql_op) if ty == AttributeType::DateTime => {
                        butterfly_core::rfc3339::parse(s)
                            .ok()
                            .map(|t| (sql_op, datetime::key(t)))
                    }
                    _ => None,
                };
                let fold = !self.rules.case_exact(full);
                let needle = if fold {
                    s.to_ascii_lowercase()
                } else {
                    s.clone()
                };
                self.text_test(op, needle, fold, datetime)
                    .map(ValueTest::Text)
            }
            _ => return Err(FilterSqlError::Unsupported),
        })
    }

    /// A text test, after the U+0000 rewrite PostgreSQL needs (see the module docs).
    fn text_test(
        &self,
        op: Op,
        needle: String,
        fold: bool,
        datetime: Option<(SqlOp, String)>,
    ) -> Option<TextTest> {
        let string = match (self.backend, needle.find('\0')) {
            (Backend::Postgres, Some(nul)) => {
                let before = needle.get(..nul).unwrap_or_default().to_owned();
                match op {
                    Op::Order(SqlOp::Gt | SqlOp::Ge) => Some((Op::Order(SqlOp::Gt), before)),
                    Op::Order(SqlOp::Lt | SqlOp::Le) => Some((Op::Order(SqlOp::Le), before)),
                    _ => None,
                }
            }
            _ => Some((op, needle)),
        };
        if string.is_none() && datetime.is_none() {
            return None;
        }
        Some(TextTest {
            fold,
            string,
            datetime,
        })
    }

    fn push_value_test(&mut self, node: &Node, test: &ValueTest) {
        match test {
            ValueTest::Bool(b) => self.dialect.bool_is(self.q, node, *b),
            ValueTest::Number(op, n) => self.dialect.number_compare(self.q, node, *op, *n),
            ValueTest::Text(text) => {
                self.q.push("(");
                self.dialect
                    .kind_is(self.q, self.columns.body, node, JsonKind::String);
                self.q.push(" AND ");
                let s = self.dialect.text(node);
                if let Some((op, key)) = &text.datetime {
                    let valid = datetime::valid_sql(self.dialect, &s);
                    let stored_key = datetime::key_sql(self.dialect, &s);
                    self.q
                        .push("CASE WHEN ")
                        .push(&valid)
                        .push(" THEN ")
                        .push(&self.dialect.byte_order(&stored_key))
                        .push(op.as_sql())
                        .push_bind(key.as_str())
                        .push(" ELSE ");
                }
                match &text.string {
                    Some((op, needle)) => self.push_text_compare(&s, *op, needle, text.fold),
                    None => self.push_false(),
                }
                if text.datetime.is_some() {
                    self.q.push(" END");
                }
                self.q.push(")");
            }
        }
    }

    /// Compare the text expression `s` with `needle`.
    fn push_text_compare(&mut self, s: &str, op: Op, needle: &str, fold: bool) {
        let h = if fold {
            self.dialect.ascii_lower(s)
        } else {
            s.to_owned()
        };
        match op {
            Op::Order(SqlOp::Eq) => {
                self.q.push(&h).push(" = ").push_bind(needle);
            }
            Op::Order(op) => {
                self.q
                    .push(&self.dialect.byte_order(&h))
                    .push(op.as_sql())
                    .push_bind(needle);
            }
            Op::Co => self.dialect.contains(self.q, &h, needle),
            Op::Sw => {
                self.q
                    .push(&format!("substr({h}, 1, length("))
                    .push_bind(needle)
                    .push(")) = ")
                    .push_bind(needle);
            }
            Op::Ew => {
                self.q
                    .push(&format!("(length({h}) >= length("))
                    .push_bind(needle)
                    .push(&format!(") AND substr({h}, length({h}) - length("))
                    .push_bind(needle)
                    .push(") + 1) = ")
                    .push_bind(needle)
                    .push(")");
            }
        }
    }

    /// Answer a comparison from an indexed column where the semantics allow, falling back
    /// to the body where the column is NULL. Returns whether it did.
    fn indexed_compare(
        &mut self,
        path: &AttrPath,
        op: Op,
        value: &CompValue,
    ) -> Result<bool, FilterSqlError> {
        if path.urn.is_some() {
            return Ok(false);
        }
        // Only the schema's own spelling: the evaluator resolves a name to the member
        // spelled exactly like it first, so `USERNAME` finds a `USERNAME` member before
        // `userName`, which is all the column knows about.
        let attribute = match (path.name.as_str(), path.sub.as_deref()) {
            ("id", None) => IndexedAttribute::Id,
            ("externalId", None) => IndexedAttribute::ExternalId,
            ("userName", None) => IndexedAttribute::UserNameLower,
            ("displayName", None) => IndexedAttribute::DisplayNameLower,
            ("meta", Some("created")) => IndexedAttribute::CreatedMillis,
            ("meta", Some("lastModified")) => IndexedAttribute::LastModifiedMillis,
            ("name", Some("familyName")) => IndexedAttribute::FamilyNameLower,
            ("active", None) => IndexedAttribute::Active,
            _ => return Ok(false),
        };
        let Some(column) = self.columns.column(attribute) else {
            return Ok(false);
        };
        let ty = self.rules.attribute_type(path);
        let case_exact = self.rules.case_exact(path);
        let wanted = match (attribute, value) {
            // `active eq <boolean>` only: a boolean column holds exactly the one value the
            // evaluator would compare. (Ordering a boolean is false, and other values never
            // equal a boolean, so those stay on the generic path, which says so.)
            (IndexedAttribute::Active, CompValue::Bool(b)) => {
                if op != Op::Order(SqlOp::Eq) || ty != AttributeType::Boolean {
                    return Ok(false);
                }
                return self.column_compare(
                    column,
                    ColumnCondition::Integer(SqlOp::Eq, i64::from(*b)),
                    path,
                    op,
                    value,
                );
            }
            (IndexedAttribute::Active, _) => return Ok(false),
            (_, CompValue::String(wanted)) => wanted,
            _ => return Ok(false),
        };
        let condition = match attribute {
            IndexedAttribute::CreatedMillis | IndexedAttribute::LastModifiedMillis => {
                let (Op::Order(op), AttributeType::DateTime) = (op, ty) else {
                    return Ok(false);
                };
                let Ok(t) = butterfly_core::rfc3339::parse(wanted) else {
                    return Ok(false);
                };
                millis_condition(op, t)
            }
            _ => {
                if !matches!(ty, AttributeType::String | AttributeType::Reference) {
                    return Ok(false);
                }
                let lowered = matches!(
                    attribute,
                    IndexedAttribute::UserNameLower
                        | IndexedAttribute::DisplayNameLower
                        | IndexedAttribute::FamilyNameLower
                );
                // A raw column serves case-exact comparisons, a lowercased one the others.
                if lowered == case_exact {
                    return Ok(false);
                }
                let needle = if lowered {
                    wanted.to_lowercase()
                } else {
                    wanted.clone()
                };
                if matches!(op, Op::Co | Op::Ew) {
                    return Ok(false);
                }
                match self
                    .text_test(op, needle, false, None)
                    .and_then(|t| t.string)
                {
                    None => ColumnCondition::Never,
                    Some((Op::Order(op), needle)) => ColumnCondition::Text(op, needle),
                    Some((_, prefix)) => ColumnCondition::Prefix(prefix),
                }
            }
        };
        self.column_compare(column, condition, path, op, value)
    }

    /// `condition` on `column` where it is not NULL, or the comparison on the body for
    /// rows whose body must be consulted.
    fn column_compare(
        &mut self,
        column: &str,
        condition: ColumnCondition,
        path: &AttrPath,
        op: Op,
        value: &CompValue,
    ) -> Result<bool, FilterSqlError> {
        self.q.push("((");
        self.q.push(column).push(" IS NOT NULL AND ");
        match condition {
            ColumnCondition::Never => self.push_false(),
            ColumnCondition::Millis(op, ms) | ColumnCondition::Integer(op, ms) => {
                self.q.push(column).push(op.as_sql()).push_bind(ms);
            }
            ColumnCondition::Text(SqlOp::Eq, needle) => {
                self.q.push(column).push(" = ").push_bind(needle);
            }
            ColumnCondition::Text(op, needle) => {
                self.q
                    .push(&self.dialect.byte_order(column))
                    .push(op.as_sql())
                    .push_bind(needle);
            }
            ColumnCondition::Prefix(prefix) => {
                let ordered = self.dialect.byte_order(column);
                let upper = prefix_successor(&prefix);
                self.q.push(&ordered).push(" >= ").push_bind(prefix);
                if let Some(upper) = upper {
                    self.q
                        .push(" AND ")
                        .push(&ordered)
                        .push(" < ")
                        .push_bind(upper);
                }
            }
        }
        self.q.push(") OR (");
        match self.columns.irregular {
            Some(flag) => self.q.push(flag).push(" = 1 AND "),
            None => self.q.push(column).push(" IS NULL AND "),
        };
        self.generic_compare(path, op, value, &Scope::Resource)?;
        self.q.push("))");
        Ok(true)
    }
}

/// A condition on an indexed column.
enum ColumnCondition {
    Never,
    Millis(SqlOp, i64),
    /// An integer column (a boolean as 0 or 1).
    Integer(SqlOp, i64),
    Text(SqlOp, String),
    Prefix(String),
}

/// The condition on a whole-millisecond column for `column op t`.
fn millis_condition(op: SqlOp, t: DateTime<Utc>) -> ColumnCondition {
    let nanos = datetime::unix_nanos(t);
    // The range of DateTime<Utc> keeps this within i64.
    let floor = i64::try_from(nanos.div_euclid(1_000_000)).unwrap_or(i64::MAX);
    let whole = nanos.rem_euclid(1_000_000) == 0;
    if whole {
        return ColumnCondition::Millis(op, floor);
    }
    // t lies strictly between floor and floor + 1 ms, where no stored value is.
    match op {
        SqlOp::Eq => ColumnCondition::Never,
        SqlOp::Gt | SqlOp::Ge => ColumnCondition::Millis(SqlOp::Gt, floor),
        SqlOp::Lt | SqlOp::Le => ColumnCondition::Millis(SqlOp::Le, floor),
    }
}

/// A JSON number as the databases compare it.
fn sql_number(n: &serde_json::Number) -> Option<SqlNumber> {
    if let Some(i) = n.as_i64() {
        Some(SqlNumber::Integer(i))
    } else if let Some(u) = n.as_u64() {
        Some(SqlNumber::BigInteger(u))
    } else {
        n.as_f64().map(SqlNumber::Real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successors_bound_every_extension() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
    }

    #[test]
    fn chains_flatten_in_order_without_recursion() {
        let mut filter = Filter::Present(AttrPath::new("a0"));
        for i in 1..100_000 {
            filter = Filter::Or(
                Box::new(filter),
                Box::new(Filter::Present(AttrPath::new(format!("a{i}")))),
            );
        }
        let operands = chain_operands(&filter, false);
        assert_eq!(operands.len(), 100_000);
        assert_eq!(operands[7], &Filter::Present(AttrPath::new("a7")));
        let mut q = BoundQuery::default();
        push_filter(
            &mut q,
            Backend::Sqlite,
            &ResourceColumns::new("r.body"),
            &filter,
            &butterfly_scim::filter::DefaultRules,
        )
        .unwrap();
        // Balanced: the parentheses nest about log2(100 000) deep, not 100 000.
        let mut depth = 0_i32;
        let mut deepest = 0;
        for c in q.sql().chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            deepest = deepest.max(depth);
        }
        assert!(deepest < 40, "nesting {deepest}");
        // Dropping the 100 000-deep tree recursively would take more stack than a test
        // thread has; take it apart iteratively.
        let mut pending = vec![filter];
        while let Some(f) = pending.pop() {
            if let Filter::Or(l, r) = f {
                pending.push(*l);
                pending.push(*r);
            }
        }
    }

    #[test]
    fn hand_built_trees_beyond_the_limit_are_refused() {
        let mut filter = Filter::Present(AttrPath::new("a"));
        for _ in 0..=MAX_NESTING {
            filter = Filter::Not(Box::new(filter));
        }
        let mut q = BoundQuery::default();
        let err = push_filter(
            &mut q,
            Backend::Postgres,
            &ResourceColumns::new("r.body"),
            &filter,
            &butterfly_scim::filter::DefaultRules,
        )
        .unwrap_err();
        assert_eq!(err, FilterSqlError::TooDeep { limit: MAX_NESTING });
    }

    #[test]
    fn millis_conditions_round_for_sub_millisecond_bounds() {
        let t = DateTime::from_timestamp_nanos(1_500_000);
        assert!(matches!(
            millis_condition(SqlOp::Eq, t),
            ColumnCondition::Never
        ));
        assert!(matches!(
            millis_condition(SqlOp::Ge, t),
            ColumnCondition::Millis(SqlOp::Gt, 1)
        ));
        assert!(matches!(
            millis_condition(SqlOp::Lt, t),
            ColumnCondition::Millis(SqlOp::Le, 1)
        ));
        let before = DateTime::from_timestamp_nanos(-500_000);
        assert!(matches!(
            millis_condition(SqlOp::Gt, before),
            ColumnCondition::Millis(SqlOp::Gt, -1)
        ));
    }
}
