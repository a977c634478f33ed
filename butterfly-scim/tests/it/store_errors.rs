//! How store failures reach the client: policy refusals keep their status, type and
//! detail; backend failures become a generic 500 that reveals nothing.

use std::io;

use butterfly_core::TeamId;
use butterfly_scim::{
    ListQuery, MemoryStore, ResolvedMember, ResourceType, ScimService, ScimStore, ScimStoreError,
    ScimType, StoredResource,
};
use bytes::Bytes;
use futures::executor::block_on;
use serde_json::{Value, json};

/// A MemoryStore that refuses to demote anyone and fails on every query.
struct PickyStore(MemoryStore);

impl ScimStore for PickyStore {
    async fn create(
        &self,
        team: TeamId,
        t: ResourceType,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        self.0.create(team, t, attributes).await
    }

    async fn get(
        &self,
        team: TeamId,
        t: ResourceType,
        id: &str,
    ) -> Result<StoredResource, ScimStoreError> {
        self.0.get(team, t, id).await
    }

    async fn replace(
        &self,
        team: TeamId,
        t: ResourceType,
        id: &str,
        attributes: Value,
        expected_version: Option<&str>,
    ) -> Result<StoredResource, ScimStoreError> {
        if attributes["active"] == json!(false) {
            return Err(ScimStoreError::Rejected {
                status: 409,
                scim_type: Some(ScimType::Mutability),
                detail: "cannot deactivate the last super_admin".into(),
            });
        }
        self.0
            .replace(team, t, id, attributes, expected_version)
            .await
    }

    async fn delete(&self, team: TeamId, t: ResourceType, id: &str) -> Result<(), ScimStoreError> {
        self.0.delete(team, t, id).await
    }

    async fn query(
        &self,
        _: TeamId,
        _: ResourceType,
        _: &ListQuery,
    ) -> Result<(usize, Vec<StoredResource>), ScimStoreError> {
        Err(ScimStoreError::Backend(Box::new(io::Error::other(
            "connection to db-7.internal refused",
        ))))
    }

    async fn groups_of_user(
        &self,
        team: TeamId,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, ScimStoreError> {
        self.0.groups_of_user(team, user_id).await
    }

    async fn resolve_members(
        &self,
        team: TeamId,
        ids: &[String],
    ) -> Result<Vec<ResolvedMember>, ScimStoreError> {
        self.0.resolve_members(team, ids).await
    }
}

fn send(
    service: &ScimService<PickyStore>,
    team: TeamId,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .unwrap();
    let response = block_on(service.handle(team, "https://example.com/scim/v2", request));
    (
        response.status().as_u16(),
        serde_json::from_slice(response.body()).unwrap(),
    )
}

#[test]
fn rejections_and_backend_failures() {
    let service = ScimService::new(PickyStore(MemoryStore::new()));
    let team = TeamId::new_random();
    let (status, user) = send(
        &service,
        team,
        "POST",
        "/Users",
        Some(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "root"}),
        ),
    );
    assert_eq!(status, 201);
    let id = user["id"].as_str().unwrap();

    let (status, error) = send(
        &service,
        team,
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}]
        })),
    );
    assert_eq!(status, 409);
    assert_eq!(error["scimType"], "mutability");
    assert_eq!(error["detail"], "cannot deactivate the last super_admin");

    let (status, error) = send(&service, team, "GET", "/Users", None);
    assert_eq!(status, 500);
    assert_eq!(error["status"], "500");
    assert!(!error.to_string().contains("db-7"), "{error}");
}
