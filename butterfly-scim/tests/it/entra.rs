//! Microsoft Entra ID's provisioning sequence, with its request bodies and its known
//! departures from RFC 7644 (capitalised `op`, booleans as strings, path-less values with
//! dotted or URN-qualified keys, members removed by value, `replace` through a filter that
//! matches nothing).

use serde_json::json;

use butterfly_scim::ScimStore;

use crate::support::{Scim, enc};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn entra_user(user_name: &str) -> serde_json::Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    })
}

pub fn user_operations<S: ScimStore>(scim: &Scim<S>) {
    let user_name = "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081";

    // Query before create: zero results.
    let query = format!(
        "/Users?filter={}",
        enc(&format!("userName eq \"{user_name}\""))
    );
    assert_eq!(scim.get(&query).body["totalResults"], 0);

    let created = scim.post("/Users", &entra_user(user_name));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.body["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
    assert!(created.body.get("roles").is_none());
    assert_eq!(scim.get(&query).body["Resources"][0]["id"], id.as_str());

    // Entra also matches on externalId.
    let by_external = scim.get(&format!(
        "/Users?filter={}",
        enc("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"")
    ));
    assert_eq!(by_external.body["totalResults"], 1);

    // Multi-valued and single-valued updates.
    let path = format!("/Users/{id}");
    let patched = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
            ]
        }),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        patched.body["emails"],
        json!([{"primary": true, "type": "work", "value": "updatedEmail@microsoft.com"}])
    );
    assert_eq!(patched.body["name"]["familyName"], "updatedFamilyName");
    assert_eq!(patched.body["name"]["givenName"], "givenName");

    let renamed = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]
        }),
    );
    assert_eq!(
        renamed.body["userName"],
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    );

    // Entra's path-less dialect: dotted and URN-qualified keys, booleans as strings.
    let quirky = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Add", "value": {
                    "name.givenName": "Barbara",
                    "title": "Tour Guide",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Tours"
                }},
                {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "26118915-6090-4610-87e4-49d8ca9f808d"},
                {"op": "Replace", "path": "active", "value": "False"}
            ]
        }),
    );
    assert_eq!(quirky.status, 200, "{}", quirky.body);
    let body = &quirky.body;
    assert_eq!(body["name"]["givenName"], "Barbara");
    assert_eq!(body["title"], "Tour Guide");
    assert_eq!(body["active"], false);
    assert_eq!(
        body["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}])
    );
    assert_eq!(
        body[ENTERPRISE],
        json!({"employeeNumber": "701984", "department": "Tours", "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}})
    );
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE])
    );

    // Re-enable with "True", remove the manager.
    let again = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Replace", "path": "active", "value": "True"},
                {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}
            ]
        }),
    );
    assert_eq!(again.body["active"], true);
    assert!(again.body[ENTERPRISE].get("manager").is_none());

    // Filter on an extension attribute.
    let by_employee = scim.get(&format!(
        "/Users?filter={}",
        enc(&format!("{ENTERPRISE}:employeeNumber eq \"701984\""))
    ));
    assert_eq!(by_employee.body["totalResults"], 1);

    // Hard delete, 30 days after the soft delete.
    assert_eq!(scim.delete(&path).status, 204);
    scim.get(&path).assert_error(404, None);
    scim.delete(&path).assert_error(404, None);
}

pub fn group_operations<S: ScimStore>(scim: &Scim<S>) {
    let u1 = scim.user("one@example.com");
    let u2 = scim.user("two@example.com");

    let created = scim.post(
        "/Groups",
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"}
        }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let gid = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{gid}");

    let by_id = scim.get(&format!("{path}?excludedAttributes=members"));
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.body["displayName"], "displayName");

    let by_name = scim.get(&format!(
        "/Groups?excludedAttributes=members&filter={}",
        enc("displayName eq \"displayName\"")
    ));
    assert_eq!(by_name.body["totalResults"], 1);

    let renamed = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]
        }),
    );
    assert_eq!(
        renamed.body["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );

    let added = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u1}, {"$ref": null, "value": u2}]}]
        }),
    );
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(added.body["members"][0]["display"], "one@example.com");

    // Membership check, excluding members from the answer.
    let check = scim.get(&format!(
        "/Groups?filter={}&attributes=id",
        enc(&format!("id eq \"{gid}\" and members[value eq \"{u2}\"]"))
    ));
    assert_eq!(check.body["totalResults"], 1);
    assert_eq!(
        check.body["Resources"][0],
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": gid})
    );

    // Remove members by value: only those go.
    let removed = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": u1}]}]
        }),
    );
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(removed.body["members"][0]["value"], u2.as_str());

    // Replace the whole membership.
    let replaced = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "members", "value": [{"value": u1}]}]
        }),
    );
    assert_eq!(replaced.body["members"][0]["value"], u1.as_str());
    assert_eq!(replaced.body["members"].as_array().unwrap().len(), 1);

    // A member that does not exist is left out; the rest of the change is made.
    let added = scim.patch(
        &path,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": u2}]},
                {"op": "Add", "path": "members", "value": [{"value": "no-such-user"}]}
            ]
        }),
    );
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(
        member_ids(&scim.get(&path).body),
        [u1.as_str(), u2.as_str()]
    );

    assert_eq!(scim.delete(&path).status, 204);
}

fn member_ids(group: &serde_json::Value) -> Vec<&str> {
    group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["value"].as_str())
        .collect()
}
