//! The `ScimStore` contract, written once over the trait and run on `MemoryStore` (the
//! reference), `SqlStore` on SQLite and `SqlStore` on PostgreSQL.
//!
//! Each function gets a store and two teams that exist in it.

use std::collections::BTreeSet;

use butterfly_core::TeamId;
use butterfly_scim::filter::{AttrPath, Filter};
use butterfly_scim::{ListQuery, ResourceType, ScimStore, ScimStoreError, schemas};
use futures::future::join_all;
use serde_json::{Value, json};

fn user(name: &str) -> Value {
    json!({"schemas": [schemas::USER], "userName": name, "active": true})
}

fn group(name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|id| json!({"value": id, "type": "User"}))
        .collect();
    let mut g = json!({"schemas": [schemas::GROUP], "displayName": name});
    if !members.is_empty() {
        g["members"] = Value::from(members);
    }
    g
}

fn list(filter: Option<&str>, sort: Option<&str>, descending: bool) -> ListQuery {
    ListQuery {
        filter: filter.map(|f| Filter::parse(f).unwrap()),
        sort_by: sort.map(|s| AttrPath::parse(s).unwrap()),
        descending,
        start_index: 1,
        count: 1000,
    }
}

async fn names<S: ScimStore>(
    s: &S,
    team: TeamId,
    ty: ResourceType,
    q: &ListQuery,
) -> (usize, Vec<String>) {
    let attribute = match ty {
        ResourceType::User => "userName",
        ResourceType::Group => "displayName",
    };
    let (total, page) = s.query(team, ty, q).await.unwrap();
    let names = page
        .iter()
        .map(|r| r.resource[attribute].as_str().unwrap_or("-").to_owned())
        .collect();
    (total, names)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub async fn resources_are_created_read_replaced_and_deleted<S: ScimStore>(
    s: &S,
    [team, _]: [TeamId; 2],
) {
    let created = s
        .create(team, ResourceType::User, user("bjensen"))
        .await
        .unwrap();
    let id = created.meta.id.clone();
    assert_eq!(created.resource["id"], id.as_str());
    assert_eq!(created.resource["meta"]["resourceType"], "User");
    assert_eq!(created.resource["meta"]["version"], created.meta.etag());
    assert_eq!(created.attributes(), user("bjensen"));
    assert_eq!(s.get(team, ResourceType::User, &id).await.unwrap(), created);
    // The id belongs to a User, not a Group.
    assert!(matches!(
        s.get(team, ResourceType::Group, &id).await,
        Err(ScimStoreError::NotFound)
    ));

    let mut changed = user("bjensen");
    changed["title"] = json!("Tour Guide");
    let replaced = s
        .replace(
            team,
            ResourceType::User,
            &id,
            changed.clone(),
            Some(&created.meta.version),
        )
        .await
        .unwrap();
    assert_ne!(replaced.meta.version, created.meta.version);
    assert_eq!(replaced.meta.created, created.meta.created);
    assert!(replaced.meta.last_modified >= created.meta.last_modified);
    assert_eq!(replaced.attributes(), changed);
    assert_eq!(
        s.get(team, ResourceType::User, &id).await.unwrap(),
        replaced
    );

    // Compare-and-swap: a stale version changes nothing.
    let stale = s
        .replace(
            team,
            ResourceType::User,
            &id,
            user("x"),
            Some(&created.meta.version),
        )
        .await;
    assert!(
        matches!(stale, Err(ScimStoreError::VersionMismatch)),
        "{stale:?}"
    );
    assert_eq!(
        s.get(team, ResourceType::User, &id).await.unwrap(),
        replaced
    );
    // Without an expected version, the write goes through.
    let forced = s
        .replace(team, ResourceType::User, &id, user("bjensen2"), None)
        .await
        .unwrap();
    assert_ne!(forced.meta.version, replaced.meta.version);

    for missing in [
        s.replace(team, ResourceType::User, "nope", user("y"), None)
            .await
            .err(),
        s.replace(team, ResourceType::Group, &id, user("y"), None)
            .await
            .err(),
    ] {
        assert!(
            matches!(missing, Some(ScimStoreError::NotFound)),
            "{missing:?}"
        );
    }

    s.delete(team, ResourceType::User, &id).await.unwrap();
    assert!(matches!(
        s.get(team, ResourceType::User, &id).await,
        Err(ScimStoreError::NotFound)
    ));
    assert!(matches!(
        s.delete(team, ResourceType::User, &id).await,
        Err(ScimStoreError::NotFound)
    ));
    // Unknown attributes and extensions are kept as given.
    let odd = json!({"userName": "odd", "x-custom": {"deep": [1, 2.5, null, "é"]}, "urn:example:ext:1.0:User": {"a": true}});
    let kept = s
        .create(team, ResourceType::User, odd.clone())
        .await
        .unwrap();
    assert_eq!(
        s.get(team, ResourceType::User, &kept.meta.id)
            .await
            .unwrap()
            .attributes(),
        odd
    );
}

pub async fn names_are_unique_per_team_ignoring_case<S: ScimStore>(s: &S, [a, b]: [TeamId; 2]) {
    let first = s
        .create(a, ResourceType::User, user("Bjensen"))
        .await
        .unwrap();
    for taken in ["bjensen", "BJENSEN"] {
        let err = s
            .create(a, ResourceType::User, user(taken))
            .await
            .unwrap_err();
        assert!(matches!(err, ScimStoreError::Uniqueness(_)), "{err:?}");
    }
    // Unicode case, as the in-memory store folds it.
    s.create(a, ResourceType::User, user("Émile"))
        .await
        .unwrap();
    assert!(matches!(
        s.create(a, ResourceType::User, user("émile")).await,
        Err(ScimStoreError::Uniqueness(_))
    ));
    // Another team, or a Group, may use the name.
    s.create(b, ResourceType::User, user("bjensen"))
        .await
        .unwrap();
    s.create(a, ResourceType::Group, group("bjensen", &[]))
        .await
        .unwrap();
    assert!(matches!(
        s.create(a, ResourceType::Group, group("BJensen", &[]))
            .await,
        Err(ScimStoreError::Uniqueness(_))
    ));
    // Renaming onto a taken name fails and changes nothing; keeping one's own name is fine.
    let other = s
        .create(a, ResourceType::User, user("other"))
        .await
        .unwrap();
    assert!(matches!(
        s.replace(a, ResourceType::User, &other.meta.id, user("BJENSEN"), None)
            .await,
        Err(ScimStoreError::Uniqueness(_))
    ));
    assert_eq!(
        s.get(a, ResourceType::User, &other.meta.id).await.unwrap(),
        other
    );
    s.replace(a, ResourceType::User, &first.meta.id, user("bJensen"), None)
        .await
        .unwrap();
    // A deleted name is free again.
    s.delete(a, ResourceType::User, &first.meta.id)
        .await
        .unwrap();
    s.create(a, ResourceType::User, user("bjensen"))
        .await
        .unwrap();
    // Users without a userName do not collide with each other.
    s.create(a, ResourceType::User, json!({"displayName": "x"}))
        .await
        .unwrap();
    s.create(a, ResourceType::User, json!({"displayName": "x"}))
        .await
        .unwrap();
}

pub async fn teams_never_see_each_other<S: ScimStore>(s: &S, [a, b]: [TeamId; 2]) {
    let ada = s.create(a, ResourceType::User, user("ada")).await.unwrap();
    let admins = s
        .create(a, ResourceType::Group, group("admins", &[&ada.meta.id]))
        .await
        .unwrap();
    let id = ada.meta.id.as_str();
    assert!(matches!(
        s.get(b, ResourceType::User, id).await,
        Err(ScimStoreError::NotFound)
    ));
    assert!(matches!(
        s.replace(b, ResourceType::User, id, user("eve"), None)
            .await,
        Err(ScimStoreError::NotFound)
    ));
    assert!(matches!(
        s.delete(b, ResourceType::User, id).await,
        Err(ScimStoreError::NotFound)
    ));
    for ty in ResourceType::ALL {
        assert_eq!(s.query(b, ty, &list(None, None, false)).await.unwrap().0, 0);
        assert_eq!(
            s.query(b, ty, &list(Some("id pr"), Some("id"), false))
                .await
                .unwrap()
                .0,
            0
        );
    }
    assert!(s.groups_of_user(b, id).await.unwrap().is_empty());
    assert!(
        s.resolve_members(b, &[ada.meta.id.clone(), admins.meta.id.clone()])
            .await
            .unwrap()
            .is_empty()
    );
    // Still all there for their own team.
    assert_eq!(s.get(a, ResourceType::User, id).await.unwrap(), ada);
    assert_eq!(s.groups_of_user(a, id).await.unwrap().len(), 1);
}

pub async fn groups_track_their_members<S: ScimStore>(s: &S, [team, _]: [TeamId; 2]) {
    let ada = s
        .create(team, ResourceType::User, user("ada"))
        .await
        .unwrap();
    let bob = s
        .create(
            team,
            ResourceType::User,
            json!({"userName": "bob", "displayName": "Bob B"}),
        )
        .await
        .unwrap();
    let admins = s
        .create(
            team,
            ResourceType::Group,
            group("Admins", &[&ada.meta.id, &bob.meta.id]),
        )
        .await
        .unwrap();
    let ops = s
        .create(team, ResourceType::Group, group("Ops", &[&ada.meta.id]))
        .await
        .unwrap();
    let nested = s
        .create(team, ResourceType::Group, group("All", &[&admins.meta.id]))
        .await
        .unwrap();
    let (ada_id, bob_id) = (ada.meta.id.as_str(), bob.meta.id.as_str());

    assert_eq!(
        s.groups_of_user(team, ada_id).await.unwrap(),
        vec![
            (admins.meta.id.clone(), "Admins".to_owned()),
            (ops.meta.id.clone(), "Ops".to_owned())
        ]
    );
    let resolved = s
        .resolve_members(
            team,
            &[
                bob.meta.id.clone(),
                "missing".into(),
                admins.meta.id.clone(),
                ada.meta.id.clone(),
            ],
        )
        .await
        .unwrap();
    let resolved: Vec<(String, ResourceType, Option<String>)> = resolved
        .into_iter()
        .map(|m| (m.id, m.resource_type, m.display))
        .collect();
    assert_eq!(
        resolved,
        vec![
            (
                bob.meta.id.clone(),
                ResourceType::User,
                Some("Bob B".to_owned())
            ),
            (
                admins.meta.id.clone(),
                ResourceType::Group,
                Some("Admins".to_owned())
            ),
            (
                ada.meta.id.clone(),
                ResourceType::User,
                Some("ada".to_owned())
            ),
        ]
    );

    // Membership follows replace.
    s.replace(
        team,
        ResourceType::Group,
        &ops.meta.id,
        group("Ops", &[bob_id]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(s.groups_of_user(team, ada_id).await.unwrap().len(), 1);
    assert_eq!(s.groups_of_user(team, bob_id).await.unwrap().len(), 2);

    // Deleting a User takes it out of every Group, with a new version.
    let before = s
        .get(team, ResourceType::Group, &admins.meta.id)
        .await
        .unwrap();
    s.delete(team, ResourceType::User, bob_id).await.unwrap();
    let after = s
        .get(team, ResourceType::Group, &admins.meta.id)
        .await
        .unwrap();
    assert_ne!(after.meta.version, before.meta.version);
    assert_eq!(
        after.resource["members"],
        json!([{"value": ada_id, "type": "User"}])
    );
    let ops_after = s
        .get(team, ResourceType::Group, &ops.meta.id)
        .await
        .unwrap();
    assert!(
        ops_after.resource.get("members").is_none(),
        "{}",
        ops_after.resource
    );
    assert!(s.groups_of_user(team, bob_id).await.unwrap().is_empty());
    // The version the service read before the delete is stale now.
    assert!(matches!(
        s.replace(
            team,
            ResourceType::Group,
            &admins.meta.id,
            group("Admins", &[]),
            Some(&before.meta.version)
        )
        .await,
        Err(ScimStoreError::VersionMismatch)
    ));

    // Deleting a Group takes it out of the Groups that list it.
    s.delete(team, ResourceType::Group, &admins.meta.id)
        .await
        .unwrap();
    let all = s
        .get(team, ResourceType::Group, &nested.meta.id)
        .await
        .unwrap();
    assert!(all.resource.get("members").is_none());
    assert!(s.groups_of_user(team, ada_id).await.unwrap().is_empty());
}

pub async fn large_groups_change_one_member_at_a_time<S: ScimStore>(s: &S, [team, _]: [TeamId; 2]) {
    let ids: Vec<String> = (0..3000).map(|i| format!("member-{i:05}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let g = s
        .create(team, ResourceType::Group, group("everyone", &refs))
        .await
        .unwrap();
    let mut members: Vec<&str> = refs.clone();
    let mut version = g.meta.version.clone();
    for i in 0..20 {
        // Add one, drop one: what a PATCH on `members` hands the store.
        members.push(if i % 2 == 0 {
            "newcomer"
        } else {
            "member-00000"
        });
        members.remove(0);
        let replaced = s
            .replace(
                team,
                ResourceType::Group,
                &g.meta.id,
                group("everyone", &members),
                Some(&version),
            )
            .await
            .unwrap();
        version = replaced.meta.version;
    }
    let of_member = s.groups_of_user(team, "member-02999").await.unwrap();
    assert_eq!(of_member.len(), 1);
    let stored = s.get(team, ResourceType::Group, &g.meta.id).await.unwrap();
    let stored_ids: BTreeSet<&str> = stored.resource["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(stored_ids, members.iter().copied().collect());
    assert!(
        s.groups_of_user(team, "member-00005")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.groups_of_user(team, "newcomer").await.unwrap().len(), 1);
}

pub async fn queries_filter_sort_and_page<S: ScimStore>(s: &S, [team, _]: [TeamId; 2]) {
    let people = [
        json!({"userName": "carol", "active": false, "emails": [{"value": "c@b.org", "type": "home"}, {"value": "c@a.org", "type": "work", "primary": true}], "title": "Boss"}),
        json!({"userName": "alice", "active": true, "emails": [{"value": "z@a.org"}], "name": {"familyName": "Zed"}}),
        json!({"userName": "Bob", "active": true, "title": "intern", "name": {"familyName": "adams"}}),
        json!({"userName": "dave", "title": 7, "emails": "loose@x.org"}),
        json!({"userName": "Émile", "active": true}),
    ];
    for p in &people {
        s.create(team, ResourceType::User, p.clone()).await.unwrap();
    }
    let u = ResourceType::User;
    assert_eq!(
        names(s, team, u, &list(None, None, false)).await,
        (5, strings(&["carol", "alice", "Bob", "dave", "Émile"]))
    );
    assert_eq!(
        names(s, team, u, &list(None, Some("userName"), false)).await,
        (5, strings(&["alice", "Bob", "carol", "dave", "Émile"]))
    );
    assert_eq!(
        names(s, team, u, &list(None, Some("USERNAME"), true)).await,
        (5, strings(&["Émile", "dave", "carol", "Bob", "alice"]))
    );
    assert_eq!(
        names(
            s,
            team,
            u,
            &list(Some("active eq true"), Some("userName"), false)
        )
        .await,
        (3, strings(&["alice", "Bob", "Émile"]))
    );
    // Multi-valued: the primary value, else the first; no value sorts last.
    assert_eq!(
        names(s, team, u, &list(None, Some("emails"), false)).await,
        (5, strings(&["carol", "dave", "alice", "Bob", "Émile"]))
    );
    assert_eq!(
        names(s, team, u, &list(None, Some("emails.value"), true)).await,
        (5, strings(&["Émile", "dave", "Bob", "alice", "carol"]))
    );
    // Numbers before strings; missing last; ties in creation order.
    assert_eq!(
        names(s, team, u, &list(None, Some("title"), false)).await,
        (5, strings(&["dave", "carol", "Bob", "alice", "Émile"]))
    );
    assert_eq!(
        names(s, team, u, &list(None, Some("name.familyName"), false)).await,
        (5, strings(&["Bob", "alice", "carol", "dave", "Émile"]))
    );
    assert_eq!(
        names(s, team, u, &list(None, Some("meta.created"), true))
            .await
            .1
            .len(),
        5
    );
    // Pages.
    let mut page = list(Some("userName pr"), Some("userName"), false);
    page.start_index = 2;
    page.count = 2;
    assert_eq!(
        names(s, team, u, &page).await,
        (5, strings(&["Bob", "carol"]))
    );
    page.start_index = 5;
    assert_eq!(names(s, team, u, &page).await, (5, strings(&["Émile"])));
    page.start_index = 9;
    assert_eq!(names(s, team, u, &page).await, (5, vec![]));
    page.count = 0;
    page.start_index = 1;
    assert_eq!(names(s, team, u, &page).await, (5, vec![]));
    // Filters reach extensions, value paths and meta.
    assert_eq!(
        names(
            s,
            team,
            u,
            &list(
                Some(r#"emails[type eq "work" and value ew "@a.org"]"#),
                None,
                false
            )
        )
        .await,
        (1, strings(&["carol"]))
    );
    assert_eq!(
        names(
            s,
            team,
            u,
            &list(
                Some(r#"userName eq "BOB" or userName sw "É""#),
                Some("userName"),
                false
            )
        )
        .await,
        (2, strings(&["Bob", "Émile"]))
    );
    assert_eq!(
        names(
            s,
            team,
            u,
            &list(
                Some(r#"meta.created gt "2000-01-01T00:00:00Z" and meta.resourceType eq "User""#),
                None,
                false
            )
        )
        .await
        .0,
        5
    );
    let one = s
        .query(team, u, &list(Some(r#"userName eq "dave""#), None, false))
        .await
        .unwrap()
        .1;
    let id = one[0].meta.id.clone();
    assert_eq!(
        names(
            s,
            team,
            u,
            &list(Some(&format!(r#"id eq "{id}""#)), None, false)
        )
        .await,
        (1, strings(&["dave"]))
    );
    assert_eq!(
        names(
            s,
            team,
            u,
            &list(
                Some(&format!(
                    r#"meta.version eq {} and userName eq "dave""#,
                    Value::from(one[0].meta.etag())
                )),
                None,
                false
            )
        )
        .await,
        (1, strings(&["dave"]))
    );
    // Groups have their own namespace of attributes.
    s.create(team, ResourceType::Group, group("Zeta", &[&id]))
        .await
        .unwrap();
    s.create(team, ResourceType::Group, group("alpha", &[]))
        .await
        .unwrap();
    assert_eq!(
        names(
            s,
            team,
            ResourceType::Group,
            &list(Some("displayName pr"), Some("displayName"), false)
        )
        .await,
        (2, strings(&["alpha", "Zeta"]))
    );
    assert_eq!(
        names(
            s,
            team,
            ResourceType::Group,
            &list(Some(&format!(r#"members[value eq "{id}"]"#)), None, false)
        )
        .await,
        (1, strings(&["Zeta"]))
    );
    assert_eq!(
        names(
            s,
            team,
            ResourceType::Group,
            &list(Some(r#"displayName eq "ZETA""#), None, false)
        )
        .await,
        (1, strings(&["Zeta"]))
    );
}

pub async fn concurrent_writers_cannot_both_win<S: ScimStore>(s: &S, [team, _]: [TeamId; 2]) {
    // Eight creates of one userName: exactly one succeeds.
    let creates = join_all((0..8).map(|i| {
        let name = if i % 2 == 0 { "racer" } else { "RACER" };
        s.create(team, ResourceType::User, user(name))
    }))
    .await;
    let won = creates.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{creates:?}");
    assert!(
        creates
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(ScimStoreError::Uniqueness(_))))
    );
    let winner = creates.into_iter().find_map(Result::ok).unwrap();

    // Eight replaces from the same version: exactly one succeeds.
    let replaces = join_all((0..8).map(|i| {
        let mut u = user("racer");
        u["title"] = json!(format!("t{i}"));
        s.replace(
            team,
            ResourceType::User,
            &winner.meta.id,
            u,
            Some(&winner.meta.version),
        )
    }))
    .await;
    assert_eq!(
        replaces.iter().filter(|r| r.is_ok()).count(),
        1,
        "{replaces:?}"
    );
    assert!(
        replaces
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(ScimStoreError::VersionMismatch))),
        "{replaces:?}"
    );
    // Without expected versions, every write lands, one after another.
    let forced = join_all((0..8).map(|i| {
        let mut u = user("racer");
        u["title"] = json!(format!("f{i}"));
        s.replace(team, ResourceType::User, &winner.meta.id, u, None)
    }))
    .await;
    let versions: BTreeSet<String> = forced
        .into_iter()
        .map(|r| r.unwrap().meta.version)
        .collect();
    assert_eq!(versions.len(), 8);
}
