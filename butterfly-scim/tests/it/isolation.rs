//! Tenant isolation: one team never sees or changes another team's resources.

use serde_json::json;

use crate::support::{Scim, enc};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[test]
fn team_b_cannot_see_or_touch_team_a() {
    let a = Scim::new();
    let b = a.other_team();
    let uid = a.user("alice@example.com");
    let group = a.post(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops", "members": [{"value": uid}]}),
    );
    let gid = group.body["id"].as_str().unwrap().to_owned();

    // Reads.
    b.get(&format!("/Users/{uid}")).assert_error(404, None);
    b.get(&format!("/Groups/{gid}")).assert_error(404, None);
    assert_eq!(b.get("/Users").body["totalResults"], 0);
    assert_eq!(b.get("/Groups").body["totalResults"], 0);
    let search = b.get(&format!(
        "/Users?filter={}",
        enc("userName eq \"alice@example.com\"")
    ));
    assert_eq!(search.body["totalResults"], 0);
    let all = b.post(
        "/.search",
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}),
    );
    assert_eq!(all.body["totalResults"], 0);

    // Writes.
    let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "mallory@example.com"}]});
    b.patch(&format!("/Users/{uid}"), &rename)
        .assert_error(404, None);
    b.put(
        &format!("/Users/{uid}"),
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "mallory@example.com"}),
    )
    .assert_error(404, None);
    b.delete(&format!("/Users/{uid}")).assert_error(404, None);
    b.delete(&format!("/Groups/{gid}")).assert_error(404, None);

    // Team B cannot reference team A's user as a member of its own group.
    b.post(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops", "members": [{"value": uid}]}),
    )
    .assert_error(400, Some("invalidValue"));

    // Names are unique per team only.
    assert_eq!(b.user("alice@example.com").len(), 36);

    // Team A is untouched.
    let alice = a.get(&format!("/Users/{uid}"));
    assert_eq!(alice.body["userName"], "alice@example.com");
    assert_eq!(alice.body["groups"][0]["value"], gid.as_str());
    assert_eq!(a.get("/Users").body["totalResults"], 1);
}
