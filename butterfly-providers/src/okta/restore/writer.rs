//! The requests a restore step sends, built without I/O, and the transport they go
//! through.
//!
//! Every builder here is a pure function of the kind, the ids and the body, following
//! the write contract of Okta's Management API:
//!
//! | step | request |
//! | --- | --- |
//! | create a user | `POST /api/v1/users?activate=false` with `profile` and `type` (STAGED, no credentials) |
//! | create an object | `POST {list path}` (parents' ids remapped) |
//! | add a membership | `PUT /api/v1/groups/{groupId}/users/{userId}` |
//! | assign a group to an app | `PUT /api/v1/apps/{appId}/groups/{groupId}` with `priority`, `profile` |
//! | assign a user to an app | `POST /api/v1/apps/{appId}/users` with `id`, `scope`, `profile` |
//! | update | `PUT {list path}/{id}` (an app user assignment: `POST`) |
//! | lifecycle | `POST {list path}/{id}/lifecycle/{activate,deactivate,...}` |
//! | delete | `DELETE {list path}/{id}` (deactivated first when Okta requires it) |

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{comparable, has_lifecycle};
use crate::okta::fetcher::{ApiResponse, OktaSession, SendError};
use crate::okta::kinds::{self, KindSpec};

/// One HTTP request of a restore.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRequest {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path, with its query string when it has one.
    pub path: String,
    /// The JSON body.
    pub body: Option<Value>,
    /// Whether sending it twice does no harm (everything but a create by `POST`).
    pub repeatable: bool,
}

impl WriteRequest {
    fn new(method: &'static str, path: String, body: Option<Value>) -> Self {
        let repeatable = method != "POST" || path.contains("/lifecycle/");
        WriteRequest {
            method,
            path,
            body,
            repeatable,
        }
    }
}

/// Where a restore's requests go: the signed-in session in production, a fake in tests.
#[async_trait]
pub trait WriteTransport: Send + Sync {
    /// Send one request and return Okta's answer (any status).
    async fn send(&self, request: &WriteRequest) -> Result<ApiResponse, SendError>;
}

#[async_trait]
impl WriteTransport for OktaSession<'_> {
    async fn send(&self, request: &WriteRequest) -> Result<ApiResponse, SendError> {
        OktaSession::send(
            self,
            request.method,
            &request.path,
            request.body.as_ref(),
            request.repeatable,
        )
        .await
    }
}

/// The path of the collection a resource of `spec` lives in, given its parents' ids in
/// the org (the `{parent}` part of its id, already remapped).
pub fn collection_path(spec: &KindSpec, parents: &[&str]) -> Option<String> {
    let placeholders = spec.placeholders();
    if placeholders.len() != parents.len() {
        return None;
    }
    let params = placeholders
        .into_iter()
        .zip(parents)
        .map(|(p, v)| (p.to_owned(), (*v).to_owned()))
        .collect();
    spec.path_for(&params)
}

/// The path of one resource, from its `{parent}/{own}` id in the org.
pub fn object_path(spec: &KindSpec, live_id: &str) -> Option<String> {
    let segments: Vec<&str> = live_id.split('/').collect();
    let (own, parents) = segments.split_last()?;
    let collection = collection_path(spec, parents)?;
    let mut params = std::collections::BTreeMap::new();
    params.insert("own".to_owned(), (*own).to_owned());
    Some(format!(
        "{collection}/{}",
        kinds::fill_path("{own}", &params)?
    ))
}

/// What is sent for `body` (a snapshot resource, references already remapped): the
/// fields Okta sets removed, and the shape each endpoint takes.
pub fn write_body(spec: &KindSpec, body: &Value, sync: bool) -> Option<Value> {
    let mut out = comparable(spec.name, body);
    let map = out.as_object_mut()?;
    map.remove("status");
    match spec.name {
        "group_membership" => None,
        "user" => {
            let mut user = Map::new();
            if let Some(profile) = body.get("profile") {
                user.insert("profile".into(), profile.clone());
            }
            if let Some(type_id) = body.pointer("/type/id") {
                user.insert("type".into(), serde_json::json!({"id": type_id}));
            }
            Some(Value::Object(user))
        }
        "app_group_assignment" => {
            let mut assignment = Map::new();
            for field in ["priority", "profile"] {
                if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
                    assignment.insert(field.into(), v.clone());
                }
            }
            Some(Value::Object(assignment))
        }
        "app_user_assignment" => {
            let mut assignment = Map::new();
            assignment.insert(
                "scope".into(),
                body.get("scope")
                    .cloned()
                    .unwrap_or_else(|| Value::String("USER".into())),
            );
            if let Some(profile) = body.get("profile").filter(|v| !v.is_null()) {
                assignment.insert("profile".into(), profile.clone());
            }
            Some(Value::Object(assignment))
        }
        "app" if sync => {
            // Client ids are the org's own; the target org issues its own.
            if let Some(Value::Object(client)) = map
                .get_mut("credentials")
                .and_then(|c| c.get_mut("oauthClient"))
            {
                client.remove("client_id");
            }
            Some(out)
        }
        _ => Some(out),
    }
}

/// The request that creates a resource under `parents` (its parents' ids in the org).
/// `own` is the resource's own id in the org for relations (the member), ignored
/// otherwise; `body` comes from [`write_body`].
pub fn create_request(
    spec: &KindSpec,
    parents: &[&str],
    own: &str,
    body: Option<Value>,
) -> Option<WriteRequest> {
    let collection = collection_path(spec, parents)?;
    Some(match spec.name {
        "user" => WriteRequest::new("POST", format!("{collection}?activate=false"), body),
        "group_membership" => WriteRequest::new("PUT", format!("{collection}/{own}"), None),
        "app_group_assignment" => WriteRequest::new("PUT", format!("{collection}/{own}"), body),
        "app_user_assignment" => {
            let mut body = body.unwrap_or_else(|| Value::Object(Map::new()));
            if let Value::Object(map) = &mut body {
                map.insert("id".into(), Value::String(own.to_owned()));
            }
            WriteRequest::new("POST", collection, Some(body))
        }
        _ => WriteRequest::new("POST", collection, body),
    })
}

/// The request that updates a resource in the org to `body`.
pub fn update_request(spec: &KindSpec, live_id: &str, body: Value) -> Option<WriteRequest> {
    let path = object_path(spec, live_id)?;
    match spec.name {
        "group_membership" => None,
        // Okta updates an app user assignment with POST on the assignment.
        "app_user_assignment" => Some(WriteRequest::new("POST", path, Some(body))),
        _ => Some(WriteRequest::new("PUT", path, Some(body))),
    }
}

/// A lifecycle operation (`activate`, `deactivate`, `suspend`...).
pub fn lifecycle_request(spec: &KindSpec, live_id: &str, operation: &str) -> Option<WriteRequest> {
    let path = object_path(spec, live_id)?;
    let query = if spec.name == "user" && operation == "activate" {
        "?sendEmail=false"
    } else {
        ""
    };
    Some(WriteRequest::new(
        "POST",
        format!("{path}/lifecycle/{operation}{query}"),
        None,
    ))
}

/// The request that deletes a resource.
pub fn delete_request(spec: &KindSpec, live_id: &str) -> Option<WriteRequest> {
    Some(WriteRequest::new(
        "DELETE",
        object_path(spec, live_id)?,
        None,
    ))
}

/// The lifecycle operations that take a resource of `kind` from status `from` to `to`
/// (empty when nothing is needed or Okta cannot do it through the API).
pub fn transitions(kind: &str, from: Option<&str>, to: Option<&str>) -> Vec<&'static str> {
    let (Some(from), Some(to)) = (from, to) else {
        return Vec::new();
    };
    if from == to {
        return Vec::new();
    }
    if kind == "user" {
        return match (from, to) {
            ("SUSPENDED", "ACTIVE") => vec!["unsuspend"],
            ("DEPROVISIONED" | "STAGED" | "PROVISIONED", "ACTIVE" | "PROVISIONED") => {
                vec!["activate"]
            }
            (_, "DEPROVISIONED") => vec!["deactivate"],
            ("ACTIVE" | "PASSWORD_EXPIRED" | "LOCKED_OUT" | "RECOVERY", "SUSPENDED") => {
                vec!["suspend"]
            }
            ("DEPROVISIONED" | "STAGED", "SUSPENDED") => vec!["activate", "suspend"],
            _ => Vec::new(),
        };
    }
    if !has_lifecycle(kind) {
        return Vec::new();
    }
    match to {
        "ACTIVE" => vec!["activate"],
        "INACTIVE" => vec!["deactivate"],
        _ => Vec::new(),
    }
}

/// A one-line account of a refused request: status, Okta's error code and summary.
pub fn describe_failure(request: &WriteRequest, response: &ApiResponse) -> String {
    let code = response
        .body
        .get("errorCode")
        .and_then(Value::as_str)
        .unwrap_or("");
    let summary = response
        .body
        .get("errorSummary")
        .and_then(Value::as_str)
        .unwrap_or("");
    let causes: Vec<&str> = response
        .body
        .get("errorCauses")
        .and_then(Value::as_array)
        .map(|causes| {
            causes
                .iter()
                .filter_map(|c| c.get("errorSummary").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let mut text = format!(
        "{} {} answered {} {code} {summary}",
        request.method,
        request.path.split('?').next().unwrap_or_default(),
        response.status
    );
    if !causes.is_empty() {
        text = format!("{text} ({})", causes.join("; "));
    }
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(name: &str) -> &'static KindSpec {
        kinds::by_name(name).unwrap()
    }

    #[test]
    fn paths_follow_the_catalogue() {
        assert_eq!(
            object_path(spec("group"), "00g1").as_deref(),
            Some("/api/v1/groups/00g1")
        );
        assert_eq!(
            object_path(spec("policy_rule.OKTA_SIGN_ON"), "00p1/0pr1").as_deref(),
            Some("/api/v1/policies/00p1/rules/0pr1")
        );
        assert_eq!(
            object_path(spec("auth_server_policy_rule"), "aus1/00p1/0pr1").as_deref(),
            Some("/api/v1/authorizationServers/aus1/policies/00p1/rules/0pr1")
        );
        assert_eq!(
            object_path(spec("group_membership"), "00g1/00u1").as_deref(),
            Some("/api/v1/groups/00g1/users/00u1")
        );
        // A nested id without its parent has no path.
        assert_eq!(object_path(spec("policy_rule.OKTA_SIGN_ON"), "0pr1"), None);
    }

    #[test]
    fn creates_follow_the_write_contract() {
        let user = json!({"id": "00u1", "status": "ACTIVE", "profile": {"login": "a@b"},
            "type": {"id": "oty1"}, "credentials": {"provider": {"type": "OKTA"}}});
        let body = write_body(spec("user"), &user, false);
        let request = create_request(spec("user"), &[], "", body).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/api/v1/users?activate=false");
        assert_eq!(
            request.body.unwrap(),
            json!({"profile": {"login": "a@b"}, "type": {"id": "oty1"}})
        );
        assert!(!request.repeatable);

        let membership = create_request(spec("group_membership"), &["00g9"], "00u1", None).unwrap();
        assert_eq!(
            (membership.method, membership.path.as_str()),
            ("PUT", "/api/v1/groups/00g9/users/00u1")
        );
        assert!(membership.repeatable);

        let assignment = json!({"id": "00u1", "scope": "USER", "status": "ACTIVE",
            "profile": {"role": "x"}, "created": "t", "_links": {}});
        let body = write_body(spec("app_user_assignment"), &assignment, false);
        let request = create_request(spec("app_user_assignment"), &["0oa9"], "00u7", body).unwrap();
        assert_eq!(request.path, "/api/v1/apps/0oa9/users");
        assert_eq!(
            request.body.unwrap(),
            json!({"id": "00u7", "scope": "USER", "profile": {"role": "x"}})
        );

        let group_assignment = json!({"id": "00g1", "priority": 0, "profile": null});
        let body = write_body(spec("app_group_assignment"), &group_assignment, false);
        let request =
            create_request(spec("app_group_assignment"), &["0oa9"], "00g9", body).unwrap();
        assert_eq!(
            (request.method, request.path.as_str()),
            ("PUT", "/api/v1/apps/0oa9/groups/00g9")
        );
        assert_eq!(request.body.unwrap(), json!({"priority": 0}));

        let rule = json!({"id": "0pr1", "name": "r", "status": "ACTIVE", "created": "t",
            "lastUpdated": "t", "conditions": {}});
        let body = write_body(spec("policy_rule.PASSWORD"), &rule, false);
        let request = create_request(spec("policy_rule.PASSWORD"), &["00p9"], "", body).unwrap();
        assert_eq!(request.path, "/api/v1/policies/00p9/rules");
        assert_eq!(
            request.body.unwrap(),
            json!({"name": "r", "conditions": {}})
        );
    }

    #[test]
    fn sync_leaves_client_ids_to_the_target() {
        let app = json!({"id": "0oa1", "label": "A", "credentials": {"oauthClient": {"client_id": "0oa1", "autoKeyRotation": true}}});
        let body = write_body(spec("app"), &app, true).unwrap();
        assert_eq!(
            body,
            json!({"label": "A", "credentials": {"oauthClient": {"autoKeyRotation": true}}})
        );
        let body = write_body(spec("app"), &app, false).unwrap();
        assert_eq!(body["credentials"]["oauthClient"]["client_id"], "0oa1");
    }

    #[test]
    fn lifecycle_and_deletes() {
        let r = lifecycle_request(spec("user"), "00u1", "activate").unwrap();
        assert_eq!(
            r.path,
            "/api/v1/users/00u1/lifecycle/activate?sendEmail=false"
        );
        assert!(r.repeatable);
        let r = lifecycle_request(spec("group_rule"), "0pr1", "deactivate").unwrap();
        assert_eq!(r.path, "/api/v1/groups/rules/0pr1/lifecycle/deactivate");
        let r = delete_request(spec("app_user_assignment"), "0oa1/00u1").unwrap();
        assert_eq!(
            (r.method, r.path.as_str()),
            ("DELETE", "/api/v1/apps/0oa1/users/00u1")
        );
        let r = update_request(spec("app_user_assignment"), "0oa1/00u1", json!({})).unwrap();
        assert_eq!(r.method, "POST");
        assert!(update_request(spec("group_membership"), "00g1/00u1", json!({})).is_none());
    }

    #[test]
    fn status_transitions() {
        assert_eq!(
            transitions("app", Some("ACTIVE"), Some("INACTIVE")),
            ["deactivate"]
        );
        assert_eq!(
            transitions("group_rule", Some("INACTIVE"), Some("ACTIVE")),
            ["activate"]
        );
        assert!(transitions("group", Some("A"), Some("B")).is_empty());
        assert_eq!(
            transitions("user", Some("DEPROVISIONED"), Some("ACTIVE")),
            ["activate"]
        );
        assert_eq!(
            transitions("user", Some("ACTIVE"), Some("DEPROVISIONED")),
            ["deactivate"]
        );
        assert_eq!(
            transitions("user", Some("SUSPENDED"), Some("ACTIVE")),
            ["unsuspend"]
        );
        assert!(transitions("user", Some("ACTIVE"), Some("LOCKED_OUT")).is_empty());
    }

    #[test]
    fn failures_name_okta_errors() {
        let request = WriteRequest::new("POST", "/api/v1/users?activate=false".into(), None);
        let response = ApiResponse {
            status: 400,
            body: json!({"errorCode": "E0000001", "errorSummary": "Api validation failed: login",
                "errorCauses": [{"errorSummary": "login: already exists"}]}),
        };
        assert_eq!(
            describe_failure(&request, &response),
            "POST /api/v1/users answered 400 E0000001 Api validation failed: login (login: already exists)"
        );
    }
}
