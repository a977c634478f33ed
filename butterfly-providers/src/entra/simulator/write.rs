//! Writes: creating, updating and deleting objects, and member references.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{Method, StatusCode};

use super::State;
use super::api::{Reply, graph_error};
use super::oauth::AccessClaims;

pub(crate) fn handle(
    state: &State,
    claims: &AccessClaims,
    roles: &BTreeSet<String>,
    method: &Method,
    rel: &str,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Reply {
    let _ = (claims, roles, method, rel, query, body);
    graph_error(
        state,
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "The specified HTTP method is not allowed for the resource.",
    )
}
