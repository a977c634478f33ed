//! Wire formats, snapshotted: review changes to these with care, clients parse them.

use serde_json::{Value, json};

use crate::support::{Scim, enc, redact};

fn snapshot_body(mut body: Value) -> Value {
    redact(&mut body);
    body
}

#[test]
fn service_provider_config() {
    let scim = Scim::new();
    let answer = scim.get("/ServiceProviderConfig");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/scim+json"));
    insta::assert_json_snapshot!(answer.body);
}

#[test]
fn resource_types() {
    let scim = Scim::new();
    insta::assert_json_snapshot!(scim.get("/ResourceTypes").body);
    assert_eq!(scim.get("/ResourceTypes/user").body["id"], "User");
}

#[test]
fn schemas() {
    let scim = Scim::new();
    let all = scim.get("/Schemas");
    assert_eq!(all.body["totalResults"], 4);
    insta::assert_json_snapshot!(all.body);
    let one = scim.get("/Schemas/urn:ietf:params:scim:schemas:extension:butterfly:2.0:User");
    assert_eq!(one.body["attributes"][0]["name"], "butterflyRole");
}

fn full_user(scim: &Scim) -> (String, String) {
    let manager = scim.user("manager@example.com");
    let created = scim.post(
        "/Users",
        &json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User"
            ],
            "externalId": "00ujl29u0le5T6Aj10h7",
            "userName": "bjensen@example.com",
            "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara"},
            "displayName": "Babs Jensen",
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "roles": [{"value": "admin", "primary": true}],
            "password": "t1meMa$heen",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "department": "Tour Operations",
                "manager": {"value": manager}
            },
            "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User": {"butterflyRole": "admin"}
        }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let group = scim.post(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Tour Guides", "members": [{"value": id}]}),
    );
    assert_eq!(group.status, 201);
    (id, group.body["id"].as_str().unwrap().to_owned())
}

#[test]
fn user_response() {
    let scim = Scim::new();
    let (id, _) = full_user(&scim);
    let answer = scim.get(&format!("/Users/{id}"));
    insta::assert_json_snapshot!(snapshot_body(answer.body));
}

#[test]
fn group_response() {
    let scim = Scim::new();
    let (_, gid) = full_user(&scim);
    insta::assert_json_snapshot!(snapshot_body(scim.get(&format!("/Groups/{gid}")).body));
}

#[test]
fn list_response() {
    let scim = Scim::new();
    full_user(&scim);
    let answer = scim.get(&format!(
        "/Users?filter={}&sortBy=userName&sortOrder=descending&startIndex=1&count=1&attributes=userName,emails.value",
        enc("emails.value co \"example.com\"")
    ));
    insta::assert_json_snapshot!(snapshot_body(answer.body));
}

#[test]
fn error_response() {
    let scim = Scim::new();
    let answer = scim.get(&format!(
        "/Users?filter={}",
        enc("userName eqq \"bjensen\"")
    ));
    insta::assert_json_snapshot!(answer.body);
}
