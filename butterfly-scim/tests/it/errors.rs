//! Every error path answers a SCIM error body with the right status and `scimType`.

use bytes::Bytes;
use http::Method;
use serde_json::json;

use butterfly_scim::ScimConfig;

use crate::support::{Scim, enc};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[test]
fn malformed_json_is_invalid_syntax() {
    let scim = Scim::new();
    for body in ["{\"userName\": ", "", "not json", "[1, 2"] {
        scim.raw(Method::POST, "/Users", Bytes::from(body), &[])
            .assert_error(400, Some("invalidSyntax"));
    }
    let id = scim.user("a@example.com");
    scim.raw(
        Method::PATCH,
        &format!("/Users/{id}"),
        Bytes::from("{"),
        &[],
    )
    .assert_error(400, Some("invalidSyntax"));
    scim.raw(Method::PUT, &format!("/Users/{id}"), Bytes::from("[]"), &[])
        .assert_error(400, Some("invalidSyntax"));
}

#[test]
fn wrong_schemas_and_values() {
    let scim = Scim::new();
    scim.post("/Users", &json!({"userName": "a"}))
        .assert_error(400, Some("invalidSyntax"));
    scim.post(
        "/Users",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "userName": "a"}),
    )
    .assert_error(400, Some("invalidValue"));
    scim.post(
        "/Users",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
    )
    .assert_error(400, Some("invalidValue"));
    scim.post("/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a", "active": "sometimes"}))
        .assert_error(400, Some("invalidValue"));
    scim.post("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "g", "members": [{"value": "ghost"}]}))
        .assert_error(400, Some("invalidValue"));
    scim.post("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "g", "members": [{"display": "no value"}]}))
        .assert_error(400, Some("invalidValue"));
    // Unknown core attributes are ignored, not refused.
    let ok = scim.post("/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a", "shoeSize": 42}));
    assert_eq!(ok.status, 201);
    assert!(ok.body.get("shoeSize").is_none());
}

#[test]
fn bad_filters_are_invalid_filter() {
    let scim = Scim::new();
    for filter in [
        "userName eqq \"x\"",
        "userName eq",
        "(userName pr",
        "active gt true",
        "emails[type eq \"work\"",
    ] {
        scim.get(&format!("/Users?filter={}", enc(filter)))
            .assert_error(400, Some("invalidFilter"));
    }
    scim.post(
        "/Users/.search",
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName xx \"a\""}),
    )
    .assert_error(400, Some("invalidFilter"));
    scim.get("/Users?count=many")
        .assert_error(400, Some("invalidValue"));
    scim.get("/Users?sortOrder=sideways")
        .assert_error(400, Some("invalidValue"));
}

#[test]
fn patch_errors() {
    let scim = Scim::new();
    let id = scim.user("a@example.com");
    let path = format!("/Users/{id}");
    let patch = |ops: serde_json::Value| {
        scim.patch(&path, &json!({"schemas": [PATCH_OP], "Operations": ops}))
    };
    patch(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]))
        .assert_error(400, Some("invalidPath"));
    patch(json!([{"op": "replace", "path": "favouriteColour", "value": "x"}]))
        .assert_error(400, Some("invalidPath"));
    patch(json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]))
        .assert_error(400, Some("noTarget"));
    patch(json!([{"op": "remove"}])).assert_error(400, Some("noTarget"));
    patch(json!([{"op": "replace", "path": "id", "value": "mine"}]))
        .assert_error(400, Some("mutability"));
    patch(json!([{"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}]))
        .assert_error(400, Some("mutability"));
    patch(json!([{"op": "frobnicate", "path": "title"}])).assert_error(400, Some("invalidSyntax"));
    scim.patch(
        &path,
        &json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}),
    )
    .assert_error(400, Some("invalidSyntax"));
    // A PATCH that fails half-way changes nothing.
    let before = scim.get(&path);
    patch(json!([
        {"op": "replace", "path": "title", "value": "Boss"},
        {"op": "remove", "path": "emails[type eq \"work\"]"}
    ]))
    .assert_error(400, Some("noTarget"));
    let after = scim.get(&path);
    assert_eq!(after.body, before.body);
    assert_eq!(after.header("etag"), before.header("etag"));
}

#[test]
fn uniqueness_conflicts_are_409() {
    let scim = Scim::new();
    scim.user("taken@example.com");
    let id = scim.user("free@example.com");
    scim.post("/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "TAKEN@example.com"}))
        .assert_error(409, Some("uniqueness"));
    scim.patch(
        &format!("/Users/{id}"),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "taken@example.com"}]}),
    )
    .assert_error(409, Some("uniqueness"));
    scim.put(
        &format!("/Users/{id}"),
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "taken@EXAMPLE.com"}),
    )
    .assert_error(409, Some("uniqueness"));
}

#[test]
fn etags_and_preconditions() {
    let scim = Scim::new();
    let id = scim.user("a@example.com");
    let path = format!("/Users/{id}");
    let current = scim.get(&path);
    let etag = current.header("etag").unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");

    // If-None-Match with the current version: 304, no body.
    let unchanged = scim.call(Method::GET, &path, None, &[("if-none-match", &etag)]);
    assert_eq!(unchanged.status, 304);
    assert!(unchanged.body.is_null());
    assert_eq!(
        scim.call(Method::GET, &path, None, &[("if-none-match", "W/\"0\"")])
            .status,
        200
    );

    let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]});
    let ok = scim.call(Method::PATCH, &path, Some(&body), &[("if-match", &etag)]);
    assert_eq!(ok.status, 200, "{}", ok.body);
    // The old version no longer matches.
    scim.call(Method::PATCH, &path, Some(&body), &[("if-match", &etag)])
        .assert_error(412, None);
    scim.call(Method::DELETE, &path, None, &[("if-match", &etag)])
        .assert_error(412, None);
    let put_body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a@example.com"});
    scim.call(Method::PUT, &path, Some(&put_body), &[("if-match", &etag)])
        .assert_error(412, None);
    // `*` matches any version.
    assert_eq!(
        scim.call(Method::PUT, &path, Some(&put_body), &[("if-match", "*")])
            .status,
        200
    );

    // A write that changes nothing keeps the version.
    let v1 = scim.get(&path).header("etag").unwrap().to_owned();
    let same = scim.patch(&path, &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": true}]}));
    assert_eq!(same.header("etag"), Some(v1.as_str()));

    // Prefer: return=minimal gives 204 with the new ETag.
    let minimal = scim.call(
        Method::PATCH,
        &path,
        Some(&body),
        &[("prefer", "return=minimal")],
    );
    assert_eq!(minimal.status, 204);
    assert!(minimal.body.is_null());
    assert!(minimal.header("etag").is_some());
}

#[test]
fn oversized_bodies_are_413() {
    let mut config = ScimConfig::default();
    config.max_body_bytes = 256;
    let scim = Scim::with_config(config);
    let big = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a".repeat(300)});
    scim.post("/Users", &big).assert_error(413, None);
}

#[test]
fn unknown_things_are_404_405_and_501() {
    let scim = Scim::new();
    scim.get("/Users/2819c223-7f76-453a-919d-413861904646")
        .assert_error(404, None);
    scim.get("/Groups/nope").assert_error(404, None);
    scim.get("/Widgets").assert_error(404, None);
    scim.get("/Users/a/b").assert_error(404, None);
    scim.get("/Schemas/urn:example:nope")
        .assert_error(404, None);
    scim.get("/ResourceTypes/Widget").assert_error(404, None);
    scim.get("/Me").assert_error(501, None);
    scim.call(Method::DELETE, "/Users", None, &[])
        .assert_error(405, None);
    scim.call(
        Method::POST,
        "/ServiceProviderConfig",
        Some(&json!({})),
        &[],
    )
    .assert_error(405, None);
    scim.get("/Schemas?filter=id%20pr").assert_error(403, None);
    let missing = scim.patch(
        "/Users/nobody",
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}),
    );
    missing.assert_error(404, None);
}

#[test]
fn paths_that_are_not_utf8_and_unreadable_preconditions_are_400() {
    let scim = Scim::new();
    scim.get("/Users/%FF")
        .assert_error(400, Some("invalidValue"));
    scim.get("/%C3%28").assert_error(400, Some("invalidValue"));

    // An If-Match the service cannot read must not be taken as no If-Match: the DELETE
    // would then be unconditional.
    let id = scim.user("guarded@example.com");
    let unreadable = http::HeaderValue::from_bytes(b"W/\"\xff\"").unwrap();
    for name in ["if-match", "if-none-match"] {
        let method = if name == "if-match" {
            Method::DELETE
        } else {
            Method::GET
        };
        let request = http::Request::builder()
            .method(method)
            .uri(format!("/Users/{id}"))
            .header(name, unreadable.clone())
            .body(Bytes::new())
            .unwrap();
        let response = futures::executor::block_on(scim.service.handle(
            scim.team,
            crate::support::BASE,
            request,
        ));
        assert_eq!(response.status(), 400, "{name}");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["scimType"], "invalidValue");
    }
    assert_eq!(scim.get(&format!("/Users/{id}")).status, 200, "still there");
}
