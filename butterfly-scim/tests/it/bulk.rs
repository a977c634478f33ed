//! `/Bulk` (RFC 7644 section 3.7).

use bytes::Bytes;
use http::Method;
use serde_json::json;

use butterfly_scim::ScimConfig;

use crate::support::Scim;

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

#[test]
fn bulk_ids_resolve_in_any_order() {
    let scim = Scim::new();
    let answer = scim.post(
        "/Bulk",
        &json!({
            "schemas": [BULK],
            "Operations": [
                {
                    "method": "POST", "path": "/Groups", "bulkId": "ytrewq",
                    "data": {
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": "Tour Guides",
                        "members": [{"type": "User", "value": "bulkId:qwerty"}]
                    }
                },
                {
                    "method": "POST", "path": "/Users", "bulkId": "qwerty",
                    "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"}
                },
                {
                    "method": "PATCH", "path": "/Users/bulkId:qwerty",
                    "data": {
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "title", "value": "Guide"}]
                    }
                }
            ]
        }),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
    );
    let ops = answer.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 3);
    // The user is created first, then what depends on it.
    assert_eq!(ops[0]["bulkId"], "qwerty");
    assert_eq!(ops[0]["status"], "201");
    assert!(
        ops[0]["location"]
            .as_str()
            .unwrap()
            .starts_with("https://example.com/scim/v2/Users/")
    );
    assert!(ops[0]["version"].as_str().unwrap().starts_with("W/"));
    let user_id = ops[0]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    // Then, in request order, whatever became ready: the PATCH, then the group.
    assert_eq!(ops[1]["method"], "PATCH");
    assert_eq!(ops[1]["status"], "200");
    assert_eq!(ops[2]["bulkId"], "ytrewq");
    assert_eq!(ops[2]["status"], "201");

    let user = scim.get(&format!("/Users/{user_id}"));
    assert_eq!(user.body["title"], "Guide");
    assert_eq!(user.body["groups"][0]["display"], "Tour Guides");
}

#[test]
fn fail_on_errors_stops_processing() {
    let scim = Scim::new();
    let user = |name: &str, bulk_id: &str| {
        json!({"method": "POST", "path": "/Users", "bulkId": bulk_id,
               "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}})
    };
    let answer = scim.post(
        "/Bulk",
        &json!({
            "schemas": [BULK],
            "failOnErrors": 1,
            "Operations": [
                user("a", "1"),
                user("a", "2"),
                user("b", "3"),
            ]
        }),
    );
    assert_eq!(answer.status, 200);
    let ops = answer.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "{}", answer.body);
    assert_eq!(ops[1]["status"], "409");
    assert_eq!(ops[1]["response"]["scimType"], "uniqueness");
    assert_eq!(scim.get("/Users").body["totalResults"], 1);

    // Without failOnErrors every operation runs; bad references fail on their own.
    let answer = scim.post(
        "/Bulk",
        &json!({
            "schemas": [BULK],
            "Operations": [
                user("a", "4"),
                {"method": "DELETE", "path": "/Users/bulkId:4"},
                {"method": "DELETE", "path": "/Users/bulkId:nowhere"},
                {"method": "GET", "path": "/Users"},
                user("c", "5"),
            ]
        }),
    );
    let ops = answer.body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        ["409", "400", "400", "400", "201"],
        "{}",
        answer.body
    );
    assert_eq!(ops[2]["response"]["scimType"], "invalidValue");
}

#[test]
fn limits_are_enforced() {
    let mut config = ScimConfig::default();
    config.bulk_max_operations = 2;
    config.bulk_max_payload_bytes = 512;
    let scim = Scim::with_config(config);
    let op = json!({"method": "DELETE", "path": "/Users/x"});
    scim.post(
        "/Bulk",
        &json!({"schemas": [BULK], "Operations": [op, op, op]}),
    )
    .assert_error(413, Some("tooMany"));
    let big = format!(
        "{{\"schemas\": [\"{BULK}\"], \"Operations\": [], \"pad\": \"{}\"}}",
        "x".repeat(600)
    );
    scim.raw(Method::POST, "/Bulk", Bytes::from(big), &[])
        .assert_error(413, None);
    scim.post("/Bulk", &json!({"Operations": []}))
        .assert_error(400, Some("invalidSyntax"));
    let sp = scim.get("/ServiceProviderConfig");
    assert_eq!(
        sp.body["bulk"],
        json!({"supported": true, "maxOperations": 2, "maxPayloadSize": 512})
    );
}

#[test]
fn circular_references_fail() {
    let scim = Scim::new();
    let group = |name: &str, bulk_id: &str, other: &str| {
        json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id,
               "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name,
                        "members": [{"value": format!("bulkId:{other}")}]}})
    };
    let answer = scim.post(
        "/Bulk",
        &json!({"schemas": [BULK], "Operations": [group("x", "a", "b"), group("y", "b", "a")]}),
    );
    let ops = answer.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().all(|o| o["status"] == "409"), "{}", answer.body);
}
