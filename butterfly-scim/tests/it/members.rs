//! A Group write that names a member the service does not know (a user deleted since,
//! or not provisioned yet) keeps the members it does know: Okta pushes a group's
//! membership in one PATCH and does not retry a 400, so refusing the whole request for
//! one stale id loses the push (fleetdm/fleet#52600). The unknown id is never stored.

use serde_json::{Value, json};

use butterfly_scim::ScimStore;

use crate::support::Scim;

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["value"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    ids.sort();
    ids
}

/// Run on every store.
pub fn unknown_members_are_left_out_of_group_updates<S: ScimStore>(scim: &Scim<S>) {
    let a = scim.user("a@example.com");
    let b = scim.user("b@example.com");
    let c = scim.user("c@example.com");
    let created = scim.post(
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": a}]}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let path = format!("/Groups/{}", created.body["id"].as_str().unwrap());
    let stale = "00000000-0000-4000-8000-000000000000";

    // Okta's push: several adds in one operation, one of them stale.
    let pushed = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members",
                            "value": [{"value": b}, {"value": stale}, {"value": c}]}]
        }),
    );
    assert_eq!(pushed.status, 200, "{}", pushed.body);
    assert_eq!(member_ids(&pushed.body), sorted(&[&a, &b, &c]));
    assert_eq!(member_ids(&scim.get(&path).body), sorted(&[&a, &b, &c]));
    assert!(!scim.get(&path).body.to_string().contains(stale));

    // A replace resolves the new list first: the known ids replace the membership, the
    // unknown one is left out, and the group is never emptied on the way.
    let replaced = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "members",
                            "value": [{"value": stale}, {"value": b}]}]
        }),
    );
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(member_ids(&replaced.body), sorted(&[&b]));

    // The same for a PUT.
    let put = scim.put(
        &path,
        &json!({"schemas": [GROUP], "displayName": "Engineering",
                "members": [{"value": a}, {"value": stale}]}),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(member_ids(&put.body), sorted(&[&a]));

    // Only unknown ids: nothing to add, the membership stays as it was.
    let noop = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": stale}]}]
        }),
    );
    assert_eq!(noop.status, 200, "{}", noop.body);
    assert_eq!(member_ids(&noop.body), sorted(&[&a]));

    // Found by a members filter only as what was stored.
    let found = scim.get(&format!(
        "/Groups?filter={}",
        crate::support::enc(&format!("members.value eq \"{stale}\""))
    ));
    assert_eq!(found.body["totalResults"], 0, "{}", found.body);

    // Creating a group is the client's own statement of its members: a wrong id there
    // is still refused whole.
    scim.post(
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": "New", "members": [{"value": a}, {"value": stale}]}),
    )
    .assert_error(400, Some("invalidValue"));
}
