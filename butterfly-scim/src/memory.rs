//! [`MemoryStore`]: a [`ScimStore`] in memory, for tests, examples and embedders that
//! keep provisioning state elsewhere.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use butterfly_core::{Clock, SystemClock, TeamId};

use crate::filter::{AttrPath, AttributeRules, AttributeType};
use crate::schema::SchemaRules;
use crate::store::{
    ListQuery, ResolvedMember, ResourceType, ScimStore, ScimStoreError, StoredMeta, StoredResource,
};

/// A [`ScimStore`] held in memory, behind one `RwLock`.
///
/// It honours the whole [`ScimStore`] contract: per-team isolation, case-insensitive
/// uniqueness of `userName` and Group `displayName`, compare-and-swap on
/// [`replace`](ScimStore::replace), member clean-up on delete, filters, sorting and
/// paging. Its futures never wait: the lock is taken and released inside each call, never
/// held across an `.await`. Everything is lost when it is dropped.
pub struct MemoryStore {
    teams: RwLock<BTreeMap<TeamId, TeamData>>,
    clock: Arc<dyn Clock>,
    versions: AtomicU64,
}

#[derive(Default)]
struct TeamData {
    resources: BTreeMap<(ResourceType, String), Entry>,
    /// Creation order, for a stable default listing order.
    next_seq: u64,
}

struct Entry {
    seq: u64,
    stored: StoredResource,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let teams = self.read().len();
        f.debug_struct("MemoryStore")
            .field("teams", &teams)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        MemoryStore::with_clock(Arc::new(SystemClock))
    }

    /// An empty store on the given clock (a
    /// [`FixedClock`](butterfly_core::FixedClock) makes timestamps reproducible).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            teams: RwLock::new(BTreeMap::new()),
            clock,
            versions: AtomicU64::new(0),
        }
    }

    // A poisoned lock means a panic elsewhere while writing; the maps are still
    // consistent (every write is a single insert or remove), so carry on.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<TeamId, TeamData>> {
        self.teams
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<TeamId, TeamData>> {
        self.teams
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn next_version(&self) -> String {
        (self.versions.fetch_add(1, AtomicOrdering::Relaxed) + 1).to_string()
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn do_create(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        let now = self.now();
        let version = self.next_version();
        let mut teams = self.write();
        let data = teams.entry(team).or_default();
        check_unique(data, resource_type, None, &attributes)?;
        let id = Uuid::new_v4().to_string();
        let meta = StoredMeta {
            id: id.clone(),
            created: now,
            last_modified: now,
            version,
        };
        let stored = StoredResource::new(resource_type, meta, attributes);
        data.next_seq += 1;
        data.resources.insert(
            (resource_type, id),
            Entry {
                seq: data.next_seq,
                stored: stored.clone(),
            },
        );
        Ok(stored)
    }

    fn do_replace(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        attributes: Value,
        expected_version: Option<&str>,
    ) -> Result<StoredResource, ScimStoreError> {
        let now = self.now();
        let version = self.next_version();
        let mut teams = self.write();
        let data = teams.get_mut(&team).ok_or(ScimStoreError::NotFound)?;
        let key = (resource_type, id.to_owned());
        let current = data.resources.get(&key).ok_or(ScimStoreError::NotFound)?;
        if expected_version.is_some_and(|v| v != current.stored.meta.version) {
            return Err(ScimStoreError::VersionMismatch);
        }
        check_unique(data, resource_type, Some(id), &attributes)?;
        let entry = data
            .resources
            .get_mut(&key)
            .ok_or(ScimStoreError::NotFound)?;
        let meta = StoredMeta {
            id: id.to_owned(),
            created: entry.stored.meta.created,
            last_modified: now,
            version,
        };
        entry.stored = StoredResource::new(resource_type, meta, attributes);
        Ok(entry.stored.clone())
    }

    fn do_delete(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<(), ScimStoreError> {
        let now = self.now();
        let mut teams = self.write();
        let data = teams.get_mut(&team).ok_or(ScimStoreError::NotFound)?;
        data.resources
            .remove(&(resource_type, id.to_owned()))
            .ok_or(ScimStoreError::NotFound)?;
        // Drop the deleted resource from every group that lists it.
        let mut changed = Vec::new();
        for ((ty, group_id), entry) in &data.resources {
            if *ty == ResourceType::Group && member_ids(&entry.stored.resource).any(|m| m == id) {
                changed.push(group_id.clone());
            }
        }
        for group_id in changed {
            if let Some(entry) = data.resources.get_mut(&(ResourceType::Group, group_id)) {
                let mut attributes = entry.stored.attributes();
                if let Some(members) = attributes.get_mut("members").and_then(Value::as_array_mut) {
                    members.retain(|m| m.get("value").and_then(Value::as_str) != Some(id));
                    if members.is_empty()
                        && let Some(object) = attributes.as_object_mut()
                    {
                        object.remove("members");
                    }
                }
                let meta = StoredMeta {
                    last_modified: now,
                    version: self.next_version(),
                    ..entry.stored.meta.clone()
                };
                entry.stored = StoredResource::new(ResourceType::Group, meta, attributes);
            }
        }
        Ok(())
    }

    fn do_query(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        query: &ListQuery,
    ) -> (usize, Vec<StoredResource>) {
        let rules = SchemaRules::new(resource_type);
        let teams = self.read();
        let Some(data) = teams.get(&team) else {
            return (0, Vec::new());
        };
        let mut matches: Vec<&Entry> = data
            .resources
            .iter()
            .filter(|((ty, _), _)| *ty == resource_type)
            .map(|(_, entry)| entry)
            .filter(|entry| {
                query
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&entry.stored.resource, &rules))
            })
            .collect();
        matches.sort_by_key(|entry| entry.seq);
        if let Some(path) = &query.sort_by {
            let mut keyed: Vec<(Option<SortKey>, &Entry)> = matches
                .into_iter()
                .map(|entry| (sort_key(&entry.stored.resource, path, rules), entry))
                .collect();
            // Stable, so ties keep creation order. Resources without a value sort last
            // ascending and first descending: the descending order is the exact reverse.
            keyed.sort_by(|(a, _), (b, _)| compare_keys(a.as_ref(), b.as_ref()));
            if query.descending {
                keyed.reverse();
            }
            matches = keyed.into_iter().map(|(_, entry)| entry).collect();
        }
        let total = matches.len();
        let page = matches
            .into_iter()
            .skip(query.start_index.saturating_sub(1))
            .take(query.count)
            .map(|entry| entry.stored.clone())
            .collect();
        (total, page)
    }
}

fn member_ids(group: &Value) -> impl Iterator<Item = &str> {
    group
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value").and_then(Value::as_str))
}

/// The attribute that must be unique per team, for each type.
fn unique_attribute(resource_type: ResourceType) -> &'static str {
    match resource_type {
        ResourceType::User => "userName",
        ResourceType::Group => "displayName",
    }
}

fn check_unique(
    data: &TeamData,
    resource_type: ResourceType,
    except_id: Option<&str>,
    attributes: &Value,
) -> Result<(), ScimStoreError> {
    let attribute = unique_attribute(resource_type);
    let Some(wanted) = attributes.get(attribute).and_then(Value::as_str) else {
        return Ok(());
    };
    let wanted_lower = wanted.to_lowercase();
    let taken = data.resources.iter().any(|((ty, id), entry)| {
        *ty == resource_type
            && Some(id.as_str()) != except_id
            && entry
                .stored
                .resource
                .get(attribute)
                .and_then(Value::as_str)
                .is_some_and(|existing| existing.to_lowercase() == wanted_lower)
    });
    if taken {
        Err(ScimStoreError::Uniqueness(format!(
            "{attribute} `{wanted}` is already taken in this team"
        )))
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortKey {
    Bool(bool),
    Number(f64),
    Time(DateTime<Utc>),
    Text(String),
}

fn compare_keys(a: Option<&SortKey>, b: Option<&SortKey>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The value to sort a resource by (RFC 7644 section 3.4.2.3): for a multi-valued
/// attribute, the primary value, else the first.
fn sort_key(resource: &Value, path: &AttrPath, rules: SchemaRules) -> Option<SortKey> {
    let container = match path.urn.as_deref() {
        None => resource,
        Some(urn) => match get_ignore_case(resource, urn) {
            Some(extension) => extension,
            None => resource,
        },
    };
    let mut value = get_ignore_case(container, &path.name)?;
    if let Value::Array(items) = value {
        value = items
            .iter()
            .find(|item| item.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| items.first())?;
    }
    let leaf_path;
    let (value, key_path) = match (&path.sub, value) {
        (Some(sub), v) => (get_ignore_case(v, sub)?, path),
        (None, Value::Object(_)) => {
            leaf_path = path.clone().with_sub("value");
            (get_ignore_case(value, "value")?, &leaf_path)
        }
        (None, v) => (v, path),
    };
    match value {
        Value::Bool(b) => Some(SortKey::Bool(*b)),
        Value::Number(n) => n.as_f64().map(SortKey::Number),
        Value::String(s) => {
            if rules.attribute_type(key_path) == AttributeType::DateTime
                && let Ok(t) = butterfly_core::rfc3339::parse(s)
            {
                return Some(SortKey::Time(t));
            }
            Some(SortKey::Text(if rules.case_exact(key_path) {
                s.clone()
            } else {
                s.to_lowercase()
            }))
        }
        _ => None,
    }
}

fn get_ignore_case<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

impl ScimStore for MemoryStore {
    async fn create(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        self.do_create(team, resource_type, attributes)
    }

    async fn get(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<StoredResource, ScimStoreError> {
        self.read()
            .get(&team)
            .and_then(|data| data.resources.get(&(resource_type, id.to_owned())))
            .map(|entry| entry.stored.clone())
            .ok_or(ScimStoreError::NotFound)
    }

    async fn replace(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        attributes: Value,
        expected_version: Option<&str>,
    ) -> Result<StoredResource, ScimStoreError> {
        self.do_replace(team, resource_type, id, attributes, expected_version)
    }

    async fn delete(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<(), ScimStoreError> {
        self.do_delete(team, resource_type, id)
    }

    async fn query(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        query: &ListQuery,
    ) -> Result<(usize, Vec<StoredResource>), ScimStoreError> {
        Ok(self.do_query(team, resource_type, query))
    }

    async fn groups_of_user(
        &self,
        team: TeamId,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, ScimStoreError> {
        let teams = self.read();
        let Some(data) = teams.get(&team) else {
            return Ok(Vec::new());
        };
        let mut groups: Vec<(u64, String, String)> = data
            .resources
            .iter()
            .filter(|((ty, _), entry)| {
                *ty == ResourceType::Group
                    && member_ids(&entry.stored.resource).any(|m| m == user_id)
            })
            .map(|((_, id), entry)| {
                let name = entry
                    .stored
                    .resource
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                (entry.seq, id.clone(), name)
            })
            .collect();
        groups.sort();
        Ok(groups.into_iter().map(|(_, id, name)| (id, name)).collect())
    }

    async fn resolve_members(
        &self,
        team: TeamId,
        ids: &[String],
    ) -> Result<Vec<ResolvedMember>, ScimStoreError> {
        let teams = self.read();
        let Some(data) = teams.get(&team) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for id in ids {
            for resource_type in ResourceType::ALL {
                if let Some(entry) = data.resources.get(&(resource_type, id.clone())) {
                    let resource = &entry.stored.resource;
                    let display = resource
                        .get("displayName")
                        .or_else(|| resource.get("userName"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    found.push(ResolvedMember {
                        id: id.clone(),
                        resource_type,
                        display,
                    });
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use futures::executor::block_on;
    use serde_json::json;

    fn query(filter: Option<&str>, sort: Option<&str>, descending: bool) -> ListQuery {
        ListQuery {
            filter: filter.map(|f| Filter::parse(f).unwrap()),
            sort_by: sort.map(|s| AttrPath::parse(s).unwrap()),
            descending,
            start_index: 1,
            count: 100,
        }
    }

    #[test]
    fn uniqueness_is_per_team_and_ignores_case() {
        let store = MemoryStore::new();
        let (a, b) = (TeamId::new_random(), TeamId::new_random());
        block_on(store.create(a, ResourceType::User, json!({"userName": "Bjensen"}))).unwrap();
        let err = block_on(store.create(a, ResourceType::User, json!({"userName": "bjensen"})))
            .unwrap_err();
        assert!(matches!(err, ScimStoreError::Uniqueness(_)));
        block_on(store.create(b, ResourceType::User, json!({"userName": "bjensen"}))).unwrap();
        // A group may share a user's name.
        block_on(store.create(a, ResourceType::Group, json!({"displayName": "bjensen"}))).unwrap();
    }

    #[test]
    fn replace_is_compare_and_swap() {
        let store = MemoryStore::new();
        let team = TeamId::new_random();
        let created =
            block_on(store.create(team, ResourceType::User, json!({"userName": "a"}))).unwrap();
        let id = created.meta.id.clone();
        let v1 = created.meta.version.clone();
        let updated = block_on(store.replace(
            team,
            ResourceType::User,
            &id,
            json!({"userName": "b"}),
            Some(&v1),
        ))
        .unwrap();
        assert_ne!(updated.meta.version, v1);
        assert_eq!(updated.meta.created, created.meta.created);
        let stale = block_on(store.replace(
            team,
            ResourceType::User,
            &id,
            json!({"userName": "c"}),
            Some(&v1),
        ));
        assert!(matches!(stale, Err(ScimStoreError::VersionMismatch)));
        let other_team = block_on(store.get(TeamId::new_random(), ResourceType::User, &id));
        assert!(matches!(other_team, Err(ScimStoreError::NotFound)));
    }

    #[test]
    fn delete_removes_memberships() {
        let store = MemoryStore::new();
        let team = TeamId::new_random();
        let user =
            block_on(store.create(team, ResourceType::User, json!({"userName": "a"}))).unwrap();
        let uid = user.meta.id.clone();
        let group = block_on(store.create(
            team,
            ResourceType::Group,
            json!({"displayName": "g", "members": [{"value": uid, "type": "User"}]}),
        ))
        .unwrap();
        let groups = block_on(store.groups_of_user(team, &uid)).unwrap();
        assert_eq!(groups, vec![(group.meta.id.clone(), "g".to_owned())]);
        block_on(store.delete(team, ResourceType::User, &uid)).unwrap();
        let after = block_on(store.get(team, ResourceType::Group, &group.meta.id)).unwrap();
        assert!(after.resource.get("members").is_none());
        assert_ne!(after.meta.version, group.meta.version);
    }

    #[test]
    fn query_filters_sorts_and_pages() {
        let store = MemoryStore::new();
        let team = TeamId::new_random();
        for name in ["carol", "alice", "Bob"] {
            block_on(store.create(
                team,
                ResourceType::User,
                json!({"userName": name, "active": name != "carol"}),
            ))
            .unwrap();
        }
        let names = |q: &ListQuery| {
            let (total, page) = block_on(store.query(team, ResourceType::User, q)).unwrap();
            let names: Vec<String> = page
                .iter()
                .map(|r| r.resource["userName"].as_str().unwrap().to_owned())
                .collect();
            (total, names)
        };
        assert_eq!(
            names(&query(None, None, false)),
            (3, vec!["carol".into(), "alice".into(), "Bob".into()])
        );
        assert_eq!(
            names(&query(None, Some("userName"), false)),
            (3, vec!["alice".into(), "Bob".into(), "carol".into()])
        );
        assert_eq!(
            names(&query(None, Some("USERNAME"), true)),
            (3, vec!["carol".into(), "Bob".into(), "alice".into()])
        );
        assert_eq!(
            names(&query(Some("active eq true"), None, false)),
            (2, vec!["alice".into(), "Bob".into()])
        );
        let mut page = query(None, Some("userName"), false);
        page.start_index = 2;
        page.count = 1;
        assert_eq!(names(&page), (3, vec!["Bob".into()]));
        page.count = 0;
        assert_eq!(names(&page), (3, vec![]));
    }
}
