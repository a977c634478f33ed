//! Okta's OIN SCIM 2.0 test plan, step by step, with the request bodies Okta sends.

use serde_json::json;

use butterfly_scim::ScimStore;

use crate::support::{Scim, enc};

const USER_NAME: &str = "Test_User_3ed0d2ab-ad72-4d1f-b0e9-ad85e2f5c5d1@example.com";

fn okta_user() -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": USER_NAME,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": USER_NAME, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

pub fn user_lifecycle<S: ScimStore>(scim: &Scim<S>) {
    // "Test API credentials": a one-result page of users.
    let page = scim.get("/Users?startIndex=1&count=1");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(page.body["totalResults"], 0);

    // Existence check before creating.
    let filter = format!(
        "/Users?filter={}&startIndex=1&count=100",
        enc(&format!("userName eq \"{USER_NAME}\""))
    );
    let none = scim.get(&filter);
    assert_eq!(none.status, 200);
    assert_eq!(none.body["totalResults"], 0);
    assert_eq!(none.body["Resources"], json!([]));

    // Create.
    let created = scim.post("/Users", &okta_user());
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("https://example.com/scim/v2/Users/{id}").as_str())
    );
    assert_eq!(
        created.header("etag"),
        created.body["meta"]["version"].as_str()
    );
    assert_eq!(created.body["userName"], USER_NAME);
    assert_eq!(created.body["active"], true);
    assert_eq!(created.body["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(created.body["meta"]["resourceType"], "User");
    assert!(
        created.body.get("password").is_none(),
        "passwords are never returned"
    );
    assert!(created.body.get("groups").is_none());

    // Get by id.
    let fetched = scim.get(&format!("/Users/{id}"));
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, created.body);

    // Filter finds it, in any case of the userName.
    let found = scim.get(&filter);
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    let upper = scim.get(&format!(
        "/Users?filter={}",
        enc(&format!("userName eq \"{}\"", USER_NAME.to_uppercase()))
    ));
    assert_eq!(upper.body["totalResults"], 1);

    // Creating the same userName again is a conflict.
    scim.post("/Users", &okta_user())
        .assert_error(409, Some("uniqueness"));

    // A user that does not exist.
    scim.get("/Users/010101010101010101010101")
        .assert_error(404, None);

    // Profile update with PUT: Okta sends the whole user back.
    let mut updated = okta_user();
    updated["id"] = json!(id);
    updated["name"]["givenName"] = json!("Another");
    updated["name"]["familyName"] = json!("Name");
    let put = scim.put(&format!("/Users/{id}"), &updated);
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        put.body["name"],
        json!({"givenName": "Another", "familyName": "Name"})
    );
    assert_ne!(put.body["meta"]["version"], created.body["meta"]["version"]);

    // Deactivate and reactivate with a path-less replace.
    for active in [false, true] {
        let patched = scim.patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": active}}]
            }),
        );
        assert_eq!(patched.status, 200, "{}", patched.body);
        assert_eq!(patched.body["active"], active);
        assert_eq!(scim.get(&format!("/Users/{id}")).body["active"], active);
    }

    // Filtering on active, as the "deactivated users" import does.
    let inactive = scim.get(&format!("/Users?filter={}", enc("active eq false")));
    assert_eq!(inactive.body["totalResults"], 0);
}

pub fn group_push<S: ScimStore>(scim: &Scim<S>) {
    let alice = scim.user("alice@example.com");
    let bob = scim.user("bob@example.com");

    // Okta looks the group up by name before pushing it.
    let lookup = format!(
        "/Groups?filter={}&startIndex=1&count=100",
        enc("displayName eq \"Test SCIMv2\"")
    );
    assert_eq!(scim.get(&lookup).body["totalResults"], 0);

    let created = scim.post(
        "/Groups",
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Test SCIMv2",
            "members": []
        }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let gid = created.body["id"].as_str().unwrap().to_owned();
    assert!(created.body.get("members").is_none());
    assert_eq!(scim.get(&lookup).body["totalResults"], 1);

    // Another group with the same name is refused: Okta links groups by name.
    scim.post(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "test scimv2"}),
    )
    .assert_error(409, Some("uniqueness"));

    // Rename: a path-less replace that also carries the group's own id.
    let renamed = scim.patch(
        &format!("/Groups/{gid}"),
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}}]
        }),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["displayName"], "Test SCIMv2 renamed");

    // "Push now" replaces the group with PUT, members included.
    let put = scim.put(
        &format!("/Groups/{gid}"),
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": gid,
            "displayName": "Test SCIMv2",
            "members": [{"value": alice, "display": "alice@example.com"}]
        }),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        put.body["members"],
        json!([{
            "value": alice,
            "display": "alice@example.com",
            "type": "User",
            "$ref": format!("https://example.com/scim/v2/Users/{alice}")
        }])
    );

    // Add a member.
    let added = scim.patch(
        &format!("/Groups/{gid}"),
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": bob, "display": "bob@example.com"}]}]
        }),
    );
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body["members"].as_array().unwrap().len(), 2);

    // The users see their groups.
    let bob_user = scim.get(&format!("/Users/{bob}"));
    assert_eq!(
        bob_user.body["groups"],
        json!([{
            "value": gid,
            "display": "Test SCIMv2",
            "type": "direct",
            "$ref": format!("https://example.com/scim/v2/Groups/{gid}")
        }])
    );

    // Remove a member by filter.
    let removed = scim.patch(
        &format!("/Groups/{gid}"),
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}]
        }),
    );
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body["members"][0]["value"], bob.as_str());
    assert_eq!(removed.body["members"].as_array().unwrap().len(), 1);
    assert!(
        scim.get(&format!("/Users/{alice}"))
            .body
            .get("groups")
            .is_none()
    );

    // Delete the group.
    assert_eq!(scim.delete(&format!("/Groups/{gid}")).status, 204);
    scim.get(&format!("/Groups/{gid}")).assert_error(404, None);
    assert!(
        scim.get(&format!("/Users/{bob}"))
            .body
            .get("groups")
            .is_none()
    );
}

pub fn butterfly_role_extension_round_trips<S: ScimStore>(scim: &Scim<S>) {
    let mut body = okta_user();
    body["schemas"] = json!([
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User"
    ]);
    body["urn:ietf:params:scim:schemas:extension:butterfly:2.0:User"] =
        json!({"butterflyRole": "admin", "team": "blue"});
    body["roles"] = json!([{"value": "backup_operator", "primary": true}]);
    let created = scim.post("/Users", &body);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["urn:ietf:params:scim:schemas:extension:butterfly:2.0:User"],
        json!({"butterflyRole": "admin", "team": "blue"})
    );
    assert_eq!(
        created.body["roles"],
        json!([{"value": "backup_operator", "primary": true}])
    );

    body["urn:ietf:params:scim:schemas:extension:butterfly:2.0:User"]["butterflyRole"] =
        json!("owner");
    body["userName"] = json!("other@example.com");
    scim.post("/Users", &body)
        .assert_error(400, Some("invalidValue"));
}
