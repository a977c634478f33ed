//! The one place where the SQL for SQLite and PostgreSQL differs: how JSON is walked,
//! typed and read, and the few string functions that are spelled differently.
//!
//! The compiler in [`super::filter_sql`] writes everything else once. A JSON value the
//! compiler works on is a [`Node`]: either the resource itself (the body column) or a
//! row of a JSON table function (`json_each` on SQLite, `jsonb_each` /
//! `jsonb_array_elements` on PostgreSQL) under an alias the compiler chose.
//!
//! - SQLite keeps JSON as text. A row of `json_each(body, path)` carries the value's
//!   `type`, its SQL value for scalars, and its `fullkey`, a path from the root of the
//!   body, so walking further is always `json_each(body, <fullkey>)`: no JSON text is
//!   ever rebuilt from a scalar.
//! - PostgreSQL keeps JSONB, so a row carries the value itself in its `value` column.
//!   Functions that would fail on the wrong kind of value (`jsonb_each` on an array,
//!   `CAST(... AS numeric)` on a string) only ever see the right kind, behind `CASE`,
//!   because PostgreSQL does not promise to evaluate `AND` left to right.
//!
//! Names and values come from the filter, so they are always bound; only aliases, the
//! body column and fixed SQL go into the text.

use super::bound::BoundQuery;

/// A JSON value inside a compiled predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// The resource: the body column.
    Root,
    /// A row of a JSON table function, under this alias.
    Row(String),
}

/// The JSON types, as the filter semantics distinguish them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonKind {
    Object,
    String,
}

/// The comparison operators SQL is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl SqlOp {
    pub(crate) fn as_sql(self) -> &'static str {
        match self {
            SqlOp::Eq => " = ",
            SqlOp::Gt => " > ",
            SqlOp::Ge => " >= ",
            SqlOp::Lt => " < ",
            SqlOp::Le => " <= ",
        }
    }
}

/// A number to compare with, in the form the database compares exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SqlNumber {
    Integer(i64),
    /// An integer beyond `i64`, as its decimal digits.
    BigInteger(u64),
    Real(f64),
}

/// How SQL differs between the databases, for the filter compiler.
pub(crate) trait JsonDialect: Sync {
    /// A FROM item listing the members of `node` (none unless it is an object), each
    /// row with a `key`.
    fn members_from(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str);

    /// The WHERE condition that keeps, of the rows `members_from(node)` listed under
    /// `alias`, only the member `name` resolves to: `node` is an object and the row is the
    /// member spelled exactly `name` if there is one, else the first (in byte order) whose
    /// name equals it ignoring ASCII case.
    fn member_is(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str, name: &str);

    /// A FROM item listing the items of `node`: its elements if it is an array, else the
    /// node itself.
    fn items_from(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str);

    /// The WHERE condition `items_from` needs, if any.
    fn items_where(&self, node: &Node, alias: &str) -> Option<String>;

    /// Whether `node` is of this kind.
    fn kind_is(&self, q: &mut BoundQuery, body: &str, node: &Node, kind: JsonKind);

    /// Whether `node` is the boolean `value`.
    fn bool_is(&self, q: &mut BoundQuery, node: &Node, value: bool);

    /// Whether `node` is a number standing in `op` to `value`. Two-valued.
    fn number_compare(&self, q: &mut BoundQuery, node: &Node, op: SqlOp, value: SqlNumber);

    /// The text of a string `node` (meaningful only once its kind is checked).
    fn text(&self, node: &Node) -> String;

    /// RFC 7644 `pr` on one value: it is, or holds at any depth, a number, a boolean or a
    /// non-empty string.
    fn present(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str);

    /// Whether the resource lists `urn_lower` in its `schemas` (compared ignoring ASCII
    /// case), or has no `schemas` array at all.
    fn declares_schema(&self, q: &mut BoundQuery, body: &str, alias: &str, urn_lower: &str);

    /// `expr` with ASCII letters lowercased, and nothing else changed.
    fn ascii_lower(&self, expr: &str) -> String;

    /// `expr`, to be compared in byte order (code point order, as Rust compares `str`).
    fn byte_order(&self, expr: &str) -> String;

    /// Whether `haystack` contains the bound `needle`.
    fn contains(&self, q: &mut BoundQuery, haystack: &str, needle: &str);

    /// Whether `text` has the shape of an RFC 3339 timestamp as `butterfly_core::rfc3339::parse` reads
    /// it: `YYYY-MM-DD`, one ASCII separator, `hh:mm:ss`, an optional fraction, then `Z`,
    /// `z` or `+hh:mm` / `-hh:mm`. Ranges are checked afterwards, with casts that are only
    /// safe once this holds.
    fn timestamp_shape(&self, text: &str) -> String;

    /// The non-negative integer `expr` as 13 digits, zero-padded.
    fn zero_pad13(&self, expr: &str) -> String;

    // Scalar walks, for sort keys: a value is a column holding a path into the body
    // (SQLite) or the value itself (PostgreSQL), NULL where there is none.

    /// The whole resource, as a scalar value.
    fn scalar_root(&self, body: &str) -> String;

    /// The member `name` of the object `value` resolves to (as in `member_is`), or NULL.
    fn scalar_member(&self, q: &mut BoundQuery, body: &str, value: &str, name: &str);

    /// For an array: its first element whose `primary` member is `true`, else its first
    /// element (NULL if empty). Anything else: itself.
    fn scalar_primary_item(&self, body: &str, value: &str) -> String;

    /// `'object'`, `'boolean'`, `'number'`, `'string'`, or NULL for anything else.
    fn scalar_kind(&self, body: &str, value: &str) -> String;

    /// A boolean value as something that orders false before true.
    fn scalar_bool(&self, body: &str, value: &str) -> String;

    /// A number value as a double (only where `scalar_kind` says number).
    fn scalar_number(&self, body: &str, value: &str) -> String;

    /// A string value's text.
    fn scalar_text(&self, body: &str, value: &str) -> String;

    /// The body column as JSON text, for reading a resource back.
    fn body_text(&self, body: &str) -> String;

    /// Append a placeholder for JSON text, as the body column stores it.
    fn push_json(&self, q: &mut BoundQuery, json: String);

    /// What keeps the planner from merging a derived table into the query around it (so
    /// an expression computed once per row is not copied into every use).
    fn fence(&self) -> &'static str;

    /// What a SELECT ends with to lock the rows of `table` it reads until commit.
    fn lock_rows(&self, table: &str) -> String;

    /// A scalar subquery: the JSON text of an array of `[first, second]` pairs, one per
    /// row of `from_where` (a `FROM ... WHERE ...` clause), ordered by `order`; `[]` or
    /// NULL when there is no row.
    fn pairs_array(&self, first: &str, second: &str, from_where: &str, order: &str) -> String;
}

/// SQLite: JSON as text, walked by path with `json_each` / `json_tree`.
#[derive(Debug)]
pub(crate) struct Sqlite;

/// PostgreSQL: JSONB values, walked with `jsonb_each` / `jsonb_array_elements`.
#[derive(Debug)]
pub(crate) struct Postgres;

impl Sqlite {
    fn path(node: &Node) -> String {
        match node {
            Node::Root => "'$'".to_owned(),
            Node::Row(alias) => format!("{alias}.fullkey"),
        }
    }

    fn type_of(body: &str, node: &Node) -> String {
        match node {
            Node::Root => format!("json_type({body})"),
            Node::Row(alias) => format!("{alias}.type"),
        }
    }

    fn each(body: &str, node: &Node) -> String {
        match node {
            Node::Root => format!("json_each({body})"),
            Node::Row(alias) => format!("json_each({body}, {alias}.fullkey)"),
        }
    }
}

impl JsonDialect for Sqlite {
    fn members_from(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str) {
        q.push(&Sqlite::each(body, node)).push(" AS ").push(alias);
    }

    fn member_is(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str, name: &str) {
        // `json_each` lists an array's elements (keyed by index) and a scalar itself, so
        // the object check is what makes this a member lookup.
        q.push(&Sqlite::type_of(body, node))
            .push(" = 'object' AND ")
            .push(alias)
            .push(".key = (SELECT k.key FROM ")
            .push(&Sqlite::each(body, node))
            .push(" AS k WHERE lower(k.key) = ")
            .push_bind(name.to_ascii_lowercase())
            .push(" ORDER BY k.key <> ")
            .push_bind(name)
            .push(", k.key LIMIT 1)");
    }

    fn items_from(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str) {
        // `json_each` at an array's path lists its elements and at a scalar's path the
        // scalar itself; at an object's path it would list the members, so for an object
        // walk its parent container and keep the object (see `items_where`).
        let node_alias = match node {
            Node::Row(alias) => alias.as_str(),
            // The root is never a member; listing its items is not asked for.
            Node::Root => {
                q.push(&format!("json_each({body}, '$') AS ")).push(alias);
                return;
            }
        };
        q.push(&format!(
            "json_each({body}, CASE WHEN {node_alias}.type = 'object' THEN {node_alias}.path \
             ELSE {node_alias}.fullkey END) AS "
        ))
        .push(alias);
    }

    fn items_where(&self, node: &Node, alias: &str) -> Option<String> {
        match node {
            Node::Row(node_alias) => Some(format!(
                "({node_alias}.type <> 'object' OR {alias}.fullkey = {node_alias}.fullkey)"
            )),
            Node::Root => None,
        }
    }

    fn kind_is(&self, q: &mut BoundQuery, body: &str, node: &Node, kind: JsonKind) {
        let ty = Sqlite::type_of(body, node);
        q.push(&ty).push(match kind {
            JsonKind::Object => " = 'object'",
            JsonKind::String => " = 'text'",
        });
    }

    fn bool_is(&self, q: &mut BoundQuery, node: &Node, value: bool) {
        // `json_each` types booleans as 'true' / 'false'.
        q.push(&Sqlite::type_of("", node))
            .push(" = ")
            .push_bind(if value { "true" } else { "false" });
    }

    fn number_compare(&self, q: &mut BoundQuery, node: &Node, op: SqlOp, value: SqlNumber) {
        // SQLite compares integers and reals by value; the type check keeps strings out,
        // since SQLite orders any text after any number.
        let ty = Sqlite::type_of("", node);
        let text = self.text(node);
        q.push(&format!("({ty} IN ('integer', 'real') AND {text}"))
            .push(op.as_sql());
        match value {
            SqlNumber::Integer(n) => q.push_bind(n),
            // SQLite itself reads integers beyond i64 from JSON as reals.
            #[allow(clippy::cast_precision_loss)]
            SqlNumber::BigInteger(n) => q.push_bind(n as f64),
            SqlNumber::Real(x) => q.push_bind(x),
        };
        q.push(")");
    }

    fn text(&self, node: &Node) -> String {
        match node {
            Node::Row(alias) => format!("{alias}.value"),
            // Never a string: the root of a resource is an object.
            Node::Root => "NULL".to_owned(),
        }
    }

    fn present(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str) {
        // `json_tree` walks the value and everything inside it; one non-empty scalar
        // anywhere makes it present.
        let path = Sqlite::path(node);
        q.push(&format!(
            "EXISTS (SELECT 1 FROM json_tree({body}, {path}) AS {alias} \
             WHERE {alias}.type IN ('true', 'false', 'integer', 'real') \
             OR ({alias}.type = 'text' AND {alias}.value <> ''))"
        ));
    }

    fn declares_schema(&self, q: &mut BoundQuery, body: &str, alias: &str, urn_lower: &str) {
        // `schemas` is looked up by its exact name, as the evaluator does.
        q.push(&format!(
            "(CASE WHEN json_type({body}, '$.schemas') = 'array' THEN EXISTS (SELECT 1 FROM \
             json_each({body}, '$.schemas') AS {alias} WHERE {alias}.type = 'text' AND \
             lower({alias}.value) = "
        ))
        .push_bind(urn_lower)
        .push(") ELSE 1 END)");
    }

    fn ascii_lower(&self, expr: &str) -> String {
        // SQLite's built-in lower() folds ASCII only.
        format!("lower({expr})")
    }

    fn byte_order(&self, expr: &str) -> String {
        // The BINARY collation compares UTF-8 bytes, which is code point order.
        expr.to_owned()
    }

    fn contains(&self, q: &mut BoundQuery, haystack: &str, needle: &str) {
        q.push(&format!("instr({haystack}, "))
            .push_bind(needle)
            .push(") > 0");
    }

    fn timestamp_shape(&self, s: &str) -> String {
        // No regular expressions in stock SQLite: GLOB for the fixed part, then the tail
        // is a fraction followed by `Z`/`z` (one character) or an offset (six).
        let fraction =
            |f: &str| format!("({f} = '' OR ({f} GLOB '.[0-9]*' AND NOT {f} GLOB '.*[^0-9]*'))");
        let zulu_fraction = fraction(&format!("substr({s}, 20, length({s}) - 20)"));
        let offset_fraction = fraction(&format!("substr({s}, 20, length({s}) - 25)"));
        format!(
            "({s} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]?[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*' \
             AND unicode(substr({s}, 11, 1)) < 128 \
             AND ((substr({s}, -1) IN ('Z', 'z') AND {zulu_fraction}) \
             OR (length({s}) >= 25 AND substr({s}, -6) GLOB '[+-][0-9][0-9]:[0-9][0-9]' \
             AND {offset_fraction})))"
        )
    }

    fn zero_pad13(&self, expr: &str) -> String {
        format!("printf('%013d', {expr})")
    }
    fn scalar_root(&self, _body: &str) -> String {
        "'$'".to_owned()
    }

    fn scalar_member(&self, q: &mut BoundQuery, body: &str, value: &str, name: &str) {
        q.push(&format!(
            "(SELECT k.fullkey FROM json_each({body}, {value}) AS k WHERE json_type({body}, {value}) = 'object' \
             AND lower(k.key) = "
        ))
        .push_bind(name.to_ascii_lowercase())
        .push(" ORDER BY k.key <> ")
        .push_bind(name)
        .push(", k.key LIMIT 1)");
    }

    fn scalar_primary_item(&self, body: &str, value: &str) -> String {
        // `primary` by its exact name, as the in-memory store looks it up.
        format!(
            "(CASE WHEN json_type({body}, {value}) = 'array' THEN COALESCE(\
             (SELECT e.fullkey FROM json_each({body}, {value}) AS e \
             WHERE json_type({body}, e.fullkey || '.primary') = 'true' ORDER BY e.key LIMIT 1), \
             (SELECT e.fullkey FROM json_each({body}, {value}) AS e ORDER BY e.key LIMIT 1)) \
             ELSE {value} END)"
        )
    }

    fn scalar_kind(&self, body: &str, value: &str) -> String {
        format!(
            "(CASE json_type({body}, {value}) WHEN 'object' THEN 'object' WHEN 'true' THEN 'boolean' \
             WHEN 'false' THEN 'boolean' WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' \
             WHEN 'text' THEN 'string' END)"
        )
    }

    fn scalar_bool(&self, body: &str, value: &str) -> String {
        format!("json_extract({body}, {value})")
    }

    fn scalar_number(&self, body: &str, value: &str) -> String {
        format!("json_extract({body}, {value})")
    }

    fn scalar_text(&self, body: &str, value: &str) -> String {
        format!("json_extract({body}, {value})")
    }

    fn body_text(&self, body: &str) -> String {
        body.to_owned()
    }

    fn push_json(&self, q: &mut BoundQuery, json: String) {
        q.push_bind(json);
    }

    fn fence(&self) -> &'static str {
        // SQLite does not flatten a subquery that has an OFFSET; -1 means no limit.
        " LIMIT -1 OFFSET 0"
    }

    fn lock_rows(&self, _table: &str) -> String {
        // A SQLite write transaction already excludes every other writer.
        String::new()
    }

    fn pairs_array(&self, first: &str, second: &str, from_where: &str, order: &str) -> String {
        // An ORDER BY inside an aggregate needs SQLite 3.44; the bundled one is newer.
        format!(
            "(SELECT json_group_array(json_array({first}, {second}) ORDER BY {order}) {from_where})"
        )
    }
}

impl Postgres {
    fn value(body: &str, node: &Node) -> String {
        match node {
            Node::Root => body.to_owned(),
            Node::Row(alias) => format!("{alias}.value"),
        }
    }

    /// `node` if it is an object, else SQL NULL (which `jsonb_each` turns into no rows).
    fn object_or_null(body: &str, node: &Node) -> String {
        let v = Postgres::value(body, node);
        format!("CASE WHEN jsonb_typeof({v}) = 'object' THEN {v} END")
    }
}

/// RFC 7644 `pr` as a JSON path: any value at any depth, the value itself included, that
/// is a number, a boolean or a non-empty string. A constant of the program.
const PRESENT_JSONPATH: &str = "'strict $.** ? (@.type() == \"number\" || @.type() == \"boolean\" \
     || (@.type() == \"string\" && @ != \"\"))'";

impl JsonDialect for Postgres {
    fn members_from(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str) {
        q.push(&format!(
            "jsonb_each({}) AS {alias}",
            Postgres::object_or_null(body, node)
        ));
    }

    fn member_is(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str, name: &str) {
        // lower() under the "C" collation folds ASCII only, whatever the database's
        // locale, as the evaluator's eq_ignore_ascii_case does.
        q.push(&format!(
            "{alias}.key = (SELECT k.key FROM jsonb_each({}) AS k \
             WHERE lower(k.key COLLATE \"C\") = ",
            Postgres::object_or_null(body, node)
        ))
        .push_bind(name.to_ascii_lowercase())
        .push(" ORDER BY k.key <> ")
        .push_bind(name)
        .push(", k.key COLLATE \"C\" LIMIT 1)");
    }

    fn items_from(&self, q: &mut BoundQuery, body: &str, node: &Node, alias: &str) {
        let v = Postgres::value(body, node);
        q.push(&format!(
            "jsonb_array_elements(CASE WHEN jsonb_typeof({v}) = 'array' THEN {v} \
             ELSE jsonb_build_array({v}) END) AS {alias}(value)"
        ));
    }

    fn items_where(&self, _node: &Node, _alias: &str) -> Option<String> {
        None
    }

    fn kind_is(&self, q: &mut BoundQuery, body: &str, node: &Node, kind: JsonKind) {
        q.push(&format!("jsonb_typeof({})", Postgres::value(body, node)))
            .push(match kind {
                JsonKind::Object => " = 'object'",
                JsonKind::String => " = 'string'",
            });
    }

    fn bool_is(&self, q: &mut BoundQuery, node: &Node, value: bool) {
        q.push(&Postgres::value("", node))
            .push(" = CAST(")
            .push_bind(if value { "true" } else { "false" })
            .push(" AS jsonb)");
    }

    fn number_compare(&self, q: &mut BoundQuery, node: &Node, op: SqlOp, value: SqlNumber) {
        // The cast only ever sees numbers: CASE fixes the order of evaluation.
        let v = Postgres::value("", node);
        q.push(&format!(
            "CASE WHEN jsonb_typeof({v}) = 'number' THEN CAST({v} AS numeric)"
        ))
        .push(op.as_sql());
        // Each kind of number gets its own SQL text: sqlx caches prepared statements by
        // text, and PostgreSQL fixes a parameter's type when it prepares one.
        match value {
            // numeric against bigint compares exactly.
            SqlNumber::Integer(n) => {
                q.push("CAST(").push_bind(n).push(" AS bigint)");
            }
            SqlNumber::BigInteger(n) => {
                q.push("CAST(")
                    .push_bind(n.to_string())
                    .push(" AS numeric)");
            }
            // numeric against double precision compares as double precision, as the
            // evaluator compares a non-integer as f64.
            SqlNumber::Real(x) => {
                q.push("CAST(").push_bind(x).push(" AS double precision)");
            }
        }
        q.push(" ELSE FALSE END");
    }

    fn text(&self, node: &Node) -> String {
        format!("({} #>> '{{}}')", Postgres::value("", node))
    }

    fn present(&self, q: &mut BoundQuery, body: &str, node: &Node, _alias: &str) {
        q.push(&format!(
            "jsonb_path_exists({}, {PRESENT_JSONPATH})",
            Postgres::value(body, node)
        ));
    }

    fn declares_schema(&self, q: &mut BoundQuery, body: &str, alias: &str, urn_lower: &str) {
        let schemas = format!("{body} -> 'schemas'");
        q.push(&format!(
            "(CASE WHEN jsonb_typeof({schemas}) = 'array' THEN EXISTS (SELECT 1 FROM \
             jsonb_array_elements(CASE WHEN jsonb_typeof({schemas}) = 'array' THEN {schemas} END) \
             AS {alias}(value) WHERE jsonb_typeof({alias}.value) = 'string' AND \
             lower(({alias}.value #>> '{{}}') COLLATE \"C\") = "
        ))
        .push_bind(urn_lower)
        .push(") ELSE TRUE END)");
    }

    fn ascii_lower(&self, expr: &str) -> String {
        format!("lower(({expr}) COLLATE \"C\")")
    }

    fn byte_order(&self, expr: &str) -> String {
        format!("({expr}) COLLATE \"C\"")
    }

    fn contains(&self, q: &mut BoundQuery, haystack: &str, needle: &str) {
        q.push(&format!("strpos({haystack}, "))
            .push_bind(needle)
            .push(") > 0");
    }

    fn timestamp_shape(&self, s: &str) -> String {
        // `.` in the pattern is the separator (any character; ascii() then insists on one
        // byte, as `butterfly_core::rfc3339::parse` reads one byte there).
        format!(
            "(({s}) COLLATE \"C\" ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}.[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}([.][0-9]+)?([Zz]|[+-][0-9]{{2}}:[0-9]{{2}})$' \
             AND ascii(substr({s}, 11, 1)) < 128)"
        )
    }

    fn zero_pad13(&self, expr: &str) -> String {
        format!("lpad(CAST({expr} AS text), 13, '0')")
    }
    fn scalar_root(&self, body: &str) -> String {
        body.to_owned()
    }

    fn scalar_member(&self, q: &mut BoundQuery, _body: &str, value: &str, name: &str) {
        q.push(&format!(
            "(SELECT k.value FROM jsonb_each(CASE WHEN jsonb_typeof({value}) = 'object' THEN {value} END) AS k \
             WHERE lower(k.key COLLATE \"C\") = "
        ))
        .push_bind(name.to_ascii_lowercase())
        .push(" ORDER BY k.key <> ")
        .push_bind(name)
        .push(", k.key COLLATE \"C\" LIMIT 1)");
    }

    fn scalar_primary_item(&self, _body: &str, value: &str) -> String {
        // `->` on an element that is not an object answers NULL, never an error.
        format!(
            "(CASE WHEN jsonb_typeof({value}) = 'array' THEN COALESCE(\
             (SELECT e.value FROM jsonb_array_elements(CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} END) \
             WITH ORDINALITY AS e(value, n) WHERE e.value -> 'primary' = 'true'::jsonb ORDER BY e.n LIMIT 1), \
             {value} -> 0) ELSE {value} END)"
        )
    }

    fn scalar_kind(&self, _body: &str, value: &str) -> String {
        format!(
            "(CASE jsonb_typeof({value}) WHEN 'object' THEN 'object' WHEN 'boolean' THEN 'boolean' \
             WHEN 'number' THEN 'number' WHEN 'string' THEN 'string' END)"
        )
    }

    fn scalar_bool(&self, _body: &str, value: &str) -> String {
        format!("(CASE WHEN jsonb_typeof({value}) = 'boolean' THEN {value} = 'true'::jsonb END)")
    }

    fn scalar_number(&self, _body: &str, value: &str) -> String {
        format!(
            "(CASE WHEN jsonb_typeof({value}) = 'number' THEN CAST({value} AS double precision) END)"
        )
    }

    fn scalar_text(&self, _body: &str, value: &str) -> String {
        format!("(CASE WHEN jsonb_typeof({value}) = 'string' THEN {value} #>> '{{}}' END)")
    }

    fn body_text(&self, body: &str) -> String {
        format!("CAST({body} AS text)")
    }

    fn push_json(&self, q: &mut BoundQuery, json: String) {
        q.push("CAST(").push_bind(json).push(" AS jsonb)");
    }

    fn fence(&self) -> &'static str {
        // PostgreSQL does not pull up a subquery that has an OFFSET.
        " OFFSET 0"
    }

    fn lock_rows(&self, table: &str) -> String {
        format!(" FOR UPDATE OF {table}")
    }

    fn pairs_array(&self, first: &str, second: &str, from_where: &str, order: &str) -> String {
        format!(
            "(SELECT CAST(json_agg(json_build_array({first}, {second}) ORDER BY {order}) AS text) \
             {from_where})"
        )
    }
}
