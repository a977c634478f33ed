//! Concurrent PATCHes never lose each other's changes (compare-and-swap with retries).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use butterfly_core::TeamId;
use bytes::Bytes;
use futures::executor::block_on;
use serde_json::{Value, json};

use butterfly_scim::{
    ListQuery, MemoryStore, ResolvedMember, ResourceType, ScimConfig, ScimService, ScimStore,
    ScimStoreError, StoredResource,
};

use crate::support::Scim;

#[test]
fn concurrent_patches_are_not_lost() {
    let mut config = ScimConfig::default();
    config.write_attempts = 50;
    let scim = Scim::with_config(config);
    let id = scim.user("busy@example.com");
    let path = format!("/Users/{id}");
    let succeeded: usize = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (scim, path) = (&scim, &path);
                s.spawn(move || {
                    (0..10)
                        .filter(|i| {
                            let answer = scim.patch(
                                path,
                                &json!({
                                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                    "Operations": [{"op": "add", "path": "emails", "value": [{"value": format!("{t}-{i}@example.com")}]}]
                                }),
                            );
                            assert!(matches!(answer.status, 200 | 503), "{}", answer.body);
                            answer.status == 200
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let emails = scim.get(&path).body["emails"].as_array().unwrap().len();
    assert_eq!(emails, succeeded);
    assert!(succeeded > 0);
}

/// A MemoryStore that, the first time a compare-and-swap write arrives while armed, lets
/// a rival writer change the resource first, so the write's expected version is stale.
/// It counts compare-and-swap attempts, so a test sees the service retry.
struct RivalWritesFirst {
    inner: MemoryStore,
    armed: AtomicBool,
    cas_attempts: AtomicUsize,
}

impl RivalWritesFirst {
    fn new() -> Self {
        RivalWritesFirst {
            inner: MemoryStore::new(),
            armed: AtomicBool::new(false),
            cas_attempts: AtomicUsize::new(0),
        }
    }
}

impl ScimStore for RivalWritesFirst {
    async fn create(
        &self,
        team: TeamId,
        t: ResourceType,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        self.inner.create(team, t, attributes).await
    }

    async fn get(
        &self,
        team: TeamId,
        t: ResourceType,
        id: &str,
    ) -> Result<StoredResource, ScimStoreError> {
        self.inner.get(team, t, id).await
    }

    async fn replace(
        &self,
        team: TeamId,
        t: ResourceType,
        id: &str,
        attributes: Value,
        expected_version: Option<&str>,
    ) -> Result<StoredResource, ScimStoreError> {
        if expected_version.is_some() {
            self.cas_attempts.fetch_add(1, Ordering::SeqCst);
            if self.armed.swap(false, Ordering::SeqCst) {
                let mut rival = self.inner.get(team, t, id).await?.attributes();
                rival["title"] = json!("set by the rival");
                self.inner.replace(team, t, id, rival, None).await?;
            }
        }
        self.inner
            .replace(team, t, id, attributes, expected_version)
            .await
    }

    async fn delete(&self, team: TeamId, t: ResourceType, id: &str) -> Result<(), ScimStoreError> {
        self.inner.delete(team, t, id).await
    }

    async fn query(
        &self,
        team: TeamId,
        t: ResourceType,
        query: &ListQuery,
    ) -> Result<(usize, Vec<StoredResource>), ScimStoreError> {
        self.inner.query(team, t, query).await
    }

    async fn groups_of_user(
        &self,
        team: TeamId,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, ScimStoreError> {
        self.inner.groups_of_user(team, user_id).await
    }

    async fn resolve_members(
        &self,
        team: TeamId,
        ids: &[String],
    ) -> Result<Vec<ResolvedMember>, ScimStoreError> {
        self.inner.resolve_members(team, ids).await
    }
}

fn send(
    service: &ScimService<RivalWritesFirst>,
    team: TeamId,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    let mut request = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request.body(Bytes::from(body.to_string())).unwrap();
    let response = block_on(service.handle(team, "https://example.com/scim/v2", request));
    (
        response.status().as_u16(),
        serde_json::from_slice(response.body()).unwrap(),
    )
}

fn add_nickname(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "nickName", "value": name}]
    })
}

#[test]
fn a_write_that_loses_the_race_is_retried_on_the_new_version() {
    let service = ScimService::new(RivalWritesFirst::new());
    let team = TeamId::new_random();
    let (status, user) = send(
        &service,
        team,
        "POST",
        "/Users",
        &[],
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "raced"}),
    );
    assert_eq!(status, 201);
    let path = format!("/Users/{}", user["id"].as_str().unwrap());

    // PATCH: the first swap finds the rival's version, the second applies the PATCH
    // again on top of the rival's change.
    service.store().armed.store(true, Ordering::SeqCst);
    let (status, patched) = send(&service, team, "PATCH", &path, &[], &add_nickname("babs"));
    assert_eq!(status, 200, "{patched}");
    assert_eq!(service.store().cas_attempts.load(Ordering::SeqCst), 2);
    assert_eq!(patched["nickName"], "babs");
    assert_eq!(
        patched["title"], "set by the rival",
        "the rival's write was kept"
    );

    // PUT goes through the same loop.
    service.store().cas_attempts.store(0, Ordering::SeqCst);
    service.store().armed.store(true, Ordering::SeqCst);
    let (status, replaced) = send(
        &service,
        team,
        "PUT",
        &path,
        &[],
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "raced", "nickName": "b"}),
    );
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(service.store().cas_attempts.load(Ordering::SeqCst), 2);
    assert_eq!(replaced["nickName"], "b");
}

#[test]
fn a_lost_race_is_412_under_if_match_and_503_when_attempts_run_out() {
    let mut config = ScimConfig::default();
    config.write_attempts = 1;
    let service = ScimService::with_config(RivalWritesFirst::new(), config);
    let team = TeamId::new_random();
    let (_, user) = send(
        &service,
        team,
        "POST",
        "/Users",
        &[],
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "raced"}),
    );
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let etag = user["meta"]["version"].as_str().unwrap().to_owned();

    // The client asked for this exact version: no retry, the client decides.
    service.store().armed.store(true, Ordering::SeqCst);
    let (status, error) = send(
        &service,
        team,
        "PATCH",
        &path,
        &[("if-match", &etag)],
        &add_nickname("babs"),
    );
    assert_eq!(status, 412, "{error}");
    assert_eq!(service.store().cas_attempts.load(Ordering::SeqCst), 1);

    // One attempt allowed and it lost: 503, and the PATCH was not applied.
    service.store().cas_attempts.store(0, Ordering::SeqCst);
    service.store().armed.store(true, Ordering::SeqCst);
    let (status, error) = send(&service, team, "PATCH", &path, &[], &add_nickname("babs"));
    assert_eq!(status, 503, "{error}");
    assert_eq!(service.store().cas_attempts.load(Ordering::SeqCst), 1);
    let (_, now) = send(&service, team, "GET", &path, &[], &Value::Null);
    assert_eq!(now.get("nickName"), None);
}
