//! Property tests for the PATCH engine: any sequence of well-formed operations is handled
//! without panicking, and a request whose last operation fails leaves the resource
//! exactly as it was (atomicity).

use butterfly_scim::ResourceType;
use butterfly_scim::patch::PatchRequest;
use http::Method;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::Scim;

fn attribute_path() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "title",
        "displayName",
        "active",
        "name.givenName",
        "name",
        "emails",
        "emails[type eq \"work\"].value",
        "emails[type eq \"home\"]",
        "emails.value",
        "phoneNumbers[type eq \"mobile\"].value",
        "roles",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User:butterflyRole",
        "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User:custom",
        "userName",
    ])
    .prop_map(str::to_owned)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z]{0,6}".prop_map(Value::String),
        Just(json!("True")),
        Just(json!("admin")),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        Just(json!({"value": "x@example.com", "type": "work", "primary": true})),
        Just(json!([{"value": "y@example.com", "type": "home"}])),
        Just(json!({"givenName": "G", "familyName": "F"})),
        Just(json!({"employeeNumber": "1"})),
        Just(Value::Null),
    ]
}

fn operation() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["add", "Add", "replace", "Replace", "remove"]),
        prop::option::weighted(0.85, attribute_path()),
        value(),
    )
        .prop_map(|(op, path, value)| {
            let mut o = json!({"op": op, "value": value});
            if let Some(path) = path {
                o["path"] = json!(path);
            } else {
                o["value"] = json!({"title": "t", "name.familyName": "N", "active": "False"});
            }
            o
        })
}

fn request(ops: &[Value]) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

fn base_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bjensen",
        "active": true,
        "emails": [{"value": "b@example.com", "type": "work"}]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn patch_engine_never_panics(ops in prop::collection::vec(operation(), 1..8)) {
        let parsed = PatchRequest::parse(&request(&ops));
        prop_assert!(parsed.is_ok());
        if let Ok(parsed) = parsed {
            // Ok or a SCIM error, never a panic; a result is itself a valid resource
            // that patching with nothing-changing operations reproduces.
            if let Ok(result) = parsed.apply(ResourceType::User, &base_user()) {
                prop_assert!(result["userName"].is_string());
                prop_assert_eq!(&result["schemas"][0], "urn:ietf:params:scim:schemas:core:2.0:User");
                let again = PatchRequest::parse(&request(&[json!({"op": "replace", "path": "userName", "value": result["userName"].clone()})]))
                    .and_then(|r| r.apply(ResourceType::User, &result));
                prop_assert_eq!(again.ok(), Some(result));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_failing_request_changes_nothing(ops in prop::collection::vec(operation(), 0..6)) {
        let scim = Scim::new();
        let created = scim.post("/Users", &base_user());
        let id = created.body["id"].as_str().unwrap().to_owned();
        let path = format!("/Users/{id}");
        let before = scim.get(&path);
        let mut ops = ops;
        ops.push(json!({"op": "remove", "path": "emails[type eq \"nowhere\"]"}));
        let answer = scim.call(Method::PATCH, &path, Some(&request(&ops)), &[]);
        prop_assert_eq!(answer.status, 400);
        let after = scim.get(&path);
        prop_assert_eq!(&after.body, &before.body);
        prop_assert_eq!(after.header("etag"), before.header("etag"));
    }
}
