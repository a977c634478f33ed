//! What the service accepts as input: non-empty `userName`, no control characters,
//! names in NFC before uniqueness, bounded lengths, one `bulkId` per operation, and a
//! JSON `Content-Type` on bodies. Every refusal is a 4xx SCIM error with a `scimType`.

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use butterfly_scim::ScimStore;

use crate::support::Scim;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn user(attributes: &Value) -> Value {
    let mut body = json!({"schemas": [USER, ENTERPRISE]});
    for (k, v) in attributes.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[test]
fn user_name_must_be_a_non_empty_string() {
    let scim = Scim::new();
    for bad in [
        json!(""),
        json!("   "),
        json!(42),
        json!(["a"]),
        json!({"a": 1}),
    ] {
        scim.post("/Users", &user(&json!({"userName": bad})))
            .assert_error(400, Some("invalidValue"));
    }
    // Nor can a PATCH or a PUT empty it.
    let id = scim.user("kept@example.com");
    let path = format!("/Users/{id}");
    scim.patch(
        &path,
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": ""}]}),
    )
    .assert_error(400, Some("invalidValue"));
    scim.put(&path, &user(&json!({"userName": " "})))
        .assert_error(400, Some("invalidValue"));
    assert_eq!(scim.get(&path).body["userName"], "kept@example.com");
    // A Group's displayName, its other required name, likewise.
    scim.post("/Groups", &json!({"schemas": [GROUP], "displayName": ""}))
        .assert_error(400, Some("invalidValue"));
}

#[test]
fn control_characters_are_refused_in_strings() {
    let scim = Scim::new();
    for bad in [
        "a\u{0}b",
        "a\u{1b}[31mb",
        "a\u{7f}",
        "a\u{85}b",
        "line\nbreak",
    ] {
        scim.post("/Users", &user(&json!({"userName": bad})))
            .assert_error(400, Some("invalidValue"));
        scim.post(
            "/Users",
            &user(&json!({"userName": "ok@example.com", "name": {"givenName": bad}})),
        )
        .assert_error(400, Some("invalidValue"));
        scim.post(
            "/Users",
            &user(&json!({"userName": "ok@example.com", "emails": [{"value": bad}]})),
        )
        .assert_error(400, Some("invalidValue"));
    }
    // NUL cannot hide in an extension attribute the service keeps as sent either.
    scim.post(
        "/Users",
        &user(&json!({"userName": "ok@example.com", ENTERPRISE: {"custom": {"deep": ["x\u{0}"]}}})),
    )
    .assert_error(400, Some("invalidValue"));
    // Line breaks belong in a formatted address; other text is single-line.
    let answer = scim.post(
        "/Users",
        &user(&json!({
            "userName": "ok@example.com",
            "addresses": [{"formatted": "100 Universal City Plaza\r\nHollywood, CA 91608\tUSA"}]
        })),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(
        answer.body["addresses"][0]["formatted"],
        "100 Universal City Plaza\r\nHollywood, CA 91608\tUSA"
    );
}

/// `José` precomposed (U+00E9) and decomposed (`e` + U+0301) are one name: the second
/// spelling collides with the first. Run on every store.
pub fn look_alike_names_collide<S: ScimStore>(scim: &Scim<S>) {
    let composed = "jos\u{e9}@example.com";
    let decomposed = "jose\u{301}@example.com";
    let created = scim.post("/Users", &user(&json!({"userName": decomposed})));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["userName"], composed, "stored in NFC");
    scim.post("/Users", &user(&json!({"userName": composed})))
        .assert_error(409, Some("uniqueness"));
    scim.post(
        "/Users",
        &user(&json!({"userName": "JOSE\u{301}@EXAMPLE.COM"})),
    )
    .assert_error(409, Some("uniqueness"));

    let group = scim.post(
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": "Caf\u{e9}"}),
    );
    assert_eq!(group.status, 201, "{}", group.body);
    scim.post(
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": "Cafe\u{301}"}),
    )
    .assert_error(409, Some("uniqueness"));

    // externalId is the client's opaque key: kept byte for byte.
    let id = created.body["id"].as_str().unwrap();
    let patched = scim.patch(
        &format!("/Users/{id}"),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "externalId", "value": "e\u{301}"}]}),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["externalId"], "e\u{301}");
}

#[test]
fn names_have_length_limits() {
    let scim = Scim::new();
    // Counted in characters, not bytes: 256 three-byte characters fit.
    let fits = format!("{}@x", "\u{20ac}".repeat(254));
    let answer = scim.post("/Users", &user(&json!({"userName": fits})));
    assert_eq!(answer.status, 201, "{}", answer.body);
    let too_long = format!("{}@x", "a".repeat(255));
    scim.post("/Users", &user(&json!({"userName": too_long})))
        .assert_error(400, Some("invalidValue"));

    let name_fits = "n".repeat(1024);
    let name_too_long = "n".repeat(1025);
    let answer = scim.post(
        "/Users",
        &user(&json!({"userName": "b@x", "displayName": name_fits, "name": {"familyName": name_fits}})),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    for attributes in [
        json!({"userName": "c@x", "displayName": name_too_long}),
        json!({"userName": "c@x", "nickName": name_too_long}),
        json!({"userName": "c@x", "name": {"givenName": name_too_long}}),
    ] {
        scim.post("/Users", &user(&attributes))
            .assert_error(400, Some("invalidValue"));
    }
    scim.post(
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": name_too_long}),
    )
    .assert_error(400, Some("invalidValue"));
}

#[test]
fn a_bulk_id_defined_twice_refuses_the_whole_request() {
    let scim = Scim::new();
    let create = |name: &str| {
        json!({"method": "POST", "path": "/Users", "bulkId": "same",
               "data": {"schemas": [USER], "userName": name}})
    };
    let answer = scim.post(
        "/Bulk",
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [create("first@x"), create("second@x")]
        }),
    );
    answer.assert_error(400, Some("invalidValue"));
    assert!(
        answer.body["detail"].as_str().unwrap().contains("same"),
        "{}",
        answer.body
    );
    assert_eq!(
        scim.get("/Users").body["totalResults"],
        0,
        "nothing was written"
    );
}

#[test]
fn a_body_that_is_not_json_by_its_content_type_is_415() {
    let scim = Scim::new();
    let id = scim.user("typed@example.com");
    let path = format!("/Users/{id}");
    let body = Bytes::from(user(&json!({"userName": "typed@example.com"})).to_string());
    for (method, target) in [
        (Method::POST, "/Users"),
        (Method::PUT, path.as_str()),
        (Method::PATCH, path.as_str()),
        (Method::POST, "/Bulk"),
        (Method::POST, "/.search"),
    ] {
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml",
        ] {
            scim.raw(
                method.clone(),
                target,
                body.clone(),
                &[("content-type", content_type)],
            )
            .assert_error(415, Some("invalidSyntax"));
        }
    }
    // Both JSON media types are accepted, with parameters and in any case, and so is a
    // body without a Content-Type.
    for headers in [
        &[("content-type", "application/scim+json; charset=utf-8")][..],
        &[("content-type", "Application/JSON")],
        &[],
    ] {
        let answer = scim.raw(Method::PUT, &path, body.clone(), headers);
        assert_eq!(answer.status, 200, "{headers:?}: {}", answer.body);
    }
    // A GET carries no body: its Content-Type does not matter.
    assert_eq!(
        scim.raw(
            Method::GET,
            &path,
            Bytes::new(),
            &[("content-type", "text/plain")]
        )
        .status,
        200
    );
}
