//! `POST /Bulk` (RFC 7644 section 3.7).
//!
//! - A body larger than `bulk.maxPayloadSize` is refused with 413 before it is parsed; a
//!   request with more than `bulk.maxOperations` operations with 413 `tooMany`
//!   (section 3.7.4).
//! - Each operation (POST, PUT, PATCH or DELETE on `/Users...` or `/Groups...`) runs
//!   exactly as the single request would, and is atomic on its own; the request as a
//!   whole is not a transaction.
//! - `bulkId:<id>` in an operation's `path` or anywhere in its `data` (a new user's id in
//!   a group's `members`, say) is replaced by the id the operation with that `bulkId`
//!   created (section 3.7.2). An operation waits until the operations it refers to have
//!   run, so the order in the request does not matter; one that refers to an undefined
//!   or failed `bulkId` fails with 400 `invalidValue`, and operations left waiting on each
//!   other in a cycle fail with 409.
//! - With `failOnErrors: n`, processing stops after the n-th failed operation; the
//!   operations not yet run are left out of the response (section 3.7.3).

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Map, Value, json};

use butterfly_core::TeamId;

use super::{Projection, Reply, ScimService};
use crate::normalize::{get_ci, invalid_syntax, invalid_value};
use crate::store::{ResourceType, ScimStore};
use crate::{ScimError, ScimType, schemas};

const BULK_ID_PREFIX: &str = "bulkId:";

/// One operation of the request, as read.
#[derive(Debug)]
struct Operation {
    method: String,
    path: String,
    bulk_id: Option<String>,
    version: Option<String>,
    data: Option<Value>,
}

/// The `bulkId`s an operation refers to, in its path and data.
fn references(operation: &Operation) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => {
                if let Some(id) = s.strip_prefix(BULK_ID_PREFIX) {
                    out.push(id.to_owned());
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(members) => members.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for segment in operation.path.split('/') {
        if let Some(id) = segment.strip_prefix(BULK_ID_PREFIX) {
            out.push(id.to_owned());
        }
    }
    if let Some(data) = &operation.data {
        walk(data, &mut out);
    }
    out
}

fn substitute(value: &mut Value, ids: &BTreeMap<String, String>) {
    match value {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX).and_then(|b| ids.get(b)) {
                *s = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, ids)),
        Value::Object(members) => members.values_mut().for_each(|v| substitute(v, ids)),
        _ => {}
    }
}

fn read_operation(value: &Value) -> Result<Operation, ScimError> {
    let Some(object) = value.as_object() else {
        return Err(invalid_syntax("a bulk operation must be an object"));
    };
    let text = |name: &str| -> Result<Option<String>, ScimError> {
        match get_ci(object, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid_syntax(format!("`{name}` must be a string"))),
        }
    };
    Ok(Operation {
        method: text("method")?.unwrap_or_default().to_ascii_uppercase(),
        path: text("path")?.unwrap_or_default(),
        bulk_id: text("bulkId")?,
        version: text("version")?,
        data: get_ci(object, "data").cloned(),
    })
}

impl<S: ScimStore> ScimService<S> {
    /// POST `/Bulk`.
    pub(crate) async fn bulk(
        &self,
        team: TeamId,
        base: &str,
        body: &Value,
    ) -> Result<Reply, ScimError> {
        let Some(object) = body.as_object() else {
            return Err(invalid_syntax("a bulk request must be a JSON object"));
        };
        let declared = get_ci(object, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|l| {
                l.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(schemas::BULK_REQUEST))
                })
            });
        if !declared {
            return Err(invalid_syntax(format!(
                "`schemas` must include {}",
                schemas::BULK_REQUEST
            )));
        }
        let Some(list) = get_ci(object, "Operations").and_then(Value::as_array) else {
            return Err(invalid_syntax("`Operations` must be an array"));
        };
        let max = self.config.bulk_max_operations;
        if list.len() > max {
            return Err(ScimError::new(
                413,
                format!(
                    "the request has {} operations; the limit (maxOperations) is {max}",
                    list.len()
                ),
            )
            .with_type(ScimType::TooMany));
        }
        let fail_on_errors = match get_ci(object, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n) if n >= 1 => Some(n),
                _ => return Err(invalid_value("`failOnErrors` must be a positive integer")),
            },
            Some(_) => return Err(invalid_value("`failOnErrors` must be a positive integer")),
        };

        let mut results = Vec::new();
        let mut errors: u64 = 0;
        let mut created: BTreeMap<String, String> = BTreeMap::new();
        let mut failed: Vec<String> = Vec::new();
        let mut pending: Vec<(usize, Result<Operation, ScimError>)> =
            list.iter().map(read_operation).enumerate().collect();
        let defined: Vec<String> = pending
            .iter()
            .filter_map(|(_, op)| op.as_ref().ok().and_then(|o| o.bulk_id.clone()))
            .collect();
        // A reference to a bulkId two operations define would name whichever ran first:
        // refuse the request before anything is written.
        let mut seen = std::collections::BTreeSet::new();
        if let Some(duplicate) = defined.iter().find(|id| !seen.insert(id.as_str())) {
            return Err(invalid_value(format!(
                "bulkId `{duplicate}` is defined by more than one operation"
            )));
        }

        'rounds: while !pending.is_empty() {
            let mut progressed = false;
            let mut waiting = Vec::new();
            for (index, operation) in std::mem::take(&mut pending) {
                if fail_on_errors.is_some_and(|limit| errors >= limit) {
                    break 'rounds;
                }
                let outcome = match operation {
                    Err(error) => Outcome::failed(None, None, &error),
                    Ok(operation) => {
                        let refs = references(&operation);
                        let missing: Vec<&String> =
                            refs.iter().filter(|r| !created.contains_key(*r)).collect();
                        if let Some(bad) = missing
                            .iter()
                            .find(|r| !defined.contains(**r) || failed.contains(**r))
                        {
                            Outcome::failed(
                                Some(&operation),
                                None,
                                &invalid_value(format!(
                                    "bulkId `{bad}` is not defined by a successful operation of this request"
                                )),
                            )
                        } else if !missing.is_empty() {
                            waiting.push((index, Ok(operation)));
                            continue;
                        } else {
                            self.run_operation(team, base, operation, &created).await
                        }
                    }
                };
                progressed = true;
                if outcome.error {
                    errors += 1;
                    if let Some(bulk_id) = &outcome.bulk_id {
                        failed.push(bulk_id.clone());
                    }
                } else if let (Some(bulk_id), Some(id)) = (&outcome.bulk_id, &outcome.new_id) {
                    created.insert(bulk_id.clone(), id.clone());
                }
                results.push(outcome.json);
            }
            pending = waiting;
            if !progressed {
                // Everything left waits on something else left: a cycle.
                for (_, operation) in std::mem::take(&mut pending) {
                    if fail_on_errors.is_some_and(|limit| errors >= limit) {
                        break;
                    }
                    let operation = operation.ok();
                    let outcome = Outcome::failed(
                        operation.as_ref(),
                        None,
                        &ScimError::new(409, "circular bulkId references"),
                    );
                    errors += 1;
                    results.push(outcome.json);
                }
            }
        }
        Ok(Reply::json(
            StatusCode::OK,
            json!({
                "schemas": [schemas::BULK_RESPONSE],
                "Operations": results,
            }),
        ))
    }

    async fn run_operation(
        &self,
        team: TeamId,
        base: &str,
        mut operation: Operation,
        created: &BTreeMap<String, String>,
    ) -> Outcome {
        if let Some(data) = &mut operation.data {
            substitute(data, created);
        }
        let path: Vec<String> = operation
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(
                |s| match s.strip_prefix(BULK_ID_PREFIX).and_then(|b| created.get(b)) {
                    Some(id) => id.clone(),
                    None => s.to_owned(),
                },
            )
            .collect();
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let projection = Projection::default();
        let if_match = operation.version.as_deref();
        let data = operation.data.clone().unwrap_or(Value::Null);
        let resource_type = path.first().and_then(|e| ResourceType::from_endpoint(e));
        let result = match (operation.method.as_str(), resource_type, path.as_slice()) {
            ("POST", Some(t), [_]) => {
                if operation.bulk_id.is_none() {
                    Err(invalid_value("a POST operation needs a `bulkId`"))
                } else {
                    self.create(team, base, t, &data, &projection).await
                }
            }
            ("PUT", Some(t), [_, id]) => {
                self.replace(team, base, t, id, &data, if_match, &projection)
                    .await
            }
            ("PATCH", Some(t), [_, id]) => {
                self.patch(team, base, t, id, &data, if_match, &projection, false)
                    .await
            }
            ("DELETE", Some(t), [_, id]) => self.remove(team, t, id, if_match).await,
            ("POST" | "PUT" | "PATCH" | "DELETE", _, _) => Err(invalid_value(format!(
                "`{}` is not a path a bulk {} can address",
                operation.path, operation.method
            ))),
            _ => Err(invalid_syntax(
                "`method` must be POST, PUT, PATCH or DELETE",
            )),
        };
        let location = match (resource_type, path.get(1)) {
            (Some(t), Some(id)) => Some(format!("{base}/{}/{id}", t.endpoint())),
            _ => None,
        };
        match result {
            Ok(reply) => {
                let new_id = reply
                    .body
                    .as_ref()
                    .and_then(|b| b.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let mut json = Map::new();
                json.insert("method".into(), Value::String(operation.method.clone()));
                if let Some(bulk_id) = &operation.bulk_id {
                    json.insert("bulkId".into(), Value::String(bulk_id.clone()));
                }
                if let Some(location) = reply.location.clone().or(location) {
                    json.insert("location".into(), Value::String(location));
                }
                if let Some(etag) = &reply.etag {
                    json.insert("version".into(), Value::String(etag.clone()));
                }
                json.insert(
                    "status".into(),
                    Value::String(reply.status.as_u16().to_string()),
                );
                Outcome {
                    json: Value::Object(json),
                    bulk_id: operation.bulk_id,
                    new_id,
                    error: false,
                }
            }
            Err(error) => Outcome::failed(Some(&operation), location, &error),
        }
    }
}

/// The result of one operation.
struct Outcome {
    json: Value,
    bulk_id: Option<String>,
    new_id: Option<String>,
    error: bool,
}

impl Outcome {
    fn failed(
        operation: Option<&Operation>,
        location: Option<String>,
        error: &ScimError,
    ) -> Outcome {
        let mut json = Map::new();
        if let Some(operation) = operation {
            json.insert("method".into(), Value::String(operation.method.clone()));
            if let Some(bulk_id) = &operation.bulk_id {
                json.insert("bulkId".into(), Value::String(bulk_id.clone()));
            }
        }
        if let Some(location) = location {
            json.insert("location".into(), Value::String(location));
        }
        json.insert("status".into(), Value::String(error.status().to_string()));
        json.insert("response".into(), error.to_json());
        Outcome {
            json: Value::Object(json),
            bulk_id: operation.and_then(|o| o.bulk_id.clone()),
            new_id: None,
            error: true,
        }
    }
}
