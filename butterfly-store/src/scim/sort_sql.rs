//! `sortBy` pushed down to SQL, ordering as [`MemoryStore`](butterfly_scim::MemoryStore)
//! orders (RFC 7644 section 3.4.2.3).
//!
//! The sort value of a resource: the attribute (in the extension the path's URN names,
//! if the resource has it, else at the top level); of a multi-valued attribute, the item
//! whose `primary` is `true`, else the first; then its sub-attribute, or for an object
//! without one its `value`. Values order by kind first (booleans, numbers, timestamps of a
//! `dateTime` attribute, strings), then within their kind (`false` before `true`, by
//! number, chronologically, by text lowercased unless case-exact, in byte order);
//! resources without a sort value come last. Ties keep creation order, and descending is
//! the exact reverse of ascending.
//!
//! Each step is computed once per row in its own derived table, fenced so the planner
//! does not paste the expression into every later use.

use butterfly_scim::filter::{AttrPath, AttributeRules, AttributeType};

use super::bound::BoundQuery;
use super::datetime;
use super::dialect::JsonDialect;

/// How a string sort value is keyed, as the rules say for the path it was found at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Profile {
    date_time: bool,
    fold: bool,
}

impl Profile {
    fn of(rules: &dyn AttributeRules, path: &AttrPath) -> Profile {
        Profile {
            date_time: rules.attribute_type(path) == AttributeType::DateTime,
            fold: !rules.case_exact(path),
        }
    }
}

/// Append `SELECT <columns> FROM (<the rows `matches` pushes, with sort keys>) AS s
/// ORDER BY <sort key>`. `matches` must push a complete `SELECT` whose rows include `seq`
/// and `body`; `columns` may name any of its columns as `s.<name>`. The caller appends
/// LIMIT and OFFSET.
pub(crate) fn push_sorted(
    q: &mut BoundQuery,
    dialect: &dyn JsonDialect,
    columns: &str,
    matches: &mut dyn FnMut(&mut BoundQuery) -> Result<(), super::FilterSqlError>,
    path: &AttrPath,
    descending: bool,
    rules: &dyn AttributeRules,
) -> Result<(), super::FilterSqlError> {
    let fence = dialect.fence();
    q.push("SELECT ").push(columns).push(" FROM (");
    // t5: the sort value's kind and scalar forms.
    q.push(&format!(
        "SELECT t4.*, {} AS k_kind, {} AS k_bool, {} AS k_num, {} AS k_text FROM (",
        dialect.scalar_kind("t4.body", "t4.k_leaf"),
        dialect.scalar_bool("t4.body", "t4.k_leaf"),
        dialect.scalar_number("t4.body", "t4.k_leaf"),
        dialect.scalar_text("t4.body", "t4.k_leaf"),
    ));
    // t4: the leaf, and whether it was reached through an object's `value`.
    q.push("SELECT t3.*, ");
    if let Some(sub) = path.sub.as_deref() {
        dialect.scalar_member(q, "t3.body", "t3.k_item", sub);
        q.push(" AS k_leaf, 0 AS k_via");
    } else {
        let kind = dialect.scalar_kind("t3.body", "t3.k_item");
        q.push(&format!("CASE WHEN {kind} = 'object' THEN "));
        dialect.scalar_member(q, "t3.body", "t3.k_item", "value");
        q.push(&format!(
            " ELSE t3.k_item END AS k_leaf, CASE WHEN {kind} = 'object' THEN 1 ELSE 0 END AS k_via"
        ));
    }
    q.push(" FROM (");
    // t3: the primary (else first) item of an array, or the attribute itself.
    q.push(&format!(
        "SELECT t2.*, {} AS k_item FROM (",
        dialect.scalar_primary_item("t2.body", "t2.k_attr")
    ));
    // t2: the attribute.
    q.push("SELECT t1.*, ");
    dialect.scalar_member(q, "t1.body", "t1.k_container", &path.name);
    q.push(" AS k_attr FROM (");
    // t1: where the attribute is looked up: the extension the URN names, if present.
    q.push("SELECT t0.*, ");
    let root = dialect.scalar_root("t0.body");
    match path.urn.as_deref() {
        None => {
            q.push(&root);
        }
        Some(urn) => {
            q.push("COALESCE(");
            dialect.scalar_member(q, "t0.body", &root, urn);
            q.push(", ").push(&root).push(")");
        }
    }
    q.push(" AS k_container FROM (");
    matches(q)?;
    for level in 0..5 {
        q.push(fence).push(&format!(") AS t{level}"));
    }
    q.push(fence).push(") AS s ORDER BY ");

    let on_path = Profile::of(rules, path);
    let through_value = match path.sub {
        None => Profile::of(rules, &path.clone().with_sub("value")),
        Some(_) => on_path,
    };
    let pick = |f: &dyn Fn(Profile) -> String| -> String {
        if on_path == through_value {
            f(on_path)
        } else {
            format!(
                "(CASE WHEN s.k_via = 1 THEN {} ELSE {} END)",
                f(through_value),
                f(on_path)
            )
        }
    };
    let is_time = pick(&|p: Profile| {
        if p.date_time {
            datetime::valid_sql(dialect, "s.k_text")
        } else {
            "(1 = 0)".to_owned()
        }
    });
    let folded = pick(&|p: Profile| {
        if p.fold {
            dialect.ascii_lower("s.k_text")
        } else {
            "s.k_text".to_owned()
        }
    });
    let direction = if descending { " DESC" } else { "" };
    let keys = [
        format!(
            "(CASE s.k_kind WHEN 'boolean' THEN 0 WHEN 'number' THEN 1 WHEN 'string' THEN \
             (CASE WHEN {is_time} THEN 2 ELSE 3 END) ELSE 4 END)"
        ),
        "(CASE WHEN s.k_kind = 'boolean' THEN s.k_bool END)".to_owned(),
        "(CASE WHEN s.k_kind = 'number' THEN s.k_num END)".to_owned(),
        dialect.byte_order(&format!(
            "(CASE WHEN s.k_kind = 'string' AND {is_time} THEN {} END)",
            datetime::key_sql(dialect, "s.k_text")
        )),
        dialect.byte_order(&format!(
            "(CASE WHEN s.k_kind = 'string' AND NOT {is_time} THEN {folded} END)"
        )),
        "s.seq".to_owned(),
    ];
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push(key).push(direction);
    }
    Ok(())
}
