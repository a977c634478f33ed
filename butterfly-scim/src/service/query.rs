//! Listing and searching: `GET /Users`, `GET /Groups` (RFC 7644 section 3.4.2) and
//! `POST /Users/.search`, `/Groups/.search`, `/.search` (section 3.4.3).
//!
//! - `filter` follows section 3.4.2.2; a syntax error, or `gt`/`ge`/`lt`/`le` on a boolean,
//!   binary or complex attribute, is 400 `invalidFilter`.
//! - `sortBy` and `sortOrder` (`ascending` by default) follow section 3.4.2.3.
//! - `startIndex` below 1 counts as 1 and a negative `count` as 0 (section 3.4.2.4);
//!   `count=0` answers the total only; a `count` above `filter.maxResults` is lowered to
//!   it, and no `count` means [`ScimConfig::default_count`](super::ScimConfig). A value
//!   that is not an integer is 400 `invalidValue`.
//! - `/.search` at the root searches Users, then Groups: sorting applies within each
//!   type, and the page runs across the concatenation.

use http::StatusCode;
use serde_json::{Value, json};

use butterfly_core::TeamId;

use super::resources::render_with_groups;
use super::{Projection, Reply, ScimService, store_error};
use crate::filter::{AttrPath, AttributeType, Filter};
use crate::normalize::{get_ci, invalid_syntax, invalid_value};
use crate::schema::ResourceSchema;
use crate::store::{ListQuery, QueryPage, ResourceType, ScimStore};
use crate::{ScimError, ScimType, schemas};

/// The parameters of one list or search request.
#[derive(Debug)]
struct ListParams {
    filter: Option<Filter>,
    sort_by: Option<AttrPath>,
    descending: bool,
    start_index: usize,
    count: usize,
    projection: Projection,
}

fn parse_filter(text: &str) -> Result<Filter, ScimError> {
    Filter::parse(text).map_err(ScimError::from)
}

fn parse_sort_by(text: &str) -> Result<AttrPath, ScimError> {
    AttrPath::parse(text.trim())
        .map_err(|e| invalid_value(format!("`sortBy` is not an attribute path: {e}")))
}

fn parse_sort_order(text: &str) -> Result<bool, ScimError> {
    if text.eq_ignore_ascii_case("ascending") {
        Ok(false)
    } else if text.eq_ignore_ascii_case("descending") {
        Ok(true)
    } else {
        Err(invalid_value(
            "`sortOrder` must be `ascending` or `descending`",
        ))
    }
}

/// An integer parameter; `i64` so that negative values can be clamped, not refused.
fn parse_integer(name: &str, value: &Value) -> Result<i64, ScimError> {
    let parsed = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| invalid_value(format!("`{name}` must be an integer")))
}

impl ListParams {
    fn new(default_count: usize) -> Self {
        ListParams {
            filter: None,
            sort_by: None,
            descending: false,
            start_index: 1,
            count: default_count,
            projection: Projection::default(),
        }
    }

    fn set_start_index(&mut self, value: &Value) -> Result<(), ScimError> {
        let n = parse_integer("startIndex", value)?;
        self.start_index = usize::try_from(n.max(1)).unwrap_or(1);
        Ok(())
    }

    fn set_count(&mut self, value: &Value, max: usize) -> Result<(), ScimError> {
        let n = parse_integer("count", value)?;
        self.count = usize::try_from(n.max(0)).unwrap_or(0).min(max);
        Ok(())
    }

    fn from_query(
        query: Option<&str>,
        default_count: usize,
        max: usize,
    ) -> Result<Self, ScimError> {
        let mut params = ListParams::new(default_count);
        params.projection = Projection::from_query(query)?;
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let key = key.as_ref();
            if key.eq_ignore_ascii_case("filter") {
                params.filter = Some(parse_filter(&value)?);
            } else if key.eq_ignore_ascii_case("sortBy") {
                params.sort_by = Some(parse_sort_by(&value)?);
            } else if key.eq_ignore_ascii_case("sortOrder") {
                params.descending = parse_sort_order(&value)?;
            } else if key.eq_ignore_ascii_case("startIndex") {
                params.set_start_index(&Value::String(value.into_owned()))?;
            } else if key.eq_ignore_ascii_case("count") {
                params.set_count(&Value::String(value.into_owned()), max)?;
            }
        }
        Ok(params)
    }

    fn from_json(body: &Value, default_count: usize, max: usize) -> Result<Self, ScimError> {
        let Some(object) = body.as_object() else {
            return Err(invalid_syntax("a search request must be a JSON object"));
        };
        if let Some(list) = get_ci(object, "schemas") {
            let declared = list.as_array().is_some_and(|l| {
                l.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(schemas::SEARCH_REQUEST))
                })
            });
            if !declared {
                return Err(invalid_syntax(format!(
                    "`schemas` must include {}",
                    schemas::SEARCH_REQUEST
                )));
            }
        }
        let mut params = ListParams::new(default_count);
        params.projection = Projection::from_json(
            get_ci(object, "attributes"),
            get_ci(object, "excludedAttributes"),
        )?;
        let text = |name: &str| -> Result<Option<&str>, ScimError> {
            match get_ci(object, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(invalid_value(format!("`{name}` must be a string"))),
            }
        };
        if let Some(filter) = text("filter")? {
            params.filter = Some(parse_filter(filter)?);
        }
        if let Some(sort_by) = text("sortBy")? {
            params.sort_by = Some(parse_sort_by(sort_by)?);
        }
        if let Some(order) = text("sortOrder")? {
            params.descending = parse_sort_order(order)?;
        }
        if let Some(v) = get_ci(object, "startIndex").filter(|v| !v.is_null()) {
            params.set_start_index(v)?;
        }
        if let Some(v) = get_ci(object, "count").filter(|v| !v.is_null()) {
            params.set_count(v, max)?;
        }
        Ok(params)
    }
}

/// Refuse ordering comparisons on attributes that have no order (RFC 7644 section
/// 3.4.2.2: "boolean ... binary ... complex").
fn check_filter(
    filter: &Filter,
    rs: &ResourceSchema,
    parent: Option<&AttrPath>,
) -> Result<(), ScimError> {
    match filter {
        Filter::Compare { path, op, .. } if op.is_ordering() => {
            let full = match parent {
                None => path.clone(),
                Some(parent) => AttrPath {
                    urn: parent.urn.clone(),
                    name: parent.name.clone(),
                    sub: Some(path.name.clone()),
                },
            };
            let unordered = rs.resolve(&full).is_some_and(|a| {
                matches!(
                    a.ty,
                    AttributeType::Boolean | AttributeType::Binary | AttributeType::Complex
                )
            });
            if unordered {
                return Err(ScimError::new(
                    400,
                    format!("`{op}` cannot compare `{full}`, which has no order"),
                )
                .with_type(ScimType::InvalidFilter));
            }
            Ok(())
        }
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_filter(a, rs, parent)?;
            check_filter(b, rs, parent)
        }
        Filter::Not(inner) => check_filter(inner, rs, parent),
        Filter::ValuePath { path, filter } => check_filter(filter, rs, Some(path)),
        _ => Ok(()),
    }
}

impl<S: ScimStore> ScimService<S> {
    /// GET `/Users`, `/Groups`.
    pub(crate) async fn list(
        &self,
        team: TeamId,
        base: &str,
        resource_type: ResourceType,
        query: Option<&str>,
    ) -> Result<Reply, ScimError> {
        let params = ListParams::from_query(query, self.default_count(), self.config.max_results)?;
        self.run_query(team, base, &[resource_type], &params).await
    }

    /// POST `.search`, for one type or (with `None`) for both.
    pub(crate) async fn search(
        &self,
        team: TeamId,
        base: &str,
        resource_type: Option<ResourceType>,
        body: &Value,
    ) -> Result<Reply, ScimError> {
        let params = ListParams::from_json(body, self.default_count(), self.config.max_results)?;
        match resource_type {
            Some(t) => self.run_query(team, base, &[t], &params).await,
            None => {
                self.run_query(team, base, &ResourceType::ALL, &params)
                    .await
            }
        }
    }

    fn default_count(&self) -> usize {
        self.config.default_count.min(self.config.max_results)
    }

    async fn run_query(
        &self,
        team: TeamId,
        base: &str,
        types: &[ResourceType],
        params: &ListParams,
    ) -> Result<Reply, ScimError> {
        if let Some(filter) = &params.filter {
            for t in types {
                check_filter(filter, ResourceSchema::of(*t), None)?;
            }
        }
        let mut total = 0;
        let mut resources = Vec::new();
        // Position of the page's first result within the part not yet covered.
        let mut start = params.start_index;
        for &resource_type in types {
            let query = ListQuery {
                filter: params.filter.clone(),
                sort_by: params.sort_by.clone(),
                descending: params.descending,
                start_index: start,
                count: params.count - resources.len(),
            };
            // The page and the Groups of its Users in one store call (one query on a
            // database), not one per User.
            let wants_groups = resource_type == ResourceType::User
                && params
                    .projection
                    .wants(ResourceSchema::of(resource_type), "groups");
            let QueryPage {
                total: found,
                resources: page,
                mut groups,
            } = self
                .store
                .query_with_groups(team, resource_type, &query, wants_groups)
                .await
                .map_err(|e| store_error(e, resource_type.as_str()))?;
            total += found;
            start = start.saturating_sub(found).max(1);
            for stored in page {
                let of_this = groups.remove(&stored.meta.id).unwrap_or_default();
                resources.push(render_with_groups(
                    base,
                    resource_type,
                    stored,
                    &params.projection,
                    of_this,
                ));
            }
        }
        Ok(Reply::json(
            StatusCode::OK,
            json!({
                "schemas": [schemas::LIST_RESPONSE],
                "totalResults": total,
                "itemsPerPage": resources.len(),
                "startIndex": params.start_index,
                "Resources": resources,
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_parameters_are_clamped_as_rfc_7644_says() {
        let p = ListParams::from_query(Some("startIndex=-4&count=-1"), 100, 1000).unwrap();
        assert_eq!((p.start_index, p.count), (1, 0));
        let p = ListParams::from_query(Some("count=5000"), 100, 1000).unwrap();
        assert_eq!(p.count, 1000);
        let p = ListParams::from_query(None, 100, 1000).unwrap();
        assert_eq!((p.start_index, p.count), (1, 100));
        let err = ListParams::from_query(Some("count=ten"), 100, 1000).unwrap_err();
        assert_eq!(err.scim_type(), Some(ScimType::InvalidValue));
        let err =
            ListParams::from_query(Some("filter=userName%20eqq%20%22x%22"), 100, 1000).unwrap_err();
        assert_eq!(err.scim_type(), Some(ScimType::InvalidFilter));
    }

    #[test]
    fn ordering_on_booleans_is_an_invalid_filter() {
        let rs = ResourceSchema::of(ResourceType::User);
        for bad in ["active gt true", "emails[primary ge true]", "name lt \"x\""] {
            let f = Filter::parse(bad).unwrap();
            assert!(check_filter(&f, rs, None).is_err(), "{bad}");
        }
        let ok = Filter::parse("meta.lastModified gt \"2020-01-01T00:00:00Z\"").unwrap();
        assert!(check_filter(&ok, rs, None).is_ok());
    }
}
